#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace gridserve::core {

// Element type of a tensor. The wire names are the KServe v2 datatype strings ("FP32", "BYTES").
enum class DataType {
  kInvalid,
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kBf16,
  kFp32,
  kFp64,
  // Variable-length byte strings. Serialized as, per element, a 4-byte little-endian length then
  // the bytes; a whole tensor is one contiguous buffer in that framing.
  kBytes,
};

// "FP32" for kFp32 ..., "" for kInvalid.
absl::string_view DataTypeName(DataType type);

// Parses a KServe v2 datatype string; kInvalid when unknown (names are case-sensitive).
DataType DataTypeFromName(absl::string_view name);

// Bytes per element; 0 for kBytes (variable length) and kInvalid.
size_t DataTypeByteSize(DataType type);

}  // namespace gridserve::core
