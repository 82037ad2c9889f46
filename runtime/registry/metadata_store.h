#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridserve::registry {

// Where a model version came from (VersionRecord::source): "file" (found in the repository),
// "upload" (sent with RepositoryModelLoad file: parameters) or "training-job:<id>".
inline constexpr char kSourceFile[] = "file";
inline constexpr char kSourceUpload[] = "upload";
inline constexpr char kSourceTrainingJobPrefix[] = "training-job:";

// What the registry knows about one model version. The model file itself stays in the
// repository; this is its identity (sha256, size) and lineage.
struct VersionRecord {
  std::string model;
  int64_t version = 0;
  int64_t created_at_ms = 0;  // Unix time, milliseconds
  std::string sha256;         // lowercase hex of the model file
  int64_t size_bytes = 0;     // of the model file
  // The model file's mtime when sha256 was taken: lets reconciliation skip hashing unchanged
  // files. Not part of the public record.
  int64_t file_mtime_ns = 0;
  std::string source = kSourceFile;
  int64_t parent_version = 0;  // 0: none
  std::map<std::string, std::string> labels;
  std::map<std::string, double> metrics;  // e.g. {"val_accuracy": 0.991}, set by the producer

  bool operator==(const VersionRecord& other) const;
};

// Weight per version for requests that name no version (a canary split). Weights are >= 0 and
// sum to more than 0; they need not sum to 1 or 100.
using TrafficSplit = std::map<int64_t, double>;

// A durable store of model-version metadata, aliases and traffic splits: the contract that the
// embedded SQLite store (sqlite_metadata_store.h) and a shared PostgreSQL store implement. Every
// write is durable when it returns OK (survives kill -9). Records are keyed by (model, version);
// the store checks no references (an alias to a version without a record is the caller's
// business: the ModelManager validates before writing). Implementations are thread-safe.
//
// The training-jobs issue adds its jobs to the same store as a further interface implemented by
// the same classes (one file, one transaction log), not a second database.
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Versions. GetVersion: NOT_FOUND when there is no record.
  virtual absl::StatusOr<VersionRecord> GetVersion(absl::string_view model, int64_t version) = 0;
  // Every record of `model`, by version; every record of every model (by model, version) when
  // `model` is empty.
  virtual absl::StatusOr<std::vector<VersionRecord>> ListVersions(absl::string_view model) = 0;
  // Inserts or replaces the record (labels and metrics included) in one transaction.
  virtual absl::Status PutVersion(const VersionRecord& record) = 0;
  // Removes the record and every alias and split entry that points at it. OK when absent.
  virtual absl::Status DeleteVersion(absl::string_view model, int64_t version) = 0;

  // Aliases: name -> version, per model.
  virtual absl::Status SetAlias(absl::string_view model, absl::string_view alias,
                                int64_t version) = 0;
  // NOT_FOUND when the alias does not exist.
  virtual absl::Status DeleteAlias(absl::string_view model, absl::string_view alias) = 0;
  // model -> alias -> version, for `model` or for all models when empty.
  virtual absl::StatusOr<std::map<std::string, std::map<std::string, int64_t>>> ListAliases(
      absl::string_view model) = 0;

  // Traffic splits: replaces the model's split; an empty split removes it.
  virtual absl::Status SetTrafficSplit(absl::string_view model, const TrafficSplit& split) = 0;
  // model -> split, for `model` or for all models when empty.
  virtual absl::StatusOr<std::map<std::string, TrafficSplit>> ListTrafficSplits(
      absl::string_view model) = 0;
};

}  // namespace gridserve::registry
