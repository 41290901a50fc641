// Principal: who a request acts for, as established by a verified token (or,
// with authentication off, the client address), and what it may do.
//
// Authorization rules (docs/security.md):
// - A send's author is the token's subject: a body `author_id` that differs is
//   refused (403); an omitted one is filled in with the subject.
// - Channel access comes from an optional claim (JwtVerifierOptions::
//   channels_claim): absent or "*" → every channel; a list of ids → only those.
//
// Usage:
//   if (!principal.channels.Allows(channel_id)) return Forbidden();
//   absl::StatusOr<uint64_t> author = AuthorFor(principal, body_author_id);
//
// Thread-compatible value types; const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ds::auth {

class ChannelAccess {
 public:
  // Every channel.
  static ChannelAccess All() { return ChannelAccess(); }
  static ChannelAccess Only(absl::flat_hash_set<uint64_t> ids) {
    ChannelAccess a;
    a.all_ = false;
    a.ids_ = std::move(ids);
    return a;
  }
  bool Allows(uint64_t channel_id) const { return all_ || ids_.contains(channel_id); }
  bool all() const { return all_; }
  size_t size() const { return ids_.size(); }

 private:
  bool all_ = true;
  absl::flat_hash_set<uint64_t> ids_;
};

struct Principal {
  // The token subject; empty when the request was not authenticated.
  std::string subject;
  ChannelAccess channels;
  absl::Time expires = absl::InfiniteFuture();

  bool authenticated() const { return !subject.empty(); }
};

// The author a send must carry. Unauthenticated principals may send as anyone
// (authentication off): returns `body_author` (which may be nullopt: the
// caller then reports the missing field). Authenticated ones: the subject as
// a decimal id (PERMISSION_DENIED if the subject is not one), and
// PERMISSION_DENIED when `body_author` is present and differs.
absl::StatusOr<std::optional<uint64_t>> AuthorFor(const Principal& principal,
                                                  std::optional<uint64_t> body_author);

}  // namespace ds::auth
