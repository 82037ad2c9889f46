#include "client/datatype.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace gridserve::client {
namespace {

TEST(WireElementSizeTest, KnowsEveryKServeType) {
  EXPECT_EQ(WireElementSize("BOOL"), 1);
  EXPECT_EQ(WireElementSize("UINT16"), 2);
  EXPECT_EQ(WireElementSize("INT64"), 8);
  EXPECT_EQ(WireElementSize("FP16"), 2);
  EXPECT_EQ(WireElementSize("BF16"), 2);
  EXPECT_EQ(WireElementSize("FP64"), 8);
  EXPECT_EQ(WireElementSize("BYTES"), 0);
  EXPECT_EQ(WireElementSize("fp32"), -1);
  EXPECT_EQ(WireElementSize("STRING"), -1);
}

TEST(ElementCountTest, MultipliesAndRejectsNegativeAndOverflow) {
  EXPECT_EQ(*ElementCount({}), 1);
  EXPECT_EQ(*ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount({1LL << 40, 0}), 0);
  // Overflowing dimensions followed by a zero still count zero elements.
  EXPECT_EQ(*ElementCount({1LL << 40, 1LL << 40, 0}), 0);
  EXPECT_EQ(ElementCount({2, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({1LL << 40, 1LL << 40}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ByteCount({1LL << 61}, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ByteCount({3, 4}, 4), 48);
}

TEST(BytesFramingTest, RoundTripsAndRejectsBadFraming) {
  std::string raw;
  ASSERT_TRUE(AppendBytesElement("ab", &raw).ok());
  ASSERT_TRUE(AppendBytesElement("", &raw).ok());
  ASSERT_TRUE(AppendBytesElement(std::string("\0z", 2), &raw).ok());
  EXPECT_EQ(raw, std::string("\x02\0\0\0ab\0\0\0\0\x02\0\0\0\0z", 16));
  auto elements = SplitBytesElements(raw, 3);
  ASSERT_TRUE(elements.ok()) << elements.status();
  ASSERT_EQ(elements->size(), 3u);
  EXPECT_EQ((*elements)[0], "ab");
  EXPECT_EQ((*elements)[1], "");
  EXPECT_EQ((*elements)[2], std::string("\0z", 2));

  EXPECT_EQ(SplitBytesElements(raw, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(raw, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(std::string("\x05\0\0\0abc", 7), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(std::string("\x01\0", 2), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A huge claimed count with little data fails without reserving for the claim.
  EXPECT_EQ(SplitBytesElements(raw, int64_t{1} << 60).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SplitBytesElements("", 0).ok());
}

TEST(HalfTest, ConvertsExactValuesSpecialsAndRounds) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // Below the halfway point to 65536.
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // Halfway rounds to even: infinity.
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // Smallest subnormal.
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // Halfway to it: even is zero.
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // Smallest normal.
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  const uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);

  // Every finite half survives half -> float -> half.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(bits))), bits) << bits;
  }
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
}

TEST(Bf16Test, ConvertsAndRoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(-2.0f), 0xc000);
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(FloatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(FloatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
}

}  // namespace
}  // namespace gridserve::client
