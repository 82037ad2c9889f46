#include "runtime/repository/request_validator.h"

#include <limits>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/core/classification.h"
#include "runtime/core/config_types.h"
#include "runtime/core/status_macros.h"

namespace gridserve::repository {
namespace {

absl::Status Invalid(const inference::ModelConfig& config, absl::string_view tensor,
                     absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("model '", config.name(), "', input '", tensor, "': ", message));
}

std::string DimsToString(const google::protobuf::RepeatedField<int64_t>& dims, bool batching) {
  std::vector<std::string> parts;
  if (batching) parts.push_back("-1");
  for (int64_t d : dims) parts.push_back(absl::StrCat(d));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

}  // namespace

absl::Status ValidateRequest(const inference::ModelConfig& config,
                             core::InferenceRequest* request) {
  const bool batching = config.max_batch_size() > 0;
  std::set<std::string> seen;
  int64_t batch_size = -1;
  for (const core::NamedTensor& input : request->inputs) {
    const inference::ModelInput* spec = nullptr;
    for (const auto& in : config.input()) {
      if (in.name() == input.name) spec = &in;
    }
    if (spec == nullptr) {
      std::vector<std::string> names;
      for (const auto& in : config.input()) names.push_back(in.name());
      return Invalid(
          config, input.name,
          absl::StrCat("unknown input; the model's inputs are ", absl::StrJoin(names, ", ")));
    }
    if (!seen.insert(input.name).second) return Invalid(config, input.name, "given more than once");

    const core::Tensor& t = input.tensor;
    core::DataType want = core::DataTypeFromConfig(spec->data_type());
    if (t.dtype() != want) {
      return Invalid(config, input.name,
                     absl::StrCat("datatype ", core::DataTypeName(t.dtype()),
                                  " does not match the model's ", core::DataTypeName(want)));
    }
    const core::Shape& shape = t.shape();
    absl::StatusOr<int64_t> element_count = core::ElementCount(shape);
    if (!element_count.ok()) return Invalid(config, input.name, element_count.status().message());
    const int64_t count = *element_count;
    size_t rank = spec->dims_size() + (batching ? 1 : 0);
    bool shape_ok = shape.size() == rank;
    for (int i = 0; shape_ok && i < spec->dims_size(); ++i) {
      int64_t want_dim = spec->dims(i);
      int64_t got = shape[i + (batching ? 1 : 0)];
      shape_ok = want_dim == -1 || want_dim == got;
    }
    if (!shape_ok) {
      return Invalid(
          config, input.name,
          absl::StrCat("shape ", core::ShapeToString(shape), " does not match the model's ",
                       DimsToString(spec->dims(), batching)));
    }
    if (batching) {
      if (shape[0] < 1 || shape[0] > config.max_batch_size()) {
        return Invalid(config, input.name,
                       absl::StrCat("batch size ", shape[0], " is outside [1, max_batch_size=",
                                    config.max_batch_size(), "]"));
      }
      if (batch_size >= 0 && shape[0] != batch_size) {
        return Invalid(
            config, input.name,
            absl::StrCat("batch size ", shape[0], " differs from another input's ", batch_size));
      }
      batch_size = shape[0];
    }
    if (want == core::DataType::kBytes) {
      absl::StatusOr<std::vector<absl::string_view>> elements =
          core::SplitBytesElements(t.bytes(), count);
      if (!elements.ok()) return Invalid(config, input.name, elements.status().message());
    } else {
      size_t element_size = core::DataTypeByteSize(want);
      if (static_cast<uint64_t>(count) > std::numeric_limits<int64_t>::max() / element_size ||
          t.byte_size() != static_cast<size_t>(count) * element_size) {
        return Invalid(config, input.name,
                       absl::StrCat("got ", t.byte_size(), " bytes but shape ",
                                    core::ShapeToString(shape), " of ", core::DataTypeName(want),
                                    " needs ", count * static_cast<int64_t>(element_size)));
      }
    }
  }
  for (const auto& in : config.input()) {
    if (!in.optional() && seen.count(in.name()) == 0) {
      return Invalid(config, in.name(), "required input is missing");
    }
  }
  std::set<std::string> outputs;
  for (const std::string& name : request->requested_outputs) {
    bool known = false;
    for (const auto& out : config.output()) known = known || out.name() == name;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", config.name(), "' has no output '", name, "'"));
    }
    if (!outputs.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("model '", config.name(), "': output '", name,
                                                     "' requested more than once"));
    }
  }
  for (const auto& [name, count] : request->classification) {
    const inference::ModelOutput* spec = nullptr;
    for (const auto& out : config.output()) {
      if (out.name() == name) spec = &out;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", config.name(), "' has no output '", name, "'"));
    }
    if (count == 0) {
      return absl::InvalidArgumentError(absl::StrCat("model '", config.name(), "', output '", name,
                                                     "': classification count must be >= 1"));
    }
    if (!core::SupportsClassification(core::DataTypeFromConfig(spec->data_type()))) {
      return absl::InvalidArgumentError(absl::StrCat("model '", config.name(), "', output '", name,
                                                     "': classification needs a numeric "
                                                     "output, this one is ",
                                                     inference::DataType_Name(spec->data_type())));
    }
  }
  request->batch_size = batching ? std::max<int64_t>(batch_size, 1) : 1;
  return absl::OkStatus();
}

}  // namespace gridserve::repository
