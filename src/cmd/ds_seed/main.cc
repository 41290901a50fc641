// ds-seed: fills an embedded store file (or, with --backend cassandra, a
// Cassandra keyspace) with demo/benchmark data — C channels
// (ids start..start+C-1, like the reference service) × M messages spread over
// the 30 days before --end-ms, plus each channel's reference message
// (id channel*1000) that the reference Go client asks for. Deterministic and
// idempotent: running it twice with the same flags adds nothing the second time.
//
//   ds-seed --store data-services.db --channels 20 --messages 10000
//   => seeded 20 channels x 10000 messages into data-services.db in 812 ms
//   ds-seed --backend cassandra --cassandra-hosts 127.0.0.1,127.0.0.2,127.0.0.3
//           --replication-factor 3 --channels 20 --messages 200
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "cmd/common/cli.h"
#include "cmd/common/store_flags.h"
#include "cmd/ds_seed/seed_data.h"
#include "storage/embedded/sqlite_message_store.h"

namespace {

struct Flags {
  std::string store_path = "data-services.db";
  uint64_t channels = 20;
  uint64_t messages = 1000;
  uint64_t start_channel = 1;
  uint32_t node_id = 0;
  uint64_t seed = 1;
  int64_t end_ms = -1;
  uint64_t batch_rows = 50'000;
  bool quiet = false;
  // --backend, --cassandra-*; seeding writes get 20 s and create the
  // keyspace with replication factor 1 unless told otherwise.
  ds::cli::StoreFlags store{.cassandra_replication_factor = 1, .cassandra_timeout_ms = 20'000};
};

// Opens the store chosen by --backend; `name` says where the rows go.
absl::StatusOr<std::unique_ptr<ds::storage::MessageStore>> OpenStore(const Flags& f,
                                                                     std::string& name) {
  if (f.store.backend == "sqlite") {
    name = f.store_path;
    auto sqlite = ds::storage::SqliteMessageStore::Open({.path = f.store_path,
                                                         .reader_threads = 1,
                                                         .node_id = f.node_id,
                                                         .durable_commits = false});
    if (!sqlite.ok()) return sqlite.status();
    return std::unique_ptr<ds::storage::MessageStore>(std::move(*sqlite));
  }
  name = ds::cli::CassandraStoreName(f.store);
  return ds::cli::OpenCassandraStore(f.store, f.node_id);
}

absl::StatusOr<size_t> InsertBatch(ds::storage::MessageStore& store,
                                   std::vector<ds::storage::Message> rows) {
  std::promise<absl::StatusOr<size_t>> done;
  store.BulkInsert(std::move(rows), {}, [&](absl::StatusOr<size_t> r) { done.set_value(r); });
  return done.get_future().get();
}

void AddFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  flags.Add("--store", f.store_path, "Store file to create or extend (SQLite, WAL mode)");
  app.add_option("--channels", f.channels, "Number of channels C")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--messages", f.messages, "Messages per channel M (besides the reference one)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--start-channel", f.start_channel, "Id of the first channel")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000'000}))
      ->capture_default_str();
  app.add_option("--node-id", f.node_id, "Snowflake node bits (0..1023) of the seeded ids")
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
  app.add_option("--seed", f.seed, "Seed for authors, contents and timestamp jitter")
      ->capture_default_str();
  app.add_option("--end-ms", f.end_ms,
                 "Unix ms the seeded window ends at (default: today's UTC midnight, so runs "
                 "on the same day are idempotent)");
  app.add_option("--batch-rows", f.batch_rows, "Rows per insert transaction")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}))
      ->capture_default_str();
  ds::cli::AddStoreFlags(
      flags, f.store, "Where to seed: sqlite (the --store file) or cassandra (--cassandra-hosts)");
  app.add_option("--replication-factor", f.store.cassandra_replication_factor,
                 "Replication factor of the keyspace if ds-seed creates it")
      ->envname("DS_CASSANDRA_REPLICATION_FACTOR")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app.add_flag("--quiet", f.quiet, "No progress lines (the final line is always printed)");
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "ds-seed: load demo/benchmark messages into an embedded (SQLite) store file, or into a\n"
      "Cassandra keyspace with --backend cassandra.\n"
      "Channels get ids --start-channel .. --start-channel+C-1; each gets M messages with\n"
      "snowflake ids spread over the 30 days before --end-ms (several 10-day buckets), plus\n"
      "the reference client's message id channel*1000 (author 4000+channel, content\n"
      "\"Channel <id>\"). Ids derive from --seed, so a second identical run adds nothing."};
  AddFlags(app, f);
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  const int64_t end_ms =
      f.end_ms >= 0 ? f.end_ms : ds::seed::DefaultEndMs(absl::ToUnixMillis(absl::Now()));
  ds::seed::SeedOptions options{
      .messages_per_channel = f.messages, .end_ms = end_ms, .node_id = f.node_id, .seed = f.seed};
  if (options.end_ms - options.span_ms < ds::kSnowflakeEpochMs) {
    std::fprintf(stderr, "error: --end-ms must be at least 30 days after 2015-01-01\n");
    return 2;
  }
  const uint64_t last_channel = f.start_channel + f.channels - 1;
  if (last_channel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 1000) {
    std::fprintf(stderr, "error: channel ids too large for reference message ids\n");
    return 2;
  }

  std::string store_name;
  auto store = OpenStore(f, store_name);
  if (!store.ok()) {
    std::fprintf(stderr, "error: cannot open store %s: %s\n", store_name.c_str(),
                 store.status().ToString().c_str());
    return 1;
  }

  size_t added = 0;
  size_t total = 0;
  std::vector<ds::storage::Message> batch;
  auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    total += batch.size();
    auto n = InsertBatch(**store, std::move(batch));
    batch.clear();
    if (!n.ok()) {
      std::fprintf(stderr, "error: insert into %s failed: %s\n", store_name.c_str(),
                   n.status().ToString().c_str());
      return false;
    }
    added += *n;
    return true;
  };
  for (uint64_t c = f.start_channel; c <= last_channel; ++c) {
    std::vector<ds::storage::Message> rows = ds::seed::ChannelMessages(options, c);
    for (ds::storage::Message& m : rows) {
      batch.push_back(std::move(m));
      if (batch.size() >= f.batch_rows && !flush()) return 1;
    }
    if (!f.quiet && (c == last_channel || (c - f.start_channel + 1) % 10 == 0)) {
      if (!flush()) return 1;
      std::fprintf(stderr, "  channel %llu/%llu: %zu rows written, %zu new\n",
                   static_cast<unsigned long long>(c - f.start_channel + 1),
                   static_cast<unsigned long long>(f.channels), total, added);
    }
  }
  if (!flush()) return 1;
  store->reset();  // close the store (checkpoint) before reporting

  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  if (f.store.backend == "sqlite") {
    std::printf("%zu new rows (%zu already present)\n", added, total - added);
  } else {
    std::printf("%zu rows upserted (rewriting a seeded row changes nothing)\n", total);
  }
  std::printf("seeded %llu channels x %llu messages into %s in %lld ms\n",
              static_cast<unsigned long long>(f.channels),
              static_cast<unsigned long long>(f.messages), store_name.c_str(), ms);
  return 0;
}
