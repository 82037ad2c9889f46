#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/scheduler/execution_observer.h"

namespace gridserve::scheduler {

// A count and the nanoseconds accumulated over it (Triton's StatisticDuration).
struct StatisticDuration {
  uint64_t count = 0;
  uint64_t ns = 0;
};

// Compute phases of the executions at one batch size (Triton's InferBatchStatistics).
struct BatchSizeStatistics {
  uint64_t batch_size = 0;  // items
  StatisticDuration compute_input;
  StatisticDuration compute_infer;
  StatisticDuration compute_output;
};

// Cumulative statistics of one model version since it loaded, shaped like Triton's
// ModelStatistics so the RPC is a field-by-field copy.
struct StatisticsSnapshot {
  uint64_t last_inference_ms = 0;  // when the last request finished, ms since the Unix epoch
  uint64_t inference_count = 0;    // items of successful requests
  uint64_t execution_count = 0;    // executions with at least one successful request
  // Per request: success/fail count the requests and their time from Enqueue to result;
  // queue and compute_* count successful requests only, each with its batch's phase times.
  StatisticDuration success;
  StatisticDuration fail;  // refused at Enqueue, timed out in the queue, or failed executing
  StatisticDuration queue;
  StatisticDuration compute_input;
  StatisticDuration compute_infer;
  StatisticDuration compute_output;
  std::vector<BatchSizeStatistics> batch_stats;  // ascending batch_size, sizes seen only
  // gridserve's addition: CPU time of every execution (BatchRecord::cpu_ns), failed ones too.
  uint64_t cpu_ns = 0;
};

// Triton's per-model-version inference statistics, fed by the version's scheduler as one of its
// observers and read by the ModelStatistics RPC. Thread-safe.
class InferenceStatistics : public ExecutionObserver {
 public:
  // Milliseconds since the Unix epoch, for last_inference (the scheduler's clock is monotonic).
  using WallClockMs = std::function<uint64_t()>;

  // `wall_clock_ms` defaults to the system clock.
  explicit InferenceStatistics(WallClockMs wall_clock_ms = nullptr);

  void OnBatchFinished(const BatchRecord& batch) override;
  void OnRequestFinished(const RequestRecord& record) override;

  StatisticsSnapshot Snapshot() const;

 private:
  const WallClockMs wall_clock_ms_;

  mutable absl::Mutex mu_;
  StatisticsSnapshot totals_ ABSL_GUARDED_BY(mu_);  // batch_stats left empty; see by_size_
  std::map<uint64_t, BatchSizeStatistics> by_size_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::scheduler
