#pragma once

#include "absl/status/status.h"
#include "inference/model_config.pb.h"
#include "runtime/core/inference_request.h"

namespace gridserve::repository {

// Checks `request` against its model's config before any model code runs, and sets
// request->batch_size. Returns INVALID_ARGUMENT naming the model and tensor for:
// unknown, duplicate or missing (non-optional) inputs; a datatype other than the config's;
// wrong rank or a dim that differs from a fixed config dim; a batch dim of 0, above
// max_batch_size or differing between inputs; byte counts that differ from prod(shape) x
// element size; BYTES data whose framing is malformed or whose element count differs from the
// shape; unknown or duplicate requested outputs; a classification request (see
// InferenceRequest::classification) for an unknown or non-numeric output or with count 0. Shapes
// are untrusted: negative dims and element counts that overflow are rejected before anything is
// allocated.
absl::Status ValidateRequest(const inference::ModelConfig& config, core::InferenceRequest* request);

}  // namespace gridserve::repository
