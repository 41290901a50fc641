#include "routing/internal/logger.h"

namespace ds::routing::internal {

spdlog::logger* Logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("routing")) return existing;
    std::shared_ptr<spdlog::logger> l = spdlog::default_logger()->clone("routing");
    try {
      spdlog::register_logger(l);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently by someone else: use theirs.
      if (auto existing = spdlog::get("routing")) return existing;
    }
    return l;
  }();
  return logger.get();
}

}  // namespace ds::routing::internal
