#include "gateway/internal/logger.h"

#include <memory>

#include "common/log.h"

namespace ds::gateway {

spdlog::logger* GatewayLogger() {
  static const std::shared_ptr<spdlog::logger> logger = ds::Logger("gateway");
  return logger.get();
}

}  // namespace ds::gateway
