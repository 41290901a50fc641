#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <mutex>

namespace ds {

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = spdlog::stderr_logger_mt(component);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l component=%n msg=\"%v\"",
                      spdlog::pattern_time_type::utc);
  if (const char* level = std::getenv("DS_LOG_LEVEL")) {
    logger->set_level(spdlog::level::from_str(level));
  }
  return logger;
}

}  // namespace ds
