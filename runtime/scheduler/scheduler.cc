#include "runtime/scheduler/scheduler.h"

#include <utility>

namespace gridserve::scheduler {

void CompleteBatch(absl::Span<core::InferenceRequest* const> batch,
                   std::vector<absl::StatusOr<core::InferenceResponse>> results, int64_t picked_ns) {
  for (size_t i = 0; i < batch.size(); ++i) {
    core::InferenceRequest& request = *batch[i];
    absl::StatusOr<core::InferenceResponse> result =
        i < results.size() ? std::move(results[i])
                           : absl::InternalError("executor returned too few results");
    if (result.ok()) result->timings.queue_ns = picked_ns - request.enqueue_ns;
    if (request.on_complete) {
      auto done = std::move(request.on_complete);
      done(std::move(result));
    }
  }
}

void FailRequest(core::InferenceRequest& request, absl::Status status) {
  if (request.on_complete) {
    auto done = std::move(request.on_complete);
    done(std::move(status));
  }
}

}  // namespace gridserve::scheduler
