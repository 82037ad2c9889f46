#include "runtime/metrics/text_format.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {
namespace {

TEST(FormatDoubleTest, ShortestRoundTripInGoClientLayout) {
  // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
  const std::pair<double, const char*> cases[] = {
      {0, "0"},
      {-0.0, "-0"},
      {1, "1"},
      {42, "42"},
      {-3.5, "-3.5"},
      {0.1, "0.1"},
      {0.005, "0.005"},
      {0.0001, "0.0001"},
      {0.00025, "0.00025"},
      {1e-05, "1e-05"},
      {-1.5e-07, "-1.5e-07"},
      {100000, "100000"},
      {123456, "123456"},
      {999999.5, "999999.5"},
      {1e6, "1e+06"},
      {123456789, "1.23456789e+08"},
      {0.1 + 0.2, "0.30000000000000004"},
      {6.02214076e23, "6.02214076e+23"},
      {2.5e-300, "2.5e-300"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {4.9406564584124654e-324, "5e-324"},
  };
  for (const auto& [value, text] : cases) {
    EXPECT_EQ(FormatDouble(value), text);
    EXPECT_EQ(std::strtod(FormatDouble(value).c_str(), nullptr), value) << text;
  }
}

TEST(FormatDoubleTest, SpecialValues) {
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatDouble(std::nan("")), "NaN");
}

TEST(EscapeTest, LabelValueEscapesBackslashQuoteNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)"
                             "\n"
                             "d"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(EscapeLabelValue("tab\tstays, é stays"), "tab\tstays, é stays");
}

TEST(EscapeTest, HelpEscapesBackslashNewlineButNotQuote) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(NameTest, MetricNames) {
  for (const char* good : {"a", "_a", ":a", "gridserve_inference_requests_total", "a:b_c9"}) {
    EXPECT_TRUE(ValidateMetricName(good).ok()) << good;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "é", "a.b"}) {
    EXPECT_EQ(ValidateMetricName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(NameTest, LabelNames) {
  for (const char* good : {"model", "_x", "version2", "le"}) {
    EXPECT_TRUE(ValidateLabelName(good).ok()) << good;
  }
  for (const char* bad : {"", "__name__", "__x", "9a", "a:b", "a-b"}) {
    EXPECT_EQ(ValidateLabelName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

MetricSnapshot Sample(Labels labels, double value) {
  MetricSnapshot metric;
  metric.labels = std::move(labels);
  metric.value = value;
  return metric;
}

TEST(RenderTextTest, CounterAndGaugeGolden) {
  std::vector<FamilySnapshot> families(3);
  families[0] = {"requests_total", "Requests.", MetricType::kCounter, {}};
  families[0].metrics.push_back(Sample({{"model", "a"}, {"version", "1"}}, 3));
  families[0].metrics.push_back(Sample({{"model", "b"}, {"version", "2"}}, 0.5));
  families[1] = {"empty_total", "Skipped: no metrics.", MetricType::kCounter, {}};
  families[2] = {"up", "Multi\nline \\ help.", MetricType::kGauge, {}};
  families[2].metrics.push_back(Sample({}, 1));
  EXPECT_EQ(RenderText(families),
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{model=\"a\",version=\"1\"} 3\n"
            "requests_total{model=\"b\",version=\"2\"} 0.5\n"
            "# HELP up Multi\\nline \\\\ help.\n"
            "# TYPE up gauge\n"
            "up 1\n");
}

TEST(RenderTextTest, HistogramGolden) {
  FamilySnapshot family{"latency_seconds", "Latency.", MetricType::kHistogram, {}};
  MetricSnapshot metric;
  metric.labels = {{"model", "m\"1"}};
  metric.bucket_bounds = {0.005, 1, 2.5};
  metric.cumulative_counts = {1, 3, 3, 4};
  metric.sum = 7.25;
  family.metrics.push_back(metric);
  EXPECT_EQ(RenderText({family}),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{model=\"m\\\"1\",le=\"0.005\"} 1\n"
            "latency_seconds_bucket{model=\"m\\\"1\",le=\"1\"} 3\n"
            "latency_seconds_bucket{model=\"m\\\"1\",le=\"2.5\"} 3\n"
            "latency_seconds_bucket{model=\"m\\\"1\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{model=\"m\\\"1\"} 7.25\n"
            "latency_seconds_count{model=\"m\\\"1\"} 4\n");
}

TEST(RenderTextTest, UnlabeledHistogramPutsOnlyLeInBraces) {
  FamilySnapshot family{"h", "H.", MetricType::kHistogram, {}};
  MetricSnapshot metric;
  metric.cumulative_counts = {0};
  family.metrics.push_back(metric);
  EXPECT_EQ(RenderText({family}),
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

}  // namespace
}  // namespace gridserve::metrics
