#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace gridserve::metrics {

// The standard process metrics every Prometheus client exports, read from procfs at scrape time:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds (prometheus-cpp has no process
// collector; these are the names and help texts of the Go and Python clients). Linux only. A value
// whose file cannot be read or parsed during a scrape is left out of that scrape. Thread-safe.
class ProcessCollector final : public prometheus::Collectable {
 public:
  struct Options {
    // The process to describe. Tests point this at a fake tree holding stat, limits and fd/.
    std::string proc_self_dir = "/proc/self";
    // System-wide stat file; its `btime` line anchors the process start time.
    std::string proc_stat_path = "/proc/stat";
    // Units of /proc/<pid>/stat; 0 asks sysconf (_SC_CLK_TCK, _SC_PAGESIZE).
    int64_t clock_ticks_per_second = 0;
    int64_t page_size_bytes = 0;
  };

  // Reads the start time once; INTERNAL if the stat files are missing or malformed.
  static absl::StatusOr<std::unique_ptr<ProcessCollector>> Create(Options options);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  ProcessCollector(Options options, double start_time_seconds)
      : options_(std::move(options)), start_time_seconds_(start_time_seconds) {}

  // Constant after construction.
  const Options options_;
  const double start_time_seconds_;
};

}  // namespace gridserve::metrics
