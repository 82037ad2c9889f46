#include "runtime/metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/metrics/metrics.h"
#include "runtime/metrics/read_file.h"

namespace gridserve::metrics {
namespace {

// The fields of /proc/<pid>/stat after "(comm)", which may itself hold spaces and parentheses:
// element 0 is field 3 (state) of proc(5).
std::optional<std::vector<std::string>> ReadStatFields(const std::string& path) {
  std::optional<std::string> stat = ReadWholeFile(path);
  if (!stat) return std::nullopt;
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipWhitespace());
  for (auto& field : fields) field = std::string(absl::StripAsciiWhitespace(field));
  if (fields.size() < 22) return std::nullopt;
  return fields;
}

// proc(5) field numbers, as indexes into ReadStatFields().
constexpr int kUtime = 14 - 3;
constexpr int kStime = 15 - 3;
constexpr int kStartTime = 22 - 3;
constexpr int kVsize = 23 - 3;
constexpr int kRss = 24 - 3;

std::optional<double> Field(const std::vector<std::string>& fields, int index) {
  double value;
  if (!absl::SimpleAtod(fields[index], &value)) return std::nullopt;
  return value;
}

std::optional<double> ReadBootTimeSeconds(const std::string& path) {
  std::optional<std::string> stat = ReadWholeFile(path);
  if (!stat) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    double value;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return std::nullopt;
}

std::optional<double> ReadMaxOpenFiles(const std::string& path) {
  std::optional<std::string> limits = ReadWholeFile(path);
  if (!limits) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> columns = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    double soft;
    if (!columns.empty() && absl::SimpleAtod(columns[0], &soft)) return soft;
  }
  return std::nullopt;  // also "unlimited"
}

std::optional<double> CountOpenFds(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessCollector>> ProcessCollector::Create(Options options) {
  if (options.clock_ticks_per_second <= 0) options.clock_ticks_per_second = sysconf(_SC_CLK_TCK);
  if (options.page_size_bytes <= 0) options.page_size_bytes = sysconf(_SC_PAGESIZE);
  if (options.clock_ticks_per_second <= 0 || options.page_size_bytes <= 0) {
    return absl::InternalError("sysconf cannot tell clock ticks or page size");
  }
  const std::string stat_path = options.proc_self_dir + "/stat";
  std::optional<std::vector<std::string>> fields = ReadStatFields(stat_path);
  std::optional<double> start_ticks = fields ? Field(*fields, kStartTime) : std::nullopt;
  if (!start_ticks) return absl::InternalError(absl::StrCat("cannot parse ", stat_path));
  std::optional<double> boot_time = ReadBootTimeSeconds(options.proc_stat_path);
  if (!boot_time) {
    return absl::InternalError(absl::StrCat("no btime in ", options.proc_stat_path));
  }
  const double start_time =
      *boot_time + *start_ticks / static_cast<double>(options.clock_ticks_per_second);
  return std::unique_ptr<ProcessCollector>(new ProcessCollector(std::move(options), start_time));
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::optional<double> cpu_seconds, rss_bytes, vsize_bytes;
  if (std::optional<std::vector<std::string>> fields =
          ReadStatFields(options_.proc_self_dir + "/stat")) {
    std::optional<double> utime = Field(*fields, kUtime), stime = Field(*fields, kStime);
    if (utime && stime) {
      cpu_seconds = (*utime + *stime) / static_cast<double>(options_.clock_ticks_per_second);
    }
    if (std::optional<double> rss_pages = Field(*fields, kRss)) {
      rss_bytes = *rss_pages * static_cast<double>(options_.page_size_bytes);
    }
    vsize_bytes = Field(*fields, kVsize);
  }
  AppendSingleValue("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                    MetricType::Counter, cpu_seconds, &out);
  AppendSingleValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                    MetricType::Gauge, rss_bytes, &out);
  AppendSingleValue("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                    MetricType::Gauge, vsize_bytes, &out);
  AppendSingleValue("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                    CountOpenFds(options_.proc_self_dir + "/fd"), &out);
  AppendSingleValue("process_max_fds", "Maximum number of open file descriptors.",
                    MetricType::Gauge, ReadMaxOpenFiles(options_.proc_self_dir + "/limits"), &out);
  AppendSingleValue("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                    start_time_seconds_, &out);
  return out;
}

}  // namespace gridserve::metrics
