#pragma once

#include <memory>
#include <string>

#include "runtime/backend/backend.h"

namespace gridserve::backend {

// Creates TorchScript (`platform: "pytorch_libtorch"` / `backend: "pytorch"`) backends. Each
// version folder holds `model.pt` (or the config's `default_model_filename`).
//
// Input mapping: when every config input is named `<prefix>__<index>` (Triton's INPUT__0 ...),
// input N is forward's argument N; otherwise inputs are matched to forward's arguments by name.
// Output mapping: a Tensor or List[str] result is the single output; a tuple or list result is
// matched by `__<index>` suffix, otherwise by config order; a Dict[str, Tensor] result by name.
// BYTES (TYPE_STRING) inputs are passed as List[str] of batch x prod(dims) elements, and
// List[str] results are returned as BYTES. An input marked `optional` and absent from a request
// gets forward's default value, or None.
//
// Config parameters (string values): INTRA_OP_THREAD_COUNT overrides the instance's intra-op
// threads; ENABLE_WARMUP ("true" default) runs one forward on zeros per instance at load.
std::unique_ptr<BackendFactory> MakeTorchScriptBackendFactory();

// "1.13.0" (the LibTorch this binary was built against).
std::string TorchVersion();

}  // namespace gridserve::backend
