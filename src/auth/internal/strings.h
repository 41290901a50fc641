// Internal to ds_auth: the apt Abseil has its own absl::string_view (not
// std::string_view); Av() passes a std::string_view to Abseil's string APIs.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace ds::auth::internal {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace ds::auth::internal
