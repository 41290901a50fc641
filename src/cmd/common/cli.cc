#include "cmd/common/cli.h"

#include <cctype>

namespace ds::cli {

std::string EnvName(std::string_view prefix, std::string_view names) {
  std::string_view name = names.substr(0, names.find(','));
  while (!name.empty() && name.front() == '-') name.remove_prefix(1);
  std::string env(prefix);
  for (char c : name) {
    env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return env;
}

}  // namespace ds::cli
