// ds-store-bench: a closed loop straight on a MessageStore backend — no node,
// no gRPC, no coalescer — for "node vs direct driver loop" benchmarks. Keeps
// `--concurrency` GetMessages(channel, limit) calls in flight for `--duration`
// and prints one JSON line: throughput, latency percentiles, errors.
//
//   ds-store-bench --cassandra-hosts 127.0.0.1,127.0.0.2,127.0.0.3 --channel 1 \
//       --concurrency 64 --duration-s 5
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "storage/cassandra/cassandra_message_store.h"

int main(int argc, char** argv) {
  std::string hosts = "127.0.0.1";
  std::string keyspace = "chat";
  uint64_t channel = 1;
  int concurrency = 64, limit = 50;
  double duration_s = 5;
  CLI::App app{"ds-store-bench: closed-loop GetMessages straight on the Cassandra store"};
  app.add_option("--cassandra-hosts", hosts, "contact points, comma-separated")
      ->capture_default_str();
  app.add_option("--cassandra-keyspace", keyspace, "keyspace")->capture_default_str();
  app.add_option("--channel", channel, "the (hot) channel read")->capture_default_str();
  app.add_option("--limit", limit, "page size")->check(CLI::Range(1, 100))->capture_default_str();
  app.add_option("--concurrency", concurrency, "calls in flight")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--duration-s", duration_s, "run time in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  ds::storage::CassandraStoreOptions options;
  options.hosts = absl::StrSplit(hosts, ',', absl::SkipEmpty());
  options.keyspace = keyspace;
  auto store = ds::storage::CassandraMessageStore::Open(options);
  if (!store.ok()) {
    fprintf(stderr, "ds-store-bench: %s\n", store.status().ToString().c_str());
    return 1;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> latencies_ms;
  std::map<std::string, int> errors;
  int in_flight = 0;
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now(), end = start + absl::Seconds(duration_s);

  std::function<void()> issue = [&] {
    const absl::Time sent = absl::Now();
    (*store)->GetMessages({.channel_id = channel, .limit = static_cast<uint32_t>(limit)},
                          {.deadline = sent + absl::Seconds(10)},
                          [&, sent](absl::StatusOr<std::vector<ds::storage::Message>> page) {
                            const double ms = absl::ToDoubleMilliseconds(absl::Now() - sent);
                            bool again;
                            {
                              std::lock_guard lock(mu);
                              if (page.ok()) {
                                latencies_ms.push_back(ms);
                              } else {
                                errors[absl::StatusCodeToString(page.status().code())]++;
                              }
                              again = absl::Now() < end;
                              if (!again) --in_flight;
                              cv.notify_all();
                            }
                            if (again) issue();  // closed loop: one completes, one goes
                          });
  };
  {
    std::lock_guard lock(mu);
    in_flight = concurrency;
  }
  for (int i = 0; i < concurrency; ++i) issue();
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms.empty()
               ? 0.0
               : latencies_ms[std::min(latencies_ms.size() - 1,
                                       static_cast<size_t>(p * latencies_ms.size()))];
  };
  std::string errs;
  for (const auto& [code, n] : errors)
    errs += (errs.empty() ? "" : ",") + ("\"" + code + "\":" + std::to_string(n));
  printf("{\"throughput_rps\":%.1f,\"ok\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":{%s}}\n",
         latencies_ms.size() / elapsed, latencies_ms.size(), pct(0.5), pct(0.99), errs.c_str());
  return 0;
}
