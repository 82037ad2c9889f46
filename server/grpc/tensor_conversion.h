#pragma once

#include "absl/status/status.h"
#include "inference/grpc_service.pb.h"
#include "runtime/core/inference_request.h"

namespace gridserve::server {

// Turns a KServe v2 ModelInferRequest into the runtime's request (model name, id, inputs,
// requested outputs with their `classification` parameter, priority and timeout parameters). Raw
// inputs are borrowed, not copied: `proto` must outlive `request`. Typed `contents` are converted
// to little-endian bytes. INVALID_ARGUMENT (naming the model and tensor) for an unknown datatype,
// raw and typed contents mixed, a raw_input_contents count that differs from the inputs, typed
// contents of the wrong kind or count, out-of-range typed values, or a bad parameter type.
// Shape/dtype checks against the model's config happen later (repository::ValidateRequest).
absl::Status ToInferenceRequest(const inference::ModelInferRequest& proto,
                                core::InferenceRequest* request);

// Writes `response` into `proto`: outputs in raw_output_contents, one entry per output, each
// output's bytes copied exactly once.
void ToModelInferResponse(const core::InferenceResponse& response,
                          inference::ModelInferResponse* proto);

}  // namespace gridserve::server
