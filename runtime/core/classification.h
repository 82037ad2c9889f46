#pragma once

// Triton's classification extension, protocol-neutral: every front end (gRPC, REST) fills
// InferenceRequest::classification from the requested output's `classification` parameter, and
// the backend replaces that output by its top-k classes when it splits outputs per request.
//
// For an output asked for with classification count k, the answer is not the model's tensor but
// a BYTES tensor of shape [batch, min(k, N)] ([min(k, N)] for a model without batching), where N
// is the number of elements of one batch item (all non-batch dims flattened). Each element is
// "<value>:<index>" or, when the output has a label_filename with a line for that index,
// "<value>:<index>:<label>": the N values compared by the output's datatype, highest first, ties
// by lower index; <value> printed as C++ std::to_string prints the value (so FP32 0.595 prints as
// "0.595000", INT64 7 as "7"), exactly as Triton does.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "inference/model_config.pb.h"
#include "runtime/core/data_type.h"
#include "runtime/core/tensor.h"

namespace gridserve::core {

// One class label per line (Triton's label file format); a trailing "\r" is dropped, empty lines
// are kept (their index simply has an empty label). Line i labels index i.
using ClassLabels = std::vector<std::string>;

// Largest label file read, bytes.
inline constexpr uint64_t kMaxLabelFileBytes = 16ull << 20;

// Reads the label file of every output of `config` that names a label_filename, relative to
// `model_dir` (the model's folder, which holds config.pbtxt). Returns output name -> labels
// (outputs without a label file are absent). INVALID_ARGUMENT naming the model and output when a
// named file is missing, not a regular file, larger than kMaxLabelFileBytes, or its name leaves
// the model folder (absolute, or with "..").
absl::StatusOr<std::vector<std::pair<std::string, std::shared_ptr<const ClassLabels>>>>
LoadClassLabels(const inference::ModelConfig& config, const std::string& model_dir);

// Whether outputs of `type` can be classified (every numeric type; not BYTES).
bool SupportsClassification(DataType type);

// The top-`k` classes of `output` (one set per batch item when `batching`, where dim 0 is the
// batch), as described at the top of this file. `labels` may be null. INVALID_ARGUMENT when k is
// 0, the datatype is not supported, or the tensor holds fewer bytes than its shape needs.
absl::StatusOr<Tensor> Classify(const Tensor& output, bool batching, uint32_t k,
                                const ClassLabels* labels);

}  // namespace gridserve::core
