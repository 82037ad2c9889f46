#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/registry/metadata_store.h"

struct sqlite3;

namespace gridserve::registry {

// The embedded MetadataStore: one SQLite file in WAL mode (readers never block the writer, a
// crash at any point leaves the last committed state), synchronous=FULL so an OK write is on
// disk. The schema is versioned with PRAGMA user_version and migrated forward on open (the
// training-jobs tables become migration 2). Thread-safe: one connection behind a mutex (writes
// are rare: loads, alias and split changes).
class SqliteMetadataStore final : public MetadataStore {
 public:
  struct Options {
    // The database file; its folder must exist. "-wal" and "-shm" files appear beside it.
    std::string path;
  };

  // Opens (or creates) the store. A file that is not a SQLite database, or fails SQLite's
  // integrity check, is moved aside to "<path>.corrupt-<unix seconds>" with an error logged, and a
  // new empty store is created in its place (the ModelManager then rebuilds it from the
  // repository); `*recreated` (may be null) says so. Errors only when no store can be created.
  static absl::StatusOr<std::unique_ptr<SqliteMetadataStore>> Open(Options options,
                                                                   bool* recreated = nullptr);
  ~SqliteMetadataStore() override;

  absl::StatusOr<VersionRecord> GetVersion(absl::string_view model, int64_t version) override;
  absl::StatusOr<std::vector<VersionRecord>> ListVersions(absl::string_view model) override;
  absl::Status PutVersion(const VersionRecord& record) override;
  absl::Status DeleteVersion(absl::string_view model, int64_t version) override;
  absl::Status SetAlias(absl::string_view model, absl::string_view alias, int64_t version) override;
  absl::Status DeleteAlias(absl::string_view model, absl::string_view alias) override;
  absl::StatusOr<std::map<std::string, std::map<std::string, int64_t>>> ListAliases(
      absl::string_view model) override;
  absl::Status SetTrafficSplit(absl::string_view model, const TrafficSplit& split) override;
  absl::StatusOr<std::map<std::string, TrafficSplit>> ListTrafficSplits(
      absl::string_view model) override;

  const std::string& path() const { return path_; }

 private:
  SqliteMetadataStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  // Runs `sql` (no results) on db_; mu_ held.
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<VersionRecord>> ListVersionsLocked(absl::string_view model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace gridserve::registry
