#include "routing/policy.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ds::routing {

absl::StatusOr<Policy> ParsePolicy(std::string_view name) {
  const absl::string_view view(name.data(), name.size());
  const std::string n = absl::AsciiStrToLower(absl::StripAsciiWhitespace(view));
  if (n == "hash") return Policy::kHash;
  if (n == "round-robin" || n == "round_robin" || n == "roundrobin" || n == "rr") {
    return Policy::kRoundRobin;
  }
  if (n == "random") return Policy::kRandom;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown routing policy \"", view, "\"; expected hash, round-robin or random"));
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kHash:
      return "hash";
    case Policy::kRoundRobin:
      return "round-robin";
    case Policy::kRandom:
      return "random";
  }
  return "unknown";
}

}  // namespace ds::routing
