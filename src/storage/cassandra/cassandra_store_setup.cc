// CassandraMessageStore: Open (options, connection, schema, prepared
// statements), shutdown, and BulkInsert.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/timer_thread.h"
#include "storage/cassandra/cassandra_message_store.h"
#include "storage/cassandra/internal/store_statements.h"

namespace ds::storage {

using cassandra::Consistency;
using cassandra::CqlClient;
using cassandra::CqlValue;
using cassandra::ExecuteOptions;
using cassandra::PreparedStatement;
using cassandra::Rows;
using cassandra_internal::kMaxCqlId;
using cassandra_internal::ToCql;

namespace {

// Content up to this size may share an unlogged batch: bulk_batch_rows of
// them stay far below Cassandra's batch_size_fail_threshold (50 KiB).
constexpr size_t kBatchableContentBytes = 2048;

bool IsIdentifier(std::string_view s, bool allow_dash) {
  if (s.empty() || s.size() > 48) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (allow_dash && c == '-');
  });
}

absl::Status ValidateOptions(const CassandraStoreOptions& o) {
  if (o.hosts.empty()) return absl::InvalidArgumentError("cassandra store: no hosts");
  if (!IsIdentifier(o.keyspace, false)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cassandra store: keyspace must be 1..48 of [A-Za-z0-9_], got '", o.keyspace, "'"));
  }
  if (!IsIdentifier(o.datacenter, true)) {
    return absl::InvalidArgumentError("cassandra store: bad datacenter name");
  }
  if (o.replication_factor < 1 || o.replication_factor > 10) {
    return absl::InvalidArgumentError("cassandra store: replication_factor must be 1..10");
  }
  if (o.node_id > kMaxSnowflakeNode) {
    return absl::InvalidArgumentError(
        absl::StrCat("cassandra store: node_id must be <= ", kMaxSnowflakeNode));
  }
  if (o.request_timeout <= absl::ZeroDuration() || o.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("cassandra store: timeouts must be > 0");
  }
  if (o.bulk_concurrency < 1 || o.bulk_batch_rows < 1 || o.bulk_batch_rows > 100) {
    return absl::InvalidArgumentError(
        "cassandra store: bulk_concurrency must be >= 1, bulk_batch_rows 1..100");
  }
  return absl::OkStatus();
}

bool Transient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::StatusOr<Consistency> ParseConsistency(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(std::string(name));
  static constexpr std::pair<const char*, Consistency> kNames[] = {
      {"ONE", Consistency::kOne},
      {"TWO", Consistency::kTwo},
      {"THREE", Consistency::kThree},
      {"QUORUM", Consistency::kQuorum},
      {"ALL", Consistency::kAll},
      {"LOCAL_QUORUM", Consistency::kLocalQuorum},
      {"EACH_QUORUM", Consistency::kEachQuorum},
      {"LOCAL_ONE", Consistency::kLocalOne},
  };
  for (const auto& [n, c] : kNames) {
    if (upper == n) return c;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown consistency '", std::string(name),
                                                 "' (ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, "
                                                 "EACH_QUORUM, LOCAL_ONE)"));
}

// ---- Lifecycle ----

CassandraMessageStore::CassandraMessageStore(CassandraStoreOptions options)
    : options_(std::move(options)),
      ids_(options_.node_id, options_.now_ms),
      timer_(std::make_unique<TimerThread>()) {}

CassandraMessageStore::~CassandraMessageStore() {
  stopping_.store(true, std::memory_order_release);
  // ~CqlClient waits for every callback; calls continuing from those
  // callbacks meanwhile get UNAVAILABLE through client_, which stays valid
  // until the delete returns.
  delete client_owner_.release();
  client_ = nullptr;
  statements_.reset();
  timer_.reset();  // runs the early answers still queued
}

absl::StatusOr<std::unique_ptr<CassandraMessageStore>> CassandraMessageStore::Open(
    CassandraStoreOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<CassandraMessageStore> store(new CassandraMessageStore(std::move(options)));
  const CassandraStoreOptions& o = store->options_;
  absl::StatusOr<std::unique_ptr<CqlClient>> client =
      CqlClient::Connect({.hosts = o.hosts,
                          .username = o.username,
                          .password = o.password,
                          .connect_timeout = o.connect_timeout,
                          .request_timeout = o.request_timeout,
                          .default_consistency = o.consistency});
  if (!client.ok()) return client.status();
  store->client_owner_ = *std::move(client);
  store->client_ = store->client_owner_.get();
  if (absl::Status s = store->CreateSchema(); !s.ok()) return s;
  if (absl::Status s = store->PrepareStatements(); !s.ok()) return s;
  return store;
}

absl::Status CassandraMessageStore::CreateSchema() {
  static auto log = ds::Logger("storage");
  const std::string& ks = options_.keyspace;
  // Skip the DDL when everything exists: concurrent CREATE TABLE from several
  // starting nodes is what Cassandra (before TCM) handles worst.
  absl::flat_hash_set<std::string> tables;
  {
    absl::StatusOr<PreparedStatement> list =
        client_->Prepare("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?");
    if (!list.ok()) return list.status();
    const CqlValue values[] = {CqlValue::Text(ks)};
    absl::StatusOr<Rows> rows =
        client_->ExecuteSync(*list, values, {.consistency = Consistency::kOne});
    if (!rows.ok()) return rows.status();
    for (size_t r = 0; r < rows->size(); ++r) {
      if (auto name = rows->GetBytes(r, 0); name.ok()) tables.insert(std::string(*name));
    }
  }
  if (tables.contains("messages") && tables.contains("channel_buckets") &&
      tables.contains("nonces")) {
    return absl::OkStatus();
  }
  const std::string ddl[] = {
      absl::StrCat("CREATE KEYSPACE IF NOT EXISTS ", ks,
                   " WITH replication = {'class': 'NetworkTopologyStrategy', '",
                   options_.datacenter, "': ", options_.replication_factor, "}"),
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", ks,
                   ".messages (channel_id bigint, bucket int, message_id bigint, "
                   "author_id bigint, content text, "
                   "PRIMARY KEY ((channel_id, bucket), message_id)) "
                   "WITH CLUSTERING ORDER BY (message_id DESC)"),
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", ks,
                   ".channel_buckets (channel_id bigint, bucket int, "
                   "PRIMARY KEY ((channel_id), bucket)) WITH CLUSTERING ORDER BY (bucket DESC)"),
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", ks,
                   ".nonces (channel_id bigint, nonce bigint, message_id bigint, "
                   "author_id bigint, content text, PRIMARY KEY ((channel_id, nonce)))"),
  };
  const absl::Time give_up = absl::Now() + options_.schema_timeout;
  for (const std::string& statement : ddl) {
    for (int attempt = 1;; ++attempt) {
      // Query waits for schema agreement after DDL.
      absl::Status s = client_->Query(statement, std::max(absl::Seconds(1), give_up - absl::Now()));
      if (s.ok()) break;
      if (!Transient(s) || absl::Now() + absl::Milliseconds(500) >= give_up) {
        return absl::Status(s.code(), absl::StrCat("cassandra schema: ", s.message()));
      }
      log->warn("schema statement failed (attempt {}), retrying: {}", attempt, s.ToString());
      absl::SleepFor(absl::Milliseconds(500));  // startup only, never on a serving path
    }
  }
  log->info("created keyspace {} (replication {}:{}) and its tables", ks, options_.datacenter,
            options_.replication_factor);
  return absl::OkStatus();
}

absl::Status CassandraMessageStore::PrepareStatements() {
  auto st = std::make_unique<Statements>();
  const std::string& ks = options_.keyspace;
  struct Item {
    std::optional<PreparedStatement>* slot;
    std::string cql;
  };
  const std::string insert_row = absl::StrCat(
      "INSERT INTO ", ks,
      ".messages (channel_id, bucket, message_id, author_id, content) VALUES (?, ?, ?, ?, ?) "
      "USING TIMESTAMP ?");
  const Item items[] = {
      {&st->get_one_, absl::StrCat("SELECT author_id, content FROM ", ks,
                                   ".messages WHERE channel_id = ? AND bucket = ? AND "
                                   "message_id = ?")},
      {&st->page_desc_, absl::StrCat("SELECT message_id, author_id, content FROM ", ks,
                                     ".messages WHERE channel_id = ? AND bucket = ? AND "
                                     "message_id <= ? LIMIT ?")},
      {&st->page_asc_, absl::StrCat("SELECT message_id, author_id, content FROM ", ks,
                                    ".messages WHERE channel_id = ? AND bucket = ? AND "
                                    "message_id > ? AND message_id <= ? "
                                    "ORDER BY message_id ASC LIMIT ?")},
      {&st->buckets_desc_, absl::StrCat("SELECT bucket FROM ", ks,
                                        ".channel_buckets WHERE channel_id = ? AND bucket <= ? "
                                        "LIMIT ?")},
      {&st->buckets_asc_, absl::StrCat("SELECT bucket FROM ", ks,
                                       ".channel_buckets WHERE channel_id = ? AND bucket >= ? "
                                       "AND bucket <= ? ORDER BY bucket ASC LIMIT ?")},
      {&st->insert_message_, insert_row},
      {&st->insert_bucket_,
       absl::StrCat("INSERT INTO ", ks, ".channel_buckets (channel_id, bucket) VALUES (?, ?)")},
      // Idempotent too: a re-run after an applied-but-unanswered attempt
      // returns our own record (see the Rationale in the header).
      {&st->insert_nonce_,
       absl::StrCat("INSERT INTO ", ks,
                    ".nonces (channel_id, nonce, message_id, author_id, content) "
                    "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS")},
  };
  for (const Item& item : items) {
    absl::StatusOr<PreparedStatement> p = client_->Prepare(item.cql, /*idempotent=*/true);
    if (!p.ok()) return p.status();
    item.slot->emplace(*std::move(p));
  }
  // Batch sizes: B, B/4, B/16, ... down to 2 (1 is insert_message).
  for (int n = options_.bulk_batch_rows; n > 1; n /= 4) {
    std::string cql = "BEGIN UNLOGGED BATCH ";
    for (int i = 0; i < n; ++i) absl::StrAppend(&cql, insert_row, "; ");
    absl::StrAppend(&cql, "APPLY BATCH");
    absl::StatusOr<PreparedStatement> p = client_->Prepare(cql, /*idempotent=*/true);
    if (!p.ok()) return p.status();
    st->batches.emplace_back(n, *std::move(p));
  }
  statements_ = std::move(st);
  return absl::OkStatus();
}

// ---- BulkInsert ----

// One BulkInsert call: a list of requests (channel_buckets rows, then
// per-partition batches of message rows) run with at most bulk_concurrency in
// flight, each completion starting the next.
class CassandraMessageStore::BulkOp : public std::enable_shared_from_this<BulkOp> {
 public:
  BulkOp(CassandraMessageStore* store, std::vector<Message> messages, const CallOptions& options,
         Callback<size_t> done)
      : store_(store),
        messages_(std::move(messages)),
        deadline_(options.deadline),
        cancel_(options.cancel),
        done_(std::move(done)) {}

  void Start() {
    Plan();
    Pump();
  }

 private:
  struct Item {
    const PreparedStatement* statement;
    size_t first;  // index into messages_
    size_t rows;   // 0: the channel_buckets row of messages_[first]
  };

  void Plan() {
    std::sort(messages_.begin(), messages_.end(), [](const Message& a, const Message& b) {
      const int32_t ba = BucketOf(a.message_id), bb = BucketOf(b.message_id);
      return std::tie(a.channel_id, ba, a.message_id) < std::tie(b.channel_id, bb, b.message_id);
    });
    const Statements& st = *store_->statements_;
    std::vector<Item> rows;
    for (size_t i = 0; i < messages_.size();) {
      const uint64_t channel = messages_[i].channel_id;
      const int32_t bucket = BucketOf(messages_[i].message_id);
      size_t end = i;
      while (end < messages_.size() && messages_[end].channel_id == channel &&
             BucketOf(messages_[end].message_id) == bucket) {
        ++end;
      }
      items_.push_back({&st.insert_bucket(), i, 0});
      // Small rows in batches (largest sizes first), large ones alone.
      size_t run = i;
      while (run < end) {
        size_t small = run;
        while (small < end && messages_[small].content.size() <= kBatchableContentBytes) ++small;
        for (const auto& [n, statement] : st.batches) {
          while (small - run >= static_cast<size_t>(n)) {
            rows.push_back({&statement, run, static_cast<size_t>(n)});
            run += n;
          }
        }
        for (; run < small; ++run) rows.push_back({&st.insert_message(), run, 1});
        if (run < end) rows.push_back({&st.insert_message(), run++, 1});  // a large one
      }
      i = end;
    }
    items_.insert(items_.end(), rows.begin(), rows.end());
  }

  void Pump() {
    while (true) {
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_.ok() || next_ >= items_.size() ||
            in_flight_ >= store_->options_.bulk_concurrency) {
          break;
        }
        if (absl::Status s = store_->CheckCall(deadline_, cancel_.get()); !s.ok()) {
          error_ = s;
          break;
        }
        index = next_++;
        ++in_flight_;
      }
      Launch(items_[index]);
    }
    bool finish = false;
    absl::Status error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!finished_ && in_flight_ == 0 && (!error_.ok() || next_ >= items_.size())) {
        finished_ = true;
        finish = true;
        error = error_;
      }
    }
    if (!finish) return;
    Callback<size_t> done = std::move(done_);
    if (error.ok()) {
      done(messages_.size());
    } else {
      done(error);
    }
  }

  void Launch(const Item& item) {
    auto self = shared_from_this();
    auto on_done = [self](absl::StatusOr<Rows> rows) { self->OnDone(rows.status()); };
    absl::StatusOr<ExecuteOptions> request = store_->RequestOptions(deadline_);
    if (!request.ok()) {
      // Answered through the timer thread: never recurse into Pump inline.
      store_->timer_->Schedule(absl::Now(), [self, s = request.status()] { self->OnDone(s); });
      return;
    }
    std::vector<CqlValue> values;
    if (item.rows == 0) {
      const Message& m = messages_[item.first];
      values = {CqlValue::BigInt(ToCql(m.channel_id)), CqlValue::Int(BucketOf(m.message_id))};
    } else {
      values.reserve(item.rows * 6);
      for (size_t i = item.first; i < item.first + item.rows; ++i) {
        const Message& m = messages_[i];
        values.insert(values.end(),
                      {CqlValue::BigInt(ToCql(m.channel_id)), CqlValue::Int(BucketOf(m.message_id)),
                       CqlValue::BigInt(ToCql(m.message_id)), CqlValue::BigInt(ToCql(m.author_id)),
                       CqlValue::Text(m.content),
                       CqlValue::BigInt(cassandra_internal::WriteTimestampMicros(m.message_id))});
      }
    }
    store_->client_->Execute(*item.statement, values, *request, on_done);
  }

  void OnDone(const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
      if (!status.ok() && error_.ok()) error_ = MapCqlStatus(status, deadline_, absl::Now());
    }
    Pump();
  }

  CassandraMessageStore* const store_;
  std::vector<Message> messages_;  // sorted by partition; immutable after Plan
  const absl::Time deadline_;
  const std::shared_ptr<const CancelToken> cancel_;
  Callback<size_t> done_;
  std::vector<Item> items_;  // immutable after Plan

  std::mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

void CassandraMessageStore::BulkInsert(std::vector<Message> messages, const CallOptions& options,
                                       Callback<size_t> done) {
  if (absl::Status s = CheckCall(options.deadline, options.cancel.get()); !s.ok()) {
    return AnswerSoon<size_t>(std::move(done), s);
  }
  for (const Message& m : messages) {
    if (m.message_id > kMaxCqlId) {
      return AnswerSoon<size_t>(
          std::move(done), absl::InvalidArgumentError(
                               absl::StrCat("message_id ", m.message_id, " is not below 2^63")));
    }
  }
  if (messages.empty()) return AnswerSoon<size_t>(std::move(done), size_t{0});
  std::make_shared<BulkOp>(this, std::move(messages), options, std::move(done))->Start();
}

}  // namespace ds::storage
