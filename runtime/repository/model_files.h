#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridserve::repository {

// Checks a model or alias name that becomes a folder or key: non-empty, at most 255 bytes, no
// '/', '\\', NUL or control characters, not "." or "..", not starting with '.' (hidden folders
// hold staging and registry files). INVALID_ARGUMENT naming `what` otherwise.
absl::Status ValidateName(absl::string_view name, absl::string_view what);

// Checks an upload path "<version>/<relative path>" (Triton's `file:` parameter without the
// prefix): a positive integer version folder, then one or more segments that each pass
// ValidateName. Returns the version.
absl::StatusOr<int64_t> ValidateUploadPath(absl::string_view path);

// A summary of a model folder that changes whenever config.pbtxt or any file under a version
// folder is added, removed, resized or rewritten (names, sizes and mtimes, not contents):
// polling compares two of them to see a folder that is still being written.
struct ModelFingerprint {
  std::string config;                       // of config.pbtxt ("" when absent)
  std::map<int64_t, std::string> versions;  // per numeric version folder
  bool operator==(const ModelFingerprint& o) const {
    return config == o.config && versions == o.versions;
  }
  bool operator!=(const ModelFingerprint& o) const { return !(*this == o); }
};
ModelFingerprint FingerprintModel(const std::string& model_dir);

// The model file's identity, for the registry.
struct FileDigest {
  std::string sha256;  // lowercase hex
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};
absl::StatusOr<FileDigest> DigestFile(const std::string& path);
std::string Sha256Hex(absl::string_view bytes);

// Writes `bytes` to `path` (creating parent folders) and fsyncs the file and its folder.
absl::Status WriteFileDurably(const std::string& path, absl::string_view bytes);

}  // namespace gridserve::repository
