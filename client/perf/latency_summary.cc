#include "client/perf/latency_summary.h"

#include <algorithm>
#include <cmath>

namespace gridserve::client::perf {

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double n = static_cast<double>(sorted.size());
  // The small epsilon keeps p * n / 100 that is a whole number in exact arithmetic (99 * 100 /
  // 100) from rounding up to the next rank.
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * n - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(sorted.size()));
  return sorted[rank - 1];
}

LatencySummary Summarize(std::vector<int64_t>* latencies_us) {
  LatencySummary s;
  if (latencies_us->empty()) return s;
  std::sort(latencies_us->begin(), latencies_us->end());
  const std::vector<int64_t>& v = *latencies_us;
  s.count = static_cast<int64_t>(v.size());
  s.min_us = v.front();
  s.max_us = v.back();
  double sum = 0;
  for (int64_t x : v) sum += static_cast<double>(x);
  s.mean_us = sum / static_cast<double>(v.size());
  s.p50_us = Percentile(v, 50);
  s.p90_us = Percentile(v, 90);
  s.p95_us = Percentile(v, 95);
  s.p99_us = Percentile(v, 99);
  return s;
}

}  // namespace gridserve::client::perf
