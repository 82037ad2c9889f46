#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "inference/model_config.pb.h"
#include "runtime/core/inference_request.h"

namespace gridserve::backend {

// Where and how one instance runs.
struct InstanceOptions {
  // "cpu" or "cuda:<k>".
  std::string device = "cpu";
  // Intra-op threads used while this instance executes; 0 leaves the process default. Tune so
  // that instances x threads <= cores.
  int intra_op_threads = 0;
};

// One execution context of a model version on one device, with its own copy of the model.
// Not thread-safe: the scheduler drives each instance from exactly one thread at a time.
class ModelInstance {
 public:
  virtual ~ModelInstance() = default;

  // Runs `batch` (requests already validated against the model's config, all with the same
  // non-batch dims) as one execution. Returns exactly one result per request, in order. Never
  // throws: framework errors become INTERNAL statuses naming the model.
  virtual std::vector<absl::StatusOr<core::InferenceResponse>> Execute(
      absl::Span<core::InferenceRequest* const> batch) = 0;
};

// A loaded model version: validates the model file against the config once and creates
// instances. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual absl::StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(
      const InstanceOptions& options) = 0;
};

// Makes the backend for one model version from its normalized config and version folder
// (`<repo>/<model>/<version>`). Errors are load failures reported for that version.
class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  virtual absl::StatusOr<std::unique_ptr<Backend>> Create(const inference::ModelConfig& config,
                                                          const std::string& version_dir) = 0;
};

}  // namespace gridserve::backend
