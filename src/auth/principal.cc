#include "auth/principal.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ds::auth {

absl::StatusOr<std::optional<uint64_t>> AuthorFor(const Principal& principal,
                                                  std::optional<uint64_t> body_author) {
  if (!principal.authenticated()) return body_author;
  uint64_t subject_id = 0;
  if (!absl::SimpleAtoi(principal.subject, &subject_id) || subject_id == 0) {
    return absl::PermissionDeniedError(
        "token subject is not an author id: this token cannot send messages");
  }
  if (body_author.has_value() && *body_author != subject_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("author_id ", *body_author, " is not the token subject ", subject_id));
  }
  return subject_id;
}

}  // namespace ds::auth
