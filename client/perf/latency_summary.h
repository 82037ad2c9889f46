#pragma once

// Latency percentiles of one measurement window.

#include <cstdint>
#include <vector>

namespace gridserve::client::perf {

// Nearest-rank percentile of `sorted` (ascending): the smallest value such that at least p% of
// the values are <= it, i.e. sorted[ceil(p/100 * n) - 1]. p is clamped to [0, 100]; p = 0 gives
// the minimum. 0 for an empty vector. Nearest rank never interpolates, so every reported figure
// is a latency some request actually had.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

// Summary of request latencies, microseconds.
struct LatencySummary {
  int64_t count = 0;
  int64_t min_us = 0;
  int64_t max_us = 0;
  double mean_us = 0;
  int64_t p50_us = 0;
  int64_t p90_us = 0;
  int64_t p95_us = 0;
  int64_t p99_us = 0;
};

// Sorts `latencies_us` in place and summarises it. All zero for an empty vector.
LatencySummary Summarize(std::vector<int64_t>* latencies_us);

}  // namespace gridserve::client::perf
