// The HTTP server's named logger ("http").
//
// Thread-safe: created once, on first use, by ds::Logger (common/log.h).
#pragma once

#include <spdlog/spdlog.h>

namespace ds::http::internal {

spdlog::logger* HttpLogger();

}  // namespace ds::http::internal
