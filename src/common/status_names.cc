#include "common/status_names.h"

#include <algorithm>

namespace ds {

std::string StatusCodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

std::string StatusCodeLabel(absl::StatusCode code, std::initializer_list<absl::StatusCode> named) {
  return std::find(named.begin(), named.end(), code) != named.end() ? StatusCodeName(code)
                                                                    : "OTHER";
}

}  // namespace ds
