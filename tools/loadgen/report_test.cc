#include "tools/loadgen/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"

namespace ds::loadgen {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMs = 1000000;

// 10 reads: key 0 at 0,1,2,12 ms (+ 6 more at 20 ms), key 1 once; one write;
// one DEADLINE_EXCEEDED.
RunResult MakeResult() {
  RunResult r;
  r.codes = {"OK", "DEADLINE_EXCEEDED"};
  r.first_error_message["DEADLINE_EXCEEDED"] = "too slow";
  r.read_keys = {"GetMessages/1/50", "GetMessages/2/50"};
  auto add = [&](int32_t key, int64_t issue_ms, int64_t latency_ms, uint16_t code = 0) {
    RequestRecord rec;
    rec.key = key;
    rec.kind = key < 0 ? RequestKind::kSendMessage : RequestKind::kGetMessages;
    rec.issue_ns = issue_ms * kMs;
    rec.latency_ns = latency_ms * kMs;
    rec.code = code;
    r.records.push_back(rec);
  };
  add(0, 0, 5);
  add(0, 1, 5);
  add(0, 2, 5);
  add(0, 12, 5);
  for (int i = 0; i < 6; ++i) add(0, 20, 5);
  add(1, 3, 9, 1);
  add(-1, 4, 7);
  r.issued = 12;
  r.start = absl::FromUnixSeconds(1700000000);
  r.elapsed = absl::Milliseconds(1500);
  r.arrival_window = absl::Milliseconds(20);
  return r;
}

NodeMetricsResult MakeNodeCounters() {
  NodeMetricsResult m;
  m.origin = MetricsOrigin::kPrometheus;
  m.counters.requests = 12;
  m.counters.store_queries = 5;
  m.counters.read_store_queries = 4;
  m.counters.coalesced = 7;
  m.counters.query_seconds_sum = 0.020;  // 4 queries of 5 ms
  m.counters.query_seconds_count = 4;
  m.counters.has_query_time = true;
  m.counters.has_coalesced = true;
  m.counters.rejected_by_reason["max_waiters"] = 2;
  return m;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(ReportTest, ReferenceLinesUseTheNodesCountsAndGoFormatting) {
  LoadgenConfig config;
  Report r = BuildReport(config, MakeResult(), MakeNodeCounters());
  const absl::Time now =
      absl::FromCivil(absl::CivilSecond(2024, 10, 26, 17, 8, 11), absl::UTCTimeZone());
  std::vector<std::string> lines = Lines(RenderText(r, now, absl::UTCTimeZone(), false));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(
      lines[0],
      "2024/10/26 17:08:11 Unique requests: 2, Total requests: 12, Total queries executed: 5");
  EXPECT_EQ(lines[1], "2024/10/26 17:08:11 Average queries per request: 0.4166666666666667");
  EXPECT_EQ(lines[2], "2024/10/26 17:08:11 Saved queries by coalescing: 7");
  EXPECT_EQ(lines[3], "2024/10/26 17:08:11 Total time taken: 1.5s");
  for (const std::string& l : lines) EXPECT_EQ(l.rfind("2024/10/26 17:08:11 ", 0), 0u) << l;
}

TEST(ReportTest, QuietPrintsOnlyTheFourReferenceLines) {
  Report r = BuildReport(LoadgenConfig{}, MakeResult(), MakeNodeCounters());
  EXPECT_EQ(Lines(RenderText(r, absl::Now(), absl::UTCTimeZone(), true)).size(), 4u);
}

TEST(ReportTest, ClientFiguresErrorsAndIdealQueries) {
  Report r = BuildReport(LoadgenConfig{}, MakeResult(), MakeNodeCounters());
  EXPECT_EQ(r.issued, 12);
  EXPECT_EQ(r.completed, 12);
  EXPECT_EQ(r.ok, 11);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.reads, 11);
  EXPECT_EQ(r.writes, 1);
  EXPECT_EQ(r.errors.at("DEADLINE_EXCEEDED"), 1);
  EXPECT_EQ(r.latency.max, absl::Milliseconds(9));
  EXPECT_EQ(r.latency.p50, absl::Milliseconds(5));
  EXPECT_DOUBLE_EQ(r.throughput_rps, 12 / 1.5);
  ASSERT_TRUE(r.mean_query_time.has_value());
  EXPECT_EQ(*r.mean_query_time, absl::Milliseconds(5));
  // Key 0 with 5 ms queries: 0 covers 1, 2; 12 starts one; 20 (x6) one → 3.
  // Key 1: 1. The write is not a read.
  ASSERT_TRUE(r.ideal_queries.has_value());
  EXPECT_EQ(*r.ideal_queries, 4);
  ASSERT_TRUE(r.measured_ideal_ratio.has_value());
  EXPECT_DOUBLE_EQ(*r.measured_ideal_ratio, 1.0);  // 4 read queries / 4 ideal
  std::string text = RenderText(r, absl::Now(), absl::UTCTimeZone(), false);
  EXPECT_THAT(text, HasSubstr("Errors by status: DEADLINE_EXCEEDED=1"));
  EXPECT_THAT(text, HasSubstr("Ideal queries: 4 (measured/ideal ratio: 1.00)"));
  EXPECT_THAT(text, HasSubstr("Mean store query time: 5.000ms"));
  EXPECT_THAT(text, HasSubstr("rejected: max_waiters=2"));
  EXPECT_THAT(text, HasSubstr("Arrival window: 20.000ms"));
}

TEST(ReportTest, ThroughAGatewayTheIdealHasTwoLevelsAndRequestsAreTheClients) {
  LoadgenConfig config;
  config.target = TargetKind::kGateway;
  NodeMetricsResult m = MakeNodeCounters();
  m.counters.requests = 3;  // the nodes saw only the gateway's calls
  m.counters.read_store_queries = 3;
  m.counters.store_queries = 3;
  m.counters.has_gateway = true;
  m.counters.gateway_read_calls = 3;
  m.counters.gateway_coalesced = 8;
  m.counters.gateway_call_seconds_sum = 0.030;  // 3 calls of 10 ms
  m.counters.gateway_call_seconds_count = 3;
  Report r = BuildReport(config, MakeResult(), m);
  EXPECT_TRUE(r.have_gateway);
  EXPECT_EQ(r.total_requests, 12);  // the client's, not the nodes'
  EXPECT_EQ(r.saved_queries, 9);
  ASSERT_TRUE(r.mean_upstream_time.has_value());
  EXPECT_EQ(*r.mean_upstream_time, absl::Milliseconds(10));
  // Key 0 with 10 ms flights: 0 covers 1, 2; 12 covers the six at 20 → 2.
  // Key 1: 1. Then 5 ms store queries over those calls: 3.
  ASSERT_TRUE(r.ideal_upstream_calls.has_value());
  EXPECT_EQ(*r.ideal_upstream_calls, 3);
  EXPECT_DOUBLE_EQ(*r.gateway_ideal_ratio, 1.0);
  EXPECT_EQ(*r.ideal_queries, 3);
  const std::string text = RenderText(r, absl::Now(), absl::UTCTimeZone(), false);
  EXPECT_THAT(text, HasSubstr("Gateway metrics: 3 upstream calls for reads (one per gateway "
                              "flight), 8 reads coalesced at the gateway, mean upstream call "
                              "10.000ms"));
  EXPECT_THAT(text,
              HasSubstr("Ideal upstream calls (gateway level): 3 (measured/ideal ratio: 1.00)"));
  EXPECT_THAT(text, HasSubstr("Node metrics (prometheus): 3 requests, 3 store queries"));
  nlohmann::json j = nlohmann::json::parse(RenderJson(r));
  EXPECT_EQ(j["ideal_upstream_calls"], 3);
  EXPECT_EQ(j["gateway_upstream_calls"], 3);
}

TEST(ReportTest, QueryTimeFlagOverridesTheNodes) {
  LoadgenConfig config;
  config.query_time_ms = 0;  // no coalescing at all: one query per read
  Report r = BuildReport(config, MakeResult(), MakeNodeCounters());
  EXPECT_EQ(*r.ideal_queries, 11);
  EXPECT_EQ(r.query_time_source, "flag");
}

TEST(ReportTest, WithoutNodeMetricsQueryFiguresAreNotAvailable) {
  NodeMetricsResult none;
  none.origin = MetricsOrigin::kDisabled;
  Report r = BuildReport(LoadgenConfig{}, MakeResult(), none);
  std::vector<std::string> lines = Lines(RenderText(r, absl::Now(), absl::UTCTimeZone(), false));
  EXPECT_THAT(lines[0], HasSubstr("Unique requests: 2, Total requests: 12, "
                                  "Total queries executed: n/a"));
  EXPECT_THAT(lines[1], HasSubstr("Average queries per request: n/a"));
  EXPECT_FALSE(r.ideal_queries.has_value());
  nlohmann::json j = nlohmann::json::parse(RenderJson(r));
  EXPECT_TRUE(j["total_queries_executed"].is_null());
  EXPECT_TRUE(j["node"].is_null());
  EXPECT_EQ(j["metrics_origin"], "disabled");
}

TEST(ReportTest, JsonHasEveryFigure) {
  Report r = BuildReport(LoadgenConfig{}, MakeResult(), MakeNodeCounters());
  nlohmann::json j = nlohmann::json::parse(RenderJson(r));
  EXPECT_EQ(j["unique_requests"], 2);
  EXPECT_EQ(j["total_requests"], 12);
  EXPECT_EQ(j["total_queries_executed"], 5);
  EXPECT_EQ(j["saved_queries"], 7);
  EXPECT_DOUBLE_EQ(j["average_queries_per_request"].get<double>(), 5.0 / 12);
  EXPECT_DOUBLE_EQ(j["total_time_ms"].get<double>(), 1500);
  EXPECT_EQ(j["errors"]["DEADLINE_EXCEEDED"], 1);
  EXPECT_EQ(j["error_examples"]["DEADLINE_EXCEEDED"], "too slow");
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p99"].get<double>(), 9);
  for (const char* k : {"p50", "p90", "p99", "p999", "min", "mean", "max"}) {
    EXPECT_TRUE(j["latency_ms"].contains(k)) << k;
  }
  EXPECT_EQ(j["node"]["read_store_queries"], 4);
  EXPECT_EQ(j["node"]["coalesced"], 7);
  EXPECT_EQ(j["node"]["rejected"]["max_waiters"], 2);
  EXPECT_DOUBLE_EQ(j["mean_store_query_time_ms"].get<double>(), 5);
  EXPECT_EQ(j["ideal_queries"], 4);
  EXPECT_DOUBLE_EQ(j["measured_ideal_ratio"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["arrival_window_ms"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(j["throughput_rps"].get<double>(), 8);
  EXPECT_EQ(j["mode"], "burst");
  EXPECT_EQ(j["target"], "nodes");
}

TEST(ReportTest, UnfinishedRequestsAreErrors) {
  RunResult result = MakeResult();
  result.issued = 15;
  result.unfinished = 3;
  Report r = BuildReport(LoadgenConfig{}, result, MakeNodeCounters());
  EXPECT_EQ(r.errors.at("UNFINISHED"), 3);
}

TEST(ReportTest, ZeroNodeRequestsPrintsNaNLikeGo) {
  NodeMetricsResult m;
  m.origin = MetricsOrigin::kReferenceApi;
  Report r = BuildReport(LoadgenConfig{}, MakeResult(), m);
  std::vector<std::string> lines = Lines(RenderText(r, absl::Now(), absl::UTCTimeZone(), true));
  EXPECT_THAT(lines[1], HasSubstr("Average queries per request: NaN"));
  // The reference API has no coalesced count.
  EXPECT_FALSE(r.node_coalesced.has_value());
  EXPECT_TRUE(nlohmann::json::parse(RenderJson(r))["average_queries_per_request"].is_null());
}

}  // namespace
}  // namespace ds::loadgen
