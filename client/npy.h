#pragma once

// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0), mapped to KServe v2
// datatypes. Specification: numpy/lib/format.py ("A simple format for saving numpy arrays").
//
// Supported dtypes (the descr string of the header):
//   |b1 -> BOOL   |u1 -> UINT8   <u2 -> UINT16  <u4 -> UINT32  <u8 -> UINT64
//   |i1 -> INT8   <i2 -> INT16   <i4 -> INT32   <i8 -> INT64
//   <f2 -> FP16   <f4 -> FP32    <f8 -> FP64
// '<' and '|' are both accepted for one-byte types. Read only: |S<n> (fixed-width bytes, trailing
// NULs stripped as NumPy does) and <U<n> (UCS-4, re-encoded as UTF-8) become BYTES.
// Rejected with INVALID_ARGUMENT: fortran_order True, big-endian ('>') or native ('=') byte order,
// object ('O') and structured dtypes, and any header or size that does not add up. UNIMPLEMENTED
// for well-formed dtypes outside the list (complex, datetime, ...).
//
// Nothing in a file is trusted for sizes: the header length, shape and dtype are checked against
// the actual file size before any buffer is sized from them.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridserve::client {

// A dense tensor as it travels in KServe v2 raw contents. A plain value type.
struct NpyArray {
  // KServe v2 datatype name: "FP32", "BYTES", ...
  std::string datatype;
  // Row-major dimensions; empty for a 0-d (scalar) array.
  std::vector<int64_t> shape;
  // Little-endian, C-order element bytes. BYTES: per element a 4-byte little-endian length and
  // then the bytes (the raw_input_contents framing).
  std::string data;
};

// Largest header accepted, bytes. NumPy itself refuses headers over 10000 bytes by default;
// this is generous while keeping a corrupt length field from causing a huge read.
inline constexpr uint32_t kMaxNpyHeaderBytes = 1 << 20;

// Largest number of dimensions accepted (NumPy 2's NPY_MAXDIMS is 64).
inline constexpr int kMaxNpyDims = 64;

// Parses a complete .npy image held in memory. The data size implied by the header must equal
// the bytes that follow it exactly.
absl::StatusOr<NpyArray> ParseNpy(absl::string_view contents);

// Reads `path`: checks the file size first, then reads the header, then the data.
// NOT_FOUND if the file cannot be opened; otherwise as ParseNpy.
absl::StatusOr<NpyArray> ReadNpyFile(const std::string& path);

// Serializes `array` as a version 1.0 .npy image (2.0 if the header would exceed 65535 bytes),
// header padded so that the data starts at a multiple of 64 bytes as NumPy writes it.
// INVALID_ARGUMENT if data.size() does not match datatype and shape; UNIMPLEMENTED for BF16 and
// BYTES, which have no lossless .npy dtype.
absl::StatusOr<std::string> SerializeNpy(const NpyArray& array);

// SerializeNpy, then writes the result to `path` (replacing it).
absl::Status WriteNpyFile(const std::string& path, const NpyArray& array);

}  // namespace gridserve::client
