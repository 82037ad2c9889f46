#include "runtime/repository/request_validator.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/core/tensor.h"
#include "runtime/repository/model_config.h"

namespace gridserve::repository {
namespace {

using core::DataType;
using core::Shape;
using core::Tensor;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// Batching model: dim 0 of every input is the batch dim (max 4).
constexpr char kBatching[] = R"pb(
  max_batch_size: 4 input
  [ {
    name: "a"
    data_type: TYPE_FP32
    dims: [ 2, -1 ]
  }
    , {
      name: "b"
      data_type: TYPE_INT64
      dims: [ 3 ]
    }
    , {
      name: "s"
      data_type: TYPE_STRING
      dims: [ 2 ]
    }
    , {
      name: "opt"
      data_type: TYPE_FP32
      dims: [ 1 ]
      optional: true
    }] output
  [ {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 1 ]
  }
    , {
      name: "z"
      data_type: TYPE_STRING
      dims: [ -1 ]
    }]
)pb";

// Non-batching model: shapes are exactly the config dims.
constexpr char kNoBatch[] = R"pb(
  max_batch_size: 0 input
  [ {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 2, 3 ]
  }
    , {
      name: "v"
      data_type: TYPE_STRING
      dims: [ -1 ]
    }] output
  [ {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 2, 3 ]
  }]
)pb";

inference::ModelConfig Config(const char* text) {
  auto config = ParseModelConfig(text, "m");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(inference::ModelConfig());
}

// A numeric tensor of `shape` with exactly the right number of (zero) bytes.
Tensor Numeric(DataType type, Shape shape) {
  int64_t count = core::ElementCount(shape).value();
  return Tensor::Owned(type, std::move(shape),
                       std::string(count * core::DataTypeByteSize(type), '\0'));
}

Tensor Strings(Shape shape, const std::vector<std::string>& elements) {
  std::string framed;
  for (const std::string& e : elements) core::AppendBytesElement(e, &framed);
  return Tensor::Owned(DataType::kBytes, std::move(shape), std::move(framed));
}

// A valid request for kBatching with batch size `n`.
core::InferenceRequest BatchingRequest(int64_t n) {
  core::InferenceRequest r;
  r.model_name = "m";
  r.inputs.push_back({"a", Numeric(DataType::kFp32, {n, 2, 5})});
  r.inputs.push_back({"b", Numeric(DataType::kInt64, {n, 3})});
  r.inputs.push_back({"s", Strings({n, 2}, std::vector<std::string>(2 * n, "str"))});
  return r;
}

core::InferenceRequest NoBatchRequest() {
  core::InferenceRequest r;
  r.model_name = "m";
  r.inputs.push_back({"x", Numeric(DataType::kFp32, {2, 3})});
  r.inputs.push_back({"v", Strings({3}, {"p", "", "q"})});
  return r;
}

class RequestValidatorTest : public ::testing::Test {
 protected:
  absl::StatusCode Check(core::InferenceRequest* r) { return ValidateRequest(batching_, r).code(); }
  absl::StatusCode CheckNoBatch(core::InferenceRequest* r) {
    return ValidateRequest(nobatch_, r).code();
  }
  static Tensor& Input(core::InferenceRequest& r, const std::string& name) {
    for (auto& t : r.inputs) {
      if (t.name == name) return t.tensor;
    }
    ADD_FAILURE() << "no input " << name;
    return r.inputs[0].tensor;
  }

  const inference::ModelConfig batching_ = Config(kBatching);
  const inference::ModelConfig nobatch_ = Config(kNoBatch);
};

// --- accepted requests and batch_size ---

TEST_F(RequestValidatorTest, ValidBatchingRequestSetsBatchSizeFromDimZero) {
  for (int64_t n : {1, 3, 4}) {
    SCOPED_TRACE(n);
    core::InferenceRequest r = BatchingRequest(n);
    r.batch_size = 99;
    ASSERT_TRUE(ValidateRequest(batching_, &r).ok()) << ValidateRequest(batching_, &r);
    EXPECT_EQ(r.batch_size, n);
  }
}

TEST_F(RequestValidatorTest, ValidNonBatchingRequestHasBatchSizeOne) {
  core::InferenceRequest r = NoBatchRequest();
  r.batch_size = 99;
  absl::Status s = ValidateRequest(nobatch_, &r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r.batch_size, 1);
}

TEST_F(RequestValidatorTest, OptionalInputAbsentIsAccepted) {
  core::InferenceRequest r = BatchingRequest(2);
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
}

TEST_F(RequestValidatorTest, OptionalInputPresentIsAccepted) {
  core::InferenceRequest r = BatchingRequest(2);
  r.inputs.push_back({"opt", Numeric(DataType::kFp32, {2, 1})});
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
  EXPECT_EQ(r.batch_size, 2);
}

TEST_F(RequestValidatorTest, VariableDimsAcceptAnySize) {
  for (int64_t d : {0, 1, 7, 1000}) {
    SCOPED_TRACE(d);
    core::InferenceRequest r = BatchingRequest(1);
    Input(r, "a") = Numeric(DataType::kFp32, {1, 2, d});
    EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
  }
  core::InferenceRequest r = NoBatchRequest();
  Input(r, "v") = Strings({0}, {});
  EXPECT_TRUE(ValidateRequest(nobatch_, &r).ok());
}

TEST_F(RequestValidatorTest, InputOrderDoesNotMatter) {
  core::InferenceRequest r = BatchingRequest(2);
  std::swap(r.inputs[0], r.inputs[2]);
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
}

TEST_F(RequestValidatorTest, RequestedOutputSubsetIsAccepted) {
  core::InferenceRequest r = BatchingRequest(1);
  r.requested_outputs = {"z"};
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
  r.requested_outputs = {"z", "y"};
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
}

TEST_F(RequestValidatorTest, NonUtf8BytesAreAccepted) {
  core::InferenceRequest r = BatchingRequest(1);
  Input(r, "s") = Strings({1, 2}, {std::string("\xff\x00\xfe", 3), "\x80"});
  EXPECT_TRUE(ValidateRequest(batching_, &r).ok());
}

// --- names ---

TEST_F(RequestValidatorTest, UnknownInputIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  r.inputs.push_back({"nope", Numeric(DataType::kFp32, {1, 1})});
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, DuplicateInputIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  r.inputs.push_back(r.inputs[1]);
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, MissingRequiredInputIsInvalid) {
  for (size_t drop = 0; drop < 3; ++drop) {
    SCOPED_TRACE(drop);
    core::InferenceRequest r = BatchingRequest(1);
    r.inputs.erase(r.inputs.begin() + drop);
    EXPECT_EQ(Check(&r), kInvalid);
  }
}

TEST_F(RequestValidatorTest, NoInputsAtAllIsInvalid) {
  core::InferenceRequest r;
  EXPECT_EQ(Check(&r), kInvalid);
  EXPECT_EQ(CheckNoBatch(&r), kInvalid);
}

// --- datatype and shape ---

TEST_F(RequestValidatorTest, DatatypeMismatchIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  Input(r, "a") = Numeric(DataType::kFp64, {1, 2, 5});
  EXPECT_EQ(Check(&r), kInvalid);

  core::InferenceRequest r2 = BatchingRequest(1);
  Input(r2, "b") = Numeric(DataType::kInt32, {1, 3});
  EXPECT_EQ(Check(&r2), kInvalid);

  core::InferenceRequest r3 = BatchingRequest(1);
  Input(r3, "s") = Numeric(DataType::kUint8, {1, 2});
  EXPECT_EQ(Check(&r3), kInvalid);

  core::InferenceRequest r4 = BatchingRequest(1);
  Input(r4, "b") = Strings({1, 3}, {"1", "2", "3"});
  EXPECT_EQ(Check(&r4), kInvalid);
}

TEST_F(RequestValidatorTest, RankMismatchIsInvalid) {
  core::InferenceRequest fewer = BatchingRequest(1);
  Input(fewer, "b") = Numeric(DataType::kInt64, {3});  // batch dim left out
  EXPECT_EQ(Check(&fewer), kInvalid);

  core::InferenceRequest more = BatchingRequest(1);
  Input(more, "b") = Numeric(DataType::kInt64, {1, 3, 1});
  EXPECT_EQ(Check(&more), kInvalid);

  core::InferenceRequest nb = NoBatchRequest();
  Input(nb, "x") = Numeric(DataType::kFp32, {1, 2, 3});  // a batch dim it does not have
  EXPECT_EQ(CheckNoBatch(&nb), kInvalid);

  core::InferenceRequest scalar = NoBatchRequest();
  Input(scalar, "x") = Numeric(DataType::kFp32, {});
  EXPECT_EQ(CheckNoBatch(&scalar), kInvalid);
}

TEST_F(RequestValidatorTest, FixedDimMismatchIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  Input(r, "a") = Numeric(DataType::kFp32, {1, 3, 5});  // config dims [2, -1]
  EXPECT_EQ(Check(&r), kInvalid);

  core::InferenceRequest r2 = BatchingRequest(1);
  Input(r2, "b") = Numeric(DataType::kInt64, {1, 4});
  EXPECT_EQ(Check(&r2), kInvalid);

  core::InferenceRequest nb = NoBatchRequest();
  Input(nb, "x") = Numeric(DataType::kFp32, {3, 2});
  EXPECT_EQ(CheckNoBatch(&nb), kInvalid);
}

TEST_F(RequestValidatorTest, BatchSizeZeroIsInvalid) {
  core::InferenceRequest r = BatchingRequest(0);
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, BatchAboveMaxBatchSizeIsInvalid) {
  core::InferenceRequest r = BatchingRequest(5);
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, BatchDimsDifferingBetweenInputsAreInvalid) {
  core::InferenceRequest r = BatchingRequest(2);
  Input(r, "b") = Numeric(DataType::kInt64, {3, 3});
  EXPECT_EQ(Check(&r), kInvalid);

  core::InferenceRequest opt = BatchingRequest(2);
  opt.inputs.push_back({"opt", Numeric(DataType::kFp32, {1, 1})});
  EXPECT_EQ(Check(&opt), kInvalid);
}

TEST_F(RequestValidatorTest, NegativeDimIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  Input(r, "a") = Tensor::Owned(DataType::kFp32, {1, 2, -1}, "");
  EXPECT_EQ(Check(&r), kInvalid);

  core::InferenceRequest batch = BatchingRequest(1);
  Input(batch, "b") = Tensor::Owned(DataType::kInt64, {-1, 3}, "");
  EXPECT_EQ(Check(&batch), kInvalid);

  core::InferenceRequest nb = NoBatchRequest();
  Input(nb, "v") = Tensor::Owned(DataType::kBytes, {-3}, "");
  EXPECT_EQ(CheckNoBatch(&nb), kInvalid);
}

TEST_F(RequestValidatorTest, OverflowingShapeIsInvalid) {
  constexpr int64_t kBig = int64_t{1} << 62;
  core::InferenceRequest r = BatchingRequest(1);
  Input(r, "a") = Tensor::Owned(DataType::kFp32, {1, 2, kBig}, "");  // 2^63 elements
  EXPECT_EQ(Check(&r), kInvalid);

  // Fits int64 as a count, but not as a byte count.
  core::InferenceRequest bytes = BatchingRequest(1);
  Input(bytes, "a") = Tensor::Owned(DataType::kFp32, {1, 2, kBig / 2}, "");
  EXPECT_EQ(Check(&bytes), kInvalid);

  // A BYTES tensor claiming 2^62 elements in a tiny buffer fails without allocating for them.
  core::InferenceRequest strings = NoBatchRequest();
  Input(strings, "v") = Strings({kBig}, {"a"});
  EXPECT_EQ(CheckNoBatch(&strings), kInvalid);
}

// --- byte counts and BYTES framing ---

TEST_F(RequestValidatorTest, RawByteCountMismatchIsInvalid) {
  core::InferenceRequest fewer = BatchingRequest(1);
  Input(fewer, "a") = Tensor::Owned(DataType::kFp32, {1, 2, 5}, std::string(39, '\0'));
  EXPECT_EQ(Check(&fewer), kInvalid);

  core::InferenceRequest more = BatchingRequest(1);
  Input(more, "b") = Tensor::Owned(DataType::kInt64, {1, 3}, std::string(25, '\0'));
  EXPECT_EQ(Check(&more), kInvalid);

  core::InferenceRequest nb = NoBatchRequest();
  Input(nb, "x") = Tensor::Owned(DataType::kFp32, {2, 3}, "");
  EXPECT_EQ(CheckNoBatch(&nb), kInvalid);
}

TEST_F(RequestValidatorTest, BytesLengthPrefixPastTheEndIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  std::string framed;
  core::AppendBytesElement("ok", &framed);
  uint32_t len = 100;
  char prefix[4];
  std::memcpy(prefix, &len, 4);
  framed.append(prefix, 4);
  framed.append("short");
  Input(r, "s") = Tensor::Owned(DataType::kBytes, {1, 2}, framed);
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, BytesTruncatedPrefixIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  std::string framed;
  core::AppendBytesElement("ok", &framed);
  framed.append("\x01\x00", 2);
  Input(r, "s") = Tensor::Owned(DataType::kBytes, {1, 2}, framed);
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, BytesElementCountMismatchIsInvalid) {
  core::InferenceRequest fewer = BatchingRequest(1);
  Input(fewer, "s") = Strings({1, 2}, {"only one"});
  EXPECT_EQ(Check(&fewer), kInvalid);

  core::InferenceRequest more = BatchingRequest(1);
  Input(more, "s") = Strings({1, 2}, {"a", "b", "c"});
  EXPECT_EQ(Check(&more), kInvalid);
}

// --- requested outputs ---

TEST_F(RequestValidatorTest, UnknownRequestedOutputIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  r.requested_outputs = {"y", "nope"};
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, InputNameAsRequestedOutputIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  r.requested_outputs = {"a"};
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, DuplicateRequestedOutputIsInvalid) {
  core::InferenceRequest r = BatchingRequest(1);
  r.requested_outputs = {"y", "y"};
  EXPECT_EQ(Check(&r), kInvalid);
}

TEST_F(RequestValidatorTest, ClassificationNeedsAKnownNumericOutputAndACount) {
  core::InferenceRequest r = BatchingRequest(1);
  r.classification["y"] = 3;
  EXPECT_EQ(Check(&r), absl::StatusCode::kOk);
  r = BatchingRequest(1);
  r.classification["z"] = 1;  // BYTES
  EXPECT_EQ(Check(&r), kInvalid);
  r = BatchingRequest(1);
  r.classification["nope"] = 1;
  EXPECT_EQ(Check(&r), kInvalid);
  r = BatchingRequest(1);
  r.classification["y"] = 0;
  EXPECT_EQ(Check(&r), kInvalid);
}

}  // namespace
}  // namespace gridserve::repository
