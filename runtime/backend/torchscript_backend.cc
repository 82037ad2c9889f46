#include "runtime/backend/torchscript_backend.h"

#include <torch/csrc/jit/runtime/jit_exception.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/core/classification.h"
#include "runtime/core/clock.h"
#include "runtime/core/config_types.h"
#include "runtime/core/status_macros.h"
#include "spdlog/spdlog.h"

namespace gridserve::backend {
namespace {

using core::DataType;

std::optional<c10::ScalarType> TorchType(DataType type) {
  switch (type) {
    case DataType::kBool:
      return torch::kBool;
    case DataType::kUint8:
      return torch::kUInt8;
    case DataType::kInt8:
      return torch::kInt8;
    case DataType::kInt16:
      return torch::kInt16;
    case DataType::kInt32:
      return torch::kInt32;
    case DataType::kInt64:
      return torch::kInt64;
    case DataType::kFp16:
      return torch::kHalf;
    case DataType::kBf16:
      return torch::kBFloat16;
    case DataType::kFp32:
      return torch::kFloat32;
    case DataType::kFp64:
      return torch::kFloat64;
    default:
      return std::nullopt;  // UINT16/32/64 have no LibTorch 1.13 dtype; BYTES is List[str].
  }
}

// "INPUT__3" -> 3; nullopt when the name has no `__<index>` suffix.
std::optional<int> IndexSuffix(const std::string& name) {
  size_t pos = name.rfind("__");
  int index;
  if (pos == std::string::npos || !absl::SimpleAtoi(name.substr(pos + 2), &index) || index < 0) {
    return std::nullopt;
  }
  return index;
}

struct TensorBinding {
  std::string name;
  DataType dtype;
  std::vector<int64_t> dims;  // config dims, without the batch dim
  bool optional = false;
  std::string arg_name;   // inputs: forward's argument this input is passed as
  int result_index = -1;  // outputs: position in a tuple/list result
  // outputs: the config's label_filename, read at load (null without one); for classification.
  std::shared_ptr<const core::ClassLabels> labels;
};

// What every instance of a model version shares: the config and how it maps onto forward().
struct Signature {
  std::string model_name;
  bool batching = false;
  std::vector<TensorBinding> inputs;
  std::vector<TensorBinding> outputs;
  std::string model_path;
  int intra_op_threads = 0;  // from config parameters; 0 = use the instance's option
  bool warmup = true;
};

std::string Describe(const c10::FunctionSchema& schema) {
  std::vector<std::string> names;
  for (size_t i = 1; i < schema.arguments().size(); ++i)
    names.push_back(schema.arguments()[i].name());
  return absl::StrCat("forward(", absl::StrJoin(names, ", "), ")");
}

absl::Status BindInputs(const c10::FunctionSchema& schema, Signature* sig) {
  // Argument 0 is `self`.
  const auto& args = schema.arguments();
  std::vector<std::string> arg_names;
  for (size_t i = 1; i < args.size(); ++i) arg_names.push_back(args[i].name());

  bool by_index = !sig->inputs.empty();
  for (const TensorBinding& in : sig->inputs)
    by_index = by_index && IndexSuffix(in.name).has_value();

  for (TensorBinding& in : sig->inputs) {
    if (by_index) {
      int index = *IndexSuffix(in.name);
      if (index >= static_cast<int>(arg_names.size())) {
        return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' has index ", index,
                                                       " but the model's ", Describe(schema),
                                                       " takes ", arg_names.size(), " arguments"));
      }
      in.arg_name = arg_names[index];
    } else {
      if (std::find(arg_names.begin(), arg_names.end(), in.name) == arg_names.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "config input '", in.name, "' is not an argument of the model's ", Describe(schema),
            " (name inputs after forward's arguments, or INPUT__0, INPUT__1 ...)"));
      }
      in.arg_name = in.name;
    }
  }
  // Every argument forward requires must come from some input.
  for (size_t i = 1; i < args.size(); ++i) {
    const c10::Argument& arg = args[i];
    bool bound = false;
    for (const TensorBinding& in : sig->inputs) bound = bound || in.arg_name == arg.name();
    bool has_default =
        arg.default_value().has_value() || arg.type()->kind() == c10::TypeKind::OptionalType;
    if (!bound && !has_default) {
      return absl::InvalidArgumentError(absl::StrCat("the model's ", Describe(schema),
                                                     " requires argument '", arg.name(),
                                                     "' but no config input maps to it"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Signature>> MakeSignature(const inference::ModelConfig& config,
                                                         const std::string& version_dir) {
  auto sig = std::make_shared<Signature>();
  sig->model_name = config.name();
  sig->batching = config.max_batch_size() > 0;
  for (const auto& in : config.input()) {
    TensorBinding b{
        in.name(), core::DataTypeFromConfig(in.data_type()), {in.dims().begin(), in.dims().end()}};
    b.optional = in.optional();
    if (b.dtype != DataType::kBytes && !TorchType(b.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", in.name(), "' has type ",
                                                     inference::DataType_Name(in.data_type()),
                                                     ", which LibTorch does not support"));
    }
    sig->inputs.push_back(std::move(b));
  }
  bool by_index = !config.output().empty();
  for (const auto& out : config.output())
    by_index = by_index && IndexSuffix(out.name()).has_value();
  for (int i = 0; i < config.output_size(); ++i) {
    const auto& out = config.output(i);
    TensorBinding b{out.name(),
                    core::DataTypeFromConfig(out.data_type()),
                    {out.dims().begin(), out.dims().end()}};
    b.result_index = by_index ? *IndexSuffix(out.name()) : i;
    if (b.dtype != DataType::kBytes && !TorchType(b.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("output '", out.name(), "' has type ",
                                                     inference::DataType_Name(out.data_type()),
                                                     ", which LibTorch does not support"));
    }
    sig->outputs.push_back(std::move(b));
  }
  // Label files sit in the model's folder, beside config.pbtxt (Triton's layout).
  ASSIGN_OR_RETURN(
      auto labels,
      core::LoadClassLabels(config, std::filesystem::path(version_dir).parent_path().string()));
  for (auto& [name, list] : labels) {
    for (TensorBinding& out : sig->outputs) {
      if (out.name == name) out.labels = list;
    }
  }
  std::string file =
      config.default_model_filename().empty() ? "model.pt" : config.default_model_filename();
  sig->model_path = (std::filesystem::path(version_dir) / file).string();
  if (auto it = config.parameters().find("INTRA_OP_THREAD_COUNT");
      it != config.parameters().end()) {
    if (!absl::SimpleAtoi(it->second.string_value(), &sig->intra_op_threads) ||
        sig->intra_op_threads < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter INTRA_OP_THREAD_COUNT must be a non-negative integer, got '",
                       it->second.string_value(), "'"));
    }
  }
  if (auto it = config.parameters().find("ENABLE_WARMUP"); it != config.parameters().end()) {
    sig->warmup = it->second.string_value() != "false";
  }
  return sig;
}

absl::StatusOr<torch::jit::Module> LoadModule(const Signature& sig, const torch::Device& device) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(sig.model_path, ec)) {
    return absl::NotFoundError(absl::StrCat("model file ", sig.model_path, " does not exist"));
  }
  try {
    torch::jit::Module module = torch::jit::load(sig.model_path, device);
    module.eval();
    if (!module.find_method("forward")) {
      return absl::InvalidArgumentError(
          absl::StrCat("TorchScript file ", sig.model_path, " has no forward method"));
    }
    return module;
  } catch (const std::exception& e) {
    // c10::Error messages carry a C++ backtrace; the first line says what went wrong.
    std::string what = e.what();
    return absl::InvalidArgumentError(absl::StrCat(
        "failed to load TorchScript file ", sig.model_path, ": ", what.substr(0, what.find('\n'))));
  }
}

// Per-request slice of one output, kept alive by the LibTorch tensor it points into.
core::Tensor SliceRows(const std::shared_ptr<torch::Tensor>& whole, DataType dtype,
                       int64_t row_begin, int64_t rows, bool batching) {
  std::vector<int64_t> shape(whole->sizes().begin(), whole->sizes().end());
  if (!batching) {
    return core::Tensor::Borrowed(dtype, shape, static_cast<const char*>(whole->data_ptr()),
                                  whole->nbytes(), whole);
  }
  size_t row_bytes = shape[0] == 0 ? 0 : whole->nbytes() / shape[0];
  shape[0] = rows;
  const char* base = static_cast<const char*>(whole->data_ptr());
  return core::Tensor::Borrowed(dtype, shape, base + row_begin * row_bytes, rows * row_bytes,
                                whole);
}

class TorchScriptInstance : public ModelInstance {
 public:
  TorchScriptInstance(std::shared_ptr<const Signature> sig, torch::jit::Module module,
                      torch::Device device, int threads)
      : sig_(std::move(sig)), module_(std::move(module)), device_(device), threads_(threads) {}

  std::vector<absl::StatusOr<core::InferenceResponse>> Execute(
      absl::Span<core::InferenceRequest* const> batch) override {
    absl::StatusOr<std::vector<core::InferenceResponse>> responses = RunCatching(batch);
    std::vector<absl::StatusOr<core::InferenceResponse>> results;
    results.reserve(batch.size());
    if (!responses.ok() && absl::IsInvalidArgument(responses.status()) && batch.size() > 1) {
      // One request's input was refused (by the model's input contract, or an optional input
      // that only some requests give): run each request alone, so that only the bad one fails.
      for (core::InferenceRequest* request : batch) {
        absl::StatusOr<std::vector<core::InferenceResponse>> one =
            RunCatching(absl::MakeSpan(&request, 1));
        if (one.ok()) {
          results.emplace_back(std::move((*one)[0]));
        } else {
          results.emplace_back(one.status());
        }
      }
      return results;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (responses.ok()) {
        results.emplace_back(std::move((*responses)[i]));
      } else {
        results.emplace_back(responses.status());
      }
    }
    return results;
  }

  // Forward on zeros (empty strings for BYTES), batch 1, variable dims as 1, optional inputs
  // left out: catches models that load but cannot run, and pays first-call costs before traffic.
  absl::Status Warmup() {
    core::InferenceRequest request;
    request.batch_size = 1;
    std::vector<std::string> buffers;
    for (const TensorBinding& in : sig_->inputs) {
      if (in.optional) continue;
      core::Shape shape;
      if (sig_->batching) shape.push_back(1);
      for (int64_t d : in.dims) shape.push_back(d < 0 ? 1 : d);
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      std::string bytes;
      if (in.dtype == DataType::kBytes) {
        for (int64_t i = 0; i < count; ++i) core::AppendBytesElement("", &bytes);
      } else {
        bytes.assign(count * core::DataTypeByteSize(in.dtype), '\0');
      }
      request.inputs.push_back({in.name, core::Tensor::Owned(in.dtype, shape, std::move(bytes))});
    }
    core::InferenceRequest* ptr = &request;
    auto results = Execute(absl::MakeSpan(&ptr, 1));
    return results[0].status();
  }

 private:
  // Run() with LibTorch exceptions turned into a Status. A model says that its input is bad by
  // raising ValueError in TorchScript (models/CONVENTIONS.md): that is INVALID_ARGUMENT with the
  // model's own message; any other exception is a fault of the model, INTERNAL.
  absl::StatusOr<std::vector<core::InferenceResponse>> RunCatching(
      absl::Span<core::InferenceRequest* const> batch) {
    try {
      return Run(batch);
    } catch (const torch::jit::JITException& e) {
      const std::string cls = e.getPythonClassName().value_or("");
      if (absl::EndsWith(cls, "ValueError")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model '", sig_->model_name, "' refused the input: ", e.getOriginalMsg().value_or("")));
      }
      std::string what = e.what();
      return absl::InternalError(
          absl::StrCat("model '", sig_->model_name, "' failed during execution: ", LastLine(what)));
    } catch (const std::exception& e) {
      std::string what = e.what();
      return absl::InternalError(
          absl::StrCat("model '", sig_->model_name,
                       "' failed during execution: ", what.substr(0, what.find('\n'))));
    }
  }

  // The last non-empty line of a TorchScript error (the exception itself, after the traceback).
  static std::string LastLine(const std::string& what) {
    size_t end = what.find_last_not_of("\n ");
    if (end == std::string::npos) return what;
    size_t begin = what.rfind('\n', end);
    return what.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin + 1));
  }

  absl::StatusOr<std::vector<core::InferenceResponse>> Run(
      absl::Span<core::InferenceRequest* const> batch) {
    const core::Clock* clock = core::Clock::Real();
    if (threads_ > 0 && at::get_num_threads() != threads_) at::set_num_threads(threads_);
    c10::InferenceMode guard;

    int64_t t0 = clock->NowNanos();
    int64_t total_items = 0;
    for (const core::InferenceRequest* r : batch) total_items += r->batch_size;

    std::unordered_map<std::string, c10::IValue> kwargs;
    for (const TensorBinding& in : sig_->inputs) {
      ASSIGN_OR_RETURN(std::optional<c10::IValue> value, GatherInput(in, batch, total_items));
      if (value) {
        kwargs.emplace(in.arg_name, std::move(*value));
      } else if (IsOptionalArg(in.arg_name)) {
        kwargs.emplace(in.arg_name, c10::IValue());
      }
    }
    int64_t t1 = clock->NowNanos();
    c10::IValue result = module_.get_method("forward")({}, kwargs);
    int64_t t2 = clock->NowNanos();

    std::vector<core::InferenceResponse> responses(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      responses[i].model_name = batch[i]->model_name;
      responses[i].model_version = batch[i]->model_version;
      responses[i].id = batch[i]->id;
    }
    for (const TensorBinding& out : sig_->outputs) {
      if (!AnyWants(batch, out.name)) continue;
      ASSIGN_OR_RETURN(c10::IValue value, PickOutput(result, out));
      RETURN_IF_ERROR(ScatterOutput(out, value, batch, total_items, &responses));
    }
    int64_t t3 = clock->NowNanos();
    for (auto& response : responses) {
      response.timings.compute_input_ns = t1 - t0;
      response.timings.compute_infer_ns = t2 - t1;
      response.timings.compute_output_ns = t3 - t2;
      response.timings.executed_batch_size = total_items;
    }
    return responses;
  }

  bool IsOptionalArg(const std::string& arg_name) {
    const auto& schema = module_.get_method("forward").function().getSchema();
    for (const auto& arg : schema.arguments()) {
      if (arg.name() == arg_name) return !arg.default_value().has_value();
    }
    return false;
  }

  static bool AnyWants(absl::Span<core::InferenceRequest* const> batch, const std::string& name) {
    for (const core::InferenceRequest* r : batch) {
      if (r->requested_outputs.empty()) return true;
      for (const std::string& n : r->requested_outputs) {
        if (n == name) return true;
      }
    }
    return false;
  }

  static const core::Tensor* FindInput(const core::InferenceRequest& r, const std::string& name) {
    for (const core::NamedTensor& t : r.inputs) {
      if (t.name == name) return &t.tensor;
    }
    return nullptr;
  }

  // The batched input for `in`, or nullopt when the (optional) input is absent from the batch.
  absl::StatusOr<std::optional<c10::IValue>> GatherInput(
      const TensorBinding& in, absl::Span<core::InferenceRequest* const> batch, int64_t total) {
    std::vector<const core::Tensor*> parts;
    for (const core::InferenceRequest* r : batch) parts.push_back(FindInput(*r, in.name));
    size_t present =
        std::count_if(parts.begin(), parts.end(), [](auto* p) { return p != nullptr; });
    if (present == 0) {
      if (in.optional) return std::optional<c10::IValue>();
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", sig_->model_name, "': required input '", in.name, "' is missing"));
    }
    if (present != parts.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", sig_->model_name, "': optional input '", in.name,
                       "' must be given by all or none of the requests in a batch"));
    }

    if (in.dtype == DataType::kBytes) {
      c10::List<std::string> strings;
      for (const core::Tensor* t : parts) {
        ASSIGN_OR_RETURN(auto elements, core::SplitBytesElements(t->bytes(), -1));
        for (absl::string_view e : elements) strings.push_back(std::string(e));
      }
      return std::optional<c10::IValue>(c10::IValue(std::move(strings)));
    }

    c10::ScalarType type = *TorchType(in.dtype);
    const core::Shape& first = parts[0]->shape();
    torch::Tensor tensor;
    if (parts.size() == 1) {
      // Zero-copy: the tensor borrows the request's bytes, which outlive this call.
      tensor = torch::from_blob(const_cast<char*>(parts[0]->data()), first,
                                torch::TensorOptions().dtype(type));
    } else {
      std::vector<int64_t> shape = first;
      shape[0] = total;
      tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
      char* dst = static_cast<char*>(tensor.data_ptr());
      for (const core::Tensor* t : parts) {
        if (!std::equal(t->shape().begin() + 1, t->shape().end(), first.begin() + 1, first.end())) {
          return absl::InvalidArgumentError(
              absl::StrCat("model '", sig_->model_name, "': input '", in.name,
                           "' has different shapes within one batch: ", core::ShapeToString(first),
                           " and ", core::ShapeToString(t->shape())));
        }
        std::memcpy(dst, t->data(), t->byte_size());
        dst += t->byte_size();
      }
    }
    if (device_ != torch::kCPU) tensor = tensor.to(device_);
    return std::optional<c10::IValue>(c10::IValue(std::move(tensor)));
  }

  absl::StatusOr<c10::IValue> PickOutput(const c10::IValue& result, const TensorBinding& out) {
    if (result.isTensor() || (result.isList() && !result.isTensorList())) {
      if (sig_->outputs.size() != 1) {
        return absl::InternalError(absl::StrCat("model '", sig_->model_name,
                                                "' returned one value but its config lists ",
                                                sig_->outputs.size(), " outputs"));
      }
      return result;
    }
    if (result.isTuple() || result.isTensorList()) {
      std::vector<c10::IValue> elements;
      if (result.isTuple()) {
        elements = result.toTupleRef().elements().vec();
      } else {
        for (const auto& t : result.toTensorList()) elements.emplace_back(t);
      }
      if (out.result_index >= static_cast<int>(elements.size())) {
        return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' returned ",
                                                elements.size(), " values, output '", out.name,
                                                "' needs index ", out.result_index));
      }
      return elements[out.result_index];
    }
    if (result.isGenericDict()) {
      for (const auto& entry : result.toGenericDict()) {
        if (entry.key().isString() && entry.key().toStringRef() == out.name) return entry.value();
      }
      return absl::InternalError(absl::StrCat("model '", sig_->model_name,
                                              "' returned a dict without output '", out.name, "'"));
    }
    return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' returned a ",
                                            result.tagKind(),
                                            ", which gridserve cannot map to outputs"));
  }

  absl::Status ScatterOutput(const TensorBinding& out, const c10::IValue& value,
                             absl::Span<core::InferenceRequest* const> batch, int64_t total,
                             std::vector<core::InferenceResponse>* responses) {
    auto wants = [&](const core::InferenceRequest* r) {
      if (r->requested_outputs.empty()) return true;
      return std::find(r->requested_outputs.begin(), r->requested_outputs.end(), out.name) !=
             r->requested_outputs.end();
    };
    if (out.dtype == DataType::kBytes) {
      if (!value.isList()) {
        return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '", out.name,
                                                "' must be List[str] for TYPE_STRING"));
      }
      c10::List<c10::IValue> list = value.toList();
      int64_t n = list.size();
      int64_t items = sig_->batching ? total : 1;
      if (items == 0 || n % items != 0) {
        return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '", out.name,
                                                "' has ", n, " strings for ", items,
                                                " batch items"));
      }
      int64_t per_item = n / items;
      core::Shape item_dims = out.dims;
      int64_t prod = 1;
      for (int64_t d : item_dims) prod *= d;
      if (prod != per_item || prod < 0) item_dims = {per_item};
      int64_t next = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        int64_t rows = sig_->batching ? batch[i]->batch_size : 1;
        std::string framed;
        for (int64_t k = 0; k < rows * per_item; ++k) {
          const c10::IValue& e = list.get(next++);
          if (!e.isString()) {
            return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '",
                                                    out.name, "' holds a non-string element"));
          }
          core::AppendBytesElement(e.toStringRef(), &framed);
        }
        if (!wants(batch[i])) continue;
        core::Shape shape;
        if (sig_->batching) shape.push_back(rows);
        shape.insert(shape.end(), item_dims.begin(), item_dims.end());
        (*responses)[i].outputs.push_back(
            {out.name, core::Tensor::Owned(DataType::kBytes, shape, std::move(framed))});
      }
      return absl::OkStatus();
    }

    if (!value.isTensor()) {
      return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '", out.name,
                                              "' is a ", value.tagKind(), ", expected a Tensor"));
    }
    torch::Tensor t = value.toTensor();
    if (t.scalar_type() != *TorchType(out.dtype)) {
      return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '", out.name,
                                              "' has dtype ", c10::toString(t.scalar_type()),
                                              " but the config declares ",
                                              core::DataTypeName(out.dtype)));
    }
    if (sig_->batching && (t.dim() == 0 || t.size(0) != total)) {
      return absl::InternalError(absl::StrCat("model '", sig_->model_name, "' output '", out.name,
                                              "' has shape ", c10::str(t.sizes()),
                                              "; dim 0 must be the batch size ", total));
    }
    auto whole = std::make_shared<torch::Tensor>(t.to(torch::kCPU).contiguous());
    int64_t row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      int64_t rows = batch[i]->batch_size;
      if (wants(batch[i])) {
        core::Tensor slice = SliceRows(whole, out.dtype, row, rows, sig_->batching);
        if (auto it = batch[i]->classification.find(out.name);
            it != batch[i]->classification.end()) {
          ASSIGN_OR_RETURN(slice,
                           core::Classify(slice, sig_->batching, it->second, out.labels.get()));
        }
        (*responses)[i].outputs.push_back({out.name, std::move(slice)});
      }
      row += rows;
    }
    return absl::OkStatus();
  }

  const std::shared_ptr<const Signature> sig_;
  torch::jit::Module module_;
  const torch::Device device_;
  const int threads_;
};

class TorchScriptBackend : public Backend {
 public:
  explicit TorchScriptBackend(std::shared_ptr<const Signature> sig) : sig_(std::move(sig)) {}

  absl::StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(
      const InstanceOptions& options) override {
    torch::Device device(torch::kCPU);
    try {
      device = torch::Device(options.device);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("bad device '", options.device, "'"));
    }
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", sig_->model_name, "' asks for ", options.device,
                       " (KIND_GPU) but this LibTorch build has no usable CUDA device"));
    }
    if (device.is_cuda() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", sig_->model_name, "' asks for ", options.device, " but only ",
                       torch::cuda::device_count(), " CUDA devices exist"));
    }
    ASSIGN_OR_RETURN(torch::jit::Module module, LoadModule(*sig_, device));
    int threads = sig_->intra_op_threads > 0 ? sig_->intra_op_threads : options.intra_op_threads;
    auto instance = std::make_unique<TorchScriptInstance>(sig_, std::move(module), device, threads);
    if (sig_->warmup) {
      absl::Status warm = instance->Warmup();
      // A model may refuse the all-zero / empty warm-up input by its input contract (a silent
      // waveform, an empty text): it ran, so it can serve.
      if (!warm.ok() && !absl::IsInvalidArgument(warm)) {
        return absl::InvalidArgumentError(
            absl::StrCat("warm-up of model '", sig_->model_name, "' failed: ", warm.message()));
      }
    }
    return instance;
  }

 private:
  const std::shared_ptr<const Signature> sig_;
};

class TorchScriptBackendFactory : public BackendFactory {
 public:
  absl::StatusOr<std::unique_ptr<Backend>> Create(const inference::ModelConfig& config,
                                                  const std::string& version_dir) override {
    ASSIGN_OR_RETURN(std::shared_ptr<Signature> sig, MakeSignature(config, version_dir));
    // Load once on the CPU to check the file and bind inputs to forward's schema before any
    // instance is made.
    ASSIGN_OR_RETURN(torch::jit::Module module, LoadModule(*sig, torch::kCPU));
    RETURN_IF_ERROR(BindInputs(module.get_method("forward").function().getSchema(), sig.get()));
    return std::make_unique<TorchScriptBackend>(std::move(sig));
  }
};

}  // namespace

std::unique_ptr<BackendFactory> MakeTorchScriptBackendFactory() {
  return std::make_unique<TorchScriptBackendFactory>();
}

std::string TorchVersion() { return TORCH_VERSION; }

}  // namespace gridserve::backend
