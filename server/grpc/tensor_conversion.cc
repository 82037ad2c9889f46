#include "server/grpc/tensor_conversion.h"

#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/core/status_macros.h"

namespace gridserve::server {
namespace {

using core::DataType;
using inference::InferTensorContents;

int CountSetFields(const InferTensorContents& c) {
  return (c.bool_contents_size() > 0) + (c.int_contents_size() > 0) +
         (c.int64_contents_size() > 0) + (c.uint_contents_size() > 0) +
         (c.uint64_contents_size() > 0) + (c.fp32_contents_size() > 0) +
         (c.fp64_contents_size() > 0) + (c.bytes_contents_size() > 0);
}

// Packs `values` as `Out` after checking each fits.
template <typename Out, typename In>
absl::Status Pack(const google::protobuf::RepeatedField<In>& values, std::string* bytes,
                  const std::string& where) {
  bytes->resize(values.size() * sizeof(Out));
  char* dst = bytes->data();
  for (In v : values) {
    if constexpr (!std::is_same_v<Out, In> && std::is_integral_v<Out>) {
      if (v < static_cast<In>(std::numeric_limits<Out>::min()) ||
          v > static_cast<In>(std::numeric_limits<Out>::max())) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": value ", v, " is out of range"));
      }
    }
    Out out = static_cast<Out>(v);
    std::memcpy(dst, &out, sizeof(Out));
    dst += sizeof(Out);
  }
  return absl::OkStatus();
}

// Converts typed contents to raw bytes; returns the element count found.
absl::StatusOr<int64_t> TypedToBytes(const InferTensorContents& c, DataType type,
                                     std::string* bytes, const std::string& where) {
  if (CountSetFields(c) > 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": more than one contents field is set"));
  }
  auto wrong = [&](const char* field) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": datatype ", core::DataTypeName(type),
                                                   " must use ", field,
                                                   " (or raw_input_contents)"));
  };
  switch (type) {
    case DataType::kBool:
      if (CountSetFields(c) && !c.bool_contents_size()) return wrong("bool_contents");
      RETURN_IF_ERROR(Pack<bool>(c.bool_contents(), bytes, where));
      return c.bool_contents_size();
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      if (CountSetFields(c) && !c.int_contents_size()) return wrong("int_contents");
      if (type == DataType::kInt8) RETURN_IF_ERROR(Pack<int8_t>(c.int_contents(), bytes, where));
      if (type == DataType::kInt16) RETURN_IF_ERROR(Pack<int16_t>(c.int_contents(), bytes, where));
      if (type == DataType::kInt32) RETURN_IF_ERROR(Pack<int32_t>(c.int_contents(), bytes, where));
      return c.int_contents_size();
    case DataType::kInt64:
      if (CountSetFields(c) && !c.int64_contents_size()) return wrong("int64_contents");
      RETURN_IF_ERROR(Pack<int64_t>(c.int64_contents(), bytes, where));
      return c.int64_contents_size();
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      if (CountSetFields(c) && !c.uint_contents_size()) return wrong("uint_contents");
      if (type == DataType::kUint8) RETURN_IF_ERROR(Pack<uint8_t>(c.uint_contents(), bytes, where));
      if (type == DataType::kUint16)
        RETURN_IF_ERROR(Pack<uint16_t>(c.uint_contents(), bytes, where));
      if (type == DataType::kUint32)
        RETURN_IF_ERROR(Pack<uint32_t>(c.uint_contents(), bytes, where));
      return c.uint_contents_size();
    case DataType::kUint64:
      if (CountSetFields(c) && !c.uint64_contents_size()) return wrong("uint64_contents");
      RETURN_IF_ERROR(Pack<uint64_t>(c.uint64_contents(), bytes, where));
      return c.uint64_contents_size();
    case DataType::kFp32:
      if (CountSetFields(c) && !c.fp32_contents_size()) return wrong("fp32_contents");
      RETURN_IF_ERROR(Pack<float>(c.fp32_contents(), bytes, where));
      return c.fp32_contents_size();
    case DataType::kFp64:
      if (CountSetFields(c) && !c.fp64_contents_size()) return wrong("fp64_contents");
      RETURN_IF_ERROR(Pack<double>(c.fp64_contents(), bytes, where));
      return c.fp64_contents_size();
    case DataType::kBytes:
      if (CountSetFields(c) && !c.bytes_contents_size()) return wrong("bytes_contents");
      for (const std::string& e : c.bytes_contents()) core::AppendBytesElement(e, bytes);
      return c.bytes_contents_size();
    default:
      if (CountSetFields(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": datatype ", core::DataTypeName(type),
                         " has no typed contents field; use raw_input_contents"));
      }
      return 0;
  }
}

absl::StatusOr<uint64_t> UnsignedParam(const inference::InferParameter& p,
                                       const std::string& what) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      if (p.int64_param() < 0) break;
      return static_cast<uint64_t>(p.int64_param());
    case inference::InferParameter::kUint64Param:
      return p.uint64_param();
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", what, "' must be a non-negative int64_param or uint64_param"));
}

}  // namespace

absl::Status ToInferenceRequest(const inference::ModelInferRequest& proto,
                                core::InferenceRequest* request) {
  request->model_name = proto.model_name();
  request->id = proto.id();
  const bool raw = proto.raw_input_contents_size() > 0;
  if (raw && proto.raw_input_contents_size() != proto.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", proto.model_name(), "': ", proto.raw_input_contents_size(),
        " raw_input_contents for ", proto.inputs_size(), " inputs; give one per input, in order"));
  }
  request->inputs.reserve(proto.inputs_size());
  for (int i = 0; i < proto.inputs_size(); ++i) {
    const auto& in = proto.inputs(i);
    std::string where = absl::StrCat("model '", proto.model_name(), "', input '", in.name(), "'");
    DataType type = core::DataTypeFromName(in.datatype());
    if (type == DataType::kInvalid) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown datatype '", in.datatype(), "'"));
    }
    core::Shape shape(in.shape().begin(), in.shape().end());
    ASSIGN_OR_RETURN(int64_t count, core::ElementCount(shape));
    if (raw) {
      if (in.has_contents() && CountSetFields(in.contents()) > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": typed contents and raw_input_contents are mixed in one request"));
      }
      const std::string& bytes = proto.raw_input_contents(i);
      request->inputs.push_back(
          {in.name(),
           core::Tensor::Borrowed(type, std::move(shape), bytes.data(), bytes.size(), nullptr)});
      continue;
    }
    std::string bytes;
    ASSIGN_OR_RETURN(int64_t given, TypedToBytes(in.contents(), type, &bytes, where));
    if (given != count) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", given,
                                                     " elements in contents but shape ",
                                                     core::ShapeToString(shape), " needs ", count));
    }
    request->inputs.push_back(
        {in.name(), core::Tensor::Owned(type, std::move(shape), std::move(bytes))});
  }
  for (const auto& out : proto.outputs()) {
    request->requested_outputs.push_back(out.name());
    // Triton's classification extension: the requested output's "classification" parameter is
    // the class count; the runtime checks it against the model and answers top-k strings.
    if (auto it = out.parameters().find("classification"); it != out.parameters().end()) {
      ASSIGN_OR_RETURN(
          uint64_t count,
          UnsignedParam(it->second, absl::StrCat("classification' of output '", out.name())));
      if (count == 0 || count > UINT32_MAX) {
        return absl::InvalidArgumentError(
            absl::StrCat("model '", proto.model_name(), "', output '", out.name(),
                         "': parameter 'classification' must be a class count >= 1, got ", count));
      }
      request->classification[out.name()] = static_cast<uint32_t>(count);
    }
  }
  for (const auto& [key, value] : proto.parameters()) {
    if (key == "priority") {
      ASSIGN_OR_RETURN(uint64_t priority, UnsignedParam(value, key));
      request->priority = static_cast<uint32_t>(std::min<uint64_t>(priority, UINT32_MAX));
    } else if (key == "timeout") {
      ASSIGN_OR_RETURN(request->timeout_us, UnsignedParam(value, key));
    }
  }
  return absl::OkStatus();
}

void ToModelInferResponse(const core::InferenceResponse& response,
                          inference::ModelInferResponse* proto) {
  proto->set_model_name(response.model_name);
  proto->set_model_version(std::to_string(response.model_version));
  proto->set_id(response.id);
  for (const core::NamedTensor& out : response.outputs) {
    auto* tensor = proto->add_outputs();
    tensor->set_name(out.name);
    tensor->set_datatype(std::string(core::DataTypeName(out.tensor.dtype())));
    for (int64_t d : out.tensor.shape()) tensor->add_shape(d);
    proto->add_raw_output_contents()->assign(out.tensor.data(), out.tensor.byte_size());
  }
}

}  // namespace gridserve::server
