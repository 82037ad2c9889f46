#include "runtime/core/tensor.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gridserve::core {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

std::string Framed(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) AppendBytesElement(e, &out);
  return out;
}

std::string Prefix(uint32_t len) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &len, 4);
  return out;
}

// --- ElementCount ---

TEST(ElementCountTest, ProductOfDims) {
  EXPECT_EQ(ElementCount({2, 3, 4}).value(), 24);
  EXPECT_EQ(ElementCount({7}).value(), 7);
}

TEST(ElementCountTest, ScalarShapeHasOneElement) { EXPECT_EQ(ElementCount({}).value(), 1); }

TEST(ElementCountTest, ZeroDimGivesZero) {
  EXPECT_EQ(ElementCount({0}).value(), 0);
  EXPECT_EQ(ElementCount({3, 0, 5}).value(), 0);
}

TEST(ElementCountTest, ZeroDimDoesNotHideALaterOverflowCheck) {
  // 0 x huge is 0 elements: not an overflow.
  EXPECT_EQ(ElementCount({0, kMax, kMax}).value(), 0);
}

TEST(ElementCountTest, NegativeDimIsInvalid) {
  EXPECT_EQ(ElementCount({-1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({2, -3}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({0, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({std::numeric_limits<int64_t>::min()}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ElementCountTest, OverflowIsInvalid) {
  EXPECT_EQ(ElementCount({int64_t{1} << 32, int64_t{1} << 32}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({kMax, 2}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({3, 3, kMax / 8}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElementCountTest, LargestRepresentableCountIsAccepted) {
  EXPECT_EQ(ElementCount({kMax}).value(), kMax);
  EXPECT_EQ(ElementCount({1, kMax, 1}).value(), kMax);
  EXPECT_EQ(ElementCount({int64_t{1} << 31, int64_t{1} << 31}).value(), int64_t{1} << 62);
}

TEST(ShapeToStringTest, Formats) {
  EXPECT_EQ(ShapeToString({2, 3, 4}), "[2,3,4]");
  EXPECT_EQ(ShapeToString({}), "[]");
  EXPECT_EQ(ShapeToString({-1}), "[-1]");
}

// --- Tensor ---

TEST(TensorTest, DefaultIsEmptyAndInvalid) {
  Tensor t;
  EXPECT_EQ(t.dtype(), DataType::kInvalid);
  EXPECT_TRUE(t.shape().empty());
  EXPECT_EQ(t.data(), nullptr);
  EXPECT_EQ(t.byte_size(), 0u);
}

TEST(TensorTest, OwnedKeepsBytesShapeAndType) {
  std::string bytes = "abcdefgh";
  Tensor t = Tensor::Owned(DataType::kInt32, {2}, bytes);
  EXPECT_EQ(t.dtype(), DataType::kInt32);
  EXPECT_EQ(t.shape(), Shape({2}));
  EXPECT_EQ(t.byte_size(), 8u);
  EXPECT_EQ(t.bytes(), "abcdefgh");
}

TEST(TensorTest, OwnedOutlivesTheSourceString) {
  Tensor t;
  {
    std::string bytes(1000, 'x');
    t = Tensor::Owned(DataType::kUint8, {1000}, std::move(bytes));
  }
  EXPECT_EQ(t.bytes(), std::string(1000, 'x'));
}

TEST(TensorTest, CopiesShareTheOwnedBytes) {
  Tensor a = Tensor::Owned(DataType::kUint8, {3}, "xyz");
  Tensor b = a;
  EXPECT_EQ(a.data(), b.data());
  a = Tensor();
  EXPECT_EQ(b.bytes(), "xyz");
}

TEST(TensorTest, BorrowedPointsAtTheCallersBytesWithoutCopying) {
  const std::string buffer = "0123456789abcdef";
  Tensor t = Tensor::Borrowed(DataType::kFp32, {4}, buffer.data(), buffer.size(), nullptr);
  EXPECT_EQ(t.data(), buffer.data());
  EXPECT_EQ(t.byte_size(), buffer.size());
  EXPECT_EQ(t.dtype(), DataType::kFp32);
  EXPECT_EQ(t.shape(), Shape({4}));
}

TEST(TensorTest, BorrowedHoldsKeepAliveForAsLongAsAnyCopyLives) {
  auto owner = std::make_shared<std::string>("payload!");
  std::weak_ptr<std::string> watch = owner;
  Tensor copy;
  {
    Tensor t = Tensor::Borrowed(DataType::kUint8, {8}, owner->data(), owner->size(), owner);
    owner.reset();
    EXPECT_FALSE(watch.expired());
    copy = t;
  }
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(copy.bytes(), "payload!");
  copy = Tensor();
  EXPECT_TRUE(watch.expired());
}

TEST(TensorTest, WithShapeKeepsTheBytesAndChangesOnlyTheShape) {
  Tensor t = Tensor::Owned(DataType::kInt16, {2, 3}, std::string(12, 'q'));
  Tensor r = t.WithShape({3, 2});
  EXPECT_EQ(r.data(), t.data());
  EXPECT_EQ(r.byte_size(), t.byte_size());
  EXPECT_EQ(r.dtype(), DataType::kInt16);
  EXPECT_EQ(r.shape(), Shape({3, 2}));
  EXPECT_EQ(t.shape(), Shape({2, 3}));
}

TEST(TensorTest, WithShapeKeepsTheOwnerAlive) {
  Tensor r;
  {
    Tensor t = Tensor::Owned(DataType::kUint8, {4}, "abcd");
    r = t.WithShape({2, 2});
  }
  EXPECT_EQ(r.bytes(), "abcd");
}

// --- BYTES framing ---

TEST(BytesFramingTest, AppendWritesLittleEndianLengthThenBytes) {
  std::string out;
  AppendBytesElement("hi", &out);
  EXPECT_EQ(out, std::string("\x02\x00\x00\x00hi", 6));
  AppendBytesElement("", &out);
  EXPECT_EQ(out, std::string("\x02\x00\x00\x00hi\x00\x00\x00\x00", 10));
}

TEST(BytesFramingTest, AppendThenSplitRoundTrips) {
  std::vector<std::string> elements = {"hello", "", "world", std::string(300, 'z'), "x"};
  std::string framed = Framed(elements);
  auto split = SplitBytesElements(framed, elements.size());
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_EQ(split->size(), elements.size());
  for (size_t i = 0; i < elements.size(); ++i) EXPECT_EQ((*split)[i], elements[i]);
}

TEST(BytesFramingTest, ElementsAreViewsIntoTheBuffer) {
  std::string framed = Framed({"abc"});
  auto split = SplitBytesElements(framed, 1);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ((*split)[0].data(), framed.data() + 4);
}

TEST(BytesFramingTest, NonUtf8AndEmbeddedNulBytesAreKeptIntact) {
  const std::string binary("\xff\xfe\x00\x80\xc3\x28\x00", 7);
  std::string framed = Framed({binary, std::string("\0", 1)});
  auto split = SplitBytesElements(framed, 2);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ((*split)[0], binary);
  EXPECT_EQ((*split)[0].size(), 7u);
  EXPECT_EQ((*split)[1], std::string("\0", 1));
}

TEST(BytesFramingTest, EmptyBufferHasZeroElements) {
  auto any = SplitBytesElements("", -1);
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(any->empty());
  EXPECT_TRUE(SplitBytesElements("", 0).ok());
}

TEST(BytesFramingTest, EmptyBufferWhenElementsAreExpectedIsInvalid) {
  EXPECT_EQ(SplitBytesElements("", 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BytesFramingTest, ZeroLengthElementsAreCounted) {
  std::string framed = Framed({"", "", ""});
  EXPECT_EQ(framed.size(), 12u);
  auto split = SplitBytesElements(framed, 3);
  ASSERT_TRUE(split.ok()) << split.status();
  for (absl::string_view e : *split) EXPECT_TRUE(e.empty());
}

TEST(BytesFramingTest, TruncatedLengthPrefixIsInvalid) {
  for (size_t cut = 1; cut < 4; ++cut) {
    SCOPED_TRACE(cut);
    std::string framed = Prefix(3).substr(0, cut);
    EXPECT_EQ(SplitBytesElements(framed, -1).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(BytesFramingTest, LengthPastTheEndIsInvalid) {
  std::string framed = Prefix(10) + "short";
  EXPECT_EQ(SplitBytesElements(framed, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(framed, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BytesFramingTest, HugeLengthPrefixIsInvalidWithoutAllocating) {
  std::string framed = Prefix(0xFFFFFFFFu) + "abc";
  EXPECT_EQ(SplitBytesElements(framed, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BytesFramingTest, LengthPastTheEndOfALaterElementIsInvalid) {
  std::string framed = Framed({"ok"}) + Prefix(5) + "abcd";
  EXPECT_EQ(SplitBytesElements(framed, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BytesFramingTest, TrailingBytesAreInvalid) {
  // Fewer than 4 leftover bytes cannot even hold a prefix.
  std::string framed = Framed({"abc"}) + "xy";
  EXPECT_EQ(SplitBytesElements(framed, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(framed, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BytesFramingTest, CountMismatchIsInvalid) {
  std::string framed = Framed({"a", "b", "c"});
  EXPECT_EQ(SplitBytesElements(framed, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(framed, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitBytesElements(framed, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SplitBytesElements(framed, 3).ok());
}

TEST(BytesFramingTest, MinusOneAcceptsAnyCount) {
  auto split = SplitBytesElements(Framed({"a", "bb"}), -1);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->size(), 2u);
}

TEST(BytesFramingTest, HugeExpectedCountDoesNotPreallocate) {
  // The reservation is bounded by the buffer, so an absurd count fails cleanly.
  EXPECT_EQ(SplitBytesElements(Framed({"a"}), kMax).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gridserve::core
