// Command-line flags of the binaries (CLI11), one statement a flag: each flag
// is also read from an environment variable named after it and shows its
// default in --help.
//
// Usage:
//   ds::cli::FlagSet flags(app, "DS_GATEWAY_");
//   flags.Add("--deadline-ms", f.deadline_ms, "Per-request deadline")->check(positive);
//   // --deadline-ms, or DS_GATEWAY_DEADLINE_MS from the environment
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace ds::cli {

// The environment variable of a flag: `prefix` + its first name without the
// leading dashes, upper case, '-' as '_' ("DS_GATEWAY_", "--io-threads,--threads"
// → "DS_GATEWAY_IO_THREADS").
std::string EnvName(std::string_view prefix, std::string_view names);

// Adds flags to one app. Not thread-safe (flags are added before parsing,
// on one thread).
class FlagSet {
 public:
  FlagSet(CLI::App& app, std::string env_prefix) : app_(app), prefix_(std::move(env_prefix)) {}

  // `names` bound to `value`, read from EnvName(prefix, names) too.
  template <typename T>
  CLI::Option* Add(const std::string& names, T& value, const std::string& help) {
    return app_.add_option(names, value, help)
        ->envname(EnvName(prefix_, names))
        ->capture_default_str();
  }

  // The same with a check (a CLI11 validator such as CLI::PositiveNumber).
  template <typename T>
  CLI::Option* Add(const std::string& names, T& value, const std::string& help,
                   const CLI::Validator& check) {
    return Add(names, value, help)->check(check);
  }

 private:
  CLI::App& app_;
  const std::string prefix_;
};

}  // namespace ds::cli
