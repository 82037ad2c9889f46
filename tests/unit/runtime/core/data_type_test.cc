#include "runtime/core/data_type.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/core/config_types.h"

namespace gridserve::core {
namespace {

struct Expected {
  DataType type;
  const char* name;
  size_t size;
  inference::DataType config;
};

const std::vector<Expected>& AllTypes() {
  static const auto* types = new std::vector<Expected>{
      {DataType::kBool, "BOOL", 1, inference::TYPE_BOOL},
      {DataType::kUint8, "UINT8", 1, inference::TYPE_UINT8},
      {DataType::kUint16, "UINT16", 2, inference::TYPE_UINT16},
      {DataType::kUint32, "UINT32", 4, inference::TYPE_UINT32},
      {DataType::kUint64, "UINT64", 8, inference::TYPE_UINT64},
      {DataType::kInt8, "INT8", 1, inference::TYPE_INT8},
      {DataType::kInt16, "INT16", 2, inference::TYPE_INT16},
      {DataType::kInt32, "INT32", 4, inference::TYPE_INT32},
      {DataType::kInt64, "INT64", 8, inference::TYPE_INT64},
      {DataType::kFp16, "FP16", 2, inference::TYPE_FP16},
      {DataType::kBf16, "BF16", 2, inference::TYPE_BF16},
      {DataType::kFp32, "FP32", 4, inference::TYPE_FP32},
      {DataType::kFp64, "FP64", 8, inference::TYPE_FP64},
      {DataType::kBytes, "BYTES", 0, inference::TYPE_STRING},
  };
  return *types;
}

TEST(DataTypeTest, NamesAndSizesMatchKServeForEveryType) {
  for (const Expected& e : AllTypes()) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(DataTypeName(e.type), e.name);
    EXPECT_EQ(DataTypeFromName(e.name), e.type);
    EXPECT_EQ(DataTypeByteSize(e.type), e.size);
  }
}

TEST(DataTypeTest, EveryValidTypeHasADistinctName) {
  std::set<std::string> names;
  for (const Expected& e : AllTypes()) names.insert(std::string(DataTypeName(e.type)));
  EXPECT_EQ(names.size(), AllTypes().size());
}

TEST(DataTypeTest, InvalidTypeHasNoNameAndNoSize) {
  EXPECT_EQ(DataTypeName(DataType::kInvalid), "");
  EXPECT_EQ(DataTypeByteSize(DataType::kInvalid), 0u);
}

TEST(DataTypeTest, UnknownNamesAreInvalid) {
  EXPECT_EQ(DataTypeFromName(""), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("FLOAT32"), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("STRING"), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("TYPE_FP32"), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("FP32 "), DataType::kInvalid);
}

TEST(DataTypeTest, NamesAreCaseSensitive) {
  EXPECT_EQ(DataTypeFromName("fp32"), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("Bytes"), DataType::kInvalid);
}

TEST(ConfigTypesTest, ConfigTypesRoundTripForEveryType) {
  for (const Expected& e : AllTypes()) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(DataTypeFromConfig(e.config), e.type);
    EXPECT_EQ(DataTypeToConfig(e.type), e.config);
  }
}

TEST(ConfigTypesTest, InvalidConfigTypesMapToInvalid) {
  EXPECT_EQ(DataTypeFromConfig(inference::TYPE_INVALID), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromConfig(static_cast<inference::DataType>(99)), DataType::kInvalid);
  EXPECT_EQ(DataTypeToConfig(DataType::kInvalid), inference::TYPE_INVALID);
}

}  // namespace
}  // namespace gridserve::core
