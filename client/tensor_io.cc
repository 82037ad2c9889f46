#include "client/tensor_io.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "client/datatype.h"
#include "client/file.h"
#include "runtime/core/status_macros.h"

// Raw contents are little-endian; elements are copied with memcpy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "gridserve client assumes little-endian");

namespace gridserve::client {
namespace {

using ::google::protobuf::Value;

// Deepest tensor accepted from JSON or printed. Bounds recursion on untrusted input.
constexpr int kMaxRank = 64;
// Most empty sub-arrays printed for a zero-element tensor: a shape such as [1e15, 0] has no
// elements to check against the contents, so its printing cost must be bounded separately.
constexpr int64_t kMaxEmptyArraysPrinted = 1 << 20;
// Largest integer magnitude a double holds exactly, plus one.
constexpr double kTwoTo53 = 9007199254740992.0;

enum class Kind {
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
  kBytes,
};

std::optional<Kind> KindOf(absl::string_view datatype) {
  static constexpr std::pair<absl::string_view, Kind> kKinds[] = {
      {"BOOL", Kind::kBool},     {"UINT8", Kind::kUint8},   {"UINT16", Kind::kUint16},
      {"UINT32", Kind::kUint32}, {"UINT64", Kind::kUint64}, {"INT8", Kind::kInt8},
      {"INT16", Kind::kInt16},   {"INT32", Kind::kInt32},   {"INT64", Kind::kInt64},
      {"FP16", Kind::kFp16},     {"BF16", Kind::kBf16},     {"FP32", Kind::kFp32},
      {"FP64", Kind::kFp64},     {"BYTES", Kind::kBytes},
  };
  for (const auto& [name, kind] : kKinds) {
    if (name == datatype) return kind;
  }
  return std::nullopt;
}

template <typename T>
void AppendPod(T value, std::string* raw) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  raw->append(bytes, sizeof(T));
}

template <typename T>
T LoadPod(absl::string_view raw, int64_t index) {
  T value;
  std::memcpy(&value, raw.data() + static_cast<size_t>(index) * sizeof(T), sizeof(T));
  return value;
}

// ---------------------------------------------------------------------------------------------
// JSON -> raw contents

std::string Describe(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return absl::StrCat("number ", value.number_value());
    case Value::kStringValue:
      return absl::StrCat("string ", JsonQuote(value.string_value()));
    case Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    default:
      return "nothing";
  }
}

// A JSON number, or one of the strings JSON uses for non-finite floats.
absl::StatusOr<double> FloatOf(const Value& value) {
  if (value.kind_case() == Value::kNumberValue) return value.number_value();
  if (value.kind_case() == Value::kStringValue) {
    const std::string& s = value.string_value();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got ", Describe(value)));
}

// A finite float narrowed from `value`; INVALID_ARGUMENT if finite but beyond float's range
// (converting such a double to float is undefined behaviour).
absl::StatusOr<float> NarrowToFloat(double value, absl::string_view type) {
  if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(value, " is out of range for ", type));
  }
  return static_cast<float>(value);
}

template <typename T>
absl::Status AppendInteger(const Value& value, absl::string_view type, std::string* raw) {
  if (value.kind_case() != Value::kNumberValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an integer for ", type, ", got ", Describe(value)));
  }
  const double d = value.number_value();
  if (!std::isfinite(d) || d != std::trunc(d)) {
    return absl::InvalidArgumentError(absl::StrCat(d, " is not an integer (", type, ")"));
  }
  if constexpr (sizeof(T) == 8) {
    // Larger magnitudes may already have been rounded by the JSON parser.
    if (std::fabs(d) >= kTwoTo53 || (std::is_unsigned_v<T> && d < 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          d, " is out of range for ", type,
          " from JSON (magnitudes of 2^53 and more are not exact in JSON numbers; use .npy)"));
    }
  } else {
    if (d < static_cast<double>(std::numeric_limits<T>::min()) ||
        d > static_cast<double>(std::numeric_limits<T>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(d, " is out of range for ", type));
    }
  }
  AppendPod(static_cast<T>(d), raw);
  return absl::OkStatus();
}

absl::Status AppendJsonElement(const Value& value, Kind kind, absl::string_view type,
                               std::string* raw) {
  switch (kind) {
    case Kind::kBool:
      if (value.kind_case() == Value::kBoolValue) {
        raw->push_back(value.bool_value() ? 1 : 0);
        return absl::OkStatus();
      }
      if (value.kind_case() == Value::kNumberValue &&
          (value.number_value() == 0 || value.number_value() == 1)) {
        raw->push_back(value.number_value() == 1 ? 1 : 0);
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat("expected true, false, 0 or 1 for BOOL, got ", Describe(value)));
    case Kind::kUint8:
      return AppendInteger<uint8_t>(value, type, raw);
    case Kind::kUint16:
      return AppendInteger<uint16_t>(value, type, raw);
    case Kind::kUint32:
      return AppendInteger<uint32_t>(value, type, raw);
    case Kind::kUint64:
      return AppendInteger<uint64_t>(value, type, raw);
    case Kind::kInt8:
      return AppendInteger<int8_t>(value, type, raw);
    case Kind::kInt16:
      return AppendInteger<int16_t>(value, type, raw);
    case Kind::kInt32:
      return AppendInteger<int32_t>(value, type, raw);
    case Kind::kInt64:
      return AppendInteger<int64_t>(value, type, raw);
    case Kind::kFp16:
    case Kind::kBf16:
    case Kind::kFp32: {
      ASSIGN_OR_RETURN(const double d, FloatOf(value));
      ASSIGN_OR_RETURN(const float f, NarrowToFloat(d, type));
      if (kind == Kind::kFp32) {
        AppendPod(f, raw);
        return absl::OkStatus();
      }
      const uint16_t bits = kind == Kind::kFp16 ? FloatToHalf(f) : FloatToBf16(f);
      const float back = kind == Kind::kFp16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
      if (std::isfinite(d) && std::isinf(back)) {
        return absl::InvalidArgumentError(absl::StrCat(d, " is out of range for ", type));
      }
      AppendPod(bits, raw);
      return absl::OkStatus();
    }
    case Kind::kFp64: {
      ASSIGN_OR_RETURN(const double d, FloatOf(value));
      AppendPod(d, raw);
      return absl::OkStatus();
    }
    case Kind::kBytes:
      if (value.kind_case() != Value::kStringValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected a string for BYTES, got ", Describe(value)));
      }
      return AppendBytesElement(value.string_value(), raw);
  }
  return absl::InternalError("unhandled datatype");
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Walks `value` in row-major order, checking that it has exactly `shape`, and appends each
// element. `path` is the index of the current sub-array, for messages.
absl::Status Flatten(const Value& value, absl::Span<const int64_t> shape, Kind kind,
                     absl::string_view type, std::vector<int64_t>* path, std::string* raw) {
  const size_t depth = path->size();
  auto where = [&] {
    return path->empty() ? std::string("the top level")
                         : absl::StrCat("index [", absl::StrJoin(*path, "]["), "]");
  };
  if (depth == shape.size()) {
    if (value.kind_case() == Value::kListValue) {
      return absl::InvalidArgumentError(absl::StrCat("ragged array: an array at ", where(),
                                                     " where the shape ", ShapeString(shape),
                                                     " (from the first elements) has a scalar"));
    }
    absl::Status status = AppendJsonElement(value, kind, type, raw);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("at ", where(), ": ", status.message()));
    }
    return absl::OkStatus();
  }
  if (value.kind_case() != Value::kListValue || value.list_value().values_size() != shape[depth]) {
    return absl::InvalidArgumentError(
        absl::StrCat("ragged array: ", Describe(value),
                     value.kind_case() == Value::kListValue
                         ? absl::StrCat(" of ", value.list_value().values_size())
                         : std::string(),
                     " at ", where(), " where the shape ", ShapeString(shape),
                     " (from the first elements) needs an array of ", shape[depth]));
  }
  for (int i = 0; i < value.list_value().values_size(); ++i) {
    path->push_back(i);
    RETURN_IF_ERROR(Flatten(value.list_value().values(i), shape, kind, type, path, raw));
    path->pop_back();
  }
  return absl::OkStatus();
}

// Checks `json` against the JSON grammar of RFC 8259 before protobuf's parser reads it: that
// parser also takes JavaScript-isms (single-quoted strings, comments, trailing commas, bare
// words), and a CLI that accepts [['x']] teaches users JSON that other tools refuse. No JSON
// library is part of the stack, and this is only a grammar check (values are still converted by
// protobuf). Errors give the byte offset.
class StrictJsonChecker {
 public:
  explicit StrictJsonChecker(absl::string_view text) : text_(text) {}

  absl::Status Check() {
    SkipSpace();
    RETURN_IF_ERROR(AnyValue(0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the JSON value");
    return absl::OkStatus();
  }

 private:
  static constexpr int kMaxDepth = 2 * kMaxRank;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at byte ", pos_, ": ", what));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r'))
      ++pos_;
  }
  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status AnyValue(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    switch (Peek()) {
      case '[':
        return Container(depth, ']');
      case '{':
        return Container(depth, '}');
      case '"':
        return String();
      case 't':
        return Literal("true") ? absl::OkStatus() : Error("expected a value");
      case 'f':
        return Literal("false") ? absl::OkStatus() : Error("expected a value");
      case 'n':
        return Literal("null") ? absl::OkStatus() : Error("expected a value");
      case '\'':
        return Error("strings need double quotes (\"x\"), not single quotes");
      default:
        if (Peek() == '-' || (Peek() >= '0' && Peek() <= '9')) return Number();
        return Error(AtEnd() ? "unexpected end" : "expected a value");
    }
  }

  absl::Status Container(int depth, char close) {
    ++pos_;
    SkipSpace();
    if (Peek() == close) {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      if (close == '}') {
        if (Peek() != '"') return Error("object keys need double quotes");
        RETURN_IF_ERROR(String());
        SkipSpace();
        if (Peek() != ':') return Error("expected ':'");
        ++pos_;
        SkipSpace();
      }
      RETURN_IF_ERROR(AnyValue(depth + 1));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        SkipSpace();
        if (Peek() == close) return Error("trailing comma");
        continue;
      }
      if (Peek() == close) {
        ++pos_;
        return absl::OkStatus();
      }
      return Error(absl::StrCat("expected ',' or '", std::string(1, close), "'"));
    }
  }

  absl::Status String() {
    ++pos_;  // the opening quote
    while (!AtEnd()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("control character in a string (escape it)");
      if (c == '\\') {
        ++pos_;
        const char e = Peek();
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            if (!absl::ascii_isxdigit(
                    static_cast<unsigned char>(pos_ + i < text_.size() ? text_[pos_ + i] : 'x'))) {
              return Error("bad \\u escape");
            }
          }
          pos_ += 5;
          continue;
        }
        if (AtEnd() || absl::string_view("\"\\/bfnrt").find(e) == absl::string_view::npos) {
          return Error("bad escape in a string");
        }
      }
      ++pos_;
    }
    return Error("unterminated string");
  }

  absl::Status Number() {
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    } else {
      return Error("bad number");
    }
    if (Peek() == '.') {
      ++pos_;
      if (!absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) return Error("bad number");
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) return Error("bad number");
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    }
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<Value> ParseJson(absl::string_view json) {
  RETURN_IF_ERROR(StrictJsonChecker(json).Check());
  Value value;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &value);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", std::string(status.message())));
  }
  return value;
}

absl::StatusOr<InputTensor> InputFromJsonValue(absl::string_view name, const Value& root,
                                               absl::string_view datatype) {
  const std::optional<Kind> kind = KindOf(datatype);
  if (!kind.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", name, "': unknown datatype '", datatype, "'"));
  }
  std::vector<int64_t> shape;
  for (const Value* v = &root; v->kind_case() == Value::kListValue;
       v = &v->list_value().values(0)) {
    if (shape.size() == static_cast<size_t>(kMaxRank)) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': more than ", kMaxRank, " nested arrays"));
    }
    shape.push_back(v->list_value().values_size());
    if (v->list_value().values_size() == 0) break;
  }
  InputTensor input;
  std::vector<int64_t> path;
  absl::Status status = Flatten(root, shape, *kind, datatype, &path, &input.raw_contents);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "': ", status.message()));
  }
  input.tensor.set_name(std::string(name));
  input.tensor.set_datatype(std::string(datatype));
  for (int64_t dim : shape) input.tensor.add_shape(dim);
  return input;
}

// ---------------------------------------------------------------------------------------------
// Raw contents -> JSON

template <typename F>
void AppendFloat(F value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buffer[64];
    const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out->append(buffer, result.ptr);
  }
}

// Prints element `index` of a tensor.
using ElementPrinter = void (*)(absl::string_view raw, int64_t index, std::string* out);

template <typename T>
void PrintInteger(absl::string_view raw, int64_t index, std::string* out) {
  // Widen so that int8/uint8 print as numbers, not characters.
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  absl::StrAppend(out, static_cast<Wide>(LoadPod<T>(raw, index)));
}

std::optional<ElementPrinter> FixedSizePrinter(Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return [](absl::string_view raw, int64_t index, std::string* out) {
        out->append(raw[static_cast<size_t>(index)] != 0 ? "true" : "false");
      };
    case Kind::kUint8:
      return &PrintInteger<uint8_t>;
    case Kind::kUint16:
      return &PrintInteger<uint16_t>;
    case Kind::kUint32:
      return &PrintInteger<uint32_t>;
    case Kind::kUint64:
      return &PrintInteger<uint64_t>;
    case Kind::kInt8:
      return &PrintInteger<int8_t>;
    case Kind::kInt16:
      return &PrintInteger<int16_t>;
    case Kind::kInt32:
      return &PrintInteger<int32_t>;
    case Kind::kInt64:
      return &PrintInteger<int64_t>;
    case Kind::kFp16:
      return [](absl::string_view raw, int64_t index, std::string* out) {
        AppendFloat(HalfToFloat(LoadPod<uint16_t>(raw, index)), out);
      };
    case Kind::kBf16:
      return [](absl::string_view raw, int64_t index, std::string* out) {
        AppendFloat(Bf16ToFloat(LoadPod<uint16_t>(raw, index)), out);
      };
    case Kind::kFp32:
      return [](absl::string_view raw, int64_t index, std::string* out) {
        AppendFloat(LoadPod<float>(raw, index), out);
      };
    case Kind::kFp64:
      return [](absl::string_view raw, int64_t index, std::string* out) {
        AppendFloat(LoadPod<double>(raw, index), out);
      };
    case Kind::kBytes:
      break;
  }
  return std::nullopt;
}

// Prints the nested arrays of `shape`, calling print(flat_index, out) for each element.
template <typename Print>
void PrintNested(absl::Span<const int64_t> shape, size_t depth, int64_t* next, const Print& print,
                 std::string* out) {
  if (depth == shape.size()) {
    print((*next)++, out);
    return;
  }
  out->push_back('[');
  for (int64_t i = 0; i < shape[depth]; ++i) {
    if (i > 0) out->append(", ");
    PrintNested(shape, depth + 1, next, print, out);
  }
  out->push_back(']');
}

absl::Status CheckPrintable(absl::Span<const int64_t> shape, int64_t count) {
  if (shape.size() > static_cast<size_t>(kMaxRank)) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", shape.size(), " exceeds ", kMaxRank));
  }
  if (count > 0) return absl::OkStatus();
  // No elements: the work is the number of arrays above the first zero dimension.
  int64_t arrays = 1;
  for (int64_t dim : shape) {
    if (dim == 0) break;
    if (arrays > kMaxEmptyArraysPrinted / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(shape), " has too many empty sub-arrays to print"));
    }
    arrays *= dim;
  }
  return absl::OkStatus();
}

// Converts typed `contents` (used by some servers instead of raw contents) to raw framing.
absl::StatusOr<std::string> TypedContentsToRaw(
    const inference::ModelInferResponse::InferOutputTensor& output, Kind kind) {
  const inference::InferTensorContents& contents = output.contents();
  std::string raw;
  // Typed fields are wider than the small integer types; values that do not fit are an error.
  auto narrow = [&raw](const auto& values, auto type_tag) -> absl::Status {
    using T = decltype(type_tag);
    for (const auto v : values) {
      const auto wide = static_cast<int64_t>(v);
      if (wide < int64_t{std::numeric_limits<T>::min()} ||
          wide > int64_t{std::numeric_limits<T>::max()}) {
        return absl::InvalidArgumentError(
            absl::StrCat("typed contents value ", wide, " is out of range"));
      }
      AppendPod(static_cast<T>(wide), &raw);
    }
    return absl::OkStatus();
  };
  switch (kind) {
    case Kind::kBool:
      for (const bool v : contents.bool_contents()) raw.push_back(v ? 1 : 0);
      break;
    case Kind::kUint8:
      RETURN_IF_ERROR(narrow(contents.uint_contents(), uint8_t{}));
      break;
    case Kind::kUint16:
      RETURN_IF_ERROR(narrow(contents.uint_contents(), uint16_t{}));
      break;
    case Kind::kUint32:
      RETURN_IF_ERROR(narrow(contents.uint_contents(), uint32_t{}));
      break;
    case Kind::kUint64:
      for (const uint64_t v : contents.uint64_contents()) AppendPod(v, &raw);
      break;
    case Kind::kInt8:
      RETURN_IF_ERROR(narrow(contents.int_contents(), int8_t{}));
      break;
    case Kind::kInt16:
      RETURN_IF_ERROR(narrow(contents.int_contents(), int16_t{}));
      break;
    case Kind::kInt32:
      RETURN_IF_ERROR(narrow(contents.int_contents(), int32_t{}));
      break;
    case Kind::kInt64:
      for (const int64_t v : contents.int64_contents()) AppendPod(v, &raw);
      break;
    case Kind::kFp32:
      for (const float v : contents.fp32_contents()) AppendPod(v, &raw);
      break;
    case Kind::kFp64:
      for (const double v : contents.fp64_contents()) AppendPod(v, &raw);
      break;
    case Kind::kBytes:
      for (const std::string& v : contents.bytes_contents()) {
        RETURN_IF_ERROR(AppendBytesElement(v, &raw));
      }
      break;
    case Kind::kFp16:
    case Kind::kBf16:
      if (output.has_contents()) {
        return absl::InvalidArgumentError(
            absl::StrCat(output.datatype(), " has no typed contents; raw contents are required"));
      }
      break;
  }
  return raw;
}

}  // namespace

absl::Status SliceRows(int64_t begin, int64_t end, InputTensor* input) {
  const auto& shape = input->tensor.shape();
  const std::string& name = input->tensor.name();
  if (shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", name, "' is a scalar: it has no rows to take"));
  }
  const int64_t rows = shape[0];
  if (end < 0) end = rows;
  if (begin < 0 || begin >= end || end > rows) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "' has ", rows,
                                                   " rows (0:", rows, "); rows ", begin, ":", end,
                                                   " are not inside it"));
  }
  std::string& raw = input->raw_contents;
  if (input->tensor.datatype() == "BYTES") {
    // Elements are length-prefixed: walk to the first element of row `begin` and of row `end`.
    int64_t per_row = 1;
    for (int i = 1; i < shape.size(); ++i) per_row *= shape[i];
    size_t offset = 0, first = 0;
    for (int64_t e = 0; e < end * per_row; ++e) {
      if (e == begin * per_row) first = offset;
      uint32_t length;
      if (offset + 4 > raw.size()) return absl::InvalidArgumentError("malformed BYTES contents");
      std::memcpy(&length, raw.data() + offset, 4);
      offset += 4 + length;
      if (offset > raw.size()) return absl::InvalidArgumentError("malformed BYTES contents");
    }
    if (begin * per_row == end * per_row) first = offset;
    raw = raw.substr(first, offset - first);
  } else {
    if (rows == 0 || raw.size() % rows != 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name,
                                                     "': contents do not split "
                                                     "into ",
                                                     rows, " rows"));
    }
    const size_t row_bytes = raw.size() / rows;
    raw = raw.substr(begin * row_bytes, (end - begin) * row_bytes);
  }
  input->tensor.set_shape(0, end - begin);
  return absl::OkStatus();
}

void AddInput(InputTensor input, inference::ModelInferRequest* request) {
  *request->add_inputs() = std::move(input.tensor);
  request->add_raw_input_contents(std::move(input.raw_contents));
}

absl::StatusOr<InputSpec> ParseInputSpec(absl::string_view spec) {
  const size_t equals = spec.find('=');
  if (equals == absl::string_view::npos || equals == 0 || equals + 1 == spec.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", spec, "' must be NAME=FILE.npy, NAME=FILE.json or NAME=<inline JSON>"));
  }
  return InputSpec{std::string(spec.substr(0, equals)), std::string(spec.substr(equals + 1))};
}

absl::StatusOr<InputTensor> LoadInput(const InputSpec& spec,
                                      const inference::ModelMetadataResponse& metadata) {
  const inference::ModelMetadataResponse::TensorMetadata* declared = nullptr;
  std::vector<absl::string_view> names;
  for (const auto& input : metadata.inputs()) {
    names.push_back(input.name());
    if (input.name() == spec.name) declared = &input;
  }
  if (declared == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", metadata.name(), "' has no input '", spec.name,
                     "' (its inputs: ", absl::StrJoin(names, ", "), ")"));
  }
  auto with_name = [&spec](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("input '", spec.name, "': ", status.message()));
  };
  if (absl::EndsWithIgnoreCase(spec.value, ".npy")) {
    absl::StatusOr<NpyArray> array = ReadNpyFile(spec.value);
    if (!array.ok()) return with_name(array.status());
    if (!declared->datatype().empty() && array->datatype != declared->datatype()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", spec.name, "': ", spec.value, " holds ", array->datatype,
                       " but the model expects ", declared->datatype()));
    }
    return InputFromNpy(spec.name, *std::move(array));
  }
  if (declared->datatype().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", spec.name, "': the model's metadata gives no datatype; use a .npy file"));
  }
  if (absl::EndsWithIgnoreCase(spec.value, ".json")) {
    absl::StatusOr<std::string> text = ReadFileToString(spec.value, kMaxJsonInputFileBytes);
    if (!text.ok()) return with_name(text.status());
    absl::StatusOr<Value> value = ParseJson(*text);
    if (!value.ok()) {
      return with_name(absl::Status(value.status().code(),
                                    absl::StrCat(spec.value, ": ", value.status().message())));
    }
    return InputFromJsonValue(spec.name, *value, declared->datatype());
  }
  absl::StatusOr<Value> value = ParseJson(spec.value);
  if (!value.ok()) {
    return with_name(absl::InvalidArgumentError(
        absl::StrCat("the value is not a file name ending in .npy or .json and not inline JSON (",
                     value.status().message(), ")")));
  }
  return InputFromJsonValue(spec.name, *value, declared->datatype());
}

InputTensor InputFromNpy(absl::string_view name, NpyArray array) {
  InputTensor input;
  input.tensor.set_name(std::string(name));
  input.tensor.set_datatype(std::move(array.datatype));
  for (int64_t dim : array.shape) input.tensor.add_shape(dim);
  input.raw_contents = std::move(array.data);
  return input;
}

absl::StatusOr<InputTensor> InputFromJson(absl::string_view name, absl::string_view json,
                                          absl::string_view datatype) {
  absl::StatusOr<Value> value = ParseJson(json);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", name, "': ", value.status().message()));
  }
  return InputFromJsonValue(name, *value, datatype);
}

absl::StatusOr<std::string> OutputToJson(
    const inference::ModelInferResponse::InferOutputTensor& output, absl::string_view raw,
    const OutputJsonOptions& options) {
  auto error = [&output](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("output '", output.name(), "': ", what));
  };
  const std::optional<Kind> kind = KindOf(output.datatype());
  if (!kind.has_value()) return error(absl::StrCat("unknown datatype '", output.datatype(), "'"));
  const absl::Span<const int64_t> shape(output.shape().data(), output.shape().size());
  absl::StatusOr<int64_t> count = ElementCount(shape);
  if (!count.ok()) return error(count.status().message());
  if (absl::Status status = CheckPrintable(shape, *count); !status.ok()) {
    return error(status.message());
  }

  std::string out = absl::StrCat("{\"name\": ", JsonQuote(output.name()),
                                 ", \"datatype\": ", JsonQuote(output.datatype()),
                                 ", \"shape\": ", ShapeString(shape), ", \"data\": ");
  int64_t next = 0;
  if (*kind == Kind::kBytes) {
    absl::StatusOr<std::vector<absl::string_view>> elements = SplitBytesElements(raw, *count);
    if (!elements.ok()) return error(elements.status().message());
    PrintNested(
        shape, 0, &next,
        [&](int64_t index, std::string* o) {
          const absl::string_view element = (*elements)[static_cast<size_t>(index)];
          if (options.bytes_as_base64) {
            absl::StrAppend(o, "\"", absl::Base64Escape(element), "\"");
          } else {
            o->append(JsonQuote(element));
          }
        },
        &out);
  } else {
    const int element_size = WireElementSize(output.datatype());
    // count * element_size cannot overflow when it equals raw.size(); compare by division.
    if (raw.size() % element_size != 0 ||
        static_cast<uint64_t>(*count) != raw.size() / element_size) {
      return error(absl::StrCat("shape ", ShapeString(shape), " of ", output.datatype(), " needs ",
                                *count, " elements of ", element_size,
                                " bytes but the contents have ", raw.size(), " bytes"));
    }
    const ElementPrinter print = *FixedSizePrinter(*kind);
    PrintNested(
        shape, 0, &next, [&](int64_t index, std::string* o) { print(raw, index, o); }, &out);
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<std::string> ResponseToJson(const inference::ModelInferResponse& response,
                                           const OutputJsonOptions& options) {
  const bool raw = response.raw_output_contents_size() > 0;
  if (raw && response.raw_output_contents_size() != response.outputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response has ", response.outputs_size(), " outputs but ",
                     response.raw_output_contents_size(), " raw_output_contents entries"));
  }
  std::string out = absl::StrCat("{\"model_name\": ", JsonQuote(response.model_name()),
                                 ", \"model_version\": ", JsonQuote(response.model_version()),
                                 ", \"id\": ", JsonQuote(response.id()), ", \"outputs\": [");
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    std::string typed;
    if (!raw) {
      const std::optional<Kind> kind = KindOf(output.datatype());
      if (kind.has_value()) {
        absl::StatusOr<std::string> converted = TypedContentsToRaw(output, *kind);
        if (!converted.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("output '", output.name(), "': ", converted.status().message()));
        }
        typed = *std::move(converted);
      }
    }
    ASSIGN_OR_RETURN(std::string printed,
                     OutputToJson(output, raw ? response.raw_output_contents(i) : typed, options));
    absl::StrAppend(&out, i > 0 ? ",\n  " : "\n  ", printed);
  }
  out.append(response.outputs_size() > 0 ? "\n]}" : "]}");
  return out;
}

std::string JsonQuote(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() + 2);
  out.push_back('"');
  auto escape_byte = [&out](unsigned char c) {
    out.append("\\u00");
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  };
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          if (c < 0x20) {
            escape_byte(c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Length of a well-formed UTF-8 sequence starting here (RFC 3629 table 3-7), else 0: no
    // overlong forms, no surrogates, nothing above U+10FFFF.
    size_t length = 0;
    auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
      return i + k < n && s[i + k] >= lo && s[i + k] <= hi;
    };
    if (c >= 0xc2 && c <= 0xdf) {
      length = cont(1, 0x80, 0xbf) ? 2 : 0;
    } else if (c >= 0xe0 && c <= 0xef) {
      const unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
      const unsigned char hi = c == 0xed ? 0x9f : 0xbf;
      length = cont(1, lo, hi) && cont(2, 0x80, 0xbf) ? 3 : 0;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
      length = cont(1, lo, hi) && cont(2, 0x80, 0xbf) && cont(3, 0x80, 0xbf) ? 4 : 0;
    }
    if (length == 0) {
      escape_byte(c);
      ++i;
    } else {
      out.append(bytes.data() + i, length);
      i += length;
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace gridserve::client
