#include "client/datatype.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace gridserve::client {

int WireElementSize(absl::string_view datatype) {
  struct Entry {
    absl::string_view name;
    int size;
  };
  static constexpr Entry kEntries[] = {
      {"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
      {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
      {"BF16", 2}, {"FP32", 4},  {"FP64", 8},   {"BYTES", 0},
  };
  for (const Entry& entry : kEntries) {
    if (entry.name == datatype) return entry.size;
  }
  return -1;
}

absl::StatusOr<int64_t> ElementCount(absl::Span<const int64_t> shape) {
  int64_t count = 1;
  bool overflow = false;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(absl::StrCat("negative dimension ", dim, " in shape"));
    }
    // Keep scanning after an overflow: a later zero makes the product well defined.
    if (dim == 0) return int64_t{0};
    if (overflow || count > std::numeric_limits<int64_t>::max() / dim) {
      overflow = true;
      continue;
    }
    count *= dim;
  }
  if (overflow) return absl::InvalidArgumentError("shape has more elements than int64 can count");
  return count;
}

absl::StatusOr<int64_t> ByteCount(absl::Span<const int64_t> shape, int64_t element_size) {
  absl::StatusOr<int64_t> count = ElementCount(shape);
  if (!count.ok()) return count.status();
  if (element_size > 0 && *count > std::numeric_limits<int64_t>::max() / element_size) {
    return absl::InvalidArgumentError("tensor byte size overflows int64");
  }
  return *count * element_size;
}

absl::StatusOr<std::vector<absl::string_view>> SplitBytesElements(absl::string_view raw,
                                                                  int64_t count) {
  if (count < 0) return absl::InvalidArgumentError("negative BYTES element count");
  std::vector<absl::string_view> elements;
  // Every element takes at least its 4-byte length, so `raw` bounds a trustworthy reservation.
  elements.reserve(static_cast<size_t>(std::min<int64_t>(count, raw.size() / 4)));
  size_t pos = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (raw.size() - pos < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("BYTES contents end inside the length of element ", i, " of ", count));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + pos);
    const uint32_t length =
        uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
    pos += 4;
    if (raw.size() - pos < length) {
      return absl::InvalidArgumentError(absl::StrCat("BYTES element ", i, " claims ", length,
                                                     " bytes but only ", raw.size() - pos,
                                                     " remain"));
    }
    elements.push_back(raw.substr(pos, length));
    pos += length;
  }
  if (pos != raw.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BYTES contents have ", raw.size() - pos, " bytes after the last of ", count, " elements"));
  }
  return elements;
}

absl::Status AppendBytesElement(absl::string_view element, std::string* raw) {
  if (element.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("BYTES element of 4 GiB or more cannot be framed");
  }
  const auto length = static_cast<uint32_t>(element.size());
  const char prefix[4] = {static_cast<char>(length & 0xff), static_cast<char>((length >> 8) & 0xff),
                          static_cast<char>((length >> 16) & 0xff),
                          static_cast<char>((length >> 24) & 0xff)};
  raw->append(prefix, 4);
  raw->append(element.data(), element.size());
  return absl::OkStatus();
}

namespace {

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

}  // namespace

float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  if (exponent == 0x1f) return BitsToFloat(sign | 0x7f800000 | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return BitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToHalf(float value) {
  const uint32_t bits = FloatBits(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) {  // NaN: keep it quiet and keep the top payload bits.
    return sign | 0x7e00 | static_cast<uint16_t>((magnitude >> 13) & 0x3ff);
  }
  // 65520 and above round to infinity (65504 is the largest finite half).
  if (magnitude >= 0x477ff000) return sign | 0x7c00;
  if (magnitude < 0x38800000) {                // Below 2^-14: a half subnormal or zero.
    if (magnitude <= 0x33000000) return sign;  // At most 2^-25: rounds (to even) to zero.
    const uint32_t exponent = magnitude >> 23;
    const uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t result = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (result & 1))) ++result;
    return sign | static_cast<uint16_t>(result);
  }
  uint32_t result = (magnitude - 0x38000000) >> 13;  // Rebias the exponent from 127 to 15.
  const uint32_t rest = magnitude & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (result & 1))) ++result;
  return sign | static_cast<uint16_t>(result);
}

float Bf16ToFloat(uint16_t bf16) { return BitsToFloat(static_cast<uint32_t>(bf16) << 16); }

uint16_t FloatToBf16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040);  // Quiet NaN.
  }
  const uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace gridserve::client
