#include "runtime/scheduler/inference_statistics.h"

#include <chrono>
#include <utility>

namespace gridserve::scheduler {
namespace {

uint64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Add(StatisticDuration* total, int64_t ns) {
  ++total->count;
  total->ns += ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

}  // namespace

InferenceStatistics::InferenceStatistics(WallClockMs wall_clock_ms)
    : wall_clock_ms_(wall_clock_ms ? std::move(wall_clock_ms) : WallClockMs(SystemClockMs)) {}

void InferenceStatistics::OnBatchFinished(const BatchRecord& batch) {
  absl::MutexLock lock(&mu_);
  // Every execution costs CPU, whatever its results.
  totals_.cpu_ns += batch.cpu_ns > 0 ? static_cast<uint64_t>(batch.cpu_ns) : 0;
  // Triton's backends report a batch only when some request in it succeeded.
  if (batch.succeeded == 0) return;
  ++totals_.execution_count;
  BatchSizeStatistics& size = by_size_[static_cast<uint64_t>(batch.items)];
  size.batch_size = static_cast<uint64_t>(batch.items);
  Add(&size.compute_input, batch.compute_input_ns);
  Add(&size.compute_infer, batch.compute_infer_ns);
  Add(&size.compute_output, batch.compute_output_ns);
}

void InferenceStatistics::OnRequestFinished(const RequestRecord& record) {
  uint64_t now_ms = wall_clock_ms_();
  int64_t duration = record.finish_ns - record.arrive_ns;
  absl::MutexLock lock(&mu_);
  totals_.last_inference_ms = now_ms;
  if (record.code != absl::StatusCode::kOk) {
    Add(&totals_.fail, duration);
    return;
  }
  Add(&totals_.success, duration);
  totals_.inference_count += static_cast<uint64_t>(record.items);
  Add(&totals_.queue, record.timings.queue_ns);
  Add(&totals_.compute_input, record.timings.compute_input_ns);
  Add(&totals_.compute_infer, record.timings.compute_infer_ns);
  Add(&totals_.compute_output, record.timings.compute_output_ns);
}

StatisticsSnapshot InferenceStatistics::Snapshot() const {
  absl::MutexLock lock(&mu_);
  StatisticsSnapshot snapshot = totals_;
  snapshot.batch_stats.reserve(by_size_.size());
  for (const auto& [size, stats] : by_size_) snapshot.batch_stats.push_back(stats);
  return snapshot;
}

}  // namespace gridserve::scheduler
