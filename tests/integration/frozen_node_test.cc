// Integration: a frozen node (SIGSTOP for 3 s, then SIGCONT) under a steady
// read load through the gateway — the gray failure of issue 8. Real ds-node
// and ds-gateway processes on port 0 (fleet.h).
//
// Asserts: no read fails, and the p99 of the reads sent while the node was
// stopped is at most 3× the p99 of the healthy phase measured in the same run
// just before (a ratio, so the machine's speed cancels out). The stopped
// node's channels must have been read during the stall (so the hedges,
// per-attempt timeouts and outlier ejection of the routing client were
// exercised, not dodged).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "testing/process.h"
#include "tests/integration/fleet.h"

namespace ds::integration {
namespace {

using ::ds::testing::HttpClient;
using ::ds::testing::PollUntil;

struct Sample {
  absl::Time start;
  absl::Duration latency;
  int channel;
  bool ok;
  std::string error;  // for a failed read
};

// Closed-loop readers over channels 1..channels, each recording every read.
class RecordingLoad {
 public:
  RecordingLoad(int port, int threads, int channels) : per_thread_(threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, t, channels] { Run(port, t, channels); });
    }
  }
  ~RecordingLoad() { Stop(); }

  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t done() const { return done_.load(); }

  // After Stop(): every sample, in no particular order.
  std::vector<Sample> Samples() const {
    std::vector<Sample> all;
    for (const auto& v : per_thread_) all.insert(all.end(), v.begin(), v.end());
    return all;
  }

 private:
  void Run(int port, int id, int channels) {
    HttpClient client(static_cast<uint16_t>(port));
    std::vector<Sample>& out = per_thread_[id];
    for (int n = 0; !stop_.load(); ++n) {
      const int channel = 1 + (id * 7 + n) % channels;
      const absl::Time start = absl::Now();
      auto res = client.Get(absl::StrCat("/v1/channels/", channel, "/messages?limit=10"),
                            absl::Seconds(5));
      Sample s{start, absl::Now() - start, channel, res.ok() && res->status == 200, ""};
      if (!s.ok) {
        s.error = res.ok() ? absl::StrCat("HTTP ", res->status, ": ", res->body.substr(0, 200))
                           : res.status().ToString();
      }
      out.push_back(std::move(s));
      done_.fetch_add(1);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> done_{0};
  std::vector<std::vector<Sample>> per_thread_;  // one writer each; read after Stop()
  std::vector<std::thread> threads_;
};

absl::Duration Percentile(std::vector<absl::Duration> v, double q) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// Latencies of the samples that started in [from, to).
std::vector<absl::Duration> Window(const std::vector<Sample>& samples, absl::Time from,
                                   absl::Time to) {
  std::vector<absl::Duration> out;
  for (const Sample& s : samples) {
    if (s.start >= from && s.start < to) out.push_back(s.latency);
  }
  return out;
}

TEST(FrozenNodeTest, SigstopForThreeSecondsFailsNoReadAndKeepsP99WithinThreeTimesHealthy) {
  constexpr int kChannels = 30;
  constexpr int kVictim = 1;
  Fleet fleet({.nodes = 3, .channels = kChannels});
  const absl::Status started = fleet.Start();
  ASSERT_TRUE(started.ok()) << started;

  RecordingLoad load(fleet.gateway_port(), 4, kChannels);
  // Warm-up: connections, caches, and the routing client's latency window.
  ASSERT_TRUE(PollUntil([&] { return load.done() >= 1000; }, absl::Seconds(30)))
      << "the read load does not progress: " << load.done();
  const absl::Time healthy_from = absl::Now();
  // The measurement windows are durations by nature; the polls only wait for them.
  PollUntil([&] { return absl::Now() - healthy_from >= absl::Seconds(3); }, absl::Seconds(4));
  const absl::Time stop_at = absl::Now();
  ASSERT_TRUE(fleet.NodeProcess(kVictim).Signal(SIGSTOP).ok());
  PollUntil([&] { return absl::Now() - stop_at >= absl::Seconds(3); }, absl::Seconds(4));
  const absl::Time cont_at = absl::Now();
  ASSERT_TRUE(fleet.NodeProcess(kVictim).Signal(SIGCONT).ok());
  PollUntil([&] { return absl::Now() - cont_at >= absl::Seconds(2); }, absl::Seconds(3));
  load.Stop();

  const std::vector<Sample> samples = load.Samples();
  std::vector<std::string> failures;
  for (const Sample& s : samples) {
    if (!s.ok && failures.size() < 20) {
      failures.push_back(
          absl::StrCat("channel ", s.channel, " at ", absl::FormatDuration(s.start - stop_at),
                       " from SIGSTOP, took ", absl::FormatDuration(s.latency), ": ", s.error));
    }
  }
  const int64_t failed =
      std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return !s.ok; });
  const auto healthy = Window(samples, healthy_from, stop_at);
  const auto stalled = Window(samples, stop_at, cont_at);
  const auto after = Window(samples, cont_at, absl::InfiniteFuture());
  const absl::Duration healthy_p99 = Percentile(healthy, 0.99);
  const absl::Duration stalled_p99 = Percentile(stalled, 0.99);
  std::cerr << "reads: " << samples.size() << " (" << failed << " failed); healthy "
            << healthy.size() << " p50 " << Percentile(healthy, 0.5) << " p99 " << healthy_p99
            << "; SIGSTOP 3 s " << stalled.size() << " p50 " << Percentile(stalled, 0.5) << " p99 "
            << stalled_p99 << " max " << Percentile(stalled, 1.0) << "; after SIGCONT "
            << after.size() << " p99 " << Percentile(after, 0.99) << "\n";
  EXPECT_EQ(failed, 0) << absl::StrJoin(failures, "\n");
  ASSERT_GE(healthy.size(), 300u);
  ASSERT_GE(stalled.size(), 300u);
  EXPECT_LE(stalled_p99, healthy_p99 * 3) << "p99 while a node was stopped vs healthy";
  if (HasFailure()) std::cerr << fleet.LogTails();
}

}  // namespace
}  // namespace ds::integration
