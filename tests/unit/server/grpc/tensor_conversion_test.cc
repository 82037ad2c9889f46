#include "server/grpc/tensor_conversion.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/core/tensor.h"

namespace gridserve::server {
namespace {

using core::DataType;
using inference::ModelInferRequest;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest* proto, const std::string& name,
                                              const std::string& datatype,
                                              const std::vector<int64_t>& shape) {
  auto* in = proto->add_inputs();
  in->set_name(name);
  in->set_datatype(datatype);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

absl::StatusCode Convert(const ModelInferRequest& proto) {
  core::InferenceRequest request;
  return ToInferenceRequest(proto, &request).code();
}

// --- request metadata ---

TEST(ToInferenceRequestTest, CopiesNameIdAndRequestedOutputs) {
  ModelInferRequest proto;
  proto.set_model_name("m");
  proto.set_id("req-7");
  AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
  proto.add_outputs()->set_name("b");
  proto.add_outputs()->set_name("a");
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.model_name, "m");
  EXPECT_EQ(request.id, "req-7");
  EXPECT_EQ(request.requested_outputs, (std::vector<std::string>{"b", "a"}));
  ASSERT_EQ(request.inputs.size(), 1u);
  EXPECT_EQ(request.inputs[0].name, "x");
  EXPECT_EQ(request.priority, 0u);
  EXPECT_EQ(request.timeout_us, 0u);
}

TEST(ToInferenceRequestTest, ClassificationParameterOfARequestedOutput) {
  ModelInferRequest proto;
  proto.set_model_name("m");
  AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
  auto* out = proto.add_outputs();
  out->set_name("probs");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  proto.add_outputs()->set_name("raw");
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.requested_outputs, (std::vector<std::string>{"probs", "raw"}));
  EXPECT_EQ(request.classification, (std::map<std::string, uint32_t>{{"probs", 3}}));

  for (int64_t bad : {0, -2}) {
    (*out->mutable_parameters())["classification"].set_int64_param(bad);
    core::InferenceRequest r;
    EXPECT_EQ(ToInferenceRequest(proto, &r).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  (*out->mutable_parameters())["classification"].set_string_param("3");
  core::InferenceRequest r;
  EXPECT_EQ(ToInferenceRequest(proto, &r).code(), absl::StatusCode::kInvalidArgument);
}

// --- raw contents ---

TEST(ToInferenceRequestTest, RawInputsAreBorrowedWithoutCopying) {
  ModelInferRequest proto;
  proto.set_model_name("m");
  AddInput(&proto, "a", "FP32", {2, 2});
  AddInput(&proto, "b", "INT64", {1});
  *proto.add_raw_input_contents() = Bytes<float>({1, 2, 3, 4});
  *proto.add_raw_input_contents() = Bytes<int64_t>({42});
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  ASSERT_EQ(request.inputs.size(), 2u);
  const core::Tensor& a = request.inputs[0].tensor;
  EXPECT_EQ(a.data(), proto.raw_input_contents(0).data());
  EXPECT_EQ(a.byte_size(), 16u);
  EXPECT_EQ(a.dtype(), DataType::kFp32);
  EXPECT_EQ(a.shape(), core::Shape({2, 2}));
  const core::Tensor& b = request.inputs[1].tensor;
  EXPECT_EQ(b.data(), proto.raw_input_contents(1).data());
  EXPECT_EQ(b.dtype(), DataType::kInt64);
}

TEST(ToInferenceRequestTest, RawFp16AndBf16AreAccepted) {
  ModelInferRequest proto;
  AddInput(&proto, "h", "FP16", {2});
  AddInput(&proto, "b", "BF16", {1});
  *proto.add_raw_input_contents() = Bytes<uint16_t>({0x3C00, 0xC000});
  *proto.add_raw_input_contents() = Bytes<uint16_t>({0x3F80});
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.dtype(), DataType::kFp16);
  EXPECT_EQ(request.inputs[1].tensor.dtype(), DataType::kBf16);
}

TEST(ToInferenceRequestTest, RawBytesAreKeptAsFramed) {
  ModelInferRequest proto;
  AddInput(&proto, "s", "BYTES", {2});
  std::string framed;
  core::AppendBytesElement("ab", &framed);
  core::AppendBytesElement(std::string("\xff\x00", 2), &framed);
  *proto.add_raw_input_contents() = framed;
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.bytes(), framed);
  EXPECT_EQ(request.inputs[0].tensor.dtype(), DataType::kBytes);
}

TEST(ToInferenceRequestTest, RawCountDifferentFromInputsIsInvalid) {
  ModelInferRequest proto;
  AddInput(&proto, "a", "FP32", {1});
  AddInput(&proto, "b", "FP32", {1});
  *proto.add_raw_input_contents() = Bytes<float>({1});
  EXPECT_EQ(Convert(proto), kInvalid);

  ModelInferRequest extra;
  AddInput(&extra, "a", "FP32", {1});
  *extra.add_raw_input_contents() = Bytes<float>({1});
  *extra.add_raw_input_contents() = Bytes<float>({2});
  EXPECT_EQ(Convert(extra), kInvalid);
}

TEST(ToInferenceRequestTest, RawAndTypedMixedIsInvalid) {
  ModelInferRequest proto;
  AddInput(&proto, "a", "FP32", {1});
  AddInput(&proto, "b", "FP32", {1})->mutable_contents()->add_fp32_contents(2.0f);
  *proto.add_raw_input_contents() = Bytes<float>({1});
  *proto.add_raw_input_contents() = Bytes<float>({2});
  EXPECT_EQ(Convert(proto), kInvalid);
}

TEST(ToInferenceRequestTest, RawWithEmptyContentsMessageIsAccepted) {
  ModelInferRequest proto;
  AddInput(&proto, "a", "FP32", {1})->mutable_contents();  // present but empty
  *proto.add_raw_input_contents() = Bytes<float>({1});
  EXPECT_TRUE(Convert(proto) == absl::StatusCode::kOk);
}

// --- typed contents, every type ---

TEST(ToInferenceRequestTest, TypedBool) {
  ModelInferRequest proto;
  auto* c = AddInput(&proto, "x", "BOOL", {3})->mutable_contents();
  c->add_bool_contents(true);
  c->add_bool_contents(false);
  c->add_bool_contents(true);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.bytes(), std::string("\x01\x00\x01", 3));
  EXPECT_EQ(request.inputs[0].tensor.dtype(), DataType::kBool);
}

TEST(ToInferenceRequestTest, TypedIntegersOfEveryWidth) {
  struct Case {
    const char* datatype;
    std::vector<int64_t> values;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"INT8", {-128, 0, 127}, Bytes<int8_t>({-128, 0, 127})},
      {"INT16", {-32768, 1, 32767}, Bytes<int16_t>({-32768, 1, 32767})},
      {"INT32", {INT32_MIN, -1, INT32_MAX}, Bytes<int32_t>({INT32_MIN, -1, INT32_MAX})},
      {"UINT8", {0, 1, 255}, Bytes<uint8_t>({0, 1, 255})},
      {"UINT16", {0, 2, 65535}, Bytes<uint16_t>({0, 2, 65535})},
      {"UINT32", {0, 3, UINT32_MAX}, Bytes<uint32_t>({0, 3, UINT32_MAX})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.datatype);
    ModelInferRequest proto;
    auto* contents = AddInput(&proto, "x", c.datatype, {3})->mutable_contents();
    for (int64_t v : c.values) {
      if (c.datatype[0] == 'U') {
        contents->add_uint_contents(static_cast<uint32_t>(v));
      } else {
        contents->add_int_contents(static_cast<int32_t>(v));
      }
    }
    core::InferenceRequest request;
    absl::Status s = ToInferenceRequest(proto, &request);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(request.inputs[0].tensor.bytes(), c.expected);
    EXPECT_EQ(request.inputs[0].tensor.dtype(), core::DataTypeFromName(c.datatype));
  }
}

TEST(ToInferenceRequestTest, Typed64BitIntegers) {
  ModelInferRequest proto;
  auto* i64 = AddInput(&proto, "i", "INT64", {2})->mutable_contents();
  i64->add_int64_contents(INT64_MIN);
  i64->add_int64_contents(INT64_MAX);
  auto* u64 = AddInput(&proto, "u", "UINT64", {2})->mutable_contents();
  u64->add_uint64_contents(0);
  u64->add_uint64_contents(UINT64_MAX);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.bytes(), Bytes<int64_t>({INT64_MIN, INT64_MAX}));
  EXPECT_EQ(request.inputs[1].tensor.bytes(), Bytes<uint64_t>({0, UINT64_MAX}));
}

TEST(ToInferenceRequestTest, TypedFloats) {
  ModelInferRequest proto;
  auto* f32 = AddInput(&proto, "f", "FP32", {1, 2})->mutable_contents();
  f32->add_fp32_contents(1.25f);
  f32->add_fp32_contents(-3.0e38f);
  auto* f64 = AddInput(&proto, "d", "FP64", {2, 1})->mutable_contents();
  f64->add_fp64_contents(0.1);
  f64->add_fp64_contents(-1e300);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.bytes(), Bytes<float>({1.25f, -3.0e38f}));
  EXPECT_EQ(request.inputs[0].tensor.shape(), core::Shape({1, 2}));
  EXPECT_EQ(request.inputs[1].tensor.bytes(), Bytes<double>({0.1, -1e300}));
}

TEST(ToInferenceRequestTest, TypedBytesAreFramed) {
  ModelInferRequest proto;
  auto* c = AddInput(&proto, "s", "BYTES", {3})->mutable_contents();
  c->add_bytes_contents("hello");
  c->add_bytes_contents("");
  c->add_bytes_contents(std::string("\xc3\x28\x00", 3));  // not UTF-8, embedded NUL
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  auto elements = core::SplitBytesElements(request.inputs[0].tensor.bytes(), 3);
  ASSERT_TRUE(elements.ok()) << elements.status();
  EXPECT_EQ((*elements)[0], "hello");
  EXPECT_EQ((*elements)[1], "");
  EXPECT_EQ((*elements)[2], std::string("\xc3\x28\x00", 3));
}

TEST(ToInferenceRequestTest, EmptyTensorNeedsNoContents) {
  ModelInferRequest proto;
  AddInput(&proto, "x", "FP32", {0, 4});
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.byte_size(), 0u);
}

// --- typed range checks ---

TEST(ToInferenceRequestTest, TypedValuesOutOfRangeAreInvalid) {
  struct Case {
    const char* datatype;
    int64_t value;
  };
  for (const Case& c : std::vector<Case>{{"INT8", 128},
                                         {"INT8", -129},
                                         {"INT16", 32768},
                                         {"INT16", -32769},
                                         {"UINT8", 256},
                                         {"UINT16", 65536},
                                         {"UINT16", UINT32_MAX}}) {
    SCOPED_TRACE(std::string(c.datatype) + " " + std::to_string(c.value));
    ModelInferRequest proto;
    auto* contents = AddInput(&proto, "x", c.datatype, {2})->mutable_contents();
    if (c.datatype[0] == 'U') {
      contents->add_uint_contents(0);
      contents->add_uint_contents(static_cast<uint32_t>(c.value));
    } else {
      contents->add_int_contents(0);
      contents->add_int_contents(static_cast<int32_t>(c.value));
    }
    EXPECT_EQ(Convert(proto), kInvalid);
  }
}

// --- typed contents errors ---

TEST(ToInferenceRequestTest, WrongContentsFieldForDatatypeIsInvalid) {
  auto make = [](const char* datatype, auto fill) {
    ModelInferRequest proto;
    fill(AddInput(&proto, "x", datatype, {1})->mutable_contents());
    return proto;
  };
  using C = inference::InferTensorContents;
  EXPECT_EQ(Convert(make("FP32", [](C* c) { c->add_int_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("FP64", [](C* c) { c->add_fp32_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("INT64", [](C* c) { c->add_int_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("INT32", [](C* c) { c->add_int64_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("UINT8", [](C* c) { c->add_int_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("UINT64", [](C* c) { c->add_uint_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("BOOL", [](C* c) { c->add_int_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("BYTES", [](C* c) { c->add_fp32_contents(1); })), kInvalid);
  EXPECT_EQ(Convert(make("INT8", [](C* c) { c->add_bytes_contents("1"); })), kInvalid);
}

TEST(ToInferenceRequestTest, TypedFp16AndBf16AreInvalid) {
  for (const char* datatype : {"FP16", "BF16"}) {
    SCOPED_TRACE(datatype);
    ModelInferRequest proto;
    AddInput(&proto, "x", datatype, {1})->mutable_contents()->add_fp32_contents(1.0f);
    EXPECT_EQ(Convert(proto), kInvalid);
  }
}

TEST(ToInferenceRequestTest, TwoContentsFieldsSetIsInvalid) {
  ModelInferRequest proto;
  auto* c = AddInput(&proto, "x", "FP32", {1})->mutable_contents();
  c->add_fp32_contents(1.0f);
  c->add_fp64_contents(1.0);
  EXPECT_EQ(Convert(proto), kInvalid);
}

TEST(ToInferenceRequestTest, ElementCountMismatchIsInvalid) {
  ModelInferRequest fewer;
  auto* c = AddInput(&fewer, "x", "FP32", {3})->mutable_contents();
  c->add_fp32_contents(1);
  c->add_fp32_contents(2);
  EXPECT_EQ(Convert(fewer), kInvalid);

  ModelInferRequest more;
  auto* s = AddInput(&more, "s", "BYTES", {1})->mutable_contents();
  s->add_bytes_contents("a");
  s->add_bytes_contents("b");
  EXPECT_EQ(Convert(more), kInvalid);

  ModelInferRequest none;
  AddInput(&none, "x", "INT32", {2});
  EXPECT_EQ(Convert(none), kInvalid);
}

TEST(ToInferenceRequestTest, UnknownDatatypeIsInvalid) {
  for (const char* datatype : {"FLOAT", "fp32", "", "TYPE_FP32", "STRING"}) {
    SCOPED_TRACE(datatype);
    ModelInferRequest proto;
    AddInput(&proto, "x", datatype, {1});
    *proto.add_raw_input_contents() = Bytes<float>({1});
    EXPECT_EQ(Convert(proto), kInvalid);
  }
}

TEST(ToInferenceRequestTest, NegativeOrOverflowingShapeIsInvalid) {
  ModelInferRequest negative;
  AddInput(&negative, "x", "FP32", {-1});
  EXPECT_EQ(Convert(negative), kInvalid);

  ModelInferRequest overflow;
  AddInput(&overflow, "x", "FP32", {int64_t{1} << 40, int64_t{1} << 40});
  *overflow.add_raw_input_contents() = "";
  EXPECT_EQ(Convert(overflow), kInvalid);
}

// --- parameters ---

TEST(ToInferenceRequestTest, PriorityAndTimeoutParameters) {
  ModelInferRequest proto;
  AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
  (*proto.mutable_parameters())["priority"].set_int64_param(3);
  (*proto.mutable_parameters())["timeout"].set_uint64_param(250000);
  (*proto.mutable_parameters())["sequence_id"].set_string_param("ignored");
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.priority, 3u);
  EXPECT_EQ(request.timeout_us, 250000u);
}

TEST(ToInferenceRequestTest, PriorityAsUint64AndTimeoutAsInt64) {
  ModelInferRequest proto;
  AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
  (*proto.mutable_parameters())["priority"].set_uint64_param(2);
  (*proto.mutable_parameters())["timeout"].set_int64_param(1000);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.priority, 2u);
  EXPECT_EQ(request.timeout_us, 1000u);
}

TEST(ToInferenceRequestTest, HugePriorityIsClamped) {
  ModelInferRequest proto;
  AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
  (*proto.mutable_parameters())["priority"].set_uint64_param(UINT64_MAX);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.priority, UINT32_MAX);
}

TEST(ToInferenceRequestTest, WrongParameterTypeIsInvalid) {
  for (const char* key : {"priority", "timeout"}) {
    SCOPED_TRACE(key);
    std::vector<inference::InferParameter> bad(4);
    bad[0].set_string_param("1");
    bad[1].set_bool_param(true);
    bad[2].set_double_param(1.0);
    bad[3].set_int64_param(-1);
    for (const auto& param : bad) {
      ModelInferRequest proto;
      AddInput(&proto, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
      (*proto.mutable_parameters())[key] = param;
      EXPECT_EQ(Convert(proto), kInvalid) << param.DebugString();
    }
    ModelInferRequest unset;
    AddInput(&unset, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.0f);
    (*unset.mutable_parameters())[key];  // no value chosen
    EXPECT_EQ(Convert(unset), kInvalid);
  }
}

// --- responses ---

TEST(ToModelInferResponseTest, OutputsGoToRawContentsWithShapeAndDatatype) {
  core::InferenceResponse response;
  response.model_name = "m";
  response.model_version = 3;
  response.id = "req-9";
  response.outputs.push_back(
      {"y", core::Tensor::Owned(DataType::kFp32, {2, 2}, Bytes<float>({1, 2, 3, 4}))});
  std::string framed;
  core::AppendBytesElement("hi", &framed);
  response.outputs.push_back({"s", core::Tensor::Owned(DataType::kBytes, {1}, framed)});
  response.outputs.push_back({"e", core::Tensor::Owned(DataType::kInt64, {0}, "")});

  inference::ModelInferResponse proto;
  ToModelInferResponse(response, &proto);
  EXPECT_EQ(proto.model_name(), "m");
  EXPECT_EQ(proto.model_version(), "3");
  EXPECT_EQ(proto.id(), "req-9");
  ASSERT_EQ(proto.outputs_size(), 3);
  ASSERT_EQ(proto.raw_output_contents_size(), 3);

  EXPECT_EQ(proto.outputs(0).name(), "y");
  EXPECT_EQ(proto.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(proto.outputs(0).shape().begin(), proto.outputs(0).shape().end()),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(proto.raw_output_contents(0), Bytes<float>({1, 2, 3, 4}));
  EXPECT_FALSE(proto.outputs(0).has_contents());

  EXPECT_EQ(proto.outputs(1).name(), "s");
  EXPECT_EQ(proto.outputs(1).datatype(), "BYTES");
  EXPECT_EQ(proto.raw_output_contents(1), framed);

  EXPECT_EQ(proto.outputs(2).datatype(), "INT64");
  EXPECT_EQ(proto.outputs(2).shape_size(), 1);
  EXPECT_EQ(proto.raw_output_contents(2), "");
}

TEST(ToModelInferResponseTest, RoundTripsThroughARequest) {
  core::InferenceResponse response;
  response.model_name = "m";
  response.outputs.push_back(
      {"y", core::Tensor::Owned(DataType::kInt16, {3}, Bytes<int16_t>({-1, 0, 7}))});
  inference::ModelInferResponse out;
  ToModelInferResponse(response, &out);

  // Feed the response back as a raw request: the bytes survive unchanged.
  ModelInferRequest proto;
  AddInput(&proto, out.outputs(0).name(), out.outputs(0).datatype(), {3});
  *proto.add_raw_input_contents() = out.raw_output_contents(0);
  core::InferenceRequest request;
  ASSERT_TRUE(ToInferenceRequest(proto, &request).ok());
  EXPECT_EQ(request.inputs[0].tensor.bytes(), Bytes<int16_t>({-1, 0, 7}));
  EXPECT_EQ(request.inputs[0].tensor.dtype(), DataType::kInt16);
}

}  // namespace
}  // namespace gridserve::server
