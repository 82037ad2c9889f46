#pragma once

#include "runtime/metrics/inference_metrics.h"
#include "runtime/scheduler/execution_observer.h"

namespace gridserve::server {

// Feeds one model version's Prometheus metrics from its scheduler's events: pending requests,
// queue time, executions, batch sizes, compute phases, and the outcome, items and duration of
// every request that reached the scheduler. Requests refused before the scheduler (bad input)
// are counted by the front end. With Triton names on (metrics.triton), Triton's nv_inference_*
// counters are fed from the same events. Thread-safe and lock-free (metric handles are atomics).
class MetricsObserver : public scheduler::ExecutionObserver {
 public:
  explicit MetricsObserver(metrics::ModelVersionMetrics metrics) : m_(metrics) {}

  void OnRequestArrived(const core::InferenceRequest& request) override;
  void OnBatchStarted(const scheduler::BatchRecord& batch) override;
  void OnBatchFinished(const scheduler::BatchRecord& batch) override;
  void OnRequestFinished(const scheduler::RequestRecord& record) override;

 private:
  void RecordTriton(const scheduler::RequestRecord& record);

  const metrics::ModelVersionMetrics m_;
};

}  // namespace gridserve::server
