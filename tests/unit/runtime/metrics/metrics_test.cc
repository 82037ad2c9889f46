// What runtime/metrics adds to prometheus-cpp (registration as Status, buckets, the sorted
// exposition of several collectables), and the library behaviour gridserve relies on: exact
// totals under concurrency, label escaping, histogram layout.

#include "runtime/metrics/metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CounterTest, NeverGoesDown) {
  prometheus::Registry registry;
  Counter& counter = (*Register<Counter>(&registry, "c_total", "C."))->Add({});
  counter.Increment();
  counter.Increment(4);
  counter.Increment(0.25);
  counter.Increment(-1);
  EXPECT_EQ(counter.Value(), 5.25);
}

TEST(BucketsTest, Generators) {
  EXPECT_THAT(ExponentialBuckets(1, 2, 5), ElementsAre(1, 2, 4, 8, 16));
  const std::vector<double> latency = DefaultLatencyBuckets();
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_EQ(latency.size(), 18u);
  EXPECT_LE(latency.front(), 0.001);  // sub-millisecond inference resolves
  EXPECT_GE(latency.back(), 10);
}

TEST(RegisterTest, RejectsBadNamesAndDuplicates) {
  prometheus::Registry registry(prometheus::Registry::InsertBehavior::Throw);
  ASSERT_TRUE(Register<Counter>(&registry, "a_total", "A.").ok());
  EXPECT_EQ(Register<Counter>(&registry, "a_total", "again").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Register<Gauge>(&registry, "a_total", "again").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Register<Counter>(&registry, "bad-name", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Register<Histogram>(&registry, "", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Register<Counter>(nullptr, "b_total", "x").status().code(),
            absl::StatusCode::kInvalidArgument);

  // The default Merge behaviour hands back the existing family of the same type.
  prometheus::Registry merging;
  auto first = Register<Counter>(&merging, "m_total", "M.");
  auto second = Register<Counter>(&merging, "m_total", "M.");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(Register<Gauge>(&merging, "m_total", "M.").status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(SerializeTextTest, SortsFamiliesAndLabelSetsSkipsEmptyAndRemoves) {
  prometheus::Registry registry;
  Family<Gauge>* zeta = *Register<Gauge>(&registry, "zeta", "Z.");
  Family<Counter>* alpha = *Register<Counter>(&registry, "alpha_total", "A.");
  ASSERT_TRUE(Register<Gauge>(&registry, "unused", "Never given a label set.").ok());
  Gauge& b = zeta->Add({{"model", "b"}});
  b.Set(2);
  Gauge& a = zeta->Add({{"model", "a"}});
  a.Set(1);
  zeta->Add({{"model", "c"}, {"kind", "x"}}).Set(3);
  alpha->Add({}).Increment();
  EXPECT_EQ(SerializeText({&registry}),
            "# HELP alpha_total A.\n# TYPE alpha_total counter\nalpha_total 1\n"
            "# HELP zeta Z.\n# TYPE zeta gauge\nzeta{kind=\"x\",model=\"c\"} 3\n"
            "zeta{model=\"a\"} 1\nzeta{model=\"b\"} 2\n");
  zeta->Remove(&a);
  EXPECT_THAT(SerializeText({&registry}), ::testing::Not(HasSubstr("model=\"a\"")));
}

TEST(SerializeTextTest, HistogramLayoutAndLabelEscaping) {
  prometheus::Registry registry;
  Family<Histogram>* family = *Register<Histogram>(&registry, "d_seconds", "D.");
  Histogram& h =
      family->Add({{"model", "we\"ird\\name\nx"}}, Histogram::BucketBoundaries{0.0001, 1});
  h.Observe(0.00005);
  h.Observe(0.5);
  h.Observe(3);
  const std::string labels = "model=\"we\\\"ird\\\\name\\nx\"";
  // prometheus-cpp writes _count and _sum first, then the buckets, `le` last and ascending.
  EXPECT_EQ(SerializeText({&registry}),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n"
            "d_seconds_count{" +
                labels +
                "} 3\n"
                "d_seconds_sum{" +
                labels +
                "} 3.50005\n"
                "d_seconds_bucket{" +
                labels +
                ",le=\"0.0001\"} 1\n"
                "d_seconds_bucket{" +
                labels +
                ",le=\"1\"} 2\n"
                "d_seconds_bucket{" +
                labels + ",le=\"+Inf\"} 3\n");
}

class FixedCollectable : public prometheus::Collectable {
 public:
  explicit FixedCollectable(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    for (const std::string& name : names_) {
      AppendSingleValue(name.c_str(), "Fixed.", prometheus::MetricType::Gauge, 1, &out);
    }
    AppendSingleValue("never", "Unreadable.", prometheus::MetricType::Gauge, std::nullopt, &out);
    return out;
  }

 private:
  std::vector<std::string> names_;
};

TEST(SerializeTextTest, SeveralCollectablesInterleaveByName) {
  prometheus::Registry registry;
  (*Register<Counter>(&registry, "b_total", "B."))->Add({}).Increment(2);
  FixedCollectable fixed({"c", "a"});
  EXPECT_EQ(SerializeText({&fixed, &registry}),
            "# HELP a Fixed.\n# TYPE a gauge\na 1\n"
            "# HELP b_total B.\n# TYPE b_total counter\nb_total 2\n"
            "# HELP c Fixed.\n# TYPE c gauge\nc 1\n");
}

TEST(AppendSingleValueTest, CounterOrGauge) {
  std::vector<prometheus::MetricFamily> out;
  AppendSingleValue("x_total", "X.", prometheus::MetricType::Counter, 4.5, &out);
  AppendSingleValue("y", "Y.", prometheus::MetricType::Gauge, -2, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, prometheus::MetricType::Counter);
  EXPECT_EQ(out[0].metric.at(0).counter.value, 4.5);
  EXPECT_EQ(out[1].metric.at(0).gauge.value, -2);
  EXPECT_TRUE(out[1].metric.at(0).label.empty());
}

// Several threads hammer the same metrics through the hot-path API while a scraper renders
// concurrently; totals must be exact.
TEST(ConcurrencyTest, ConcurrentUpdatesGiveExactTotals) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  prometheus::Registry registry;
  Family<Counter>* counters = *Register<Counter>(&registry, "c_total", "C.");
  Family<Gauge>* gauges = *Register<Gauge>(&registry, "g", "G.");
  Family<Histogram>* histograms = *Register<Histogram>(&registry, "h", "H.");
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) SerializeText({&registry});
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      // Each thread looks its metrics up itself, as model instances would.
      Counter& counter = counters->Add({{"model", "m"}});
      Counter& items = counters->Add({{"model", "items"}});
      Gauge& gauge = gauges->Add({{"model", "m"}});
      Histogram& histogram = histograms->Add({{"model", "m"}}, Histogram::BucketBoundaries{1, 2});
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        items.Increment(3);
        items.Increment(0.5);
        gauge.Increment();
        gauge.Decrement(0.5);
        histogram.Observe((i + t) % 3);  // 0, 1, 2 -> buckets le=1, le=1, le=2
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done = true;
  scraper.join();
  constexpr double kTotal = static_cast<double>(kThreads) * kPerThread;
  EXPECT_EQ(counters->Add({{"model", "m"}}).Value(), kTotal);
  EXPECT_EQ(counters->Add({{"model", "items"}}).Value(), kTotal * 3.5);
  EXPECT_EQ(gauges->Add({{"model", "m"}}).Value(), kTotal * 0.5);
  const prometheus::ClientMetric snapshot =
      histograms->Add({{"model", "m"}}, Histogram::BucketBoundaries{1, 2}).Collect();
  EXPECT_EQ(snapshot.histogram.sample_count, static_cast<uint64_t>(kTotal));
  uint64_t at_most_one = 0;
  double sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      at_most_one += (i + t) % 3 <= 1;
      sum += (i + t) % 3;
    }
  }
  std::vector<uint64_t> cumulative_counts;
  for (const auto& bucket : snapshot.histogram.bucket) {
    cumulative_counts.push_back(bucket.cumulative_count);
  }
  EXPECT_THAT(cumulative_counts, ElementsAre(at_most_one, static_cast<uint64_t>(kTotal),
                                             static_cast<uint64_t>(kTotal)));
  EXPECT_EQ(snapshot.histogram.sample_sum, sum);  // integers: exact in any order
}

}  // namespace
}  // namespace gridserve::metrics
