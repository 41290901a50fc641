#include "http/internal/logger.h"

#include "common/log.h"

namespace ds::http::internal {

spdlog::logger* HttpLogger() {
  static const std::shared_ptr<spdlog::logger> logger = ds::Logger("http");
  return logger.get();
}

}  // namespace ds::http::internal
