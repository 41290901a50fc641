// One named spdlog logger per component, all writing structured lines:
//   2026-11-21T10:22:01.123Z level=info component=node msg="listening on 127.0.0.1:50051"
//
// Usage:
//   static auto log = ds::Logger("node");
//   log->info("listening on {}", address);
//
// Thread-safe (spdlog's _mt sinks). Level from DS_LOG_LEVEL (trace..off; default info).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace ds {

std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace ds
