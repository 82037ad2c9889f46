#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/core/tensor.h"

namespace gridserve::core {

// Where a request's time went, in nanoseconds (Triton's statistics split).
struct RequestTimings {
  int64_t queue_ns = 0;             // enqueued -> picked by an instance
  int64_t compute_input_ns = 0;     // gathering inputs into the batch / device tensors
  int64_t compute_infer_ns = 0;     // forward()
  int64_t compute_output_ns = 0;    // splitting and converting outputs
  int64_t executed_batch_size = 0;  // items in the batch this request ran in
};

struct InferenceResponse {
  std::string model_name;
  int64_t model_version = 0;
  std::string id;
  std::vector<NamedTensor> outputs;
  RequestTimings timings;
};

// Called exactly once per request, from whichever thread finishes it (an instance thread, or the
// caller's thread when the request is rejected at once).
using ResponseCallback = std::function<void(absl::StatusOr<InferenceResponse>)>;

// One validated inference request, as the runtime sees it: no gRPC, no LibTorch. Input tensors may
// borrow the bytes of the front end's message; the front end keeps that message alive until
// `on_complete` has run.
struct InferenceRequest {
  std::string model_name;
  int64_t model_version = 0;
  std::string id;
  std::vector<NamedTensor> inputs;
  // Outputs to return; empty means all of the model's outputs.
  std::vector<std::string> requested_outputs;
  // Triton's classification extension (runtime/core/classification.h): output name -> class
  // count k >= 1 for outputs to answer as their top-k "value:index[:label]" BYTES strings. Front
  // ends fill it from the requested output's `classification` parameter; every name is also in
  // `requested_outputs`. Checked by repository::ValidateRequest, applied by the backend.
  std::map<std::string, uint32_t> classification;
  // Items in this request: dim 0 of every input when the model batches (max_batch_size > 0),
  // otherwise 1.
  int64_t batch_size = 1;
  // Scheduling parameters (KServe `priority`, `timeout` in microseconds). 0 = model default.
  uint32_t priority = 0;
  uint64_t timeout_us = 0;
  // Absolute deadline on the scheduler's clock (e.g. the gRPC deadline); 0 = none.
  int64_t deadline_ns = 0;
  // Optional: true once the caller has gone (the gRPC client cancelled the call). Asked when an
  // instance takes the request; a cancelled request is answered CANCELLED and never executed.
  // Called from scheduler threads, so it must be thread-safe and cheap.
  std::function<bool()> is_cancelled;
  // Set by the scheduler when the request is enqueued.
  int64_t enqueue_ns = 0;
  // Keeps the model version alive while the request is in flight (see ModelManager).
  std::shared_ptr<const void> model_handle;
  ResponseCallback on_complete;
};

}  // namespace gridserve::core
