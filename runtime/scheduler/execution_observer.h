#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "runtime/core/inference_request.h"

namespace gridserve::scheduler {

// One batch as a scheduler reports it. Times are on the scheduler's clock, in nanoseconds.
struct BatchRecord {
  size_t instance = 0;   // index of the instance that runs it (0 .. instances - 1)
  size_t requests = 0;   // requests in the batch
  int64_t items = 0;     // sum of their batch_size: the batch size the model sees
  int64_t start_ns = 0;  // the executor was called
  // Filled for OnBatchFinished only:
  int64_t end_ns = 0;    // the executor returned
  size_t succeeded = 0;  // requests that got an OK response
  // The phase split the executor reported (the same for every request of the batch). When it
  // reported none (all zero), the whole execution, end_ns - start_ns, counts as compute_infer.
  int64_t compute_input_ns = 0;
  int64_t compute_infer_ns = 0;
  int64_t compute_output_ns = 0;
  // CPU time of the execution: the instance thread's, plus the compute helpers' (OpenBLAS and
  // OpenMP pools) since the batch started (core::CpuMeter), ns. Independent of the clock.
  int64_t cpu_ns = 0;
};

// How far a finished request got.
enum class RequestPath {
  kRefused,         // Enqueue returned an error; the request was never queued
  kExpiredInQueue,  // accepted, then failed in the queue (timeout, deadline, cancelled) unexecuted
  kExecuted,        // ran on an instance; its result may still be an error
};

// One finished request as a scheduler reports it.
struct RequestRecord {
  // Valid only during the call; its on_complete has not run yet.
  const core::InferenceRequest* request = nullptr;
  absl::StatusCode code = absl::StatusCode::kOk;  // the result's code
  RequestPath path = RequestPath::kExecuted;
  int64_t items = 0;      // request->batch_size
  int64_t arrive_ns = 0;  // Enqueue was called (request->enqueue_ns)
  int64_t finish_ns = 0;  // the result was known
  // queue_ns: arrival -> picked by an instance (-> failure for kExpiredInQueue, 0 for kRefused);
  // compute_*_ns and executed_batch_size: those of its batch (0 unless kExecuted).
  core::RequestTimings timings;
};

// Hears what one scheduler does with its requests and batches: the hook for statistics and
// metrics. A scheduler calls its observers in list order, without holding its locks, from the
// thread calling Enqueue and from instance threads, so implementations must be thread-safe, fast
// and non-blocking, and must not call back into the scheduler.
//
// For every request, in this order: OnRequestArrived, then either OnRequestFinished(kRefused),
// or OnBatchStarted / OnBatchFinished of its batch and OnRequestFinished(kExecuted), or
// OnRequestFinished(kExpiredInQueue). OnRequestFinished runs before the request's on_complete, so
// a client that has its response sees it counted. A queue-depth gauge is
//   +1 on OnRequestArrived, -requests on OnBatchStarted, -1 on OnRequestFinished unless kExecuted.
class ExecutionObserver {
 public:
  virtual ~ExecutionObserver() = default;

  // Enqueue was called with `request` (before it is accepted or refused).
  virtual void OnRequestArrived(const core::InferenceRequest& request) {}
  // An instance took a batch out of the queue and is about to execute it (end_ns, succeeded and
  // the compute split are not filled yet).
  virtual void OnBatchStarted(const BatchRecord& batch) {}
  // The executor returned for that batch.
  virtual void OnBatchFinished(const BatchRecord& batch) {}
  // A request's result is known (exactly once per request that reached Enqueue).
  virtual void OnRequestFinished(const RequestRecord& record) {}
};

// The observers of one scheduler. Shared: the model version that reads statistics and the
// scheduler that feeds them both hold them.
using ObserverList = std::vector<std::shared_ptr<ExecutionObserver>>;

}  // namespace gridserve::scheduler
