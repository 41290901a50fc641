#include "cmd/common/store_flags.h"

#include <algorithm>

#ifdef DS_HAVE_CASSANDRA
#include "absl/strings/str_split.h"
#include "storage/cassandra/cassandra_message_store.h"
#endif

namespace ds::cli {

void AddStoreFlags(FlagSet& flags, StoreFlags& f, const std::string& backend_help) {
  flags.Add("--backend", f.backend, backend_help, CLI::IsMember({"sqlite", "cassandra"}));
  flags.Add("--cassandra-hosts", f.cassandra_hosts,
            "Cassandra contact points, comma-separated host[:port]");
  flags.Add("--cassandra-keyspace", f.cassandra_keyspace,
            "Cassandra keyspace (created with its tables if missing)");
  flags.Add("--cassandra-consistency", f.cassandra_consistency,
            "Consistency of reads and writes: LOCAL_QUORUM, QUORUM, ONE, LOCAL_ONE, ALL, ...");
}

std::string CassandraStoreName(const StoreFlags& f) {
  return "cassandra://" + f.cassandra_hosts + "/" + f.cassandra_keyspace;
}

absl::StatusOr<std::unique_ptr<storage::MessageStore>> OpenCassandraStore(const StoreFlags& f,
                                                                          uint32_t node_id) {
#ifdef DS_HAVE_CASSANDRA
  auto consistency = storage::ParseConsistency(f.cassandra_consistency);
  if (!consistency.ok()) return consistency.status();
  storage::CassandraStoreOptions o;
  o.hosts = absl::StrSplit(f.cassandra_hosts, ',', absl::SkipWhitespace());
  o.keyspace = f.cassandra_keyspace;
  o.replication_factor = f.cassandra_replication_factor > 0
                             ? f.cassandra_replication_factor
                             : std::clamp(static_cast<int>(o.hosts.size()), 1, 3);
  o.consistency = *consistency;
  o.request_timeout = absl::Milliseconds(f.cassandra_timeout_ms);
  o.node_id = node_id;
  o.username = f.cassandra_username;
  o.password = f.cassandra_password;
  auto cassandra = storage::CassandraMessageStore::Open(std::move(o));
  if (!cassandra.ok()) return cassandra.status();
  return std::unique_ptr<storage::MessageStore>(std::move(*cassandra));
#else
  (void)f;
  (void)node_id;
  return absl::UnimplementedError("built without Cassandra (DS_WITH_CASSANDRA=OFF)");
#endif
}

}  // namespace ds::cli
