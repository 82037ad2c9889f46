#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/core/data_type.h"

namespace gridserve::core {

using Shape = std::vector<int64_t>;

// Number of elements in `shape`, or an error if a dim is negative or the product overflows
// int64 (shapes come from untrusted requests).
absl::StatusOr<int64_t> ElementCount(const Shape& shape);

// "[2,3,4]".
std::string ShapeToString(const Shape& shape);

// A typed, immutable view over row-major little-endian bytes that are either owned by the tensor
// or borrowed from something that outlives it (a request message, a LibTorch tensor). Copies are
// cheap and share the bytes. BYTES tensors hold their elements in the length-prefixed framing
// (see DataType::kBytes). Thread-compatible; the bytes are never written through a Tensor.
class Tensor {
 public:
  Tensor() = default;

  // Takes ownership of `bytes`.
  static Tensor Owned(DataType dtype, Shape shape, std::string bytes);

  // Borrows [data, data + size). `keep_alive` (may be null when the caller guarantees the bytes
  // outlive every copy of the tensor) is held for as long as any copy of the tensor lives.
  static Tensor Borrowed(DataType dtype, Shape shape, const char* data, size_t size,
                         std::shared_ptr<const void> keep_alive);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const char* data() const { return data_; }
  size_t byte_size() const { return size_; }
  absl::string_view bytes() const { return absl::string_view(data_, size_); }

  // The same bytes under a new shape (no copy). The caller keeps the element count unchanged.
  Tensor WithShape(Shape shape) const;

 private:
  DataType dtype_ = DataType::kInvalid;
  Shape shape_;
  std::shared_ptr<const void> owner_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// BYTES framing helpers.
// Splits a framed buffer into its elements (views into `framed`). Fails with INVALID_ARGUMENT if
// a length prefix runs past the end, bytes are left over, or the count differs from
// `expected_count` (pass -1 to accept any count).
absl::StatusOr<std::vector<absl::string_view>> SplitBytesElements(absl::string_view framed,
                                                                  int64_t expected_count);
// Appends one framed element to `out`.
void AppendBytesElement(absl::string_view element, std::string* out);

}  // namespace gridserve::core
