#include "gateway/internal/logger.h"

#include <memory>

namespace ds::gateway {

spdlog::logger* GatewayLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("gateway")) return existing;
    std::shared_ptr<spdlog::logger> created = spdlog::default_logger()->clone("gateway");
    try {
      spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently elsewhere: use that one.
      if (auto existing = spdlog::get("gateway")) return existing;
    }
    return created;
  }();
  return logger.get();
}

}  // namespace ds::gateway
