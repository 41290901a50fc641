#include "coalescer/coalescer.h"

#include <utility>

#include "coalescer/internal/flight_table.h"

namespace ds::coalescer::internal {

CoalescerCore::CoalescerCore(CoalescerOptions options, Timer* timer, CoalescerProbe* probe,
                             FanOutExecutor executor, const Clock* clock)
    : table_(std::make_unique<FlightTable>(std::move(options), timer, probe, std::move(executor),
                                           clock)) {}

CoalescerCore::~CoalescerCore() = default;

absl::Status CoalescerCore::Join(JoinRequest req, absl::FunctionRef<Fetch()> make_fetch,
                                 std::shared_ptr<Waiter> waiter) {
  return table_->Join(std::move(req), make_fetch, std::move(waiter));
}

bool CoalescerCore::Leave(Waiter& waiter) { return table_->Leave(waiter); }

void CoalescerCore::OnWriteAcknowledged(uint64_t channel_id) {
  table_->OnWriteAcknowledged(channel_id);
}

size_t CoalescerCore::total_waiters() const { return table_->total_waiters(); }
size_t CoalescerCore::active_queries() const { return table_->active_queries(); }
size_t CoalescerCore::live_flights() const { return table_->live_flights(); }
size_t CoalescerCore::concurrency_limit() const { return table_->concurrency_limit(); }
absl::Duration CoalescerCore::expected_store_latency() const {
  return table_->expected_store_latency();
}

}  // namespace ds::coalescer::internal
