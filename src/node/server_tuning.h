// Process- and server-wide settings that make a gRPC server cheaper per call,
// shared by ds-node and ds-noop-server so that both are measured with the
// same settings. docs/benchmarks.md ("CPU per request") has the profiles that
// motivate each one.
//
// Usage (first thing in main, before any thread starts):
//   ds::node::ApplyProcessTuning({});
//   ...
//   ds::node::ApplyServerTuning(options, &builder);
#pragma once

#include <grpcpp/grpcpp.h>

namespace ds::node {

struct ProcessTuning {
  // Debian builds Abseil without NDEBUG, so every absl::Mutex (gRPC's locks
  // included) maintains a lock-order graph for deadlock detection: about 4 %
  // of a node's CPU in the profile. Off unless asked for.
  bool mutex_deadlock_detection = false;
  // Keep freed memory in the allocator instead of returning it to the kernel
  // after every burst (glibc trims the heap top above 128 KiB by default):
  // the next burst then page-faults it back in, zero-filled, which was a
  // fifth of a node's CPU in the profile. The memory stays bounded by the
  // node's admission caps.
  bool keep_freed_memory = true;
};

// Once per process, before threads start.
void ApplyProcessTuning(const ProcessTuning& tuning);

struct ServerTuning {
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection; a
  // client opens no more streams than this and queues the rest on its side.
  // 0 = gRPC's default (unlimited).
  int max_concurrent_streams_per_connection = 0;
  // Upper bound on the memory gRPC may use for calls and buffers (a
  // grpc::ResourceQuota); 0 = unbounded.
  int64_t memory_quota_bytes = 0;
};

void ApplyServerTuning(const ServerTuning& tuning, grpc::ServerBuilder* builder);

}  // namespace ds::node
