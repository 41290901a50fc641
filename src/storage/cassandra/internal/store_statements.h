// Private to CassandraMessageStore: its prepared statements and the id
// conversions shared by cassandra_message_store.cc and
// cassandra_store_setup.cc.
//
// Thread-safe: immutable once Open has prepared everything.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "common/snowflake.h"
#include "storage/cassandra/cassandra_message_store.h"
#include "storage/cassandra/cql_client.h"

namespace ds::storage {
namespace cassandra_internal {

// Ids and channel ids are stored bit-cast into CQL's signed bigint; message
// ids must stay below 2^63 so that clustering order is id order.
inline constexpr uint64_t kMaxCqlId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
inline int64_t ToCql(uint64_t v) { return static_cast<int64_t>(v); }
inline uint64_t FromCql(int64_t v) { return static_cast<uint64_t>(v); }

// The write timestamp (USING TIMESTAMP, microseconds) of a message row: a
// pure function of its id, so every rewrite of the row — a send's retry, a
// concurrent duplicate, a second seeding — writes identical cells with an
// identical timestamp.
inline int64_t WriteTimestampMicros(uint64_t message_id) {
  return SnowflakeTimestampMs(message_id) * 1000;
}

}  // namespace cassandra_internal

struct CassandraMessageStore::Statements {
  using PreparedStatement = cassandra::PreparedStatement;

  // SELECT author_id, content ... WHERE channel_id, bucket, message_id = ?
  const PreparedStatement& get_one() const { return *get_one_; }
  // SELECT message_id, author_id, content ... message_id <= ? LIMIT ?
  const PreparedStatement& page_desc() const { return *page_desc_; }
  // ... message_id > ? AND message_id <= ? ORDER BY message_id ASC LIMIT ?
  const PreparedStatement& page_asc() const { return *page_asc_; }
  // SELECT bucket FROM channel_buckets ... bucket <= ? LIMIT ?
  const PreparedStatement& buckets_desc() const { return *buckets_desc_; }
  // ... bucket >= ? AND bucket <= ? ORDER BY bucket ASC LIMIT ?
  const PreparedStatement& buckets_asc() const { return *buckets_asc_; }
  // INSERT INTO messages (5 columns) USING TIMESTAMP ?
  const PreparedStatement& insert_message() const { return *insert_message_; }
  // INSERT INTO channel_buckets (channel_id, bucket)
  const PreparedStatement& insert_bucket() const { return *insert_bucket_; }
  // INSERT INTO nonces (5 columns) IF NOT EXISTS
  const PreparedStatement& insert_nonce() const { return *insert_nonce_; }

  std::optional<PreparedStatement> get_one_, page_desc_, page_asc_, buckets_desc_, buckets_asc_,
      insert_message_, insert_bucket_, insert_nonce_;
  // Unlogged batches of N message inserts (6 values per row, as
  // insert_message), largest N first; N = 1 is insert_message itself.
  std::vector<std::pair<int, PreparedStatement>> batches;
};

}  // namespace ds::storage
