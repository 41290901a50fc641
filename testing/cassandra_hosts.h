// The Cassandra contact points the Cassandra tests use: DS_CASSANDRA_HOSTS
// (comma-separated, e.g. "127.0.0.1,127.0.0.2"), else 127.0.0.1 — the node
// scripts/cassandra starts (the CTest `cassandra` fixture).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace ds::testing {

// DS_CASSANDRA_HOSTS as written, or `fallback` when it is unset or empty.
inline std::string CassandraHostsText(const std::string& fallback = "127.0.0.1") {
  const char* env = std::getenv("DS_CASSANDRA_HOSTS");
  return (env != nullptr && *env != '\0') ? env : fallback;
}

// The same, split into contact points.
inline std::vector<std::string> CassandraHosts() {
  return absl::StrSplit(CassandraHostsText(), ',', absl::SkipWhitespace());
}

}  // namespace ds::testing
