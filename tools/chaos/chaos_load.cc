#include "tools/chaos/chaos_load.h"

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "testing/process.h"

namespace ds::chaos {
namespace {

using ::ds::testing::HttpClient;

constexpr absl::Duration kBucket = absl::Milliseconds(100);

struct Sample {
  absl::Duration offset;  // start, from the beginning of the measured phase
  absl::Duration latency;
  bool ok;
};

struct Ack {
  int channel;
  std::string message_id;
};

struct ThreadOutput {
  std::vector<Sample> samples;
  std::vector<Ack> acks;
  std::map<std::string, int64_t> errors;
};

std::string ErrorKind(const absl::StatusOr<testing::HttpResult>& res) {
  if (res.ok()) return absl::StrCat("HTTP ", res->status);
  return std::string(absl::StatusCodeToString(res.status().code()));
}

// One load thread: paced requests on one keep-alive connection.
void LoadThread(const LoadOptions& o, int id, absl::Time start, absl::Time end, ThreadOutput* out) {
  HttpClient client(static_cast<uint16_t>(o.gateway_port));
  std::mt19937_64 rng(o.seed * 7919 + static_cast<uint64_t>(id));
  std::uniform_int_distribution<int> channel_of(1, o.channels);
  std::uniform_real_distribution<double> coin(0, 1);
  const absl::Duration interval =
      o.rate > 0 ? absl::Seconds(o.connections / o.rate) : absl::ZeroDuration();
  absl::Time next = start - o.warmup + interval * id / std::max(1, o.connections);
  for (int64_t n = 0;; ++n) {
    if (interval > absl::ZeroDuration()) {
      const absl::Time now = absl::Now();
      if (next > now) absl::SleepFor(next - now);
      // Behind schedule (a stall): resume the pace from now, no catch-up burst.
      next = std::max(next + interval, absl::Now() - interval);
    }
    const absl::Time sent = absl::Now();
    if (sent >= end) break;
    const int channel = channel_of(rng);
    const bool write = coin(rng) < o.write_ratio;
    absl::StatusOr<testing::HttpResult> res;
    if (write) {
      const uint64_t nonce = rng() | 1;
      res = client.Post(absl::StrCat("/v1/channels/", channel, "/messages"),
                        absl::StrCat(R"({"author_id":"1","content":"chaos )", id, " ", n,
                                     R"(","nonce":")", nonce, "\"}"),
                        o.request_timeout);
    } else {
      res = client.Get(absl::StrCat("/v1/channels/", channel, "/messages?limit=10"),
                       o.request_timeout);
    }
    const absl::Duration latency = absl::Now() - sent;
    const bool ok = res.ok() && res->status == 200;
    if (ok && write) {
      // Acknowledged: remember the id, whether or not the sample is measured.
      const auto body = nlohmann::json::parse(res->body, nullptr, false);
      if (body.is_object() && body.contains("message") && body["message"].is_object() &&
          body["message"].contains("message_id")) {
        out->acks.push_back({channel, body["message"]["message_id"].get<std::string>()});
      } else {
        ++out->errors["acknowledged without a message id"];
      }
    }
    if (sent < start) continue;  // warm-up
    out->samples.push_back({sent - start, latency, ok});
    if (!ok) ++out->errors[ErrorKind(res)];
  }
}

int RunCommand(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Reads every acknowledged id back; returns {lost, unverified}.
std::pair<int64_t, int64_t> Verify(const LoadOptions& o, const std::vector<Ack>& acks) {
  constexpr int kThreads = 4;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> lost{0};
  std::atomic<int64_t> unverified{0};
  const absl::Time deadline = absl::Now() + o.verify_timeout;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient client(static_cast<uint16_t>(o.gateway_port));
      for (size_t i = next.fetch_add(1); i < acks.size(); i = next.fetch_add(1)) {
        const std::string path =
            absl::StrCat("/v1/channels/", acks[i].channel, "/messages/", acks[i].message_id);
        for (;;) {
          auto res = client.Get(path, absl::Seconds(2));
          if (res.ok() && res->status == 200) break;
          if (res.ok() && res->status == 404) {
            lost.fetch_add(1);
            break;
          }
          if (absl::Now() >= deadline) {
            unverified.fetch_add(1);
            break;
          }
          absl::SleepFor(absl::Milliseconds(50));  // the fleet is still recovering: retry
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return {lost.load(), unverified.load()};
}

absl::Duration Quantile(std::vector<absl::Duration> v, double q) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Fills the latency, recovery and disturbed figures from the samples.
void Summarise(const std::vector<Sample>& samples, absl::Duration first_fault,
               absl::Duration last_fault, RunResult* r) {
  std::vector<absl::Duration> all, warm, during;
  for (const Sample& s : samples) {
    all.push_back(s.latency);
    if (s.offset < first_fault) warm.push_back(s.latency);
    if (s.offset >= first_fault && s.offset < last_fault) during.push_back(s.latency);
  }
  r->p50 = Quantile(all, 0.5);
  r->p99 = Quantile(all, 0.99);
  r->max = Quantile(all, 1.0);
  r->warm_p99 = Quantile(warm, 0.99);
  r->fault_p99 = Quantile(during, 0.99);
  const absl::Duration slow = r->warm_p99 * 3;
  // Per 100 ms bucket (by start time): requests, failures, slow requests.
  struct Bucket {
    int n = 0, failed = 0, slow = 0;
  };
  std::map<int64_t, Bucket> buckets;
  for (const Sample& s : samples) {
    Bucket& b = buckets[s.offset / kBucket];
    ++b.n;
    if (!s.ok) ++b.failed;
    if (slow > absl::ZeroDuration() && s.latency > slow) ++b.slow;
  }
  // Bad: a failure, or a tail beyond the usual (>= 5 % of its requests, and at
  // least 2, slower than 3x the warm p99 — about 1 % exceed the p99 itself).
  std::map<int64_t, bool> bad;
  for (const auto& [index, b] : buckets) {
    if (b.failed > 0 || (b.slow >= 2 && b.slow * 20 >= b.n)) bad[index] = true;
  }
  r->disturbed = kBucket * static_cast<int64_t>(bad.size());
  // Recovered at the start of the first clean second (10 good buckets in a
  // row) from the heal on; an isolated bad bucket later on is noise of a shared
  // machine, not the fault.
  const int64_t heal = last_fault / kBucket;
  const int64_t last = buckets.empty() ? heal : buckets.rbegin()->first;
  int64_t good_since = heal;
  for (int64_t b = heal; b <= last; ++b) {
    if (bad.count(b) != 0) {
      good_since = b + 1;
    } else if (b - good_since + 1 >= 10) {
      break;
    }
  }
  r->recovery = std::max(absl::ZeroDuration(), kBucket * good_since - last_fault);
}

}  // namespace

RunResult Run(const LoadOptions& o) {
  RunResult r;
  std::vector<Fault> faults = o.faults;
  std::sort(faults.begin(), faults.end(),
            [](const Fault& a, const Fault& b) { return a.at < b.at; });
  const absl::Time start = absl::Now() + o.warmup;
  const absl::Time end = start + o.duration;
  std::vector<ThreadOutput> outputs(o.connections);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.connections; ++t) {
    threads.emplace_back(LoadThread, std::cref(o), t, start, end, &outputs[t]);
  }
  std::vector<absl::Duration> ran_at;
  std::thread fault_thread([&] {
    for (const Fault& f : faults) {
      const absl::Time when = start + f.at;
      if (absl::Now() < when) absl::SleepFor(when - absl::Now());
      const absl::Duration at = absl::Now() - start;
      const int code = RunCommand(f.command);
      ran_at.push_back(at);
      r.fault_results.push_back(
          absl::StrCat("at ", absl::FormatDuration(at), ": ", f.command, " -> exit ", code));
    }
  });
  for (auto& t : threads) t.join();
  fault_thread.join();

  std::vector<Sample> samples;
  std::vector<Ack> acks;
  for (ThreadOutput& out : outputs) {
    samples.insert(samples.end(), out.samples.begin(), out.samples.end());
    acks.insert(acks.end(), out.acks.begin(), out.acks.end());
    for (const auto& [kind, n] : out.errors) r.errors[kind] += n;
  }
  r.sent = static_cast<int64_t>(samples.size());
  r.failed = std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return !s.ok; });
  r.writes_acked = static_cast<int64_t>(acks.size());
  const absl::Duration first = ran_at.empty() ? o.duration : ran_at.front();
  const absl::Duration last = ran_at.empty() ? o.duration : ran_at.back();
  Summarise(samples, first, last, &r);
  const auto [lost, unverified] = Verify(o, acks);
  r.writes_lost = lost;
  r.writes_unverified = unverified;
  return r;
}

std::string ToJson(const RunResult& r) {
  const auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  nlohmann::json j = {
      {"sent", r.sent},
      {"failed", r.failed},
      {"writes_acked", r.writes_acked},
      {"writes_lost", r.writes_lost},
      {"writes_unverified", r.writes_unverified},
      {"p50_ms", ms(r.p50)},
      {"p99_ms", ms(r.p99)},
      {"max_ms", ms(r.max)},
      {"warm_p99_ms", ms(r.warm_p99)},
      {"fault_p99_ms", ms(r.fault_p99)},
      {"recovery_ms", ms(r.recovery)},
      {"disturbed_ms", ms(r.disturbed)},
      {"errors", r.errors},
      {"faults", r.fault_results},
  };
  return j.dump();
}

}  // namespace ds::chaos
