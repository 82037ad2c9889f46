#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/core/clock.h"
#include "runtime/core/inference_request.h"

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
  // on_complete then runs exactly once, later, from an instance thread. Never blocks. Errors:
  // RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE after Shutdown() began.
  virtual absl::Status Enqueue(std::unique_ptr<core::InferenceRequest> request) = 0;

  // Requests accepted and not yet finished (queued or executing).
  virtual size_t InFlight() const = 0;

  // Stops accepting, lets every accepted request finish, then joins the instance threads.
  // Idempotent; blocks until done.
  virtual void Shutdown() = 0;
};

// Finishes `batch` with `results` (one per request): records the queue time and calls each
// request's on_complete. `picked_ns` is when an instance took the batch.
void CompleteBatch(absl::Span<core::InferenceRequest* const> batch,
                   std::vector<absl::StatusOr<core::InferenceResponse>> results, int64_t picked_ns);

// Fails `request` with `status` (calls on_complete).
void FailRequest(core::InferenceRequest& request, absl::Status status);

}  // namespace gridserve::scheduler
