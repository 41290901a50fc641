// Conversions between std::string_view and absl::string_view, which are
// distinct types in the Debian build of Abseil (absl::StrCat, absl::Status
// take only the latter).
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace ds::gateway {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace ds::gateway
