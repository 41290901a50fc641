// CqlClient: an asynchronous CQL client for Cassandra and ScyllaDB, in RAII
// C++ types over the C ABI of the Rust `scylla` driver (cql_shim/).
//
// It is the transport of CassandraMessageStore; it knows nothing about
// messages. What the driver does underneath: token-aware routing of prepared
// statements, per-node connection pools, reconnection after node restarts,
// re-preparing on restarted nodes, and retries of transient errors (the
// driver's default policy, capped by a retry budget of
// CqlClientOptions::retry_percent).
//
// Usage:
//   absl::StatusOr<std::unique_ptr<CqlClient>> client =
//       CqlClient::Connect({.hosts = {"127.0.0.1"}});
//   if (!client.ok()) return client.status();
//   if (absl::Status s = (*client)->Query("CREATE TABLE IF NOT EXISTS ..."); !s.ok()) return s;
//   absl::StatusOr<PreparedStatement> select = (*client)->Prepare("SELECT v FROM ks.t WHERE k =
//   ?"); if (!select.ok()) return select.status();
//   (*client)->Execute(*select, {CqlValue::BigInt(42)}, {.page_size = 100},
//                      [](absl::StatusOr<Rows> rows) { ... });
//
// Status codes (by what the caller should do):
//   DEADLINE_EXCEEDED  client deadline passed, or replicas timed out; a write
//                      may or may not have been applied
//   UNAVAILABLE        transient: too few live replicas, overload, no
//                      connection, too many requests in flight; retry later
//   INVALID_ARGUMENT   the statement or its values are wrong; do not retry
//   PERMISSION_DENIED  missing permission; UNAUTHENTICATED bad credentials
//   INTERNAL           anything else (server error, driver bug), and row
//                      accessors used against the schema (a bug of ours)
//
// Threads: CqlClient and PreparedStatement are thread-safe. Callbacks run on
// the driver's runtime threads ("cql-shim"): they must be quick, must not
// block on other CQL results, and must not call Connect, Prepare, Query,
// ExecuteSync or destroy the client (those fail, or would deadlock). They may
// call Execute. Rows is a plain value owned by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

// Opaque handles of cql_shim.h, declared here so that including this header
// does not pull in the C API.
struct cql_client;
struct cql_prepared;
struct cql_rows;

namespace ds::storage::cassandra {

// Consistency levels; kDefault means the client's default_consistency.
enum class Consistency : int32_t {
  kDefault = 0,
  kOne = 1,
  kTwo = 2,
  kThree = 3,
  kQuorum = 4,
  kAll = 5,
  kLocalQuorum = 6,
  kEachQuorum = 7,
  kLocalOne = 10,
  kAny = 16,
};

struct CqlClientOptions {
  // Contact points, "host" (port 9042) or "host:port"; the rest of the
  // cluster is discovered. At least one must be reachable.
  std::vector<std::string> hosts;
  // Prefer this data center and never fail over out of it; empty: none.
  std::string local_dc;
  // PasswordAuthenticator credentials; both empty for none.
  std::string username;
  std::string password;
  // Per-connection setup timeout; Connect as a whole gives up after 4x.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Default deadline of one request, including all its retries.
  absl::Duration request_timeout = absl::Seconds(5);
  Consistency default_consistency = Consistency::kLocalQuorum;
  // Retries may add at most this percentage of requests (plus a reserve of
  // 10). 0 disables retries.
  int retry_percent = 10;
  // Requests in flight at once; more fail fast with UNAVAILABLE.
  int max_in_flight = 8192;
};

// One bound value: a non-owning view. The referenced bytes only need to live
// until Execute returns (the driver copies them).
class CqlValue {
 public:
  static CqlValue Null() { return CqlValue(kNull, 0, {}); }    // writes a tombstone
  static CqlValue Unset() { return CqlValue(kUnset, 0, {}); }  // column untouched
  static CqlValue BigInt(int64_t v) { return CqlValue(kBigInt, v, {}); }
  static CqlValue Int(int32_t v) { return CqlValue(kInt, v, {}); }
  static CqlValue Text(std::string_view utf8) { return CqlValue(kText, 0, utf8); }
  static CqlValue Blob(std::string_view bytes) { return CqlValue(kBlob, 0, bytes); }
  static CqlValue Timestamp(absl::Time t) {
    return CqlValue(kTimestamp, absl::ToUnixMillis(t), {});
  }
  static CqlValue Boolean(bool v) { return CqlValue(kBoolean, v ? 1 : 0, {}); }

  // Values of cql_shim.h's CQL_VALUE_* (checked there by static_assert).
  enum Kind : int32_t {
    kNull = 0,
    kUnset = 1,
    kBigInt = 2,
    kInt = 3,
    kText = 4,
    kBlob = 5,
    kTimestamp = 6,
    kBoolean = 7,
  };
  Kind kind() const { return kind_; }
  int64_t integer() const { return integer_; }
  std::string_view bytes() const { return bytes_; }

 private:
  CqlValue(Kind kind, int64_t integer, std::string_view bytes)
      : kind_(kind), integer_(integer), bytes_(bytes) {}

  Kind kind_;
  int64_t integer_;
  std::string_view bytes_;
};

// One page of a result. Move-only; owns the driver's memory, which the
// string_views returned by its accessors point into.
class Rows {
 public:
  Rows(Rows&&) noexcept = default;
  Rows& operator=(Rows&&) noexcept = default;
  ~Rows() = default;

  size_t size() const;
  bool empty() const { return size() == 0; }
  size_t column_count() const;
  std::string_view ColumnName(size_t column) const;  // "" if out of range

  // Cell accessors. NULL cells give FAILED_PRECONDITION; a type that does not
  // match the column, or an index out of range, gives INTERNAL (our code and
  // the schema disagree).
  bool IsNull(size_t row, size_t column) const;  // false if out of range
  absl::StatusOr<int64_t> GetInt64(size_t row,
                                   size_t column) const;  // bigint, counter, timestamp (ms), int
  absl::StatusOr<int32_t> GetInt32(size_t row, size_t column) const;  // int
  absl::StatusOr<bool> GetBool(size_t row, size_t column) const;
  // text, ascii or blob; valid while this Rows lives.
  absl::StatusOr<std::string_view> GetBytes(size_t row, size_t column) const;

  // Opaque state for ExecuteOptions::paging_state to fetch the next page;
  // empty when this is the last page. Valid while this Rows lives.
  std::string_view paging_state() const;
  bool has_more_pages() const { return !paging_state().empty(); }

 private:
  friend class CqlClient;
  struct Deleter {
    void operator()(cql_rows* rows) const;
  };
  explicit Rows(cql_rows* rows) : rows_(rows) {}

  std::unique_ptr<cql_rows, Deleter> rows_;
};

// A statement prepared on the cluster. Move-only; immutable and thread-safe.
// It may outlive executions of it that are in flight, but must be used only
// with the client that prepared it.
class PreparedStatement {
 public:
  PreparedStatement(PreparedStatement&&) noexcept = default;
  PreparedStatement& operator=(PreparedStatement&&) noexcept = default;
  ~PreparedStatement() = default;

  const std::string& cql() const { return cql_; }
  bool idempotent() const { return idempotent_; }

 private:
  friend class CqlClient;
  struct Deleter {
    void operator()(cql_prepared* prepared) const;
  };
  PreparedStatement(cql_prepared* prepared, std::string cql, bool idempotent)
      : prepared_(prepared), cql_(std::move(cql)), idempotent_(idempotent) {}

  std::unique_ptr<cql_prepared, Deleter> prepared_;
  std::string cql_;
  bool idempotent_;
};

struct ExecuteOptions {
  Consistency consistency = Consistency::kDefault;
  // Deadline of this request including retries; zero: the client default.
  absl::Duration timeout = absl::ZeroDuration();
  // Rows per page; 0: no paging (every row in one result — only for
  // queries bounded by LIMIT).
  int32_t page_size = 0;
  // Rows::paging_state() of the previous page (same statement and values);
  // empty: the first page.
  std::string paging_state;
};

class CqlClient {
 public:
  // Called exactly once per Execute; must not throw (exceptions are caught,
  // reported on stderr and dropped, never unwound into the driver).
  using Callback = std::function<void(absl::StatusOr<Rows>)>;

  // Connects (blocking). Unreachable hosts give UNAVAILABLE.
  static absl::StatusOr<std::unique_ptr<CqlClient>> Connect(const CqlClientOptions& options);

  CqlClient(const CqlClient&) = delete;
  CqlClient& operator=(const CqlClient&) = delete;
  // Rejects new requests and waits until every callback has returned. Must
  // not run on a callback thread (the client is then leaked, not freed).
  ~CqlClient();

  // Prepares `cql` (blocking; meant for startup). Set `idempotent` only if
  // running the statement twice is harmless (e.g. INSERT ... USING
  // TIMESTAMP); it lets the driver retry after ambiguous failures.
  absl::StatusOr<PreparedStatement> Prepare(std::string_view cql, bool idempotent = false,
                                            absl::Duration timeout = absl::ZeroDuration());

  // Runs an unprepared statement and discards its rows (blocking; meant for
  // schema setup, DDL waits for schema agreement).
  absl::Status Query(std::string_view cql, absl::Duration timeout = absl::Seconds(30));

  // Executes `statement` with `values` (one per bind marker, in order).
  // `done` is called exactly once on a driver thread, never from within
  // Execute — except when the client is being destroyed, where it is called
  // inline with UNAVAILABLE.
  void Execute(const PreparedStatement& statement, absl::Span<const CqlValue> values,
               const ExecuteOptions& options, Callback done);

  // Execute, waiting for the result (tests and startup only; never on a
  // callback thread).
  absl::StatusOr<Rows> ExecuteSync(const PreparedStatement& statement,
                                   absl::Span<const CqlValue> values,
                                   const ExecuteOptions& options = {});

  // Retries refused so far because the retry budget was exhausted.
  uint64_t retries_denied() const;

 private:
  explicit CqlClient(cql_client* client) : client_(client) {}

  cql_client* client_;
};

// Maps a cql_shim result code and message onto a Status (OK for CQL_OK).
absl::Status StatusFromCqlCode(int32_t code, std::string_view message);

}  // namespace ds::storage::cassandra
