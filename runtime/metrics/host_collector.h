#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace gridserve::metrics {

// Triton's host CPU metrics, read from procfs at scrape time (Linux only), for dashboards written
// against Triton (--metrics-triton-names with --allow-cpu-metrics):
//   nv_cpu_utilization         busy fraction of all cores [0, 1] since the previous scrape by
//                              anyone (since boot at the first one; the last value again when
//                              no clock tick passed), from /proc/stat's "cpu" line
//   nv_cpu_memory_total_bytes  MemTotal of /proc/meminfo
//   nv_cpu_memory_used_bytes   MemTotal - MemAvailable
// A value whose file cannot be read or parsed is left out of that scrape. Thread-safe.
class HostCollector final : public prometheus::Collectable {
 public:
  struct Options {
    std::string proc_stat_path = "/proc/stat";
    std::string proc_meminfo_path = "/proc/meminfo";
  };

  HostCollector() : HostCollector(Options()) {}
  explicit HostCollector(Options options) : options_(std::move(options)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct CpuTimes {
    uint64_t busy = 0;
    uint64_t total = 0;
  };
  std::optional<double> Utilization() const;

  const Options options_;
  mutable absl::Mutex mu_;
  mutable std::optional<CpuTimes> last_ ABSL_GUARDED_BY(mu_);
  mutable double last_utilization_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gridserve::metrics
