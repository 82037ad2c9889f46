#include "client/perf/request_builder.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "client/datatype.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::client::perf {
namespace {

using ::testing::ElementsAre;

inference::ModelMetadataResponse Metadata(
    std::initializer_list<std::tuple<const char*, const char*, std::vector<int64_t>>> inputs) {
  inference::ModelMetadataResponse m;
  m.set_name("m");
  for (const auto& [name, datatype, shape] : inputs) {
    auto* t = m.add_inputs();
    t->set_name(name);
    t->set_datatype(datatype);
    for (int64_t d : shape) t->add_shape(d);
  }
  return m;
}

RequestSpec Spec(bool batching, int64_t batch = 1) {
  RequestSpec spec;
  spec.model = "m";
  spec.batching = batching;
  spec.batch_size = batch;
  return spec;
}

TEST(LooksBatchingTest, EveryInputNeedsALeadingMinusOne) {
  EXPECT_TRUE(LooksBatching(Metadata({{"x", "FP32", {-1, 4}}, {"y", "FP32", {-1}}})));
  EXPECT_FALSE(LooksBatching(Metadata({{"x", "FP32", {-1, 4}}, {"y", "FP32", {4}}})));
  EXPECT_FALSE(LooksBatching(Metadata({{"x", "FP32", {}}})));
  EXPECT_FALSE(LooksBatching(Metadata({})));
}

TEST(BuildRequestTest, BatchDimensionAndRawSizes) {
  auto request = BuildRequest(
      Metadata({{"x", "FP32", {-1, 1024}}, {"i", "INT64", {-1, 2}}, {"b", "BOOL", {-1, 3}}}),
      Spec(true, 8));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model_name(), "m");
  ASSERT_EQ(request->inputs_size(), 3);
  ASSERT_EQ(request->raw_input_contents_size(), 3);
  EXPECT_THAT(request->inputs(0).shape(), ElementsAre(8, 1024));
  EXPECT_EQ(request->raw_input_contents(0).size(), 8u * 1024 * 4);
  EXPECT_EQ(request->raw_input_contents(1).size(), 8u * 2 * 8);
  EXPECT_EQ(request->raw_input_contents(2).size(), 8u * 3);
  for (char c : request->raw_input_contents(2)) EXPECT_TRUE(c == 0 || c == 1);
  EXPECT_EQ(request->inputs(1).datatype(), "INT64");
}

TEST(BuildRequestTest, RandomIsDeterministicAndZeroIsZero) {
  auto metadata = Metadata({{"x", "FP32", {-1, 16}}});
  auto a = BuildRequest(metadata, Spec(true));
  auto b = BuildRequest(metadata, Spec(true));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->raw_input_contents(0), b->raw_input_contents(0));
  EXPECT_NE(a->raw_input_contents(0), std::string(64, '\0'));
  RequestSpec zero = Spec(true);
  zero.input_data = InputData::kZero;
  EXPECT_EQ(BuildRequest(metadata, zero)->raw_input_contents(0), std::string(64, '\0'));
}

TEST(BuildRequestTest, BytesAreShortFramedStrings) {
  auto request = BuildRequest(Metadata({{"text", "BYTES", {-1, 1}}}), Spec(true, 5));
  ASSERT_TRUE(request.ok()) << request.status();
  auto elements = SplitBytesElements(request->raw_input_contents(0), 5);
  ASSERT_TRUE(elements.ok()) << elements.status();
  for (absl::string_view s : *elements) {
    EXPECT_GE(s.size(), 1u);
    EXPECT_LE(s.size(), 16u);
    for (char c : s) EXPECT_TRUE(c >= 'a' && c <= 'z');
  }
}

TEST(BuildRequestTest, VariableDimsComeFromShape) {
  auto metadata = Metadata({{"x", "FP32", {-1, -1, 3}}});
  EXPECT_EQ(BuildRequest(metadata, Spec(true)).status().code(), absl::StatusCode::kInvalidArgument);
  RequestSpec spec = Spec(true, 2);
  spec.shapes["x"] = {7, 3};
  auto request = BuildRequest(metadata, spec);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->inputs(0).shape(), ElementsAre(2, 7, 3));
  spec.shapes["x"] = {7, 4};  // contradicts the fixed dim
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.shapes["x"] = {7};  // wrong rank
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.shapes = {{"nope", {1}}};
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildRequestTest, NonBatchingModel) {
  auto metadata = Metadata({{"x", "FP32", {-1}}});
  RequestSpec spec = Spec(false);
  spec.shapes["x"] = {5};
  auto request = BuildRequest(metadata, spec);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->inputs(0).shape(), ElementsAre(5));
  spec.batch_size = 2;
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildRequestTest, SizeLimitCheckedBeforeAllocating) {
  RequestSpec spec = Spec(true, 1 << 20);
  spec.max_request_bytes = 1 << 20;
  EXPECT_EQ(BuildRequest(Metadata({{"x", "FP32", {-1, 1 << 20}}}), spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Overflowing element counts are refused, not wrapped.
  spec.batch_size = 1;
  spec.shapes["x"] = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_EQ(BuildRequest(Metadata({{"x", "FP32", {-1, -1, -1}}}), spec).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildRequestTest, UnknownDatatype) {
  EXPECT_EQ(BuildRequest(Metadata({{"x", "FP8", {-1, 1}}}), Spec(true)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class JsonFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    // One file per test: ctest runs the tests of this binary in parallel processes.
    const std::string path = ::testing::TempDir() + "/perf_inputs_" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                             ".json";
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(JsonFileTest, InputsByName) {
  RequestSpec spec = Spec(true);
  spec.input_data = InputData::kFile;
  spec.input_file = Write(R"({"x": [[1.5, 2.5]], "s": [["hi"]]})");
  auto request = BuildRequest(Metadata({{"x", "FP32", {-1, 2}}, {"s", "BYTES", {-1, 1}}}), spec);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->inputs(0).shape(), ElementsAre(1, 2));
  float values[2];
  ASSERT_EQ(request->raw_input_contents(0).size(), sizeof(values));
  std::memcpy(values, request->raw_input_contents(0).data(), sizeof(values));
  EXPECT_EQ(values[0], 1.5f);
  EXPECT_EQ(values[1], 2.5f);
  EXPECT_EQ(request->raw_input_contents(1), std::string("\x02\x00\x00\x00hi", 6));
}

TEST_F(JsonFileTest, MissingExtraAndBadFiles) {
  RequestSpec spec = Spec(true);
  spec.input_data = InputData::kFile;
  auto metadata = Metadata({{"x", "FP32", {-1, 2}}});
  spec.input_file = Write(R"({"y": [[1, 2]]})");
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.input_file = Write(R"({"x": [[1, 2]], "extra": [1]})");
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.input_file = Write("[1, 2]");
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.input_file = ::testing::TempDir() + "/does_not_exist.json";
  EXPECT_EQ(BuildRequest(metadata, spec).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gridserve::client::perf
