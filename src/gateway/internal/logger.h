// The gateway component's named logger ("gateway").
//
// Thread-safe: created once, on first use, as a clone of spdlog's default
// logger, so it shares the sinks, level and format main() configured first.
#pragma once

#include <spdlog/spdlog.h>

namespace ds::gateway {

spdlog::logger* GatewayLogger();

}  // namespace ds::gateway
