#include "runtime/metrics/host_collector.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {
namespace {

std::map<std::string, double> Values(const prometheus::Collectable& collector) {
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_EQ(family.type, prometheus::MetricType::Gauge) << family.name;
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    values[family.name] = family.metric.at(0).gauge.value;
  }
  return values;
}

class FakeHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    options_.proc_stat_path = dir_ / "stat";
    options_.proc_meminfo_path = dir_ / "meminfo";
    std::ofstream(options_.proc_meminfo_path) << "MemTotal:        1000 kB\n"
                                                 "MemFree:          100 kB\n"
                                                 "MemAvailable:     600 kB\n";
  }
  void WriteStat(const std::string& cpu_line) {
    std::ofstream(options_.proc_stat_path) << cpu_line << "\ncpu0 1 2 3 4\nbtime 1700000000\n";
  }

  std::filesystem::path dir_;
  HostCollector::Options options_;
};

TEST_F(FakeHostTest, MemoryFromMeminfo) {
  WriteStat("cpu  10 0 10 80 0 0 0 0 0 0");
  HostCollector collector(options_);
  std::map<std::string, double> values = Values(collector);
  EXPECT_EQ(values.at("nv_cpu_memory_total_bytes"), 1000 * 1024);
  EXPECT_EQ(values.at("nv_cpu_memory_used_bytes"), 400 * 1024);
}

TEST_F(FakeHostTest, UtilizationIsTheBusyShareSinceTheLastScrape) {
  // user nice system idle iowait irq softirq steal: busy 20 of 100 since boot.
  WriteStat("cpu  10 0 10 80 0 0 0 0 0 0");
  HostCollector collector(options_);
  EXPECT_DOUBLE_EQ(Values(collector).at("nv_cpu_utilization"), 0.2);
  // Then 30 busy (user 20, irq 5, steal 5) and 70 idle or iowait: 0.3 over that interval.
  WriteStat("cpu  30 0 10 140 10 5 0 5 0 0");
  EXPECT_DOUBLE_EQ(Values(collector).at("nv_cpu_utilization"), 0.3);
  // No tick since: the last value again, not a division by zero or a false "idle".
  EXPECT_DOUBLE_EQ(Values(collector).at("nv_cpu_utilization"), 0.3);
}

TEST_F(FakeHostTest, UnreadableFilesAreLeftOut) {
  std::ofstream(options_.proc_stat_path) << "garbage\n";
  std::filesystem::remove(options_.proc_meminfo_path);
  HostCollector collector(options_);
  EXPECT_TRUE(Values(collector).empty());
}

TEST(RealHostTest, ValuesAreSane) {
  HostCollector collector;
  std::map<std::string, double> values = Values(collector);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_GE(values.at("nv_cpu_utilization"), 0.0);
  EXPECT_LE(values.at("nv_cpu_utilization"), 1.0);
  EXPECT_GT(values.at("nv_cpu_memory_total_bytes"), 64.0 * 1024 * 1024);
  EXPECT_GT(values.at("nv_cpu_memory_used_bytes"), 0.0);
  EXPECT_LT(values.at("nv_cpu_memory_used_bytes"), values.at("nv_cpu_memory_total_bytes"));

  EXPECT_THAT(SerializeText({&collector}),
              ::testing::HasSubstr("# TYPE nv_cpu_utilization gauge\n"));
}

}  // namespace
}  // namespace gridserve::metrics
