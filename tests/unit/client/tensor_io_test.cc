#include "client/tensor_io.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/datatype.h"
#include "client/file.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using OutputTensor = inference::ModelInferResponse::InferOutputTensor;

template <typename T>
std::string Raw(std::initializer_list<T> values) {
  std::string raw;
  for (T value : values) raw.append(reinterpret_cast<const char*>(&value), sizeof(T));
  return raw;
}

std::string Framed(std::initializer_list<std::string> elements) {
  std::string raw;
  for (const std::string& element : elements) EXPECT_TRUE(AppendBytesElement(element, &raw).ok());
  return raw;
}

std::vector<int64_t> ShapeOf(const InputTensor& input) {
  return {input.tensor.shape().begin(), input.tensor.shape().end()};
}

OutputTensor Output(const std::string& name, const std::string& datatype,
                    std::initializer_list<int64_t> shape) {
  OutputTensor output;
  output.set_name(name);
  output.set_datatype(datatype);
  for (int64_t dim : shape) output.add_shape(dim);
  return output;
}

std::string Print(const OutputTensor& output, absl::string_view raw,
                  OutputJsonOptions options = {}) {
  absl::StatusOr<std::string> json = OutputToJson(output, raw, options);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : std::string();
}

// The "data" part of a printed tensor.
std::string Data(const OutputTensor& output, absl::string_view raw,
                 OutputJsonOptions options = {}) {
  const std::string json = Print(output, raw, options);
  const size_t start = json.find("\"data\": ");
  if (start == std::string::npos || json.back() != '}') return "<bad json: " + json + ">";
  return json.substr(start + 8, json.size() - start - 9);
}

// ---------------------------------------------------------------------------------------------
// JSON input

TEST(InputFromJsonTest, ShapeComesFromNesting) {
  absl::StatusOr<InputTensor> input = InputFromJson("x", "[[1, 2, 3], [4, 5, 6]]", "FP32");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->tensor.name(), "x");
  EXPECT_EQ(input->tensor.datatype(), "FP32");
  EXPECT_THAT(ShapeOf(*input), ElementsAre(2, 3));
  EXPECT_EQ(input->raw_contents, Raw<float>({1, 2, 3, 4, 5, 6}));

  input = InputFromJson("x", "[[[1]], [[2]]]", "INT64");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(ShapeOf(*input), ElementsAre(2, 1, 1));
  EXPECT_EQ(input->raw_contents, Raw<int64_t>({1, 2}));

  input = InputFromJson("x", "7", "INT32");  // A scalar is a 0-d tensor.
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(ShapeOf(*input), ElementsAre());
  EXPECT_EQ(input->raw_contents, Raw<int32_t>({7}));

  input = InputFromJson("x", "[]", "FP32");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(ShapeOf(*input), ElementsAre(0));
  EXPECT_EQ(input->raw_contents, "");

  input = InputFromJson("x", "[[], []]", "FP32");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(ShapeOf(*input), ElementsAre(2, 0));
}

TEST(InputFromJsonTest, RejectsRaggedArrays) {
  for (const char* json : {"[[1, 2], [3]]", "[[1, 2], 3]", "[1, [2]]", "[[1], [2, 3]]",
                           "[[[1, 2]], [[3, 4], [5, 6]]]", "[[], [1]]", "[[1], []]"}) {
    absl::StatusOr<InputTensor> input = InputFromJson("x", json, "FP32");
    EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(input.status().message()), HasSubstr("ragged")) << json;
    EXPECT_THAT(std::string(input.status().message()), HasSubstr("input 'x'")) << json;
  }
}

TEST(InputFromJsonTest, RejectsBadJsonAndNonScalars) {
  for (const char* json :
       {"", "[1, 2", "[1 2]", "hello", "[1] trailing", "[null]", "[{\"a\": 1}]", "{\"a\": [1]}"}) {
    EXPECT_EQ(InputFromJson("x", json, "FP32").status().code(), absl::StatusCode::kInvalidArgument)
        << json;
  }
  EXPECT_EQ(InputFromJson("x", "[1]", "FLOAT").status().code(), absl::StatusCode::kInvalidArgument);
  // Deep nesting is bounded.
  const std::string deep = std::string(100, '[') + "1" + std::string(100, ']');
  EXPECT_EQ(InputFromJson("x", deep, "FP32").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(InputFromJsonTest, IsStrictJson) {
  for (const char* json : {"[['x']]", "[1,]", "[1] // comment", "[01]", "[.5]", "[1.]", "[+1]",
                           "[\"a\tb\"]", "[\"\\q\"]", "[NaN]", "[1e]"}) {
    absl::StatusOr<InputTensor> input = InputFromJson("x", json, "BYTES");
    EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(input.status().message()), HasSubstr("invalid JSON")) << json;
  }
  EXPECT_TRUE(InputFromJson("x", " [ -0.5e+3 , 1E2 ] ", "FP32").ok());
  EXPECT_TRUE(InputFromJson("x", "[\"\\u00e9\\n\"]", "BYTES").ok());
}

TEST(SliceRowsTest, KeepsRowsOfFixedSizeAndBytesInputs) {
  absl::StatusOr<InputTensor> x = InputFromJson("x", "[[1, 2], [3, 4], [5, 6]]", "INT32");
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(SliceRows(1, 2, &*x).ok());
  EXPECT_EQ(x->tensor.shape(0), 1);
  std::vector<int32_t> values(2);
  ASSERT_EQ(x->raw_contents.size(), 8u);
  std::memcpy(values.data(), x->raw_contents.data(), 8);
  EXPECT_EQ(values, (std::vector<int32_t>{3, 4}));

  absl::StatusOr<InputTensor> s = InputFromJson("s", "[[\"a\", \"bb\"], [\"ccc\", \"\"]]", "BYTES");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(SliceRows(1, -1, &*s).ok());
  EXPECT_EQ(s->tensor.shape(0), 1);
  EXPECT_EQ(s->raw_contents, std::string("\x03\0\0\0ccc\0\0\0\0", 11));

  absl::StatusOr<InputTensor> y = InputFromJson("y", "[1, 2]", "FP32");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(SliceRows(1, 3, &*y).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SliceRows(2, -1, &*y).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<InputTensor> scalar = InputFromJson("z", "7", "FP32");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(SliceRows(0, 1, &*scalar).code(), absl::StatusCode::kInvalidArgument);
}

TEST(InputFromJsonTest, StringsBecomeBytes) {
  absl::StatusOr<InputTensor> input =
      InputFromJson("s", R"([["hello", "h\u00e9"], ["", "tab\there"]])", "BYTES");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->tensor.datatype(), "BYTES");
  EXPECT_THAT(ShapeOf(*input), ElementsAre(2, 2));
  EXPECT_EQ(input->raw_contents, Framed({"hello", "h\xc3\xa9", "", "tab\there"}));

  EXPECT_EQ(InputFromJson("s", "[\"a\", 1]", "BYTES").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InputFromJson("x", "[\"1.5\"]", "FP32").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InputFromJson("x", "[\"1\"]", "INT32").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InputFromJsonTest, ChecksIntegerRanges) {
  EXPECT_EQ(InputFromJson("x", "[0, 255]", "UINT8")->raw_contents, Raw<uint8_t>({0, 255}));
  EXPECT_EQ(InputFromJson("x", "[-128, 127]", "INT8")->raw_contents, Raw<int8_t>({-128, 127}));
  EXPECT_EQ(InputFromJson("x", "[-32768, 65535]", "INT32")->raw_contents,
            Raw<int32_t>({-32768, 65535}));
  EXPECT_EQ(InputFromJson("x", "[65535]", "UINT16")->raw_contents, Raw<uint16_t>({65535}));
  EXPECT_EQ(InputFromJson("x", "[4294967295]", "UINT32")->raw_contents,
            Raw<uint32_t>({4294967295u}));
  EXPECT_EQ(InputFromJson("x", "[-9007199254740991, 9007199254740991]", "INT64")->raw_contents,
            Raw<int64_t>({-9007199254740991LL, 9007199254740991LL}));
  EXPECT_EQ(InputFromJson("x", "[9007199254740991]", "UINT64")->raw_contents,
            Raw<uint64_t>({9007199254740991ULL}));
  for (const auto& [json, type] : std::vector<std::pair<std::string, std::string>>{
           {"[256]", "UINT8"},
           {"[-1]", "UINT8"},
           {"[128]", "INT8"},
           {"[32768]", "INT16"},
           {"[65536]", "UINT16"},
           {"[2147483648]", "INT32"},
           {"[-1]", "UINT32"},
           {"[1.5]", "INT32"},
           {"[1e300]", "INT64"},
           {"[9007199254740992]", "INT64"},  // 2^53: not exact in a JSON double.
           {"[9007199254740993]", "INT64"},  // Rounds to 2^53 while parsing.
           {"[-9007199254740993]", "INT64"},
           {"[-1]", "UINT64"},
           {"[true]", "INT32"},
       }) {
    EXPECT_EQ(InputFromJson("x", json, type).status().code(), absl::StatusCode::kInvalidArgument)
        << json << " " << type;
  }
}

TEST(InputFromJsonTest, BoolsAndFloats) {
  EXPECT_EQ(InputFromJson("b", "[true, false, 1, 0]", "BOOL")->raw_contents,
            std::string("\1\0\1\0", 4));
  EXPECT_EQ(InputFromJson("b", "[2]", "BOOL").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InputFromJson("b", "[\"true\"]", "BOOL").status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(InputFromJson("f", "[1.5, -2, 1e-3]", "FP64")->raw_contents,
            Raw<double>({1.5, -2, 1e-3}));
  EXPECT_EQ(InputFromJson("f", "[1e300]", "FP64")->raw_contents, Raw<double>({1e300}));
  EXPECT_EQ(InputFromJson("f", "[1e300]", "FP32").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InputFromJson("f", "[1, 0.5, 65504]", "FP16")->raw_contents,
            Raw<uint16_t>({0x3c00, 0x3800, 0x7bff}));
  EXPECT_EQ(InputFromJson("f", "[70000]", "FP16").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InputFromJson("f", "[1, -2]", "BF16")->raw_contents, Raw<uint16_t>({0x3f80, 0xc000}));

  absl::StatusOr<InputTensor> specials =
      InputFromJson("f", R"(["NaN", "Infinity", "-Infinity"])", "FP32");
  ASSERT_TRUE(specials.ok()) << specials.status();
  float values[3];
  std::memcpy(values, specials->raw_contents.data(), sizeof(values));
  EXPECT_TRUE(std::isnan(values[0]));
  EXPECT_EQ(values[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(values[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(InputFromJson("f", R"(["Infinity"])", "FP16")->raw_contents, Raw<uint16_t>({0x7c00}));
}

// ---------------------------------------------------------------------------------------------
// Input specs and LoadInput

inference::ModelMetadataResponse Metadata() {
  inference::ModelMetadataResponse metadata;
  metadata.set_name("m");
  auto add = [&metadata](const std::string& name, const std::string& datatype) {
    auto* input = metadata.add_inputs();
    input->set_name(name);
    input->set_datatype(datatype);
    input->add_shape(-1);
  };
  add("x", "FP32");
  add("s", "BYTES");
  add("i", "INT64");
  return metadata;
}

TEST(InputSpecTest, SplitsAtTheFirstEquals) {
  absl::StatusOr<InputSpec> spec = ParseInputSpec("x=[[1, 2]]");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "x");
  EXPECT_EQ(spec->value, "[[1, 2]]");
  spec = ParseInputSpec("s=[\"a=b\"]");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "s");
  EXPECT_EQ(spec->value, "[\"a=b\"]");
  for (const char* bad : {"x", "=1", "x=", ""}) {
    EXPECT_EQ(ParseInputSpec(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LoadInputTest, InlineJsonUsesTheMetadataDatatype) {
  absl::StatusOr<InputTensor> input = LoadInput({"i", "[[1, 2]]"}, Metadata());
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->tensor.datatype(), "INT64");
  EXPECT_EQ(input->raw_contents, Raw<int64_t>({1, 2}));

  input = LoadInput({"s", "[\"hi\"]"}, Metadata());
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->raw_contents, Framed({"hi"}));
}

TEST(LoadInputTest, ReadsNpyAndJsonFiles) {
  const std::string npy = absl::StrCat(::testing::TempDir(), "/load_input_x.npy");
  ASSERT_TRUE(WriteNpyFile(npy, {"FP32", {1, 2}, Raw<float>({1.5f, 2.5f})}).ok());
  absl::StatusOr<InputTensor> input = LoadInput({"x", npy}, Metadata());
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->tensor.datatype(), "FP32");
  EXPECT_THAT(ShapeOf(*input), ElementsAre(1, 2));
  EXPECT_EQ(input->raw_contents, Raw<float>({1.5f, 2.5f}));

  // The file's datatype must be the model's.
  absl::StatusOr<InputTensor> mismatch = LoadInput({"i", npy}, Metadata());
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("expects INT64"));

  const std::string json = absl::StrCat(::testing::TempDir(), "/load_input_s.json");
  ASSERT_TRUE(WriteStringToFile(json, "[[\"a\", \"b\"],\n [\"c\", \"d\"]]\n").ok());
  input = LoadInput({"s", json}, Metadata());
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(ShapeOf(*input), ElementsAre(2, 2));
  EXPECT_EQ(input->raw_contents, Framed({"a", "b", "c", "d"}));

  ASSERT_TRUE(WriteStringToFile(json, "[[1, 2], [3]]").ok());
  EXPECT_EQ(LoadInput({"x", json}, Metadata()).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(WriteStringToFile(json, "not json").ok());
  EXPECT_EQ(LoadInput({"x", json}, Metadata()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoadInputTest, ReportsUnknownInputsAndMissingFiles) {
  absl::StatusOr<InputTensor> input = LoadInput({"y", "[1]"}, Metadata());
  EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(input.status().message()), HasSubstr("x, s, i"));

  EXPECT_EQ(LoadInput({"x", "/nonexistent/a.npy"}, Metadata()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadInput({"x", "/nonexistent/a.json"}, Metadata()).status().code(),
            absl::StatusCode::kNotFound);
  input = LoadInput({"x", "/nonexistent/a.txt"}, Metadata());
  EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(input.status().message()), HasSubstr("not a file name"));
}

// ---------------------------------------------------------------------------------------------
// Output printing

TEST(OutputToJsonTest, PrintsNameDatatypeShapeAndNestedData) {
  EXPECT_EQ(Print(Output("y", "FP32", {2, 2}), Raw<float>({1, 2.5f, -3, 0.1f})),
            R"({"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2.5], [-3, 0.1]]})");
  EXPECT_EQ(Data(Output("y", "INT32", {}), Raw<int32_t>({7})), "7");
  EXPECT_EQ(Data(Output("y", "INT32", {1, 1, 2}), Raw<int32_t>({7, 8})), "[[[7, 8]]]");
  EXPECT_EQ(Data(Output("y", "FP32", {0}), ""), "[]");
  EXPECT_EQ(Data(Output("y", "FP32", {2, 0}), ""), "[[], []]");
  EXPECT_EQ(Data(Output("y", "FP32", {0, 1000000}), ""), "[]");
}

TEST(OutputToJsonTest, PrintsEveryNumericDatatype) {
  EXPECT_EQ(Data(Output("y", "BOOL", {3}), std::string("\1\0\2", 3)), "[true, false, true]");
  EXPECT_EQ(Data(Output("y", "UINT8", {2}), Raw<uint8_t>({0, 255})), "[0, 255]");
  EXPECT_EQ(Data(Output("y", "UINT16", {1}), Raw<uint16_t>({65535})), "[65535]");
  EXPECT_EQ(Data(Output("y", "UINT32", {1}), Raw<uint32_t>({4294967295u})), "[4294967295]");
  EXPECT_EQ(Data(Output("y", "UINT64", {1}), Raw<uint64_t>({18446744073709551615ull})),
            "[18446744073709551615]");
  EXPECT_EQ(Data(Output("y", "INT8", {2}), Raw<int8_t>({-128, 127})), "[-128, 127]");
  EXPECT_EQ(Data(Output("y", "INT16", {1}), Raw<int16_t>({-32768})), "[-32768]");
  EXPECT_EQ(Data(Output("y", "INT32", {1}), Raw<int32_t>({-2147483647 - 1})), "[-2147483648]");
  EXPECT_EQ(Data(Output("y", "INT64", {1}), Raw<int64_t>({std::numeric_limits<int64_t>::min()})),
            "[-9223372036854775808]");
  EXPECT_EQ(Data(Output("y", "FP16", {5}), Raw<uint16_t>({0x3c00, 0xb800, 0x7bff, 0x7c00, 0x7e00})),
            R"([1, -0.5, 65504, "Infinity", "NaN"])");
  EXPECT_EQ(Data(Output("y", "BF16", {2}), Raw<uint16_t>({0x3f80, 0xff80})), R"([1, "-Infinity"])");
  // Shortest round-trip forms.
  EXPECT_EQ(Data(Output("y", "FP32", {2}), Raw<float>({0.1f, 1e20f})), "[0.1, 1e+20]");
  EXPECT_EQ(Data(Output("y", "FP64", {2}), Raw<double>({0.1, 1.0 / 3})),
            "[0.1, 0.3333333333333333]");
}

TEST(OutputToJsonTest, PrintsBytesAsEscapedStrings) {
  const std::string raw = Framed({"abc", "", "quote\" back\\ nl\n nul", std::string("\0", 1),
                                  "h\xc3\xa9", "\xf0\x9f\x98\x80"});
  EXPECT_EQ(Data(Output("s", "BYTES", {2, 3}), raw),
            R"([["abc", "", "quote\" back\\ nl\n nul"], ["\u0000", "hé", "😀"]])");
}

TEST(OutputToJsonTest, EscapesBytesThatAreNotUtf8) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff\xfe", R"("\u00ff\u00fe")"},
      {"\xc3\x28", R"("\u00c3(")"},                           // Bad continuation byte.
      {"\xc0\xaf", R"("\u00c0\u00af")"},                      // Overlong '/'.
      {"\xed\xa0\x80", R"("\u00ed\u00a0\u0080")"},            // UTF-16 surrogate.
      {"\xf4\x90\x80\x80", R"("\u00f4\u0090\u0080\u0080")"},  // Above U+10FFFF.
      {"ok\xe2\x82", R"("ok\u00e2\u0082")"},                  // Truncated sequence at the end.
      {"\xe2\x82\xac", "\"\xe2\x82\xac\""},                   // A valid euro sign passes through.
      {"\x1f\x7f", R"("\u001f)"
                   "\x7f\""},
  };
  for (const auto& [bytes, json] : cases) {
    EXPECT_EQ(JsonQuote(bytes), json) << absl::CEscape(bytes);
    EXPECT_EQ(Data(Output("s", "BYTES", {1}), Framed({bytes})), "[" + json + "]");
  }
}

TEST(OutputToJsonTest, CanPrintBytesAsBase64) {
  OutputJsonOptions options;
  options.bytes_as_base64 = true;
  EXPECT_EQ(Data(Output("s", "BYTES", {3}), Framed({"\xff\xfe", "abc", ""}), options),
            R"(["//4=", "YWJj", ""])");
}

TEST(OutputToJsonTest, RejectsContentsThatDoNotMatchTheShape) {
  auto code = [](const OutputTensor& output, absl::string_view raw) {
    return OutputToJson(output, raw).status().code();
  };
  EXPECT_EQ(code(Output("y", "FP32", {2}), Raw<float>({1})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "FP32", {1}), Raw<float>({1, 2})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "FP32", {1}), "abc"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "FP32", {-1}), ""), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "FP32", {1LL << 40, 1LL << 40}), ""),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "FP32", {1LL << 40, 0}), ""), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("y", "STRING", {1}), "abcd"), absl::StatusCode::kInvalidArgument);
  // BYTES framing: too few, too many, truncated length, element past the end.
  EXPECT_EQ(code(Output("s", "BYTES", {2}), Framed({"a"})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("s", "BYTES", {1}), Framed({"a", "b"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("s", "BYTES", {1}), std::string("\1\0", 2)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Output("s", "BYTES", {1}), std::string("\xff\xff\xff\x7f"
                                                        "abc",
                                                        7)),
            absl::StatusCode::kInvalidArgument);
  std::vector<int64_t> deep(65, 1);
  OutputTensor too_deep = Output("y", "FP32", {});
  for (int64_t dim : deep) too_deep.add_shape(dim);
  EXPECT_EQ(code(too_deep, Raw<float>({1})), absl::StatusCode::kInvalidArgument);
}

bool IsValidJson(const std::string& json) {
  google::protobuf::Value value;
  return google::protobuf::util::JsonStringToMessage(json, &value).ok();
}

TEST(OutputToJsonTest, AlwaysPrintsValidJsonOrFails) {
  // Random contents, datatypes and shapes: either an error status or JSON that parses.
  const std::vector<std::string> types = {"BOOL", "UINT8", "UINT64", "INT8",  "INT32", "FP16",
                                          "BF16", "FP32",  "FP64",   "BYTES", "BYTES"};
  std::mt19937 rng(7);
  int printed = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string& type = types[rng() % types.size()];
    std::string raw;
    if (type == "BYTES") {
      for (int e = rng() % 4; e > 0; --e) {
        std::string element(rng() % 6, '\0');
        for (char& c : element) c = static_cast<char>(rng());
        ASSERT_TRUE(AppendBytesElement(element, &raw).ok());
      }
      if (rng() % 4 == 0 && !raw.empty()) raw.resize(rng() % raw.size());
    } else {
      raw.resize(rng() % 24);
      for (char& c : raw) c = static_cast<char>(rng());
    }
    OutputTensor output = Output("r", type, {});
    for (int d = rng() % 3; d > 0; --d) output.add_shape(static_cast<int64_t>(rng() % 4));
    absl::StatusOr<std::string> json = OutputToJson(output, raw);
    if (!json.ok()) continue;
    ++printed;
    ASSERT_TRUE(IsValidJson(*json)) << *json;
  }
  EXPECT_GT(printed, 100);

  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 12, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    ASSERT_TRUE(IsValidJson("[" + JsonQuote(bytes) + "]")) << absl::CEscape(bytes);
  }
}

TEST(OutputToJsonTest, JsonInputPrintsBackTheSameData) {
  for (const auto& [json, type] : std::vector<std::pair<std::string, std::string>>{
           {"[[1, 2.5], [-3, 0.25]]", "FP32"},
           {"[[1, -0.5], [2048, 0.099975586]]", "FP16"},
           {"[[true, false]]", "BOOL"},
           {"[[-9007199254740991, 5]]", "INT64"},
           {"[[\"a b\", \"\\u00e9\"], [\"\", \"\\\"\"]]", "BYTES"},
       }) {
    absl::StatusOr<InputTensor> input = InputFromJson("t", json, type);
    ASSERT_TRUE(input.ok()) << input.status();
    OutputTensor output;
    output.set_name("t");
    output.set_datatype(type);
    *output.mutable_shape() = input->tensor.shape();
    absl::StatusOr<InputTensor> reparsed =
        InputFromJson("t", Data(output, input->raw_contents), type);
    ASSERT_TRUE(reparsed.ok()) << reparsed.status();
    EXPECT_EQ(reparsed->raw_contents, input->raw_contents) << json;
  }
}

TEST(ResponseToJsonTest, PrintsRawAndTypedOutputs) {
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_model_version("3");
  response.set_id("req-\"1\"");
  *response.add_outputs() = Output("y", "INT32", {2});
  response.add_raw_output_contents(Raw<int32_t>({1, 2}));
  *response.add_outputs() = Output("s", "BYTES", {1});
  response.add_raw_output_contents(Framed({"ok"}));
  absl::StatusOr<std::string> json = ResponseToJson(response);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            "{\"model_name\": \"m\", \"model_version\": \"3\", \"id\": \"req-\\\"1\\\"\", "
            "\"outputs\": [\n"
            "  {\"name\": \"y\", \"datatype\": \"INT32\", \"shape\": [2], \"data\": [1, 2]},\n"
            "  {\"name\": \"s\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"ok\"]}\n"
            "]}");

  // Typed contents, as some servers send them.
  inference::ModelInferResponse typed;
  typed.set_model_name("m");
  OutputTensor* y = typed.add_outputs();
  *y = Output("y", "INT8", {2});
  y->mutable_contents()->add_int_contents(-1);
  y->mutable_contents()->add_int_contents(5);
  OutputTensor* s = typed.add_outputs();
  *s = Output("s", "BYTES", {1});
  s->mutable_contents()->add_bytes_contents("\xff");
  json = ResponseToJson(typed);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"data\": [-1, 5]"));
  EXPECT_THAT(*json, HasSubstr("\"data\": [\"\\u00ff\"]"));
  y->mutable_contents()->set_int_contents(0, 300);  // Does not fit INT8.
  EXPECT_EQ(ResponseToJson(typed).status().code(), absl::StatusCode::kInvalidArgument);

  inference::ModelInferResponse empty;
  EXPECT_EQ(*ResponseToJson(empty),
            R"({"model_name": "", "model_version": "", "id": "", "outputs": []})");

  // One raw entry for two outputs.
  response.mutable_raw_output_contents()->RemoveLast();
  EXPECT_EQ(ResponseToJson(response).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gridserve::client
