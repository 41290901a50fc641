// The routing component's named logger ("routing").
//
// Thread-safe: created once, on first use, from spdlog's default logger (so it
// shares the sinks and format main() configured before starting the client).
#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace ds::routing::internal {

spdlog::logger* Logger();

}  // namespace ds::routing::internal
