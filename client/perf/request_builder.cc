#include "client/perf/request_builder.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/datatype.h"
#include "client/file.h"
#include "client/tensor_io.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client::perf {
namespace {

// Largest JSON input file read; the file is parsed twice (once to split it per input).
constexpr uint64_t kMaxInputFileBytes = 256ull << 20;

template <typename T>
void Append(T value, std::string* raw) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  raw->append(bytes, sizeof(T));
}

// Appends `count` elements of `datatype` with random (or zero) values.
absl::Status AppendValues(const std::string& datatype, int64_t count, bool zero,
                          std::mt19937_64* rng, std::string* raw) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> small(0, 99);
  std::uniform_int_distribution<int> bit(0, 1);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::uniform_int_distribution<int> length(1, 16);
  auto u = [&] { return zero ? 0.0 : unit(*rng); };
  auto i = [&] { return zero ? 0 : small(*rng); };
  for (int64_t n = 0; n < count; ++n) {
    if (datatype == "FP32") {
      Append(static_cast<float>(u()), raw);
    } else if (datatype == "FP64") {
      Append(u(), raw);
    } else if (datatype == "FP16") {
      Append(FloatToHalf(static_cast<float>(u())), raw);
    } else if (datatype == "BF16") {
      Append(FloatToBf16(static_cast<float>(u())), raw);
    } else if (datatype == "BOOL") {
      Append(static_cast<uint8_t>(zero ? 0 : bit(*rng)), raw);
    } else if (datatype == "INT8") {
      Append(static_cast<int8_t>(i()), raw);
    } else if (datatype == "UINT8") {
      Append(static_cast<uint8_t>(i()), raw);
    } else if (datatype == "INT16") {
      Append(static_cast<int16_t>(i()), raw);
    } else if (datatype == "UINT16") {
      Append(static_cast<uint16_t>(i()), raw);
    } else if (datatype == "INT32") {
      Append(static_cast<int32_t>(i()), raw);
    } else if (datatype == "UINT32") {
      Append(static_cast<uint32_t>(i()), raw);
    } else if (datatype == "INT64") {
      Append(static_cast<int64_t>(i()), raw);
    } else if (datatype == "UINT64") {
      Append(static_cast<uint64_t>(i()), raw);
    } else if (datatype == "BYTES") {
      std::string s;
      if (!zero) {
        const int len = length(*rng);
        for (int k = 0; k < len; ++k) s.push_back(static_cast<char>(letter(*rng)));
      }
      RETURN_IF_ERROR(AppendBytesElement(s, raw));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown datatype '", datatype, "'"));
    }
  }
  return absl::OkStatus();
}

// The full request shape of `input`.
absl::StatusOr<std::vector<int64_t>> ResolveShape(
    const inference::ModelMetadataResponse::TensorMetadata& input, const RequestSpec& spec) {
  std::vector<int64_t> dims(input.shape().begin(), input.shape().end());
  std::vector<int64_t> prefix;
  if (spec.batching) {
    if (dims.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input.name(), "' of a batching model has no batch dimension"));
    }
    prefix.push_back(spec.batch_size);
    dims.erase(dims.begin());
  }
  auto given = spec.shapes.find(input.name());
  if (given != spec.shapes.end()) {
    if (given->second.size() != dims.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shape ", input.name(), " has ", given->second.size(), " dims; the model's input has ",
          dims.size(), spec.batching ? " (without the batch dimension)" : ""));
    }
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] >= 0 && dims[d] != given->second[d]) {
        return absl::InvalidArgumentError(
            absl::StrCat("--shape ", input.name(), ": dim ", d, " is fixed at ", dims[d]));
      }
    }
    dims = given->second;
  }
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input.name(), "' has variable dims [", absl::StrJoin(input.shape(), ","),
          "]; give them with --shape ", input.name(), ":D1,D2,..."));
    }
  }
  prefix.insert(prefix.end(), dims.begin(), dims.end());
  return prefix;
}

// {"NAME": <json>, ...} -> NAME -> that member's JSON text.
absl::StatusOr<std::map<std::string, std::string>> ReadJsonInputs(const std::string& path) {
  ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  if (file.size() > kMaxInputFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is larger than ", kMaxInputFileBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(const std::string text, file.ReadAt(0, file.size()));
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(text, &root).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a JSON object {\"INPUT_NAME\": array, ...}"));
  }
  std::map<std::string, std::string> members;
  for (const auto& [name, value] : root.fields()) {
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read input '", name, "'"));
    }
    members[name] = std::move(json);
  }
  return members;
}

}  // namespace

bool LooksBatching(const inference::ModelMetadataResponse& metadata) {
  if (metadata.inputs().empty()) return false;
  for (const auto& input : metadata.inputs()) {
    if (input.shape().empty() || input.shape(0) != -1) return false;
  }
  return true;
}

absl::StatusOr<inference::ModelInferRequest> BuildRequest(
    const inference::ModelMetadataResponse& metadata, const RequestSpec& spec) {
  if (!spec.batching && spec.batch_size != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", spec.model, "' does not batch; -b must be 1, got ", spec.batch_size));
  }
  std::set<std::string> names;
  for (const auto& input : metadata.inputs()) names.insert(input.name());
  for (const auto& [name, dims] : spec.shapes) {
    if (!names.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape names '", name, "', which is not an input of '", spec.model, "'"));
    }
  }

  inference::ModelInferRequest request;
  request.set_model_name(spec.model);
  request.set_model_version(spec.model_version);
  int64_t total_bytes = 0;

  if (spec.input_data == InputData::kFile) {
    ASSIGN_OR_RETURN(auto members, ReadJsonInputs(spec.input_file));
    for (const auto& input : metadata.inputs()) {
      auto it = members.find(input.name());
      if (it == members.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(spec.input_file, " has no value for input '", input.name(), "'"));
      }
      ASSIGN_OR_RETURN(InputTensor tensor,
                       InputFromJson(input.name(), it->second, input.datatype()));
      total_bytes += static_cast<int64_t>(tensor.raw_contents.size());
      AddInput(std::move(tensor), &request);
      members.erase(it);
    }
    if (!members.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.input_file, " names '", members.begin()->first, "', not an input of the model"));
    }
  } else {
    std::mt19937_64 rng(0);  // fixed: every run sends the same values
    for (const auto& input : metadata.inputs()) {
      ASSIGN_OR_RETURN(const std::vector<int64_t> shape, ResolveShape(input, spec));
      const int size = WireElementSize(input.datatype());
      if (size < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", input.name(), "' has unknown datatype '", input.datatype(), "'"));
      }
      ASSIGN_OR_RETURN(const int64_t count, ElementCount(shape));
      // BYTES elements are at most 16 bytes + 4 of length here.
      ASSIGN_OR_RETURN(const int64_t bytes, ByteCount(shape, size == 0 ? 20 : size));
      if (bytes > spec.max_request_bytes - total_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "inputs are larger than ", spec.max_request_bytes, " bytes (--max-message-bytes)"));
      }
      total_bytes += bytes;
      InputTensor tensor;
      tensor.tensor.set_name(input.name());
      tensor.tensor.set_datatype(input.datatype());
      for (int64_t d : shape) tensor.tensor.add_shape(d);
      tensor.raw_contents.reserve(static_cast<size_t>(bytes));
      RETURN_IF_ERROR(AppendValues(input.datatype(), count, spec.input_data == InputData::kZero,
                                   &rng, &tensor.raw_contents));
      AddInput(std::move(tensor), &request);
    }
  }
  if (total_bytes > spec.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs are larger than ", spec.max_request_bytes, " bytes (--max-message-bytes)"));
  }
  return request;
}

}  // namespace gridserve::client::perf
