#pragma once

#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/scheduler/scheduler.h"

namespace gridserve::scheduler {

// Runs each request on its own, in arrival order, on the first idle instance: the scheduler for
// models without `dynamic_batching` and for `max_batch_size: 0` models. One thread per instance,
// started by Create and joined by Shutdown; each takes the oldest queued request when idle. A
// request whose deadline_ns has passed when it is taken is answered DEADLINE_EXCEEDED and not
// executed; one whose is_cancelled() is true then is answered CANCELLED and not executed. Responses
// of different instances may finish out of arrival order. Thread-safe.
class DirectScheduler : public Scheduler {
 public:
  struct Options {
    // Queued requests beyond this are refused with RESOURCE_EXHAUSTED. 0 = no limit.
    size_t max_queue_size = 0;
    // Time source for queue timings and deadlines. Never null.
    const core::Clock* clock = core::Clock::Real();
    // CPU time of executions (BatchRecord::cpu_ns). Never null.
    const core::CpuMeter* cpu_meter = core::CpuMeter::Real();
    // Told about every request and execution (statistics, metrics); none may be null.
    ObserverList observers;
  };

  static absl::StatusOr<std::unique_ptr<DirectScheduler>> Create(
      Options options, std::vector<BatchExecutor> instances);
  ~DirectScheduler() override;

  absl::Status Enqueue(std::unique_ptr<core::InferenceRequest> request) override;
  size_t InFlight() const override;
  void Shutdown() override;

 private:
  DirectScheduler(Options options, std::vector<BatchExecutor> instances);
  void InstanceLoop(size_t index);

  // Constant after construction.
  const Options options_;
  const std::vector<BatchExecutor> executors_;
  std::vector<std::thread> threads_;

  absl::Mutex join_mu_;  // serializes Shutdown

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<core::InferenceRequest>> queue_ ABSL_GUARDED_BY(mu_);
  size_t executing_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gridserve::scheduler
