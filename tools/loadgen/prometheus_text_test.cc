#include "tools/loadgen/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace ds::loadgen {
namespace {

using ::testing::HasSubstr;

// What prometheus-cpp's text serializer writes for a node, abridged.
constexpr char kNodeExposition[] =
    "# HELP ds_requests_total Requests received\n"
    "# TYPE ds_requests_total counter\n"
    "ds_requests_total{method=\"GetMessages\"} 1200\n"
    "ds_requests_total{method=\"GetMessage\"} 30\n"
    "ds_requests_total{method=\"SendMessage\"} 7\n"
    "# TYPE ds_store_queries_total counter\n"
    "ds_store_queries_total{method=\"GetMessages\"} 40\n"
    "ds_store_queries_total{method=\"SendMessage\"} 7\n"
    "# TYPE ds_store_query_seconds histogram\n"
    "ds_store_query_seconds_count{method=\"GetMessages\"} 40\n"
    "ds_store_query_seconds_sum{method=\"GetMessages\"} 0.08\n"
    "ds_store_query_seconds_bucket{method=\"GetMessages\",le=\"0.005\"} 38\n"
    "ds_store_query_seconds_bucket{method=\"GetMessages\",le=\"+Inf\"} 40\n"
    "ds_rejected_total{method=\"GetMessages\",reason=\"max_waiters\"} 3\n"
    "ds_rejected_total{method=\"GetMessage\",reason=\"max_queries\"} 2\n"
    "ds_active_flights 0\n";

TEST(ParsePrometheusTextTest, ParsesNamesLabelsAndValues) {
  absl::StatusOr<MetricFamilySamples> s = ParsePrometheusText(kNodeExposition);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 12u);
  EXPECT_EQ((*s)[0].name, "ds_requests_total");
  EXPECT_EQ((*s)[0].labels.at("method"), "GetMessages");
  EXPECT_EQ((*s)[0].value, 1200);
  EXPECT_EQ((*s)[8].labels.at("le"), "+Inf");
  EXPECT_EQ((*s)[11].name, "ds_active_flights");
  EXPECT_TRUE((*s)[11].labels.empty());
}

TEST(SumMetricTest, SumsOverLabelSetsAndFiltersByLabels) {
  MetricFamilySamples s = *ParsePrometheusText(kNodeExposition);
  EXPECT_EQ(SumMetric(s, "ds_requests_total"), 1237);
  EXPECT_EQ(SumMetric(s, "ds_requests_total", {{"method", "GetMessage"}}), 30);
  EXPECT_EQ(SumMetric(s, "ds_store_queries_total", {{"method", "GetMessage"}}), 0);
  EXPECT_EQ(SumMetric(s, "ds_rejected_total"), 5);
  EXPECT_EQ(SumMetric(s, "no_such_metric"), 0);
  // A prefix of a name is another metric.
  EXPECT_EQ(SumMetric(s, "ds_requests"), 0);
  EXPECT_DOUBLE_EQ(SumMetric(s, "ds_store_query_seconds_sum"), 0.08);
  EXPECT_EQ(SumMetricIf(s, "ds_store_queries_total", "method",
                        [](const std::string& m) { return m != "SendMessage"; }),
            40);
  std::map<std::string, double> by = SumMetricByLabel(s, "ds_rejected_total", "reason");
  EXPECT_EQ(by.at("max_waiters"), 3);
  EXPECT_EQ(by.at("max_queries"), 2);
}

TEST(SumMetricTest, MultipleNodesAddUp) {
  std::string two = std::string(kNodeExposition) + kNodeExposition;
  MetricFamilySamples s = *ParsePrometheusText(two);
  EXPECT_EQ(SumMetric(s, "ds_requests_total"), 2474);
}

TEST(ParsePrometheusTextTest, HandlesEscapesTimestampsSpecialValuesAndCrlf) {
  absl::StatusOr<MetricFamilySamples> s = ParsePrometheusText(
      "m{a=\"x\\\"y\",b=\"back\\\\slash\",c=\"new\\nline\"} 1.5 1700000000000\r\n"
      "\n"
      "  # indented comment\n"
      "n{} NaN\n"
      "o +Inf\n"
      "p{a=\"1\",} -Inf\n"
      "q 2e3\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 5u);
  EXPECT_EQ((*s)[0].labels.at("a"), "x\"y");
  EXPECT_EQ((*s)[0].labels.at("b"), "back\\slash");
  EXPECT_EQ((*s)[0].labels.at("c"), "new\nline");
  EXPECT_EQ((*s)[0].value, 1.5);
  EXPECT_TRUE(std::isnan((*s)[1].value));
  EXPECT_TRUE(std::isinf((*s)[2].value));
  EXPECT_LT((*s)[3].value, 0);
  EXPECT_EQ((*s)[3].labels.at("a"), "1");
  EXPECT_EQ((*s)[4].value, 2000);
}

TEST(ParsePrometheusTextTest, EmptyInputHasNoSamples) {
  absl::StatusOr<MetricFamilySamples> s = ParsePrometheusText("");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
}

TEST(ParsePrometheusTextTest, MalformedLinesAreErrorsNamingTheLine) {
  for (const char* bad : {"ok 1\n{a=\"b\"} 1\n", "ok 1\nm{a=\"b} 1\n", "ok 1\nm{a=b} 1\n",
                          "ok 1\nm\n", "ok 1\nm abc\n", "ok 1\nm 1 2 3\n"}) {
    absl::StatusOr<MetricFamilySamples> s = ParsePrometheusText(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("line 2")) << bad;
  }
}

}  // namespace
}  // namespace ds::loadgen
