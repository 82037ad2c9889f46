#include "runtime/backend/torchscript_backend.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/core/tensor.h"
#include "runtime/repository/model_config.h"
#include "runtime/repository/request_validator.h"

namespace gridserve::backend {
namespace {

using core::DataType;
using core::InferenceRequest;
using core::InferenceResponse;
using core::Shape;
using core::Tensor;

std::string ModelDir(const std::string& name) {
  return absl::StrCat(GRIDSERVE_TEST_MODELS_DIR, "/", name);
}

template <typename T>
Tensor Typed(DataType type, Shape shape, const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return Tensor::Owned(type, std::move(shape), std::move(bytes));
}

Tensor Floats(Shape shape, const std::vector<float>& values) {
  return Typed(DataType::kFp32, std::move(shape), values);
}

Tensor Strings(Shape shape, const std::vector<std::string>& elements) {
  std::string framed;
  for (const std::string& e : elements) core::AppendBytesElement(e, &framed);
  return Tensor::Owned(DataType::kBytes, std::move(shape), std::move(framed));
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.byte_size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data(), t.byte_size());
  return out;
}

std::vector<std::string> StringValues(const Tensor& t) {
  auto elements = core::SplitBytesElements(t.bytes(), -1);
  EXPECT_TRUE(elements.ok()) << elements.status();
  std::vector<std::string> out;
  if (elements.ok()) {
    for (absl::string_view e : *elements) out.emplace_back(e);
  }
  return out;
}

const Tensor* Output(const InferenceResponse& response, const std::string& name) {
  for (const auto& out : response.outputs) {
    if (out.name == name) return &out.tensor;
  }
  return nullptr;
}

// One fixture model loaded through MakeTorchScriptBackendFactory() with one CPU instance.
class Model {
 public:
  explicit Model(const std::string& name) {
    auto config = repository::LoadModelConfig(ModelDir(name));
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return;
    config_ = *config;
    auto backend = MakeTorchScriptBackendFactory()->Create(config_, ModelDir(name) + "/1");
    EXPECT_TRUE(backend.ok()) << backend.status();
    if (!backend.ok()) return;
    backend_ = *std::move(backend);
    InstanceOptions options;
    options.intra_op_threads = 1;
    auto instance = backend_->CreateInstance(options);
    EXPECT_TRUE(instance.ok()) << instance.status();
    if (instance.ok()) instance_ = *std::move(instance);
  }

  bool ok() const { return instance_ != nullptr; }
  const inference::ModelConfig& config() const { return config_; }

  // A request with `inputs`, validated against the config (which sets batch_size).
  std::unique_ptr<InferenceRequest> Request(std::vector<core::NamedTensor> inputs,
                                            std::vector<std::string> requested = {}) {
    auto r = std::make_unique<InferenceRequest>();
    r->model_name = config_.name();
    r->model_version = 1;
    r->id = absl::StrCat("id-", next_id_++);
    r->inputs = std::move(inputs);
    r->requested_outputs = std::move(requested);
    absl::Status valid = repository::ValidateRequest(config_, r.get());
    EXPECT_TRUE(valid.ok()) << valid;
    return r;
  }

  std::vector<absl::StatusOr<InferenceResponse>> Execute(
      const std::vector<std::unique_ptr<InferenceRequest>>& requests) {
    std::vector<InferenceRequest*> batch;
    for (const auto& r : requests) batch.push_back(r.get());
    return instance_->Execute(absl::MakeSpan(batch));
  }

  // Runs one request; the request must outlive the response (outputs may borrow its bytes).
  absl::StatusOr<InferenceResponse> Run(const InferenceRequest& request) {
    InferenceRequest* ptr = const_cast<InferenceRequest*>(&request);
    auto results = instance_->Execute(absl::MakeSpan(&ptr, 1));
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? absl::InternalError("no result") : std::move(results[0]);
  }

 private:
  inference::ModelConfig config_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ModelInstance> instance_;
  int next_id_ = 0;
};

// --- add_sub: INPUT__N / OUTPUT__N by index, tuple outputs ---

TEST(TorchScriptBackendTest, AddSubMapsByIndexAndSplitsTupleOutputs) {
  Model model("add_sub");
  ASSERT_TRUE(model.ok());
  auto request = model.Request(
      {{"INPUT__0", Floats({1, 4}, {1, 2, 3, 4})}, {"INPUT__1", Floats({1, 4}, {10, 20, 30, 40})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_name, "add_sub");
  EXPECT_EQ(response->model_version, 1);
  EXPECT_EQ(response->id, request->id);
  const Tensor* sum = Output(*response, "OUTPUT__0");
  const Tensor* diff = Output(*response, "OUTPUT__1");
  ASSERT_NE(sum, nullptr);
  ASSERT_NE(diff, nullptr);
  EXPECT_EQ(sum->dtype(), DataType::kFp32);
  EXPECT_EQ(sum->shape(), Shape({1, 4}));
  EXPECT_EQ(Values<float>(*sum), (std::vector<float>{11, 22, 33, 44}));
  EXPECT_EQ(Values<float>(*diff), (std::vector<float>{-9, -18, -27, -36}));
  EXPECT_EQ(response->timings.executed_batch_size, 1);
}

TEST(TorchScriptBackendTest, InputOrderInTheRequestDoesNotMatter) {
  Model model("add_sub");
  ASSERT_TRUE(model.ok());
  auto request = model.Request(
      {{"INPUT__1", Floats({1, 4}, {10, 20, 30, 40})}, {"INPUT__0", Floats({1, 4}, {1, 2, 3, 4})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(Values<float>(*Output(*response, "OUTPUT__1")),
            (std::vector<float>{-9, -18, -27, -36}));
}

TEST(TorchScriptBackendTest, BatchOfThreeRequestsIsSplitBackExactly) {
  Model model("add_sub");
  ASSERT_TRUE(model.ok());
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  std::vector<int64_t> sizes = {1, 3, 2};
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<float> a, b;
    for (int64_t i = 0; i < sizes[k] * 4; ++i) {
      a.push_back(100.0f * k + i);
      b.push_back(1.0f * i);
    }
    requests.push_back(model.Request(
        {{"INPUT__0", Floats({sizes[k], 4}, a)}, {"INPUT__1", Floats({sizes[k], 4}, b)}}));
  }
  auto results = model.Execute(requests);
  ASSERT_EQ(results.size(), 3u);
  for (size_t k = 0; k < sizes.size(); ++k) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(results[k].ok()) << results[k].status();
    EXPECT_EQ(results[k]->id, requests[k]->id);
    EXPECT_EQ(results[k]->timings.executed_batch_size, 6);
    const Tensor* sum = Output(*results[k], "OUTPUT__0");
    const Tensor* diff = Output(*results[k], "OUTPUT__1");
    ASSERT_NE(sum, nullptr);
    ASSERT_NE(diff, nullptr);
    EXPECT_EQ(sum->shape(), Shape({sizes[k], 4}));
    EXPECT_EQ(diff->shape(), Shape({sizes[k], 4}));
    std::vector<float> want_sum, want_diff;
    for (int64_t i = 0; i < sizes[k] * 4; ++i) {
      want_sum.push_back(100.0f * k + 2 * i);
      want_diff.push_back(100.0f * k);
    }
    EXPECT_EQ(Values<float>(*sum), want_sum);
    EXPECT_EQ(Values<float>(*diff), want_diff);
  }
}

TEST(TorchScriptBackendTest, RequestedOutputSubsetIsHonoured) {
  Model model("add_sub");
  ASSERT_TRUE(model.ok());
  auto request = model.Request(
      {{"INPUT__0", Floats({1, 4}, {1, 2, 3, 4})}, {"INPUT__1", Floats({1, 4}, {1, 1, 1, 1})}},
      {"OUTPUT__1"});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->outputs.size(), 1u);
  EXPECT_EQ(response->outputs[0].name, "OUTPUT__1");
  EXPECT_EQ(Values<float>(response->outputs[0].tensor), (std::vector<float>{0, 1, 2, 3}));
}

TEST(TorchScriptBackendTest, RequestedOutputsDifferWithinABatch) {
  Model model("add_sub");
  ASSERT_TRUE(model.ok());
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  requests.push_back(model.Request(
      {{"INPUT__0", Floats({1, 4}, {1, 2, 3, 4})}, {"INPUT__1", Floats({1, 4}, {1, 1, 1, 1})}},
      {"OUTPUT__0"}));
  requests.push_back(model.Request(
      {{"INPUT__0", Floats({1, 4}, {5, 6, 7, 8})}, {"INPUT__1", Floats({1, 4}, {1, 1, 1, 1})}}));
  auto results = model.Execute(requests);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  ASSERT_EQ(results[0]->outputs.size(), 1u);
  EXPECT_EQ(results[0]->outputs[0].name, "OUTPUT__0");
  EXPECT_EQ(Values<float>(results[0]->outputs[0].tensor), (std::vector<float>{2, 3, 4, 5}));
  ASSERT_EQ(results[1]->outputs.size(), 2u);
  EXPECT_EQ(Values<float>(*Output(*results[1], "OUTPUT__1")), (std::vector<float>{4, 5, 6, 7}));
}

// --- dict_out: inputs by name, Dict outputs, optional input ---

TEST(TorchScriptBackendTest, DictOutputsByNameWithOptionalInputAbsent) {
  Model model("dict_out");
  ASSERT_TRUE(model.ok());
  auto request = model.Request({{"x", Floats({2, 3}, {1, 2, 3, 4, 5, 6})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  const Tensor* scaled = Output(*response, "scaled");
  const Tensor* total = Output(*response, "total");
  ASSERT_NE(scaled, nullptr);
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(scaled->shape(), Shape({2, 3}));
  EXPECT_EQ(total->shape(), Shape({2, 1}));
  EXPECT_EQ(Values<float>(*scaled), (std::vector<float>{2, 4, 6, 8, 10, 12}));  // default 2.0
  EXPECT_EQ(Values<float>(*total), (std::vector<float>{6, 15}));
}

TEST(TorchScriptBackendTest, DictOutputsWithOptionalInputPresent) {
  Model model("dict_out");
  ASSERT_TRUE(model.ok());
  auto request = model.Request(
      {{"x", Floats({2, 3}, {1, 2, 3, 4, 5, 6})}, {"scale", Floats({2, 1}, {10, -1})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(Values<float>(*Output(*response, "scaled")),
            (std::vector<float>{10, 20, 30, -4, -5, -6}));
  EXPECT_EQ(Values<float>(*Output(*response, "total")), (std::vector<float>{6, 15}));
}

TEST(TorchScriptBackendTest, DictRequestedOutputSubset) {
  Model model("dict_out");
  ASSERT_TRUE(model.ok());
  auto request = model.Request({{"x", Floats({1, 3}, {1, 1, 1})}}, {"total"});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->outputs.size(), 1u);
  EXPECT_EQ(response->outputs[0].name, "total");
  EXPECT_EQ(Values<float>(response->outputs[0].tensor), (std::vector<float>{3}));
}

// --- BYTES ---

TEST(TorchScriptBackendTest, StrlenMapsBytesToInt64) {
  Model model("strlen");
  ASSERT_TRUE(model.ok());
  auto request = model.Request({{"text", Strings({3, 1}, {"hello", "", "ab"})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  const Tensor* length = Output(*response, "length");
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(length->dtype(), DataType::kInt64);
  EXPECT_EQ(length->shape(), Shape({3, 1}));
  EXPECT_EQ(Values<int64_t>(*length), (std::vector<int64_t>{5, 0, 2}));
}

TEST(TorchScriptBackendTest, StrlenBatchOfRequestsIsSplitBack) {
  Model model("strlen");
  ASSERT_TRUE(model.ok());
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  requests.push_back(model.Request({{"text", Strings({2, 1}, {"a", "bb"})}}));
  requests.push_back(model.Request({{"text", Strings({1, 1}, {"cccc"})}}));
  auto results = model.Execute(requests);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(Values<int64_t>(*Output(*results[0], "length")), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Values<int64_t>(*Output(*results[1], "length")), (std::vector<int64_t>{4}));
}

TEST(TorchScriptBackendTest, EchoMapsBytesToBytes) {
  Model model("echo");
  ASSERT_TRUE(model.ok());
  auto request = model.Request({{"text", Strings({2, 2}, {"a", "", "hello", "xyz"})}});
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  const Tensor* echoed = Output(*response, "echoed");
  ASSERT_NE(echoed, nullptr);
  EXPECT_EQ(echoed->dtype(), DataType::kBytes);
  EXPECT_EQ(echoed->shape(), Shape({2, 2}));
  EXPECT_EQ(StringValues(*echoed), (std::vector<std::string>{"a!", "!", "hello!", "xyz!"}));
}

TEST(TorchScriptBackendTest, EchoBatchIsSplitBack) {
  Model model("echo");
  ASSERT_TRUE(model.ok());
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  requests.push_back(model.Request({{"text", Strings({1, 3}, {"a", "b", "c"})}}));
  requests.push_back(model.Request({{"text", Strings({2, 3}, {"d", "e", "f", "g", "h", "i"})}}));
  auto results = model.Execute(requests);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(Output(*results[0], "echoed")->shape(), Shape({1, 3}));
  EXPECT_EQ(StringValues(*Output(*results[0], "echoed")),
            (std::vector<std::string>{"a!", "b!", "c!"}));
  EXPECT_EQ(Output(*results[1], "echoed")->shape(), Shape({2, 3}));
  EXPECT_EQ(StringValues(*Output(*results[1], "echoed")),
            (std::vector<std::string>{"d!", "e!", "f!", "g!", "h!", "i!"}));
}

// --- identity_types: every numeric type round-trips bit-exactly ---

TEST(TorchScriptBackendTest, EveryNumericTypeRoundTripsBitExactly) {
  Model model("identity_types");
  ASSERT_TRUE(model.ok());
  const Shape shape = {2, 2};
  std::vector<core::NamedTensor> inputs = {
      {"INPUT__0", Typed<uint8_t>(DataType::kBool, shape, {1, 0, 0, 1})},
      {"INPUT__1", Typed<uint8_t>(DataType::kUint8, shape, {0, 1, 128, 255})},
      {"INPUT__2", Typed<int8_t>(DataType::kInt8, shape, {-128, -1, 0, 127})},
      {"INPUT__3", Typed<int16_t>(DataType::kInt16, shape, {-32768, -2, 3, 32767})},
      {"INPUT__4", Typed<int32_t>(DataType::kInt32, shape, {INT32_MIN, -5, 7, INT32_MAX})},
      {"INPUT__5", Typed<int64_t>(DataType::kInt64, shape, {INT64_MIN, -9, 11, INT64_MAX})},
      // FP16 bit patterns: 1.0, -2.0, smallest subnormal, 65504 (max).
      {"INPUT__6", Typed<uint16_t>(DataType::kFp16, shape, {0x3C00, 0xC000, 0x0001, 0x7BFF})},
      {"INPUT__7", Typed<float>(DataType::kFp32, shape, {1.5f, -0.0f, 1e-38f, 3.4e38f})},
      {"INPUT__8", Typed<double>(DataType::kFp64, shape, {0.1, -1e-300, 1e300, 3.0})},
  };
  std::vector<std::string> expected;
  for (const auto& in : inputs) expected.emplace_back(in.tensor.bytes());
  auto request = model.Request(inputs);
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->outputs.size(), 9u);
  for (int i = 0; i < 9; ++i) {
    SCOPED_TRACE(i);
    const Tensor* out = Output(*response, absl::StrCat("OUTPUT__", i));
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out->dtype(), inputs[i].tensor.dtype());
    EXPECT_EQ(out->shape(), shape);
    EXPECT_EQ(std::string(out->bytes()), expected[i]);
  }
}

// --- nobatch: max_batch_size 0 ---

TEST(TorchScriptBackendTest, NonBatchingModelUsesTheWholeShape) {
  Model model("nobatch");
  ASSERT_TRUE(model.ok());
  auto request = model.Request({{"x", Floats({5}, {1, 2, 3, 4, 5})}});
  EXPECT_EQ(request->batch_size, 1);
  auto response = model.Run(*request);
  ASSERT_TRUE(response.ok()) << response.status();
  const Tensor* y = Output(*response, "y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->shape(), Shape({5}));
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{3, 6, 9, 12, 15}));
}

// --- load errors ---

TEST(TorchScriptBackendTest, CorruptModelFileFailsToLoad) {
  auto config = repository::LoadModelConfig(ModelDir("corrupt"));
  ASSERT_TRUE(config.ok()) << config.status();
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("corrupt") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, MissingModelFileIsNotFound) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/99");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kNotFound);
}

TEST(TorchScriptBackendTest, ConfigInputThatIsNotAForwardArgumentFailsToLoad) {
  auto config = repository::LoadModelConfig(ModelDir("dict_out"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_input(0)->set_name("not_an_argument");
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("dict_out") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, InputIndexBeyondForwardArgumentsFailsToLoad) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_input(1)->set_name("INPUT__2");
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, UnsupportedLibTorchTypeFailsToLoad) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_input(0)->set_data_type(inference::TYPE_UINT32);
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, BadIntraOpThreadCountFailsToLoad) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  (*config->mutable_parameters())["INTRA_OP_THREAD_COUNT"].set_string_value("many");
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, OutputDtypeDifferentFromConfigIsInternal) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_output(0)->set_data_type(inference::TYPE_INT32);
  (*config->mutable_parameters())["ENABLE_WARMUP"].set_string_value("false");
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto instance = (*backend)->CreateInstance(InstanceOptions());
  ASSERT_TRUE(instance.ok()) << instance.status();
  InferenceRequest request;
  request.model_name = "add_sub";
  request.inputs = {{"INPUT__0", Floats({1, 4}, {1, 2, 3, 4})},
                    {"INPUT__1", Floats({1, 4}, {1, 2, 3, 4})}};
  ASSERT_TRUE(repository::ValidateRequest(*config, &request).ok());
  InferenceRequest* ptr = &request;
  auto results = (*instance)->Execute(absl::MakeSpan(&ptr, 1));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kInternal);
}

TEST(TorchScriptBackendTest, WarmupCatchesAModelThatCannotRun) {
  // The same mismatch with warm-up on fails when the instance is made.
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_output(0)->set_data_type(inference::TYPE_INT32);
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_FALSE((*backend)->CreateInstance(InstanceOptions()).ok());
}

TEST(TorchScriptBackendTest, BadDeviceIsRejected) {
  auto config = repository::LoadModelConfig(ModelDir("add_sub"));
  ASSERT_TRUE(config.ok());
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("add_sub") + "/1");
  ASSERT_TRUE(backend.ok());
  InstanceOptions options;
  options.device = "not-a-device";
  EXPECT_EQ((*backend)->CreateInstance(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- classify: Triton's classification extension ---

TEST(TorchScriptBackendTest, ClassificationAnswersTopKStringsWithLabels) {
  Model model("classify");
  ASSERT_TRUE(model.ok());
  auto r = model.Request({{"x", Floats({2, 4}, {0.1f, 0.7f, 0.2f, 0.9f, 3.f, 1.f, 2.f, 3.f})}});
  r->classification["scores"] = 2;
  r->classification["counts"] = 3;
  auto result = model.Run(*r);
  ASSERT_TRUE(result.ok()) << result.status();
  const Tensor* scores = Output(*result, "scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->dtype(), DataType::kBytes);
  EXPECT_EQ(scores->shape(), (Shape{2, 2}));
  // Index 3 has no line in labels.txt; ties go to the lower index.
  EXPECT_EQ(StringValues(*scores), (std::vector<std::string>{"0.900000:3", "0.700000:1:one",
                                                             "3.000000:0:zero", "3.000000:3"}));
  const Tensor* counts = Output(*result, "counts");
  ASSERT_NE(counts, nullptr);
  EXPECT_EQ(counts->shape(), (Shape{2, 3}));
  EXPECT_EQ(StringValues(*counts),
            (std::vector<std::string>{"0:0", "0:1", "0:2", "3:0", "3:3", "2:2"}));
}

TEST(TorchScriptBackendTest, ClassificationOfOneOutputLeavesTheOthersAsTensors) {
  Model model("classify");
  ASSERT_TRUE(model.ok());
  auto r = model.Request({{"x", Floats({1, 4}, {0.1f, 0.7f, 0.2f, 0.9f})}});
  r->classification["scores"] = 10;  // more than the 4 classes: all 4, ranked
  auto result = model.Run(*r);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(StringValues(*Output(*result, "scores")),
            (std::vector<std::string>{"0.900000:3", "0.700000:1:one", "0.200000:2:two",
                                      "0.100000:0:zero"}));
  const Tensor* counts = Output(*result, "counts");
  ASSERT_NE(counts, nullptr);
  EXPECT_EQ(counts->dtype(), DataType::kInt32);
  EXPECT_EQ(counts->shape(), (Shape{1, 4}));
}

TEST(TorchScriptBackendTest, MissingLabelFileFailsTheLoad) {
  auto config = repository::LoadModelConfig(ModelDir("classify"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->mutable_output(0)->set_label_filename("no_such_labels.txt");
  auto backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("classify") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  config->mutable_output(0)->set_label_filename("../classify/labels.txt");
  backend = MakeTorchScriptBackendFactory()->Create(*config, ModelDir("classify") + "/1");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

// --- checked: the model's input contract (ValueError = bad input) ---

TEST(TorchScriptBackendTest, ValueErrorFromTheModelIsInvalidArgumentWithItsMessage) {
  Model model("checked");
  ASSERT_TRUE(model.ok());
  auto bad = model.Request({{"x", Floats({1, 1}, {-2.f})}});
  auto result = model.Run(*bad);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("x must be >= 0, got -2"), std::string::npos)
      << result.status();
  auto fault = model.Request({{"x", Floats({1, 1}, {13.f})}});
  EXPECT_EQ(model.Run(*fault).status().code(), absl::StatusCode::kInternal);
}

TEST(TorchScriptBackendTest, ARefusedRequestInABatchFailsAloneTheOthersAreAnswered) {
  Model model("checked");
  ASSERT_TRUE(model.ok());
  std::vector<std::unique_ptr<InferenceRequest>> batch;
  batch.push_back(model.Request({{"x", Floats({2, 1}, {1.f, 2.f})}}));
  batch.push_back(model.Request({{"x", Floats({1, 1}, {-1.f})}}));
  batch.push_back(model.Request({{"x", Floats({1, 1}, {5.f})}}));
  auto results = model.Execute(batch);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(Values<float>(*Output(*results[0], "y")), (std::vector<float>{2.f, 4.f}));
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(Values<float>(*Output(*results[2], "y")), (std::vector<float>{10.f}));
}

}  // namespace
}  // namespace gridserve::backend
