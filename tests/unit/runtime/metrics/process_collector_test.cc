#include "runtime/metrics/process_collector.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {
namespace {

using ::testing::UnorderedElementsAre;

// One collected family: its type and each metric's value (counter or gauge).
struct FamilySnapshot {
  struct Metric {
    double value = 0;
  };
  prometheus::MetricType type = prometheus::MetricType::Untyped;
  std::vector<Metric> metrics;
};

std::map<std::string, FamilySnapshot> CollectByName(const prometheus::Collectable& collector) {
  std::map<std::string, FamilySnapshot> by_name;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    FamilySnapshot& snapshot = by_name[family.name];
    snapshot.type = family.type;
    for (const prometheus::ClientMetric& metric : family.metric) {
      EXPECT_TRUE(metric.label.empty()) << family.name;
      snapshot.metrics.push_back({family.type == prometheus::MetricType::Counter
                                      ? metric.counter.value
                                      : metric.gauge.value});
    }
  }
  return by_name;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A fake /proc tree, so the parsing is checked against known numbers.
class FakeProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            ("fake_proc_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "self" / "fd");
    for (const char* fd : {"0", "1", "2", "7"}) WriteFile(root_ / "self" / "fd" / fd, "");
    // comm holds spaces and a ')' to exercise the rfind; fields 14, 15 = 250, 150 ticks;
    // 22 = 500 ticks after boot; 23 = vsize 123456789 bytes; 24 = rss 1000 pages.
    WriteFile(root_ / "self" / "stat",
              "4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 "
              "500 123456789 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
    WriteFile(root_ / "self" / "limits",
              "Limit                     Soft Limit           Hard Limit           Units\n"
              "Max cpu time              unlimited            unlimited            seconds\n"
              "Max open files            1024                 524288               files\n");
    WriteFile(root_ / "stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  ProcessCollector::Options FakeOptions() const {
    ProcessCollector::Options options;
    options.proc_self_dir = (root_ / "self").string();
    options.proc_stat_path = (root_ / "stat").string();
    options.clock_ticks_per_second = 100;
    options.page_size_bytes = 4096;
    return options;
  }

  std::filesystem::path root_;
};

TEST_F(FakeProcTest, ParsesEveryValue) {
  auto collector = ProcessCollector::Create(FakeOptions());
  ASSERT_TRUE(collector.ok()) << collector.status();
  std::map<std::string, FamilySnapshot> families = CollectByName(**collector);
  ASSERT_EQ(families.size(), 6u);
  EXPECT_EQ(families["process_cpu_seconds_total"].type, prometheus::MetricType::Counter);
  EXPECT_EQ(families["process_open_fds"].type, prometheus::MetricType::Gauge);
  EXPECT_EQ(families["process_cpu_seconds_total"].metrics[0].value, 4.0);
  EXPECT_EQ(families["process_resident_memory_bytes"].metrics[0].value, 1000.0 * 4096);
  EXPECT_EQ(families["process_virtual_memory_bytes"].metrics[0].value, 123456789.0);
  EXPECT_EQ(families["process_open_fds"].metrics[0].value, 4.0);
  EXPECT_EQ(families["process_max_fds"].metrics[0].value, 1024.0);
  EXPECT_EQ(families["process_start_time_seconds"].metrics[0].value, 1700000005.0);
}

TEST_F(FakeProcTest, UnreadableValuesAreLeftOutOfTheScrape) {
  auto collector = ProcessCollector::Create(FakeOptions());
  ASSERT_TRUE(collector.ok());
  std::filesystem::remove(root_ / "self" / "limits");
  std::filesystem::remove_all(root_ / "self" / "fd");
  WriteFile(root_ / "self" / "stat", "garbage");
  std::map<std::string, FamilySnapshot> families = CollectByName(**collector);
  std::vector<std::string> names;
  for (const auto& [name, family] : families) names.push_back(name);
  EXPECT_THAT(names, UnorderedElementsAre("process_start_time_seconds"));
}

TEST_F(FakeProcTest, CreateFailsWithoutStatOrBtime) {
  ProcessCollector::Options options = FakeOptions();
  WriteFile(root_ / "stat", "cpu 1 2 3\n");
  EXPECT_EQ(ProcessCollector::Create(options).status().code(), absl::StatusCode::kInternal);
  options.proc_self_dir = (root_ / "missing").string();
  EXPECT_EQ(ProcessCollector::Create(options).status().code(), absl::StatusCode::kInternal);
}

TEST(RealProcTest, ValuesAreSane) {
  auto collector = ProcessCollector::Create({});
  ASSERT_TRUE(collector.ok()) << collector.status();
  std::map<std::string, FamilySnapshot> families = CollectByName(**collector);
  ASSERT_EQ(families.size(), 6u);
  EXPECT_GE(families["process_cpu_seconds_total"].metrics[0].value, 0);
  const double rss = families["process_resident_memory_bytes"].metrics[0].value;
  const double vsize = families["process_virtual_memory_bytes"].metrics[0].value;
  EXPECT_GT(rss, 1 << 20);
  EXPECT_GE(vsize, rss);
  EXPECT_GE(families["process_open_fds"].metrics[0].value, 3);  // stdin, stdout, stderr
  rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(families["process_max_fds"].metrics[0].value, static_cast<double>(limit.rlim_cur));
  // This process started a little while ago.
  const double start = families["process_start_time_seconds"].metrics[0].value;
  const double now = static_cast<double>(time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
}

TEST(RealProcTest, CpuTimeGrowsWithWork) {
  auto collector = ProcessCollector::Create({});
  ASSERT_TRUE(collector.ok());
  const double before = CollectByName(**collector)["process_cpu_seconds_total"].metrics[0].value;
  volatile double sink = 0;
  const clock_t start = clock();
  while (clock() - start < CLOCKS_PER_SEC / 5) sink = sink + 1;  // ~0.2 s of CPU
  const double after = CollectByName(**collector)["process_cpu_seconds_total"].metrics[0].value;
  EXPECT_GE(after - before, 0.1);
}

TEST(RealProcTest, SerializesInTheTextFormat) {
  auto collector = ProcessCollector::Create({});
  ASSERT_TRUE(collector.ok());
  const std::string text = SerializeText({collector->get()});
  for (const char* line :
       {"# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_virtual_memory_bytes gauge\n", "# TYPE process_open_fds gauge\n",
        "# TYPE process_max_fds gauge\n", "# TYPE process_start_time_seconds gauge\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace gridserve::metrics
