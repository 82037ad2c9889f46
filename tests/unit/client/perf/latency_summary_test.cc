#include "client/perf/latency_summary.h"

#include <numeric>

#include "gtest/gtest.h"

namespace gridserve::client::perf {
namespace {

TEST(PercentileTest, NearestRankOnOneToHundred) {
  std::vector<int64_t> v(100);
  std::iota(v.begin(), v.end(), 1);  // 1..100
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 95), 95);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile(v, 0), 1);
}

TEST(PercentileTest, RanksRoundUpAndNeverInterpolate) {
  const std::vector<int64_t> v = {10, 20, 30, 40};
  EXPECT_EQ(Percentile(v, 50), 20);  // ceil(0.5 * 4) = 2
  EXPECT_EQ(Percentile(v, 51), 30);  // ceil(2.04) = 3
  EXPECT_EQ(Percentile(v, 99), 40);
  EXPECT_EQ(Percentile(v, 25), 10);
  EXPECT_EQ(Percentile(v, 26), 20);
}

TEST(PercentileTest, SmallAndEmpty) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({7}, 0), 7);
  EXPECT_EQ(Percentile({7}, 99), 7);
  EXPECT_EQ(Percentile({1, 2}, 50), 1);
  EXPECT_EQ(Percentile({1, 2}, 50.1), 2);
}

TEST(PercentileTest, OutOfRangePIsClamped) {
  EXPECT_EQ(Percentile({1, 2, 3}, -5), 1);
  EXPECT_EQ(Percentile({1, 2, 3}, 500), 3);
}

TEST(PercentileTest, P99OfThousandIsTheNineHundredNinetiethValue) {
  std::vector<int64_t> v(1000);
  std::iota(v.begin(), v.end(), 1);
  EXPECT_EQ(Percentile(v, 99), 990);
  EXPECT_EQ(Percentile(v, 99.9), 999);
}

TEST(SummarizeTest, SortsAndSummarises) {
  std::vector<int64_t> v = {5, 1, 4, 2, 3};
  LatencySummary s = Summarize(&v);
  EXPECT_EQ(v, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.min_us, 1);
  EXPECT_EQ(s.max_us, 5);
  EXPECT_DOUBLE_EQ(s.mean_us, 3);
  EXPECT_EQ(s.p50_us, 3);
  EXPECT_EQ(s.p90_us, 5);
  EXPECT_EQ(s.p99_us, 5);
}

TEST(SummarizeTest, EmptyIsAllZero) {
  std::vector<int64_t> v;
  LatencySummary s = Summarize(&v);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.p99_us, 0);
  EXPECT_EQ(s.mean_us, 0);
}

}  // namespace
}  // namespace gridserve::client::perf
