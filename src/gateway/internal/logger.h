// The gateway component's named logger ("gateway").
//
// Thread-safe: created once, on first use, by ds::Logger (common/log.h), so it
// writes the project's structured line format.
#pragma once

#include <spdlog/spdlog.h>

namespace ds::gateway {

spdlog::logger* GatewayLogger();

}  // namespace ds::gateway
