#include "runtime/core/classification.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/core/status_macros.h"

namespace gridserve::core {
namespace {

namespace fs = std::filesystem;

// IEEE 754 binary16 -> float (subnormals, infinities and NaN included).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    bits = sign | ((112 - e) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Orders the element indices of one batch item by value, highest first; ties (and NaN, which
// sorts last) by lower index. Writes the first `k` "value:index[:label]" strings.
template <typename T, typename ToString>
void TopK(const char* item, int64_t n, uint32_t k, const ClassLabels* labels, ToString to_string,
          std::string* framed) {
  std::vector<T> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = Load<T>(item + i * sizeof(T));
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto higher = [&](int64_t a, int64_t b) {
    const T va = values[a], vb = values[b];
    if constexpr (std::is_floating_point_v<T>) {
      const bool na = std::isnan(va), nb = std::isnan(vb);
      if (na != nb) return nb;  // a number before NaN
      if (na) return a < b;
    }
    if (va != vb) return va > vb;
    return a < b;
  };
  const int64_t top = std::min<int64_t>(k, n);
  std::partial_sort(order.begin(), order.begin() + top, order.end(), higher);
  for (int64_t r = 0; r < top; ++r) {
    const int64_t index = order[r];
    std::string element = absl::StrCat(to_string(values[index]), ":", index);
    if (labels != nullptr && index < static_cast<int64_t>(labels->size())) {
      absl::StrAppend(&element, ":", (*labels)[index]);
    }
    AppendBytesElement(element, framed);
  }
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::shared_ptr<const ClassLabels>>>>
LoadClassLabels(const inference::ModelConfig& config, const std::string& model_dir) {
  std::vector<std::pair<std::string, std::shared_ptr<const ClassLabels>>> result;
  for (const auto& out : config.output()) {
    if (out.label_filename().empty()) continue;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("model '", config.name(), "', output '",
                                                     out.name(), "': label_filename '",
                                                     out.label_filename(), "' ", why));
    };
    const fs::path name(out.label_filename());
    if (name.is_absolute() ||
        std::any_of(name.begin(), name.end(), [](const fs::path& part) { return part == ".."; })) {
      return fail("must be a file name inside the model's folder");
    }
    const fs::path path = fs::path(model_dir) / name;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return fail(absl::StrCat("is not a file in ", model_dir));
    const uintmax_t size = fs::file_size(path, ec);
    if (ec || size > kMaxLabelFileBytes) {
      return fail(absl::StrCat("is larger than ", kMaxLabelFileBytes, " bytes"));
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) return fail("cannot be read");
    std::string contents = text.str();
    if (!contents.empty() && contents.back() == '\n') contents.pop_back();
    auto labels = std::make_shared<ClassLabels>();
    if (!contents.empty()) {
      for (absl::string_view line : absl::StrSplit(contents, '\n')) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        labels->emplace_back(line);
      }
    }
    result.emplace_back(out.name(), std::move(labels));
  }
  return result;
}

bool SupportsClassification(DataType type) {
  return type != DataType::kBytes && type != DataType::kInvalid;
}

absl::StatusOr<Tensor> Classify(const Tensor& output, bool batching, uint32_t k,
                                const ClassLabels* labels) {
  if (k == 0) return absl::InvalidArgumentError("classification count must be at least 1");
  const DataType type = output.dtype();
  if (!SupportsClassification(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("classification needs a numeric output, not ", DataTypeName(type)));
  }
  ASSIGN_OR_RETURN(const int64_t count, ElementCount(output.shape()));
  const size_t element_size = DataTypeByteSize(type);
  if (output.byte_size() < static_cast<size_t>(count) * element_size) {
    return absl::InvalidArgumentError("output holds fewer bytes than its shape needs");
  }
  int64_t items = 1;
  if (batching && !output.shape().empty()) items = output.shape()[0];
  const int64_t per_item = items == 0 ? 0 : count / items;
  const int64_t top = std::min<int64_t>(k, per_item);
  std::string framed;
  auto as_float = [](auto v) { return std::to_string(v); };
  for (int64_t b = 0; b < items; ++b) {
    const char* item = output.data() + b * per_item * element_size;
    switch (type) {
      case DataType::kBool:
        TopK<uint8_t>(
            item, per_item, k, labels, [](uint8_t v) { return std::to_string(v != 0); }, &framed);
        break;
      case DataType::kUint8:
        TopK<uint8_t>(
            item, per_item, k, labels, [](uint8_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kUint16:
        TopK<uint16_t>(
            item, per_item, k, labels, [](uint16_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kUint32:
        TopK<uint32_t>(
            item, per_item, k, labels, [](uint32_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kUint64:
        TopK<uint64_t>(
            item, per_item, k, labels, [](uint64_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kInt8:
        TopK<int8_t>(
            item, per_item, k, labels, [](int8_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kInt16:
        TopK<int16_t>(
            item, per_item, k, labels, [](int16_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kInt32:
        TopK<int32_t>(
            item, per_item, k, labels, [](int32_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kInt64:
        TopK<int64_t>(
            item, per_item, k, labels, [](int64_t v) { return std::to_string(v); }, &framed);
        break;
      case DataType::kFp16:
      case DataType::kBf16: {
        // Widened to float first (exact), then ranked and printed like FP32.
        std::vector<float> widened(per_item);
        for (int64_t i = 0; i < per_item; ++i) {
          const uint16_t bits = Load<uint16_t>(item + i * 2);
          widened[i] = type == DataType::kFp16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
        }
        TopK<float>(reinterpret_cast<const char*>(widened.data()), per_item, k, labels, as_float,
                    &framed);
        break;
      }
      case DataType::kFp32:
        TopK<float>(item, per_item, k, labels, as_float, &framed);
        break;
      case DataType::kFp64:
        TopK<double>(item, per_item, k, labels, as_float, &framed);
        break;
      default:
        break;
    }
  }
  Shape shape;
  if (batching) shape.push_back(items);
  shape.push_back(top);
  return Tensor::Owned(DataType::kBytes, std::move(shape), std::move(framed));
}

}  // namespace gridserve::core
