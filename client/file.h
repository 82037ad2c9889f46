#pragma once

// Minimal file access for the client: sizes are known before anything is allocated.

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridserve::client {

// A regular file opened for reading. Owns the descriptor; not safe for concurrent use.
class ReadOnlyFile {
 public:
  // NOT_FOUND if `path` does not exist; INVALID_ARGUMENT if it is not a regular file;
  // PERMISSION_DENIED or INTERNAL for other open failures. The message names the path.
  static absl::StatusOr<ReadOnlyFile> Open(const std::string& path);

  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile();

  // Size in bytes when the file was opened.
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Reads exactly `length` bytes at `offset`. OUT_OF_RANGE if the range passes the end of the
  // file; the caller checks ranges against size() first, so that is a file that shrank.
  absl::StatusOr<std::string> ReadAt(uint64_t offset, uint64_t length) const;

 private:
  ReadOnlyFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Reads all of `path`. RESOURCE_EXHAUSTED if it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, uint64_t max_bytes);

// Writes `contents` to `path`, replacing it.
absl::Status WriteStringToFile(const std::string& path, absl::string_view contents);

}  // namespace gridserve::client
