// Microbenchmarks of the coalescer's own cost (no store, no gRPC):
//   BM_Flight           one request, one flight, completed inline: cost per flight
//   BM_JoinFanOut/N     one flight with N waiters: cost per join + delivery
//   BM_FlightsParallel  flights on distinct keys from several threads (shard contention)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "coalescer/coalescer.h"

namespace ds::coalescer {
namespace {

using Payload = std::shared_ptr<const std::string>;
using C = Coalescer<Payload>;

void BM_Flight(benchmark::State& state) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  auto payload = std::make_shared<const std::string>("x");
  const std::string key = "GetMessages|123456789|50";
  int64_t delivered = 0;
  for (auto _ : state) {
    auto t = c.Join(
        {key, 1, absl::InfiniteFuture()},
        [&](const FetchContext&, C::FetchDone done) { done(payload); },
        [&](const C::Result&, const WaitInfo&) { ++delivered; });
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(delivered);
}
BENCHMARK(BM_Flight);

void BM_JoinFanOut(benchmark::State& state) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  auto payload = std::make_shared<const std::string>("x");
  const int waiters = static_cast<int>(state.range(0));
  const std::string key = "GetMessages|123456789|50";
  int64_t delivered = 0;
  for (auto _ : state) {
    C::FetchDone pending;
    auto fetch = [&](const FetchContext&, C::FetchDone done) { pending = std::move(done); };
    auto done = [&](const C::Result&, const WaitInfo&) { ++delivered; };
    for (int i = 0; i < waiters; ++i) {
      benchmark::DoNotOptimize(c.Join({key, 1, absl::InfiniteFuture()}, fetch, done));
    }
    pending(payload);
  }
  state.SetItemsProcessed(delivered);  // items = requests answered
}
BENCHMARK(BM_JoinFanOut)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

void BM_FlightsParallel(benchmark::State& state) {
  static ThreadTimer* timer = new ThreadTimer();
  static C* c = new C(CoalescerOptions{}, timer);
  auto payload = std::make_shared<const std::string>("x");
  const std::string key = "GetMessages|" + std::to_string(state.thread_index()) + "|50";
  for (auto _ : state) {
    benchmark::DoNotOptimize(c->Join(
        {key, 1, absl::InfiniteFuture()}, [&](const FetchContext&, C::FetchDone d) { d(payload); },
        [](const C::Result&, const WaitInfo&) {}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlightsParallel)->Threads(1)->Threads(2);

}  // namespace
}  // namespace ds::coalescer

BENCHMARK_MAIN();
