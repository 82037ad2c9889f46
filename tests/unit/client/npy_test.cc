#include "client/npy.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::client {
namespace {

using ::testing::HasSubstr;

// A .npy image with a version-1.0 preamble around `header` (no padding added).
std::string NpyV1(absl::string_view header, absl::string_view data = "") {
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  return absl::StrCat(out, header, data);
}

std::string Header(absl::string_view descr, absl::string_view shape,
                   absl::string_view fortran = "False") {
  return absl::StrCat("{'descr': '", descr, "', 'fortran_order': ", fortran, ", 'shape': ", shape,
                      ", }\n");
}

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "/npy_test_", name);
}

TEST(NpyTest, SerializesExactlyAsNumPy) {
  // np.save(f, np.arange(3, dtype='<i4')) writes this 128-byte image.
  NpyArray array{"INT32", {3}, std::string("\0\0\0\0\1\0\0\0\2\0\0\0", 12)};
  absl::StatusOr<std::string> image = SerializeNpy(array);
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
  const std::string expected =
      absl::StrCat(std::string("\x93NUMPY\x01\x00\x76\x00", 10), header,
                   std::string(118 - header.size() - 1, ' '), "\n", array.data);
  EXPECT_EQ(*image, expected);
  EXPECT_EQ((image->size() - array.data.size()) % 64, 0u);
}

struct DtypeCase {
  std::string datatype;
  std::string descr;
  int element_bytes;
};

class NpyRoundTripTest : public ::testing::TestWithParam<DtypeCase> {};

TEST_P(NpyRoundTripTest, RoundTripsThroughMemoryAndFile) {
  const DtypeCase& param = GetParam();
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{}, {5}, {2, 3}, {2, 0, 4}, {1, 2, 1, 3}}) {
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    NpyArray array{param.datatype, shape, std::string()};
    for (int64_t i = 0; i < count * param.element_bytes; ++i) {
      // BOOL must hold 0/1; other types get arbitrary bytes.
      array.data.push_back(param.datatype == "BOOL" ? static_cast<char>(i % 2)
                                                    : static_cast<char>(i * 37 + 11));
    }
    absl::StatusOr<std::string> image = SerializeNpy(array);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_THAT(*image, HasSubstr(absl::StrCat("'descr': '", param.descr, "'")));

    absl::StatusOr<NpyArray> parsed = ParseNpy(*image);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->datatype, param.datatype);
    EXPECT_EQ(parsed->shape, shape);
    EXPECT_EQ(parsed->data, array.data);

    const std::string path = TempPath(absl::StrCat(param.datatype, "_", shape.size(), ".npy"));
    ASSERT_TRUE(WriteNpyFile(path, array).ok());
    absl::StatusOr<NpyArray> read = ReadNpyFile(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->datatype, param.datatype);
    EXPECT_EQ(read->shape, shape);
    EXPECT_EQ(read->data, array.data);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypes, NpyRoundTripTest,
    ::testing::Values(DtypeCase{"BOOL", "|b1", 1}, DtypeCase{"UINT8", "|u1", 1},
                      DtypeCase{"UINT16", "<u2", 2}, DtypeCase{"UINT32", "<u4", 4},
                      DtypeCase{"UINT64", "<u8", 8}, DtypeCase{"INT8", "|i1", 1},
                      DtypeCase{"INT16", "<i2", 2}, DtypeCase{"INT32", "<i4", 4},
                      DtypeCase{"INT64", "<i8", 8}, DtypeCase{"FP16", "<f2", 2},
                      DtypeCase{"FP32", "<f4", 4}, DtypeCase{"FP64", "<f8", 8}),
    [](const ::testing::TestParamInfo<DtypeCase>& info) { return info.param.datatype; });

TEST(NpyTest, ReadsVersion2And3AndPythonQuirks) {
  // Version 2.0: 4-byte header length.
  const std::string header = Header("<f4", "(2,)");
  std::string v2("\x93NUMPY\x02\x00", 8);
  v2.push_back(static_cast<char>(header.size()));
  v2.append(3, '\0');
  v2 += header + std::string(8, '\x01');
  absl::StatusOr<NpyArray> parsed = ParseNpy(v2);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->shape, std::vector<int64_t>({2}));
  v2[6] = 3;
  EXPECT_TRUE(ParseNpy(v2).ok());

  // Keys in another order, double quotes, Python 2 longs, no trailing comma, '<' on one byte.
  parsed = ParseNpy(
      NpyV1("{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<u1\"}\n", "ab"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->datatype, "UINT8");
  EXPECT_EQ(parsed->shape, std::vector<int64_t>({2, 1}));
}

TEST(NpyTest, ReadsFixedWidthStringsAsBytes) {
  // np.array([b'ab', b'', b'xyz']) is '|S3', NUL-padded.
  absl::StatusOr<NpyArray> parsed =
      ParseNpy(NpyV1(Header("|S3", "(3,)"), std::string("ab\0\0\0\0xyz", 9)));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->datatype, "BYTES");
  EXPECT_EQ(parsed->data, std::string("\x02\0\0\0ab\0\0\0\0\x03\0\0\0xyz", 4 + 2 + 4 + 4 + 3));

  // np.array(['h\u00e9', 'z']) is '<U2': UCS-4, re-encoded as UTF-8.
  std::string ucs4;
  for (uint32_t cp : {0x68u, 0xe9u, 0x7au, 0u}) ucs4.append(reinterpret_cast<char*>(&cp), 4);
  parsed = ParseNpy(NpyV1(Header("<U2", "(2,)"), ucs4));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->data, std::string("\x03\0\0\0h\xc3\xa9\x01\0\0\0z", 12));

  // A surrogate is not a character.
  std::string bad;
  for (uint32_t cp : {0xd800u}) bad.append(reinterpret_cast<char*>(&cp), 4);
  EXPECT_EQ(ParseNpy(NpyV1(Header("<U1", "(1,)"), bad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Zero-width strings would let a tiny file claim any number of elements.
  EXPECT_EQ(ParseNpy(NpyV1(Header("|S0", "(1000000000,)"))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NpyTest, RejectsUnsupportedLayoutsWithClearErrors) {
  struct Case {
    std::string header;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Header("<f4", "(2, 2)", "True"), absl::StatusCode::kInvalidArgument, "Fortran"},
      {Header(">f4", "(4,)"), absl::StatusCode::kInvalidArgument, "big-endian"},
      {Header("=f4", "(4,)"), absl::StatusCode::kInvalidArgument, "native"},
      {Header("|O", "(4,)"), absl::StatusCode::kInvalidArgument, "object"},
      {Header("|f4", "(4,)"), absl::StatusCode::kInvalidArgument, "multi-byte"},
      {Header("<c8", "(2,)"), absl::StatusCode::kUnimplemented, "not supported"},
      {Header("<M8", "(2,)"), absl::StatusCode::kUnimplemented, "not supported"},
      {Header("<f3", "(2,)"), absl::StatusCode::kUnimplemented, "not supported"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n",
       absl::StatusCode::kUnimplemented, "structured"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<NpyArray> parsed = ParseNpy(NpyV1(c.header, std::string(16, '\0')));
    EXPECT_EQ(parsed.status().code(), c.code) << c.header;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.header;
  }
}

TEST(NpyTest, RejectsMalformedHeaders) {
  const std::vector<std::string> headers = {
      "",
      "\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",  // No newline.
      "{'descr': '<f4', 'fortran_order': False}\n",                 // Missing shape.
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk\n",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': '<f', 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': '<f4\\x', 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,\n",
  };
  for (const std::string& header : headers) {
    EXPECT_EQ(ParseNpy(NpyV1(header, std::string(8, '\0'))).status().code(),
              absl::StatusCode::kInvalidArgument)
        << absl::CEscape(header);
  }
  // More than kMaxNpyDims dimensions.
  std::string shape = "(";
  for (int i = 0; i <= kMaxNpyDims; ++i) shape += "1, ";
  shape += ")";
  EXPECT_EQ(ParseNpy(NpyV1(Header("<f4", shape), std::string(4, '\0'))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NpyTest, RejectsBadPreambles) {
  EXPECT_EQ(ParseNpy("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNpy("\x93NUMP").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNpy("PK\x03\x04 this is a zip").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string image = NpyV1(Header("<f4", "(1,)"), std::string(4, '\0'));
  ASSERT_TRUE(ParseNpy(image).ok());
  image[6] = 4;  // Version 4.0 does not exist.
  EXPECT_EQ(ParseNpy(image).status().code(), absl::StatusCode::kInvalidArgument);
  image[6] = 1;
  image[7] = 1;  // Nor 1.1.
  EXPECT_EQ(ParseNpy(image).status().code(), absl::StatusCode::kInvalidArgument);
  // Ends inside the header length.
  EXPECT_EQ(ParseNpy(std::string("\x93NUMPY\x01\x00\x10", 9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNpy(std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NpyTest, NeverTrustsHeaderSizes) {
  const std::string header = Header("<f8", "(2, 2)");
  const std::string data(32, '\x07');
  const std::string image = NpyV1(header, data);
  ASSERT_TRUE(ParseNpy(image).ok());

  // Every truncation fails cleanly: inside the preamble, the header or the data.
  for (size_t size = 0; size < image.size(); ++size) {
    EXPECT_EQ(ParseNpy(image.substr(0, size)).status().code(), absl::StatusCode::kInvalidArgument)
        << size;
  }
  // Trailing bytes are an error too: the header and the file disagree.
  absl::StatusOr<NpyArray> parsed = ParseNpy(image + "x");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("trailing"));

  // A shape promising exabytes with no data behind it.
  parsed = ParseNpy(NpyV1(Header("<f8", "(1099511627776, 1024)")));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("truncated"));
  // A shape whose byte count overflows int64.
  EXPECT_EQ(ParseNpy(NpyV1(Header("<f8", "(4294967296, 4294967296)"))).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Header lengths beyond the limit or the file, in memory and on disk.
  std::string huge("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
  EXPECT_EQ(ParseNpy(huge + header).status().code(), absl::StatusCode::kInvalidArgument);
  std::string beyond("\x93NUMPY\x02\x00\x00\x00\x01\x00", 12);  // 64 KiB header, tiny file.
  EXPECT_EQ(ParseNpy(beyond + header).status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& contents : {huge + header, beyond + header, image.substr(0, 50),
                                      NpyV1(Header("<f8", "(1099511627776, 1024)"))}) {
    const std::string path = TempPath("bad.npy");
    ASSERT_TRUE(WriteStringToFile(path, contents).ok());
    EXPECT_EQ(ReadNpyFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(NpyTest, SurvivesCorruptedImages) {
  // Whatever the bytes, parsing returns a status; run under ASan/UBSan to make this meaningful.
  std::string ucs4;
  for (uint32_t cp : {0x41u, 0x10ffffu, 0u, 0x7au}) ucs4.append(reinterpret_cast<char*>(&cp), 4);
  const std::vector<std::string> images = {
      *SerializeNpy({"FP32", {2, 3}, std::string(24, '\x05')}),
      *SerializeNpy({"INT64", {}, std::string(8, '\x01')}),
      NpyV1(Header("<U2", "(2,)"), ucs4),
      NpyV1(Header("|S2", "(2, 1)"), "abcd"),
  };
  for (const std::string& image : images) {
    ASSERT_TRUE(ParseNpy(image).ok()) << absl::CEscape(image);
    for (size_t pos = 0; pos < image.size(); ++pos) {
      for (char c : {'\0', '\xff', '(', ')', ',', '\'', '9', '\n', ' ', '-', '{', '}', 'U'}) {
        std::string mutated = image;
        mutated[pos] = c;
        (void)ParseNpy(mutated);
      }
    }
    std::mt19937 rng(42);
    for (int i = 0; i < 3000; ++i) {
      std::string mutated = image.substr(0, rng() % (image.size() + 1));
      for (int k = rng() % 4; k >= 0 && !mutated.empty(); --k) {
        mutated[rng() % mutated.size()] = static_cast<char>(rng());
      }
      (void)ParseNpy(mutated);
    }
  }
}

TEST(NpyTest, FileErrors) {
  EXPECT_EQ(ReadNpyFile(TempPath("does_not_exist.npy")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadNpyFile(::testing::TempDir()).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string path = TempPath("empty.npy");
  ASSERT_TRUE(WriteStringToFile(path, "").ok());
  EXPECT_EQ(ReadNpyFile(path).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NpyTest, SerializeChecksItsInput) {
  EXPECT_EQ(SerializeNpy({"FP32", {2}, std::string(7, '\0')}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeNpy({"FP32", {-1}, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeNpy({"COMPLEX", {1}, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeNpy({"BF16", {1}, "ab"}).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(SerializeNpy({"BYTES", {1}, std::string("\0\0\0\0", 4)}).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace gridserve::client
