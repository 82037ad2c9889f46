#include "runtime/core/tensor.h"

#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gridserve::core {

absl::StatusOr<int64_t> ElementCount(const Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has a negative dimension"));
    }
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has too many elements"));
    }
    count *= dim;
  }
  return count;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

Tensor Tensor::Owned(DataType dtype, Shape shape, std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = owned->data();
  t.size_ = owned->size();
  t.owner_ = std::move(owned);
  return t;
}

Tensor Tensor::Borrowed(DataType dtype, Shape shape, const char* data, size_t size,
                        std::shared_ptr<const void> keep_alive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.size_ = size;
  t.owner_ = std::move(keep_alive);
  return t;
}

Tensor Tensor::WithShape(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

absl::StatusOr<std::vector<absl::string_view>> SplitBytesElements(absl::string_view framed,
                                                                  int64_t expected_count) {
  std::vector<absl::string_view> elements;
  if (expected_count > 0) {
    // Every element needs at least its 4-byte prefix: bounds the reservation by the input size.
    elements.reserve(std::min<size_t>(expected_count, framed.size() / 4));
  }
  size_t pos = 0;
  while (pos < framed.size()) {
    if (framed.size() - pos < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("BYTES element ", elements.size(), " has a truncated length prefix"));
    }
    uint32_t len;
    std::memcpy(&len, framed.data() + pos, 4);  // little-endian hosts only (x86-64, aarch64)
    pos += 4;
    if (len > framed.size() - pos) {
      return absl::InvalidArgumentError(absl::StrCat("BYTES element ", elements.size(),
                                                     " declares ", len,
                                                     " bytes, past the end of the tensor data"));
    }
    elements.emplace_back(framed.data() + pos, len);
    pos += len;
  }
  if (expected_count >= 0 && static_cast<int64_t>(elements.size()) != expected_count) {
    return absl::InvalidArgumentError(absl::StrCat("BYTES tensor holds ", elements.size(),
                                                   " elements, its shape needs ", expected_count));
  }
  return elements;
}

void AppendBytesElement(absl::string_view element, std::string* out) {
  uint32_t len = static_cast<uint32_t>(element.size());
  char prefix[4];
  std::memcpy(prefix, &len, 4);
  out->append(prefix, 4);
  out->append(element.data(), element.size());
}

}  // namespace gridserve::core
