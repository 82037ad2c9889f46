#include "client/npy.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/datatype.h"
#include "client/file.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client {
namespace {

constexpr absl::string_view kMagic("\x93NUMPY", 6);
// Magic, two version bytes and the longest (4-byte) header length field.
constexpr size_t kMaxPreambleBytes = 12;

// What the fixed-size preamble says about the header.
struct Preamble {
  int major_version = 0;
  uint64_t header_offset = 0;  // Where the header text starts.
  uint64_t header_bytes = 0;   // Length of the header text.
};

// Parses the magic string, version and header length from the first bytes of a file.
absl::StatusOr<Preamble> ParsePreamble(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a .npy file (missing the \\x93NUMPY magic string)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  Preamble preamble;
  preamble.major_version = p[6];
  const int minor_version = p[7];
  uint64_t length_field_bytes;
  switch (preamble.major_version) {
    case 1:
      length_field_bytes = 2;
      break;
    case 2:
    case 3:
      length_field_bytes = 4;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unsupported .npy format version ",
                                                     preamble.major_version, ".", minor_version,
                                                     " (1.0, 2.0 and 3.0 are supported)"));
  }
  if (minor_version != 0) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported .npy format version ",
                                                   preamble.major_version, ".", minor_version));
  }
  if (bytes.size() < 8 + length_field_bytes) {
    return absl::InvalidArgumentError(".npy file ends inside its header length field");
  }
  uint64_t length = 0;
  for (uint64_t i = 0; i < length_field_bytes; ++i) length |= uint64_t{p[8 + i]} << (8 * i);
  if (length > kMaxNpyHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy header length ", length, " exceeds the limit of ", kMaxNpyHeaderBytes));
  }
  preamble.header_offset = 8 + length_field_bytes;
  preamble.header_bytes = length;
  return preamble;
}

// How the elements of a supported dtype are stored in the file.
enum class StorageKind {
  kNumeric,  // Already in wire layout: copied as is.
  kBytes,    // |S<n>: fixed-width bytes, NUL-padded.
  kUcs4,     // <U<n>: fixed-width UCS-4 code points, NUL-padded.
};

struct Dtype {
  std::string datatype;  // KServe name.
  StorageKind storage = StorageKind::kNumeric;
  int64_t item_bytes = 0;  // Bytes per element in the file.
};

absl::StatusOr<Dtype> ParseDescr(absl::string_view descr) {
  const std::string quoted = absl::StrCat("'", descr, "'");
  if (descr.size() < 2) return absl::InvalidArgumentError(absl::StrCat("bad dtype ", quoted));
  const char order = descr[0];
  const char kind = descr[1];
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    return absl::InvalidArgumentError(absl::StrCat("bad dtype ", quoted, " (no byte order)"));
  }
  if (kind == 'O') {
    return absl::InvalidArgumentError(
        "object arrays (dtype 'O') are not supported: they hold pickled Python objects");
  }
  int64_t size = 0;
  absl::string_view digits = descr.substr(2);
  if (digits.empty() || digits.size() > 9 || !absl::SimpleAtoi(digits, &size) || size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad or unsupported dtype ", quoted));
  }
  if (order == '>' || order == '=') {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", quoted, " is ", order == '>' ? "big-endian" : "native-order",
                     "; only little-endian ('<') arrays are supported (convert with "
                     "a.astype(a.dtype.newbyteorder('<')))"));
  }
  Dtype dtype;
  dtype.item_bytes = size;
  if (kind == 'S' || kind == 'U') {
    dtype.datatype = "BYTES";
    dtype.storage = kind == 'S' ? StorageKind::kBytes : StorageKind::kUcs4;
    if (kind == 'U') {
      if (order != '<') {
        return absl::InvalidArgumentError(absl::StrCat("dtype ", quoted, " needs byte order '<'"));
      }
      dtype.item_bytes = size * 4;
    }
    return dtype;
  }
  static constexpr struct {
    char kind;
    int64_t size;
    absl::string_view datatype;
  } kNumeric[] = {
      {'b', 1, "BOOL"},   {'u', 1, "UINT8"}, {'u', 2, "UINT16"}, {'u', 4, "UINT32"},
      {'u', 8, "UINT64"}, {'i', 1, "INT8"},  {'i', 2, "INT16"},  {'i', 4, "INT32"},
      {'i', 8, "INT64"},  {'f', 2, "FP16"},  {'f', 4, "FP32"},   {'f', 8, "FP64"},
  };
  for (const auto& entry : kNumeric) {
    if (entry.kind == kind && entry.size == size) {
      if (order == '|' && size != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("dtype ", quoted, " has no byte order ('|') but is multi-byte"));
      }
      dtype.datatype = std::string(entry.datatype);
      return dtype;
    }
  }
  return absl::UnimplementedError(absl::StrCat(
      "dtype ", quoted, " is not supported (b1 u1 u2 u4 u8 i1 i2 i4 i8 f2 f4 f8 S U are)"));
}

// Recursive-descent parser for the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// Only the literal forms NumPy writes are accepted.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<int64_t> shape;
  };

  absl::StatusOr<Header> Parse() {
    Header header;
    bool have_descr = false, have_order = false, have_shape = false;
    RETURN_IF_ERROR(Expect('{'));
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      ASSIGN_OR_RETURN(std::string key, ParseString());
      RETURN_IF_ERROR(Expect(':'));
      SkipSpace();
      if (key == "descr") {
        if (have_descr) return Error("duplicate key 'descr'");
        have_descr = true;
        if (Peek() == '[') {
          return absl::UnimplementedError("structured dtypes are not supported");
        }
        ASSIGN_OR_RETURN(header.descr, ParseString());
      } else if (key == "fortran_order") {
        if (have_order) return Error("duplicate key 'fortran_order'");
        have_order = true;
        ASSIGN_OR_RETURN(header.fortran_order, ParseBool());
      } else if (key == "shape") {
        if (have_shape) return Error("duplicate key 'shape'");
        have_shape = true;
        ASSIGN_OR_RETURN(header.shape, ParseShape());
      } else {
        return Error(absl::StrCat("unexpected key '", key, "'"));
      }
      SkipSpace();
      if (Consume('}')) break;
      RETURN_IF_ERROR(Expect(','));
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("text after the closing '}'");
    if (!have_descr || !have_order || !have_shape) {
      return Error("it must have exactly the keys 'descr', 'fortran_order' and 'shape'");
    }
    return header;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("malformed .npy header (", what, ") at offset ",
                                                   pos_, ": ", absl::CEscape(text_)));
  }

  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  bool Consume(char c) {
    if (Peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }

  absl::Status Expect(char c) {
    SkipSpace();
    if (!Consume(c)) return Error(absl::StrCat("expected '", std::string(1, c), "'"));
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ParseString() {
    SkipSpace();
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == absl::string_view::npos) return Error("unterminated string");
    absl::string_view value = text_.substr(pos_ + 1, end - pos_ - 1);
    if (value.find('\\') != absl::string_view::npos) return Error("escape in string");
    pos_ = end + 1;
    return std::string(value);
  }

  absl::StatusOr<bool> ParseBool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    return Error("expected True or False");
  }

  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    std::vector<int64_t> shape;
    RETURN_IF_ERROR(Expect('('));
    while (true) {
      SkipSpace();
      if (Consume(')')) break;
      const size_t start = pos_;
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      }
      int64_t dim = 0;
      if (start == pos_ || !absl::SimpleAtoi(text_.substr(start, pos_ - start), &dim)) {
        return Error("expected a non-negative dimension that fits in int64");
      }
      Consume('L');  // Written by Python 2.
      if (shape.size() == static_cast<size_t>(kMaxNpyDims)) {
        return Error(absl::StrCat("more than ", kMaxNpyDims, " dimensions"));
      }
      shape.push_back(dim);
      SkipSpace();
      if (Consume(')')) break;
      RETURN_IF_ERROR(Expect(','));
    }
    return shape;
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// Everything the header says, validated: where the data starts and how long it must be.
struct Layout {
  Dtype dtype;
  std::vector<int64_t> shape;
  int64_t count = 0;
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
};

absl::StatusOr<Layout> ParseLayout(const Preamble& preamble, absl::string_view header_text) {
  if (header_text.empty() || header_text.back() != '\n') {
    return absl::InvalidArgumentError(".npy header does not end with a newline");
  }
  ASSIGN_OR_RETURN(HeaderParser::Header header, HeaderParser(header_text).Parse());
  if (header.fortran_order) {
    return absl::InvalidArgumentError(
        "Fortran-order arrays are not supported; save np.ascontiguousarray(a) instead");
  }
  Layout layout;
  ASSIGN_OR_RETURN(layout.dtype, ParseDescr(header.descr));
  layout.shape = std::move(header.shape);
  ASSIGN_OR_RETURN(layout.count, ElementCount(layout.shape));
  ASSIGN_OR_RETURN(const int64_t bytes, ByteCount(layout.shape, layout.dtype.item_bytes));
  layout.data_offset = preamble.header_offset + preamble.header_bytes;
  layout.data_bytes = static_cast<uint64_t>(bytes);
  return layout;
}

absl::Status CheckDataSize(const Layout& layout, uint64_t total_bytes) {
  const uint64_t available = total_bytes - layout.data_offset;  // Caller ensured offset <= total.
  if (available != layout.data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        ".npy header promises ", layout.data_bytes, " data bytes (dtype ", layout.dtype.datatype,
        ", shape (", absl::StrJoin(layout.shape, ", "), ")) but the file has ", available,
        available < layout.data_bytes ? " (truncated)" : " (trailing bytes)"));
  }
  return absl::OkStatus();
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

// Converts fixed-width string elements to BYTES framing.
absl::StatusOr<std::string> ToBytesFraming(const Layout& layout, absl::string_view data) {
  std::string raw;
  // Each element grows by its 4-byte length; UCS-4 to UTF-8 never grows.
  raw.reserve(data.size() + 4 * static_cast<size_t>(layout.count));
  const auto width = static_cast<size_t>(layout.dtype.item_bytes);
  std::string element;
  for (int64_t i = 0; i < layout.count; ++i) {
    absl::string_view item = data.substr(static_cast<size_t>(i) * width, width);
    element.clear();
    if (layout.dtype.storage == StorageKind::kBytes) {
      element.assign(item.data(), item.size());
      while (!element.empty() && element.back() == '\0') element.pop_back();
    } else {
      size_t length = width / 4;
      auto code_point_at = [&item](size_t k) {
        const auto* p = reinterpret_cast<const unsigned char*>(item.data() + 4 * k);
        return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
               (uint32_t{p[3]} << 24);
      };
      while (length > 0 && code_point_at(length - 1) == 0) --length;
      for (size_t k = 0; k < length; ++k) {
        const uint32_t code_point = code_point_at(k);
        if (code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "element ", i, " of a unicode array holds invalid code point ", code_point));
        }
        AppendUtf8(code_point, &element);
      }
    }
    RETURN_IF_ERROR(AppendBytesElement(element, &raw));
  }
  return raw;
}

absl::StatusOr<NpyArray> Finish(Layout layout, std::string data) {
  NpyArray array;
  array.datatype = layout.dtype.datatype;
  array.shape = std::move(layout.shape);
  if (layout.dtype.storage == StorageKind::kNumeric) {
    array.data = std::move(data);
  } else {
    ASSIGN_OR_RETURN(array.data, ToBytesFraming(layout, data));
  }
  return array;
}

std::optional<absl::string_view> DescrFor(absl::string_view datatype) {
  static constexpr struct {
    absl::string_view datatype;
    absl::string_view descr;
  } kDescrs[] = {
      {"BOOL", "|b1"},   {"UINT8", "|u1"}, {"UINT16", "<u2"}, {"UINT32", "<u4"},
      {"UINT64", "<u8"}, {"INT8", "|i1"},  {"INT16", "<i2"},  {"INT32", "<i4"},
      {"INT64", "<i8"},  {"FP16", "<f2"},  {"FP32", "<f4"},   {"FP64", "<f8"},
  };
  for (const auto& entry : kDescrs) {
    if (entry.datatype == datatype) return entry.descr;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(absl::string_view contents) {
  ASSIGN_OR_RETURN(const Preamble preamble, ParsePreamble(contents.substr(0, kMaxPreambleBytes)));
  if (contents.size() - preamble.header_offset < preamble.header_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(".npy header length ", preamble.header_bytes,
                                                   " passes the end of the ", contents.size(),
                                                   "-byte file"));
  }
  ASSIGN_OR_RETURN(Layout layout, ParseLayout(preamble, contents.substr(preamble.header_offset,
                                                                        preamble.header_bytes)));
  RETURN_IF_ERROR(CheckDataSize(layout, contents.size()));
  std::string data(contents.substr(layout.data_offset));
  return Finish(std::move(layout), std::move(data));
}

absl::StatusOr<NpyArray> ReadNpyFile(const std::string& path) {
  auto with_path = [&path](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  };
  ASSIGN_OR_RETURN(const ReadOnlyFile file, ReadOnlyFile::Open(path));
  const uint64_t size = file.size();
  absl::StatusOr<std::string> start = file.ReadAt(0, std::min<uint64_t>(size, kMaxPreambleBytes));
  if (!start.ok()) return start.status();
  absl::StatusOr<Preamble> preamble = ParsePreamble(*start);
  if (!preamble.ok()) return with_path(preamble.status());
  if (size - preamble->header_offset < preamble->header_bytes) {
    return with_path(
        absl::InvalidArgumentError(absl::StrCat(".npy header length ", preamble->header_bytes,
                                                " passes the end of the ", size, "-byte file")));
  }
  ASSIGN_OR_RETURN(const std::string header_text,
                   file.ReadAt(preamble->header_offset, preamble->header_bytes));
  absl::StatusOr<Layout> layout = ParseLayout(*preamble, header_text);
  if (!layout.ok()) return with_path(layout.status());
  if (absl::Status status = CheckDataSize(*layout, size); !status.ok()) return with_path(status);
  // Only now, with the size confirmed by the file system, is the data buffer allocated.
  ASSIGN_OR_RETURN(std::string data, file.ReadAt(layout->data_offset, layout->data_bytes));
  absl::StatusOr<NpyArray> array = Finish(*std::move(layout), std::move(data));
  if (!array.ok()) return with_path(array.status());
  return array;
}

absl::StatusOr<std::string> SerializeNpy(const NpyArray& array) {
  const std::optional<absl::string_view> descr = DescrFor(array.datatype);
  if (!descr.has_value()) {
    if (array.datatype == "BF16" || array.datatype == "BYTES") {
      return absl::UnimplementedError(absl::StrCat(array.datatype, " has no lossless .npy dtype"));
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown datatype '", array.datatype, "'"));
  }
  if (array.shape.size() > static_cast<size_t>(kMaxNpyDims)) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxNpyDims, " dimensions"));
  }
  ASSIGN_OR_RETURN(const int64_t bytes, ByteCount(array.shape, WireElementSize(array.datatype)));
  if (static_cast<uint64_t>(bytes) != array.data.size()) {
    return absl::InvalidArgumentError(absl::StrCat("shape (", absl::StrJoin(array.shape, ", "),
                                                   ") of ", array.datatype, " needs ", bytes,
                                                   " bytes, data has ", array.data.size()));
  }
  std::string shape = absl::StrJoin(array.shape, ", ");
  if (array.shape.size() == 1) shape += ",";
  std::string header =
      absl::StrCat("{'descr': '", *descr, "', 'fortran_order': False, 'shape': (", shape, "), }");
  // Pad with spaces and a final newline so that the data starts at a multiple of 64.
  const bool version2 = header.size() + 1 + 10 > std::numeric_limits<uint16_t>::max();
  const size_t preamble_bytes = version2 ? 12 : 10;
  const size_t unpadded = preamble_bytes + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out(kMagic);
  out.push_back(static_cast<char>(version2 ? 2 : 1));
  out.push_back('\0');
  const size_t length = header.size();
  for (size_t i = 0; i < (version2 ? 4u : 2u); ++i) {
    out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  }
  out += header;
  out += array.data;
  return out;
}

absl::Status WriteNpyFile(const std::string& path, const NpyArray& array) {
  ASSIGN_OR_RETURN(const std::string contents, SerializeNpy(array));
  return WriteStringToFile(path, contents);
}

}  // namespace gridserve::client
