#pragma once

// Builds the one ModelInferRequest a gridserve-perf run sends over and over, from the model's
// metadata: the tensors are made once, so the client spends no time per request on them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/perf/perf_options.h"
#include "inference/grpc_service.pb.h"

namespace gridserve::client::perf {

struct RequestSpec {
  std::string model;
  std::string model_version;
  // True when the model batches (ModelConfig max_batch_size > 0): dim 0 of every input is the
  // batch dimension, set to batch_size. False: batch_size must be 1 and shapes are complete.
  bool batching = false;
  int64_t batch_size = 1;
  // Dims for inputs whose metadata shape has -1 entries, without the batch dimension.
  std::map<std::string, std::vector<int64_t>> shapes;
  InputData input_data = InputData::kRandom;
  std::string input_file;  // with kFile
  // Requests larger than this (raw input bytes) are refused before anything is sent.
  int64_t max_request_bytes = 64 << 20;
};

// Whether `metadata` looks like a batching model when the server does not serve ModelConfig:
// every input's dim 0 is -1 (Triton's and gridserve's metadata prepend -1 for batching models).
bool LooksBatching(const inference::ModelMetadataResponse& metadata);

// The request for `spec`. Random data comes from a fixed seed, so runs send the same values.
// INVALID_ARGUMENT for a shape that cannot be resolved (a -1 dim without --shape, a --shape of
// the wrong rank or contradicting a fixed dim, a --shape for an unknown input), a batch size > 1
// for a model that does not batch, an unknown datatype, inputs larger than max_request_bytes, or
// a JSON file that does not name exactly the model's inputs; NOT_FOUND for a missing file.
absl::StatusOr<inference::ModelInferRequest> BuildRequest(
    const inference::ModelMetadataResponse& metadata, const RequestSpec& spec);

}  // namespace gridserve::client::perf
