#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/core/clock.h"
#include "runtime/core/cpu_meter.h"
#include "runtime/core/inference_request.h"
#include "runtime/scheduler/execution_observer.h"

namespace gridserve::scheduler {

// Executes one batch on one model instance and returns exactly one result per request, in order.
// The scheduler calls each executor from a single thread of its own (one thread per instance), so
// an executor needs no locking. This callback is the only link between batching and execution:
// schedulers know nothing of LibTorch.
using BatchExecutor = std::function<std::vector<absl::StatusOr<core::InferenceResponse>>(
    absl::Span<core::InferenceRequest* const>)>;

// Decides when and in which batches queued requests run on a model version's instances.
// Thread-safe.
class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // Queues `request`. Ownership passes to the scheduler iff OK is returned; the request's
  // on_complete then runs exactly once, later, from one of the scheduler's threads (an instance
  // or a delivery thread; after the observers heard of its result). Never blocks. Errors
  // (on_complete is not called; the caller answers): RESOURCE_EXHAUSTED when the queue is full,
  // UNAVAILABLE after Shutdown() began, INVALID_ARGUMENT for a request the scheduler cannot run
  // (batch_size).
  virtual absl::Status Enqueue(std::unique_ptr<core::InferenceRequest> request) = 0;

  // Requests accepted whose on_complete has not run yet (queued, executing, or held back for
  // ordered delivery).
  virtual size_t InFlight() const = 0;

  // Stops accepting, lets every accepted request finish (on_complete run, request destroyed),
  // then joins the scheduler's threads. Idempotent; blocks until done.
  virtual void Shutdown() = 0;
};

// Building blocks shared by the schedulers: the bookkeeping around one batch, so every scheduler
// fills timings and feeds observers the same way.

// Sets request.enqueue_ns to now and tells the observers it arrived. Call first thing in Enqueue.
void RecordArrival(core::InferenceRequest& request, const core::Clock& clock,
                   const ObserverList& observers);

// Executes `batch` on `executor` (instance `instance`, taken from the queue at `picked_ns`) and
// returns exactly one result per request, in order. OK responses get their timings: queue_ns,
// executed_batch_size, and the executor's compute split, or compute_infer_ns = the execution's
// wall time when the executor reported none; the batch's cpu_ns from `cpu_meter`. Observers hear
// OnBatchStarted, OnBatchFinished and OnRequestFinished for each request. Does not call
// on_complete: the caller delivers the results (in arrival order when it must).
std::vector<absl::StatusOr<core::InferenceResponse>> ExecuteBatch(
    const BatchExecutor& executor, absl::Span<core::InferenceRequest* const> batch, size_t instance,
    int64_t picked_ns, const core::Clock& clock, const core::CpuMeter& cpu_meter,
    const ObserverList& observers);

// The DEADLINE_EXCEEDED status of a request whose timeout or deadline passed while it was queued.
absl::Status TimedOutInQueue(const core::InferenceRequest& request);

// Whether an instance taking `request` at `now` may run it: OK, or the status to answer it with
// instead: DEADLINE_EXCEEDED when its deadline_ns has passed, CANCELLED when its caller has
// cancelled it (core::InferenceRequest::is_cancelled).
absl::Status RunnableWhenTaken(const core::InferenceRequest& request, int64_t now);

// Tells the observers that `request` failed with `status` without executing (`path` is kRefused or
// kExpiredInQueue). Does not call on_complete.
void RecordUnexecuted(const core::InferenceRequest& request, const absl::Status& status,
                      RequestPath path, const core::Clock& clock, const ObserverList& observers);

// Calls request.on_complete with `result`, at most once (a request without one is skipped).
void Deliver(core::InferenceRequest& request, absl::StatusOr<core::InferenceResponse> result);

}  // namespace gridserve::scheduler
