// The storage backend flags ds-node and ds-seed share, and the Cassandra
// store they open from them.
//
// Usage:
//   StoreFlags store;                      // defaults: the binary may change them
//   AddStoreFlags(flags, store, "Storage backend: sqlite (...) or cassandra (...)");
//   ... parse ...
//   if (store.backend == "cassandra") auto opened = OpenCassandraStore(store, node_id);
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cmd/common/cli.h"
#include "storage/message_store.h"

namespace ds::cli {

struct StoreFlags {
  std::string backend = "sqlite";  // sqlite | cassandra
  std::string cassandra_hosts = "127.0.0.1";
  std::string cassandra_keyspace = "chat";
  std::string cassandra_consistency = "LOCAL_QUORUM";
  // If the keyspace must be created; 0 = as many as contact points, at most 3.
  int cassandra_replication_factor = 0;
  int cassandra_timeout_ms = 2'000;
  std::string cassandra_username;
  std::string cassandra_password;
};

// --backend (with `backend_help`), --cassandra-hosts, --cassandra-keyspace and
// --cassandra-consistency.
void AddStoreFlags(FlagSet& flags, StoreFlags& f, const std::string& backend_help);

// Where the rows of a Cassandra backend go: "cassandra://HOSTS/KEYSPACE".
std::string CassandraStoreName(const StoreFlags& f);

// Opens the Cassandra store `f` describes, assigning ids with `node_id`.
// UNIMPLEMENTED in a build without Cassandra (DS_WITH_CASSANDRA=OFF).
absl::StatusOr<std::unique_ptr<storage::MessageStore>> OpenCassandraStore(const StoreFlags& f,
                                                                          uint32_t node_id);

}  // namespace ds::cli
