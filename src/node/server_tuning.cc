#include "node/server_tuning.h"

#include <grpcpp/resource_quota.h>
#include <malloc.h>

#include "absl/synchronization/mutex.h"

namespace ds::node {

void ApplyProcessTuning(const ProcessTuning& tuning) {
  absl::SetMutexDeadlockDetectionMode(tuning.mutex_deadlock_detection
                                          ? absl::OnDeadlockCycle::kAbort
                                          : absl::OnDeadlockCycle::kIgnore);
  if (tuning.keep_freed_memory) {
    // Fixed values also switch off glibc's dynamic mmap threshold. Blocks up
    // to 4 MiB come from the heap (reused, not re-faulted); the heap top is
    // returned to the kernel only beyond 256 MiB of free space.
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
  }
}

void ApplyServerTuning(const ServerTuning& tuning, grpc::ServerBuilder* builder) {
  if (tuning.max_concurrent_streams_per_connection > 0) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                tuning.max_concurrent_streams_per_connection);
  }
  if (tuning.memory_quota_bytes > 0) {
    grpc::ResourceQuota quota("ds-server");
    quota.Resize(static_cast<size_t>(tuning.memory_quota_bytes));
    builder->SetResourceQuota(quota);
  }
}

}  // namespace ds::node
