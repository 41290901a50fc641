// CassandraMessageStore: the MessageStore backend on Apache Cassandra 5.0 (or
// ScyllaDB) over CQL, through CqlClient (token-aware, prepared statements,
// reconnection and driver retries underneath).
//
// Usage:
//   auto store = ds::storage::CassandraMessageStore::Open(
//       {.hosts = {"127.0.0.1", "127.0.0.2", "127.0.0.3"},
//        .replication_factor = 3, .node_id = 7});
//   if (!store.ok()) return store.status();
//   (*store)->GetMessages({.channel_id = 42, .limit = 50}, {.deadline = d},
//                         [](absl::StatusOr<std::vector<Message>> page) { ... });
//
// Schema (created idempotently by Open; 64-bit ids are stored bit-cast to
// bigint, so message ids must be < 2^63 to sort right — snowflakes are):
//   messages((channel_id, bucket), message_id DESC) author_id, content
//       Discord's layout: one partition per channel and 10-day bucket
//       (ds::BucketOf), newest message first.
//   channel_buckets((channel_id), bucket DESC)
//       the non-empty buckets of a channel, so reads skip empty windows and
//       never look below the channel's first (oldest) bucket.
//   nonces((channel_id, nonce)) message_id, author_id, content
//       the idempotency record of SendMessage (see Rationale).
// The keyspace uses NetworkTopologyStrategy {datacenter: replication_factor};
// an existing keyspace is used as it is (Open never alters replication).
//
// Reads. GetMessage is one single-partition SELECT. GetMessages lists the
// channel's buckets from channel_buckets (newest first from bucket(before),
// or from the newest one; with `after`, oldest first from bucket(after)) and
// queries one bucket after the other with LIMIT = rows still missing, until
// `limit` rows or no bucket is left. A newest-first walk queries its likely
// first bucket (bucket(before), or the newest bucket an earlier listing of
// this store found) in parallel with the first listing, and keeps those rows
// only if the listing confirms that bucket is first: the usual page then
// costs one round trip, never a wrong answer.
//
// Deadlines and cancellation. Every CQL request gets timeout = min(remaining
// time to CallOptions::deadline, request_timeout), so a call is answered by
// its deadline plus the driver's scheduling slack. The cancel token and the
// deadline are checked before the first request and between steps (a
// GetMessages bucket walk, the phases of a send or bulk insert); a send whose
// nonce record is already written always completes its message row.
//
// Status codes: a call whose deadline has passed, or whose request timed out
// at (about) the deadline -> DEADLINE_EXCEEDED; a request timeout before the
// caller's deadline (request_timeout, replica timeouts), no connection, too
// few live replicas, overload -> UNAVAILABLE; unknown message -> NOT_FOUND;
// cancel token set -> CANCELLED; ids >= 2^63 in BulkInsert ->
// INVALID_ARGUMENT; a schema that disagrees with ours -> INTERNAL.
//
// Rationale (idempotent SendMessage under retries and concurrent duplicates
// from several nodes). The nonce record is the commit point:
//   1. The send draws a fresh snowflake id X and runs the lightweight
//      transaction INSERT INTO nonces (channel, nonce, X, author, content)
//      IF NOT EXISTS (Paxos, serial consistency LOCAL_SERIAL — SERIAL in our
//      single data center). Paxos linearizes all contenders for one
//      (channel, nonce) on any coordinator: exactly one record wins, and every
//      loser gets the winner's row back ([applied] = false + its columns).
//   2. It then writes the winner's message row (and its channel_buckets
//      row): INSERT ... USING TIMESTAMP t(id), a pure function of the winning
//      record, so any number of writers of that row — the sender, its
//      retries, concurrent duplicates — write byte-identical cells with the
//      same timestamp, which Cassandra merges into one row.
//   3. Only after both writes are acknowledged is the send acknowledged:
//      duplicate = false iff the record's id is X (our own record; this also
//      covers an LWT that was applied but whose answer was lost and retried),
//      else duplicate = true with the stored message.
// A crash or timeout between 1 and 2 leaves a record without its message
// row; the send was not acknowledged, and its retry (same nonce) finds the
// record in step 1 and completes step 2 — so no acknowledged message is lost
// and none is stored twice. The nonce record keeps the content so that the
// retry can rebuild the row even if the first sender died (the price: the
// content is stored twice). Timeouts in step 1 are retried by the store (same
// X) within the deadline, since re-running it is harmless.
// Bucket index: channel_buckets is written before (or with) the message row
// and acknowledged before the send is; a reader may see a bucket without
// rows (skipped), never a row without its bucket once acknowledged.
//
// Threads. Open blocks (connect, DDL, prepare). Every other method returns
// at once; callbacks run on the CQL driver's runtime threads ("cql-shim"),
// or on this store's timer thread for answers given without a request
// (cancelled, deadline passed, nothing to do) — never inline. Callbacks must
// be quick and must not destroy the store. Thread-safe: every method may be
// called from any thread, also from inside a callback.
//
// Shutdown: the destructor stops taking calls (new ones are answered
// CANCELLED), then waits until every request in flight has been answered.
// It must not run on a driver thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/snowflake.h"
#include "storage/cassandra/cql_client.h"
#include "storage/message_store.h"

namespace ds {
class TimerThread;
}  // namespace ds

namespace ds::storage {

struct CassandraStoreOptions {
  // Contact points, "host" or "host:port" (default port 9042).
  std::vector<std::string> hosts = {"127.0.0.1"};
  std::string keyspace = "chat";
  // For CREATE KEYSPACE only: 1 for a single test node, 3 on the cluster.
  int replication_factor = 1;
  // The data center named in the keyspace's replication map.
  std::string datacenter = "datacenter1";
  // Of every read and write (LWTs use LOCAL_SERIAL for their Paxos phase).
  cassandra::Consistency consistency = cassandra::Consistency::kLocalQuorum;
  // Cap on one CQL request (also when the caller's deadline is later).
  absl::Duration request_timeout = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(5);
  // Budget for the schema DDL in Open (retried on transient errors).
  absl::Duration schema_timeout = absl::Seconds(60);
  // Snowflake node bits (0..1023) of the ids SendMessage assigns; every
  // process writing the cluster needs its own.
  uint32_t node_id = 0;
  // PasswordAuthenticator credentials; empty for none.
  std::string username;
  std::string password;
  // BulkInsert: requests in flight at once, and rows per unlogged batch
  // (rows of one partition only; rows with large content go alone).
  int bulk_concurrency = 64;
  int bulk_batch_rows = 16;
  // Query the likely first bucket of a newest-first page in parallel with
  // the bucket listing (see Reads above); off: strictly one after the other.
  bool speculative_reads = true;
  // Unix milliseconds for snowflake ids; injectable for tests.
  std::function<int64_t()> now_ms = nullptr;
};

// "ONE", "QUORUM", "LOCAL_QUORUM", "LOCAL_ONE", "ALL", ... (case-insensitive)
// to a Consistency; INVALID_ARGUMENT for anything else.
absl::StatusOr<cassandra::Consistency> ParseConsistency(std::string_view name);

class CassandraMessageStore final : public MessageStore {
 public:
  // Connects, creates the keyspace and tables if missing (waiting for schema
  // agreement) and prepares every statement. Blocking. Errors: INVALID_ARGUMENT
  // for bad options, UNAVAILABLE when no contact point answers, or the codes
  // of the failing DDL.
  static absl::StatusOr<std::unique_ptr<CassandraMessageStore>> Open(CassandraStoreOptions options);
  ~CassandraMessageStore() override;

  CassandraMessageStore(const CassandraMessageStore&) = delete;
  CassandraMessageStore& operator=(const CassandraMessageStore&) = delete;

  void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                   Callback<std::vector<Message>> done) override;
  void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                  Callback<Message> done) override;
  void SendMessage(const NewMessage& message, const CallOptions& options,
                   Callback<SendResult> done) override;
  // Upserts: `done` gets messages.size() (rewriting an existing id with the
  // same fields is a no-op in effect). Rows are grouped by partition into
  // unlogged batches, `bulk_concurrency` requests in flight. On the first
  // failure no new request starts; the error is answered once the requests
  // in flight end (rows already written stay).
  void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                  Callback<size_t> done) override;

 private:
  struct Statements;
  class PageWalk;
  class SendOp;
  class BulkOp;

  explicit CassandraMessageStore(CassandraStoreOptions options);

  absl::Status CreateSchema();
  absl::Status PrepareStatements();

  // CANCELLED / DEADLINE_EXCEEDED if the call must not start (or continue).
  absl::Status CheckCall(absl::Time deadline, const CancelToken* cancel) const;
  // Options for one request of a call with `deadline`; DEADLINE_EXCEEDED if
  // no time is left.
  absl::StatusOr<cassandra::ExecuteOptions> RequestOptions(absl::Time deadline) const;
  // Answers `done` on the timer thread (never inline).
  template <typename T>
  void AnswerSoon(Callback<T> done, absl::StatusOr<T> result);

  // The newest bucket a listing of this store found for the channel (a hint
  // for speculation, never trusted for correctness), if any.
  std::optional<int32_t> NewestBucketHint(uint64_t channel_id);
  void SetNewestBucketHint(uint64_t channel_id, int32_t bucket);
  // Whether (channel, bucket) is known to be in channel_buckets already.
  bool BucketKnown(uint64_t channel_id, int32_t bucket);
  void RememberBucket(uint64_t channel_id, int32_t bucket);

  const CassandraStoreOptions options_;
  SnowflakeGenerator ids_;
  std::atomic<bool> stopping_{false};
  // client_ is client_owner_.get(), kept apart so that callbacks still
  // running inside ~CqlClient (which answers their new requests UNAVAILABLE)
  // never see a null pointer.
  std::unique_ptr<cassandra::CqlClient> client_owner_;
  cassandra::CqlClient* client_ = nullptr;
  std::unique_ptr<Statements> statements_;
  std::unique_ptr<TimerThread> timer_;

  std::mutex buckets_mu_;
  absl::flat_hash_set<std::pair<uint64_t, int32_t>> known_buckets_ ABSL_GUARDED_BY(buckets_mu_);
  absl::flat_hash_map<uint64_t, int32_t> newest_bucket_ ABSL_GUARDED_BY(buckets_mu_);
};

// Maps a CqlClient status of a request made for a call with `deadline`:
// DEADLINE_EXCEEDED stays only if the deadline has (about) passed, else it
// becomes UNAVAILABLE (a request or replica timeout: retry); errors that
// mean our statements disagree with the schema become INTERNAL. Exposed for
// tests.
absl::Status MapCqlStatus(const absl::Status& status, absl::Time deadline, absl::Time now);

}  // namespace ds::storage
