#include "runtime/metrics/host_collector.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/metrics/metrics.h"
#include "runtime/metrics/read_file.h"

namespace gridserve::metrics {
namespace {

// The value of `key` in /proc/meminfo ("MemTotal:  16318480 kB"), in bytes.
std::optional<double> MeminfoBytes(const std::string& meminfo, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    if (!absl::ConsumePrefix(&line, key) || !absl::ConsumePrefix(&line, ":")) continue;
    std::vector<absl::string_view> columns = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    double value;
    if (columns.empty() || !absl::SimpleAtod(columns[0], &value)) return std::nullopt;
    if (columns.size() > 1 && columns[1] == "kB") value *= 1024;
    return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> HostCollector::Utilization() const {
  std::optional<std::string> stat = ReadWholeFile(options_.proc_stat_path);
  if (!stat) return std::nullopt;
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (USER_HZ ticks).
  absl::string_view line = absl::string_view(*stat).substr(0, stat->find('\n'));
  if (!absl::ConsumePrefix(&line, "cpu ")) return std::nullopt;
  std::vector<absl::string_view> columns = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  if (columns.size() < 4) return std::nullopt;
  CpuTimes now;
  for (size_t i = 0; i < columns.size() && i < 8; ++i) {  // guest time is already in user
    uint64_t ticks;
    if (!absl::SimpleAtoi(columns[i], &ticks)) return std::nullopt;
    now.total += ticks;
    if (i != 3 && i != 4) now.busy += ticks;  // idle and iowait are not busy
  }
  absl::MutexLock lock(&mu_);
  CpuTimes since = last_.value_or(CpuTimes{});
  if (now.total <= since.total || now.busy < since.busy) {
    return last_utilization_;  // no tick since the last scrape: repeat it rather than report idle
  }
  last_ = now;
  last_utilization_ =
      static_cast<double>(now.busy - since.busy) / static_cast<double>(now.total - since.total);
  return last_utilization_;
}

std::vector<prometheus::MetricFamily> HostCollector::Collect() const {
  constexpr prometheus::MetricType kGauge = prometheus::MetricType::Gauge;
  std::vector<prometheus::MetricFamily> out;
  AppendSingleValue("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]", kGauge, Utilization(),
                    &out);
  std::optional<std::string> meminfo = ReadWholeFile(options_.proc_meminfo_path);
  std::optional<double> total, available;
  if (meminfo) {
    total = MeminfoBytes(*meminfo, "MemTotal");
    available = MeminfoBytes(*meminfo, "MemAvailable");
  }
  AppendSingleValue("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes", kGauge, total,
                    &out);
  std::optional<double> used;
  if (total && available) used = *total - *available;
  AppendSingleValue("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes", kGauge, used,
                    &out);
  return out;
}

}  // namespace gridserve::metrics
