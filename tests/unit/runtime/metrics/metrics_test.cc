#include "runtime/metrics/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(CounterTest, IntegralAndFractionalIncrements) {
  Counter counter;
  EXPECT_EQ(counter.Value(), 0);
  counter.Increment();
  counter.IncrementBy(4);
  counter.Add(0.25);
  EXPECT_EQ(counter.Value(), 5.25);
}

TEST(CounterTest, NeverGoesDown) {
  Counter counter;
  counter.Add(2);
  counter.Add(-1);
  counter.Add(std::nan(""));
  EXPECT_EQ(counter.Value(), 2);
}

TEST(GaugeTest, SetIncrementDecrement) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Increment();
  gauge.Decrement(3.5);
  EXPECT_EQ(gauge.Value(), 7.5);
  gauge.Set(-1);
  EXPECT_EQ(gauge.Value(), -1);
}

MetricSnapshot Snap(const Histogram& histogram) {
  MetricSnapshot snapshot;
  histogram.Snapshot(&snapshot);
  return snapshot;
}

TEST(HistogramTest, BucketsAreInclusiveUpperBounds) {
  Histogram histogram(std::make_shared<const std::vector<double>>(std::vector<double>{1, 2, 5}));
  for (double v : {0.5, 1.0, 1.0000001, 2.0, 4.9, 5.0, 5.1, 100.0, -3.0}) histogram.Observe(v);
  const MetricSnapshot snapshot = Snap(histogram);
  EXPECT_THAT(snapshot.bucket_bounds, ElementsAre(1, 2, 5));
  // <=1: 0.5, 1, -3; <=2: +1.0000001, 2; <=5: +4.9, 5; +Inf: +5.1, 100.
  EXPECT_THAT(snapshot.cumulative_counts, ElementsAre(3, 5, 7, 9));
  EXPECT_EQ(histogram.Count(), 9);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.5 + 1 + 1.0000001 + 2 + 4.9 + 5 + 5.1 + 100 - 3);
}

TEST(HistogramTest, InfinityAndNanGoToInfBucket) {
  Histogram histogram(std::make_shared<const std::vector<double>>(std::vector<double>{1}));
  histogram.Observe(std::numeric_limits<double>::infinity());
  histogram.Observe(std::nan(""));
  EXPECT_THAT(Snap(histogram).cumulative_counts, ElementsAre(0, 2));
  EXPECT_TRUE(std::isnan(histogram.Sum()));
}

TEST(HistogramTest, NoFiniteBuckets) {
  Histogram histogram(std::make_shared<const std::vector<double>>());
  histogram.Observe(3);
  EXPECT_THAT(Snap(histogram).cumulative_counts, ElementsAre(1));
}

TEST(BucketsTest, Generators) {
  EXPECT_THAT(LinearBuckets(1, 1, 4), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(ExponentialBuckets(1, 2, 5), ElementsAre(1, 2, 4, 8, 16));
  const std::vector<double> latency = DefaultLatencyBuckets();
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_LE(latency.front(), 0.001);  // sub-millisecond inference resolves
  EXPECT_GE(latency.back(), 10);
}

TEST(RegistryTest, RejectsBadNamesAndDuplicates) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("a_total", "A.").ok());
  EXPECT_EQ(registry.AddGauge("a_total", "again").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("bad-name", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("b_total", "x", {"__reserved"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("c_total", "x", {"model", "model"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {"le"}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {2, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {std::nan("")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A trailing +Inf is implied anyway.
  EXPECT_TRUE(
      registry.AddHistogram("h", "x", {}, {1, std::numeric_limits<double>::infinity()}).ok());
}

TEST(RegistryTest, FamilyAddReturnsStableMetricPerLabelSet) {
  Registry registry;
  auto family = registry.AddCounter("req_total", "R.", {"version", "model"});
  ASSERT_TRUE(family.ok());
  Counter& a = (*family)->Add({{"model", "m"}, {"version", "1"}});
  Counter& b = (*family)->Add({{"model", "m"}, {"version", "2"}});
  EXPECT_NE(&a, &b);
  EXPECT_EQ(&a, &(*family)->Add({{"version", "1"}, {"model", "m"}}));
  a.IncrementBy(3);
  EXPECT_EQ((*family)->Add({{"model", "m"}, {"version", "1"}}).Value(), 3);
}

TEST(RegistryDeathTest, WrongLabelNamesAbort) {
  Registry registry;
  Family<Counter>* family = *registry.AddCounter("x_total", "X.", {"model"});
  EXPECT_DEATH(family->Add({{"modle", "m"}}), "x_total has labels \\{model\\}, got \\{modle\\}");
  EXPECT_DEATH(family->Add({}), "x_total");
}

TEST(RegistryTest, RenderSortsFamiliesSkipsEmptyAndRemoves) {
  Registry registry;
  Family<Gauge>* zeta = *registry.AddGauge("zeta", "Z.", {"model"});
  Family<Counter>* alpha = *registry.AddCounter("alpha_total", "A.");
  ASSERT_TRUE(registry.AddGauge("unused", "Never given a label set.").ok());
  zeta->Add({{"model", "b"}}).Set(2);
  zeta->Add({{"model", "a"}}).Set(1);
  alpha->Add({}).Increment();
  EXPECT_EQ(registry.RenderText(),
            "# HELP alpha_total A.\n# TYPE alpha_total counter\nalpha_total 1\n"
            "# HELP zeta Z.\n# TYPE zeta gauge\nzeta{model=\"a\"} 1\nzeta{model=\"b\"} 2\n");
  zeta->Remove({{"model", "a"}});
  zeta->Remove({{"model", "b"}});
  EXPECT_EQ(registry.RenderText(),
            "# HELP alpha_total A.\n# TYPE alpha_total counter\nalpha_total 1\n");
}

TEST(RegistryTest, HistogramFamilyRendersBuckets) {
  Registry registry;
  Family<Histogram>* family = *registry.AddHistogram("d_seconds", "D.", {"model"}, {0.1, 1});
  Histogram& h = family->Add({{"model", "m"}});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(3);
  EXPECT_EQ(registry.RenderText(),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{model=\"m\",le=\"0.1\"} 1\n"
            "d_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
            "d_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"
            "d_seconds_sum{model=\"m\"} 3.55\n"
            "d_seconds_count{model=\"m\"} 3\n");
}

TEST(CallbackGaugeTest, ValueComesFromCallbackUntilRegistrationDies) {
  Registry registry;
  CallbackGaugeFamily* family = *registry.AddCallbackGauge("pending", "P.", {"model"});
  std::atomic<int> pending{4};
  {
    CallbackGaugeFamily::Registration registration =
        family->Register({{"model", "m"}}, [&pending] { return pending.load(); });
    EXPECT_EQ(registry.RenderText(),
              "# HELP pending P.\n# TYPE pending gauge\npending{model=\"m\"} 4\n");
    pending = 7;
    EXPECT_THAT(registry.RenderText(), HasSubstr("pending{model=\"m\"} 7\n"));
    CallbackGaugeFamily::Registration moved = std::move(registration);
    registration.Reset();  // moved-from: no effect
    EXPECT_THAT(registry.RenderText(), HasSubstr("pending{model=\"m\"} 7\n"));
  }
  EXPECT_THAT(registry.Collect(), IsEmpty());
}

TEST(CallbackGaugeTest, NewerRegistrationForSameLabelsWins) {
  Registry registry;
  CallbackGaugeFamily* family = *registry.AddCallbackGauge("ready", "R.", {"model"});
  auto old_registration = family->Register({{"model", "m"}}, [] { return 0.0; });
  auto new_registration = family->Register({{"model", "m"}}, [] { return 1.0; });
  old_registration.Reset();  // must not remove the newer callback
  EXPECT_THAT(registry.RenderText(), HasSubstr("ready{model=\"m\"} 1\n"));
  new_registration.Reset();
  EXPECT_THAT(registry.Collect(), IsEmpty());
}

class FixedCollector : public Collector {
 public:
  explicit FixedCollector(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<std::string> FamilyNames() const override { return names_; }
  void Collect(std::vector<FamilySnapshot>* out) const override {
    for (const std::string& name : names_) {
      MetricSnapshot metric;
      metric.value = 1;
      out->push_back({name, "Fixed.", MetricType::kGauge, {metric}});
    }
  }

 private:
  std::vector<std::string> names_;
};

TEST(RegistryTest, CustomCollectors) {
  Registry registry;
  ASSERT_TRUE(registry.AddGauge("taken", "T.").ok());
  EXPECT_EQ(
      registry.AddCollector(std::make_unique<FixedCollector>(std::vector<std::string>{"taken"}))
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      registry.AddCollector(std::make_unique<FixedCollector>(std::vector<std::string>{"x", "x"}))
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCollector(std::make_unique<FixedCollector>(std::vector<std::string>{"1x"}))
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(
      registry.AddCollector(std::make_unique<FixedCollector>(std::vector<std::string>{"b", "a"}))
          .ok());
  EXPECT_EQ(registry.RenderText(),
            "# HELP a Fixed.\n# TYPE a gauge\na 1\n# HELP b Fixed.\n# TYPE b gauge\nb 1\n");
  EXPECT_EQ(registry.AddCounter("a", "again").status().code(), absl::StatusCode::kAlreadyExists);
}

// Several threads hammer the same metrics through the hot-path API while a scraper renders
// concurrently; totals must be exact.
TEST(ConcurrencyTest, ConcurrentUpdatesGiveExactTotals) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  Registry registry;
  Family<Counter>* counters = *registry.AddCounter("c_total", "C.", {"model"});
  Family<Gauge>* gauges = *registry.AddGauge("g", "G.", {"model"});
  Family<Histogram>* histograms = *registry.AddHistogram("h", "H.", {"model"}, {1, 2});
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) registry.RenderText();
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      // Each thread looks its metrics up itself, as model instances would.
      Counter& counter = counters->Add({{"model", "m"}});
      Counter& items = counters->Add({{"model", "items"}});
      Gauge& gauge = gauges->Add({{"model", "m"}});
      Histogram& histogram = histograms->Add({{"model", "m"}});
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        items.IncrementBy(3);
        items.Add(0.5);
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
  Histogram& histogram = histograms->Add({{"model", "m"}});
  EXPECT_EQ(histogram.Count(), kTotal);
  MetricSnapshot snapshot;
  histogram.Snapshot(&snapshot);
  uint64_t at_most_one = 0;
  double sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      at_most_one += (i + t) % 3 <= 1;
      sum += (i + t) % 3;
    }
  }
  EXPECT_THAT(snapshot.cumulative_counts, ElementsAre(at_most_one, static_cast<uint64_t>(kTotal),
                                                      static_cast<uint64_t>(kTotal)));
  EXPECT_EQ(snapshot.sum, sum);  // integers: exact in any order
}

}  // namespace
}  // namespace gridserve::metrics
