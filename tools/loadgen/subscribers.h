// SubscriberPool: ds-loadgen's live subscribers (--mode subscribe) — S
// long-lived SSE responses or WebSocket connections to a gateway, spread over
// channels, source addresses and I/O threads, each recording what it
// receives. A subscriber whose connection ends reconnects (after
// `reconnect_delay`) and resumes from its last event id / position.
//
// Usage:
//   SubscriberPool pool(options);
//   pool.Start();                       // connects at `connect_rate` per second
//   ... pool.connected(), pool.delivered() ...
//   pool.Stop();                        // closes every connection, joins the threads
//   for (const SubscriberRecord& r : pool.records()) { ... }
//
// Threads: `threads` I/O threads; a subscriber lives on one of them. The
// counters are atomic; Snapshot() may be called any time (it copies each
// subscriber's record on its own thread); records() and latencies() only
// after Stop().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace ds::loadgen {

struct SubscriberOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  // Local addresses to connect from, round robin (several 127.0.0.x give more
  // ephemeral ports). Empty: the kernel chooses.
  std::vector<std::string> source_addresses;
  int subscribers = 100;
  int64_t channels = 1;  // subscriber i follows channel first_channel + i % channels
  int64_t first_channel = 1;
  bool websocket = false;
  std::optional<uint64_t> after;  // resume id for every subscriber's first connection
  double connect_rate = 2000;     // new connections per second
  int threads = 2;
  absl::Duration reconnect_delay = absl::Seconds(1);
};

// What one subscriber received.
struct SubscriberRecord {
  uint64_t channel = 0;
  // Where its stream started: the resume id, or the position it joined at
  // (SSE ": live <id>" comment, WebSocket "subscribed"); 0 until known.
  uint64_t start = 0;
  bool joined = false;
  std::vector<uint64_t> in_order;  // message ids received unmarked, in arrival order
  std::vector<uint64_t> late;      // ids received marked late
  int reconnects = 0;
  int reloads = 0;  // told to reload (backlog too deep)
  int refused = 0;  // connection attempts answered non-200 / failed
};

class SubscriberPool {
 public:
  explicit SubscriberPool(SubscriberOptions options);
  ~SubscriberPool();

  void Start();
  void Stop();

  int64_t connected() const { return connected_.load(); }  // joined the live stream now
  int64_t delivered() const { return delivered_.load(); }
  int64_t reconnects() const { return reconnects_.load(); }

  // A copy of every subscriber's record as of now, for a test waiting for a
  // condition on what was received. Blocks until every I/O thread answers.
  // Only between Start() and Stop() (after Stop(), use records()).
  std::vector<SubscriberRecord> Snapshot();

  // After Stop().
  const std::vector<SubscriberRecord>& records() const { return records_; }
  // Delivery latencies in nanoseconds (the message's id timestamp → received),
  // for messages received after the subscriber joined the live stream.
  std::vector<int64_t> latencies() const;

 private:
  class Shard;
  friend class Shard;

  const SubscriberOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<SubscriberRecord> records_;
  std::atomic<int64_t> connected_{0};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> reconnects_{0};
};

}  // namespace ds::loadgen
