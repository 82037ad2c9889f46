#pragma once

// KServe v2 datatype facts the client needs, kept here so that the client library stands alone
// (it is used against Triton as well as gridserve and does not link the gridserve runtime).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gridserve::client {

// Bytes per element of a KServe v2 datatype ("FP32" -> 4); 0 for "BYTES" (variable length);
// -1 for an unknown name. Names are case-sensitive.
int WireElementSize(absl::string_view datatype);

// Product of `shape`. INVALID_ARGUMENT if a dimension is negative or the product overflows
// int64. An empty shape (a scalar) has one element.
absl::StatusOr<int64_t> ElementCount(absl::Span<const int64_t> shape);

// ElementCount(shape) * element_size, INVALID_ARGUMENT on overflow.
absl::StatusOr<int64_t> ByteCount(absl::Span<const int64_t> shape, int64_t element_size);

// Decodes a BYTES tensor in raw-contents framing (per element a 4-byte little-endian length, then
// the bytes) into views into `raw`. INVALID_ARGUMENT unless `raw` holds exactly `count` complete
// elements. The views live as long as `raw`'s storage.
absl::StatusOr<std::vector<absl::string_view>> SplitBytesElements(absl::string_view raw,
                                                                  int64_t count);

// Appends one element in raw-contents framing. INVALID_ARGUMENT if it is 4 GiB or larger.
absl::Status AppendBytesElement(absl::string_view element, std::string* raw);

// IEEE 754 half (FP16) and bfloat16 conversions. Narrowing rounds to nearest even; NaN stays NaN
// and out-of-range values become infinities.
float HalfToFloat(uint16_t half);
uint16_t FloatToHalf(float value);
float Bf16ToFloat(uint16_t bf16);
uint16_t FloatToBf16(float value);

}  // namespace gridserve::client
