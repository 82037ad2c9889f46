#include "runtime/repository/model_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

std::string Hex(const unsigned char* data, unsigned int size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 15]);
  }
  return hex;
}

int64_t MtimeNs(const fs::path& path) {
  std::error_code ec;
  auto time = fs::last_write_time(path, ec);
  if (ec) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

// "<relative path>:<size>:<mtime>;" for every regular file under `dir`, sorted.
std::string FingerprintTree(const fs::path& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    entries.push_back(absl::StrCat(fs::relative(it->path(), dir, file_ec).string(), ":",
                                   it->file_size(file_ec), ":", MtimeNs(it->path()), ";"));
  }
  std::sort(entries.begin(), entries.end());
  return absl::StrJoin(entries, "");
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, " to sync"));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateName(absl::string_view name, absl::string_view what) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " must not be empty"));
  if (name.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is longer than 255 bytes"));
  }
  if (name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", name, "' must not start with '.' (or be '.' or '..')"));
  }
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " must not contain '/', '\\', NUL or control characters"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ValidateUploadPath(absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  int64_t version = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &version) || version <= 0 ||
      parts[0][0] == '+' || parts[0][0] == '0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload file '", absl::CHexEscape(path),
        "' must be '<version>/<name>' with a positive integer version (Triton's file:1/model.pt)"));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (absl::Status s = ValidateName(parts[i], "upload file name segment"); !s.ok()) return s;
  }
  return version;
}

ModelFingerprint FingerprintModel(const std::string& model_dir) {
  ModelFingerprint fp;
  std::error_code ec;
  fs::path config = fs::path(model_dir) / "config.pbtxt";
  if (fs::is_regular_file(config, ec)) {
    fp.config = absl::StrCat(fs::file_size(config, ec), ":", MtimeNs(config));
  }
  for (fs::directory_iterator it(model_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    int64_t version;
    std::error_code dir_ec;
    if (name.empty() || name[0] == '.' || !absl::SimpleAtoi(name, &version) ||
        !it->is_directory(dir_ec)) {
      continue;
    }
    fp.versions[version] = FingerprintTree(it->path());
  }
  return fp;
}

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  FileDigest digest;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), buffer.size());
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n));
    digest.size_bytes += n;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &size);
  digest.sha256 = Hex(md, size);
  digest.mtime_ns = MtimeNs(path);
  return digest;
}

absl::Status WriteFileDurably(const std::string& path, absl::string_view bytes) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create folder for ", path));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", path));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    written += static_cast<size_t>(n);
  }
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot sync ", path));
  return FsyncPath(fs::path(path).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace gridserve::repository
