#include "tools/loadgen/node_metrics.h"

#include <gtest/gtest.h>

namespace ds::loadgen {
namespace {

// The shape a real node exports (method labels from src/node/node_metrics.h).
constexpr char kBefore[] =
    "ds_requests_total{method=\"GetMessages\"} 100\n"
    "ds_requests_total{method=\"ref.getMessage\"} 10\n"
    "ds_requests_total{method=\"SendMessage\"} 5\n"
    "ds_store_queries_total{method=\"GetMessages\"} 20\n"
    "ds_store_queries_total{method=\"ref.getMessage\"} 2\n"
    "ds_store_queries_total{method=\"SendMessage\"} 5\n"
    "ds_coalesced_requests_total{method=\"GetMessages\"} 80\n"
    "ds_store_query_seconds_sum{method=\"GetMessages\"} 0.04\n"
    "ds_store_query_seconds_count{method=\"GetMessages\"} 20\n"
    "ds_store_query_seconds_sum{method=\"SendMessage\"} 5\n"
    "ds_store_query_seconds_count{method=\"SendMessage\"} 5\n"
    "ds_rejected_total{method=\"GetMessages\",reason=\"flight_full\"} 1\n";

constexpr char kAfter[] =
    "ds_requests_total{method=\"GetMessages\"} 1100\n"
    "ds_requests_total{method=\"ref.getMessage\"} 10\n"
    "ds_requests_total{method=\"SendMessage\"} 15\n"
    "ds_store_queries_total{method=\"GetMessages\"} 60\n"
    "ds_store_queries_total{method=\"ref.getMessage\"} 2\n"
    "ds_store_queries_total{method=\"SendMessage\"} 15\n"
    "ds_coalesced_requests_total{method=\"GetMessages\"} 1040\n"
    "ds_store_query_seconds_sum{method=\"GetMessages\"} 0.12\n"
    "ds_store_query_seconds_count{method=\"GetMessages\"} 60\n"
    "ds_store_query_seconds_sum{method=\"SendMessage\"} 15\n"
    "ds_store_query_seconds_count{method=\"SendMessage\"} 15\n"
    "ds_rejected_total{method=\"GetMessages\",reason=\"flight_full\"} 4\n"
    "ds_rejected_total{method=\"GetMessage\",reason=\"total_waiters\"} 2\n";

TEST(CountersFromSamplesTest, SumsMethodsAndSeparatesWrites) {
  NodeCounters c = CountersFromSamples(*ParsePrometheusText(kBefore));
  EXPECT_EQ(c.requests, 115);
  EXPECT_EQ(c.store_queries, 27);
  EXPECT_EQ(c.read_store_queries, 22);
  EXPECT_EQ(c.coalesced, 80);
  // Query time of reads only: the slow writes do not count.
  EXPECT_DOUBLE_EQ(c.query_seconds_sum, 0.04);
  EXPECT_EQ(c.query_seconds_count, 20);
  EXPECT_TRUE(c.has_query_time);
  EXPECT_TRUE(c.has_coalesced);
  EXPECT_EQ(c.rejected_by_reason.at("flight_full"), 1);
}

TEST(SubtractCountersTest, DeltasOfEveryField) {
  NodeCounters d = SubtractCounters(CountersFromSamples(*ParsePrometheusText(kAfter)),
                                    CountersFromSamples(*ParsePrometheusText(kBefore)));
  EXPECT_EQ(d.requests, 1010);
  EXPECT_EQ(d.store_queries, 50);
  EXPECT_EQ(d.read_store_queries, 40);
  EXPECT_EQ(d.coalesced, 960);
  EXPECT_NEAR(d.query_seconds_sum / d.query_seconds_count, 0.002, 1e-12);
  EXPECT_EQ(d.rejected_by_reason.at("flight_full"), 3);
  EXPECT_EQ(d.rejected_by_reason.at("total_waiters"), 2);
}

TEST(CountersFromSamplesTest, FallsBackToAllMethodsForQueryTime) {
  NodeCounters c = CountersFromSamples(
      *ParsePrometheusText("ds_store_query_seconds_sum 0.5\nds_store_query_seconds_count 10\n"));
  EXPECT_DOUBLE_EQ(c.query_seconds_sum, 0.5);
  EXPECT_EQ(c.query_seconds_count, 10);
  EXPECT_FALSE(c.has_coalesced);
  EXPECT_FALSE(CountersFromSamples({}).has_query_time);
}

TEST(IsWriteMethodLabelTest, SendIsAWrite) {
  EXPECT_TRUE(IsWriteMethodLabel("SendMessage"));
  EXPECT_TRUE(IsWriteMethodLabel("sendMessage"));
  EXPECT_FALSE(IsWriteMethodLabel("GetMessages"));
  EXPECT_FALSE(IsWriteMethodLabel("ref.getMessage"));
}

TEST(ParseHttpUrlTest, AcceptsFullUrlsAndHostPort) {
  HttpUrl u = *ParseHttpUrl("http://127.0.0.1:9100/metrics");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "9100");
  EXPECT_EQ(u.target, "/metrics");
  u = *ParseHttpUrl("localhost:9100");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.target, "/metrics");
  u = *ParseHttpUrl("[::1]:9100/x?y=1");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9100");
  EXPECT_EQ(u.target, "/x?y=1");
}

TEST(ParseHttpUrlTest, RejectsWhatItCannotFetch) {
  EXPECT_FALSE(ParseHttpUrl("https://h:1/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("hostonly").ok());
  EXPECT_FALSE(ParseHttpUrl("h:port").ok());
  EXPECT_FALSE(ParseHttpUrl(":9100").ok());
  EXPECT_FALSE(ParseHttpUrl("[::1:9100").ok());
}

TEST(HttpGetTest, ConnectionRefusedIsUnavailable) {
  // Port 1 on loopback: nothing listens there in a test environment.
  absl::StatusOr<std::string> r = HttpGet("http://127.0.0.1:1/metrics", absl::Seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ds::loadgen
