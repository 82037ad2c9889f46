#include "runtime/registry/sqlite_metadata_store.h"

#include <sqlite3.h>

#include <ctime>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/core/logging.h"
#include "runtime/core/status_macros.h"

namespace gridserve::registry {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = core::ModuleLogger("registry");
  return logger;
}

// Schema migrations, applied in order; PRAGMA user_version counts those applied. Append only:
// never edit a migration that has shipped.
constexpr const char* kMigrations[] = {
    // 1: versions with lineage, labels and metrics; aliases; traffic splits.
    R"sql(
CREATE TABLE model_versions (
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  file_mtime_ns INTEGER NOT NULL,
  source TEXT NOT NULL,
  parent_version INTEGER NOT NULL,
  PRIMARY KEY (model, version));
CREATE TABLE version_labels (
  model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (model, version, key));
CREATE TABLE version_metrics (
  model TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (model, version, name));
CREATE TABLE aliases (
  model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (model, alias));
CREATE TABLE traffic_splits (
  model TEXT NOT NULL, version INTEGER NOT NULL, weight REAL NOT NULL,
  PRIMARY KEY (model, version));
)sql",
};

// A prepared statement, finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    status_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status status() const {
    if (status_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("registry: ", sqlite3_errmsg(db_)));
  }
  Statement& Bind(int i, absl::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int i, int64_t value) {
    sqlite3_bind_int64(stmt_, i, value);
    return *this;
  }
  Statement& Bind(int i, double value) {
    sqlite3_bind_double(stmt_, i, value);
    return *this;
  }
  // Advances: true with a row, false when done; errors as a status.
  absl::StatusOr<bool> Step() {
    RETURN_IF_ERROR(status());
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return absl::InternalError(absl::StrCat("registry: ", sqlite3_errmsg(db_)));
  }
  absl::Status Run() { return Step().status(); }
  std::string Text(int col) const {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    return text == nullptr
               ? std::string()
               : std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int status_;
};

absl::Status ExecOn(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status status = absl::InternalError(
        absl::StrCat("registry: ", error != nullptr ? error : sqlite3_errmsg(db)));
    sqlite3_free(error);
    return status;
  }
  return absl::OkStatus();
}

// Opens `path`, checks it is a healthy SQLite database and migrates it. The connection is
// closed on error.
absl::StatusOr<sqlite3*> OpenAndMigrate(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  auto fail = [&](absl::string_view what) -> absl::Status {
    absl::Status status = absl::DataLossError(
        absl::StrCat("registry ", path, ": ", what, ": ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return status;
  };
  if (rc != SQLITE_OK) return fail("cannot open");
  sqlite3_busy_timeout(db, 5000);
  {
    // "file is not a database" surfaces at the first read.
    Statement check(db, "PRAGMA quick_check");
    absl::StatusOr<bool> row = check.Step();
    if (!row.ok() || !*row || check.Text(0) != "ok") return fail("integrity check failed");
  }
  if (!ExecOn(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;").ok()) {
    return fail("cannot enable WAL");
  }
  int64_t applied = 0;
  {
    Statement version(db, "PRAGMA user_version");
    absl::StatusOr<bool> row = version.Step();
    if (!row.ok() || !*row) return fail("cannot read schema version");
    applied = version.Int(0);
  }
  constexpr int64_t kKnown = sizeof(kMigrations) / sizeof(kMigrations[0]);
  if (applied > kKnown)
    return fail(absl::StrCat("schema version ", applied,
                             " is newer than this "
                             "gridserve (",
                             kKnown, ")"));
  for (int64_t i = applied; i < kKnown; ++i) {
    std::string sql = absl::StrCat("BEGIN IMMEDIATE;", kMigrations[i],
                                   "PRAGMA user_version = ", i + 1, "; COMMIT;");
    if (!ExecOn(db, sql.c_str()).ok()) {
      ExecOn(db, "ROLLBACK").IgnoreError();
      return fail(absl::StrCat("migration ", i + 1, " failed"));
    }
  }
  return db;
}

// A transaction rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { status_ = ExecOn(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (status_.ok() && !done_) ExecOn(db_, "ROLLBACK").IgnoreError();
  }
  const absl::Status& status() const { return status_; }
  absl::Status Commit() {
    done_ = true;
    return ExecOn(db_, "COMMIT");
  }

 private:
  sqlite3* db_;
  absl::Status status_;
  bool done_ = false;
};

}  // namespace

bool VersionRecord::operator==(const VersionRecord& o) const {
  return model == o.model && version == o.version && created_at_ms == o.created_at_ms &&
         sha256 == o.sha256 && size_bytes == o.size_bytes && file_mtime_ns == o.file_mtime_ns &&
         source == o.source && parent_version == o.parent_version && labels == o.labels &&
         metrics == o.metrics;
}

absl::StatusOr<std::unique_ptr<SqliteMetadataStore>> SqliteMetadataStore::Open(Options options,
                                                                               bool* recreated) {
  if (recreated != nullptr) *recreated = false;
  if (options.path.empty()) return absl::InvalidArgumentError("registry path is empty");
  absl::StatusOr<sqlite3*> db = OpenAndMigrate(options.path);
  if (!db.ok()) {
    // Keep the damaged file for inspection and start over: the repository on disk is the source
    // of truth for versions, so the caller can rebuild them.
    std::string aside = absl::StrCat(options.path, ".corrupt-", std::time(nullptr));
    Log()->error(
        "{}; moving it to {} and creating a new registry (aliases and splits are lost, "
        "versions are rebuilt from the repository)",
        std::string(db.status().message()), aside);
    std::error_code ec;
    std::filesystem::rename(options.path, aside, ec);
    for (const char* suffix : {"-wal", "-shm"}) {
      std::filesystem::rename(options.path + suffix, aside + suffix, ec);
    }
    db = OpenAndMigrate(options.path);
    if (!db.ok()) return db.status();
    if (recreated != nullptr) *recreated = true;
  }
  return std::unique_ptr<SqliteMetadataStore>(new SqliteMetadataStore(options.path, *db));
}

SqliteMetadataStore::~SqliteMetadataStore() { sqlite3_close(db_); }

absl::Status SqliteMetadataStore::Exec(const char* sql) { return ExecOn(db_, sql); }

absl::StatusOr<VersionRecord> SqliteMetadataStore::GetVersion(absl::string_view model,
                                                              int64_t version) {
  ASSIGN_OR_RETURN(std::vector<VersionRecord> all, ListVersions(model));
  for (VersionRecord& record : all) {
    if (record.version == version) return std::move(record);
  }
  return absl::NotFoundError(
      absl::StrCat("model '", model, "' version ", version, " has no registry record"));
}

absl::StatusOr<std::vector<VersionRecord>> SqliteMetadataStore::ListVersions(
    absl::string_view model) {
  absl::MutexLock lock(&mu_);
  return ListVersionsLocked(model);
}

absl::StatusOr<std::vector<VersionRecord>> SqliteMetadataStore::ListVersionsLocked(
    absl::string_view model) {
  std::vector<VersionRecord> records;
  std::map<std::pair<std::string, int64_t>, size_t> index;
  {
    Statement select(db_,
                     "SELECT model, version, created_at_ms, sha256, size_bytes, file_mtime_ns, "
                     "source, parent_version FROM model_versions WHERE ?1 = '' OR model = ?1 "
                     "ORDER BY model, version");
    select.Bind(1, model);
    while (true) {
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      VersionRecord r;
      r.model = select.Text(0);
      r.version = select.Int(1);
      r.created_at_ms = select.Int(2);
      r.sha256 = select.Text(3);
      r.size_bytes = select.Int(4);
      r.file_mtime_ns = select.Int(5);
      r.source = select.Text(6);
      r.parent_version = select.Int(7);
      index[{r.model, r.version}] = records.size();
      records.push_back(std::move(r));
    }
  }
  Statement labels(db_,
                   "SELECT model, version, key, value FROM version_labels WHERE ?1 = '' OR "
                   "model = ?1");
  labels.Bind(1, model);
  while (true) {
    ASSIGN_OR_RETURN(bool row, labels.Step());
    if (!row) break;
    auto it = index.find({labels.Text(0), labels.Int(1)});
    if (it != index.end()) records[it->second].labels[labels.Text(2)] = labels.Text(3);
  }
  Statement metrics(db_,
                    "SELECT model, version, name, value FROM version_metrics WHERE ?1 = '' OR "
                    "model = ?1");
  metrics.Bind(1, model);
  while (true) {
    ASSIGN_OR_RETURN(bool row, metrics.Step());
    if (!row) break;
    auto it = index.find({metrics.Text(0), metrics.Int(1)});
    if (it != index.end()) records[it->second].metrics[metrics.Text(2)] = metrics.Real(3);
  }
  return records;
}

absl::Status SqliteMetadataStore::PutVersion(const VersionRecord& r) {
  absl::MutexLock lock(&mu_);
  Transaction tx(db_);
  RETURN_IF_ERROR(tx.status());
  {
    Statement put(db_,
                  "INSERT OR REPLACE INTO model_versions (model, version, created_at_ms, sha256, "
                  "size_bytes, file_mtime_ns, source, parent_version) VALUES (?,?,?,?,?,?,?,?)");
    put.Bind(1, r.model).Bind(2, r.version).Bind(3, r.created_at_ms).Bind(4, r.sha256);
    put.Bind(5, r.size_bytes).Bind(6, r.file_mtime_ns).Bind(7, r.source).Bind(8, r.parent_version);
    RETURN_IF_ERROR(put.Run());
  }
  for (const char* sql : {"DELETE FROM version_labels WHERE model = ? AND version = ?",
                          "DELETE FROM version_metrics WHERE model = ? AND version = ?"}) {
    Statement clear(db_, sql);
    clear.Bind(1, r.model).Bind(2, r.version);
    RETURN_IF_ERROR(clear.Run());
  }
  for (const auto& [key, value] : r.labels) {
    Statement put(db_, "INSERT INTO version_labels (model, version, key, value) VALUES (?,?,?,?)");
    put.Bind(1, r.model).Bind(2, r.version).Bind(3, key).Bind(4, value);
    RETURN_IF_ERROR(put.Run());
  }
  for (const auto& [name, value] : r.metrics) {
    Statement put(db_,
                  "INSERT INTO version_metrics (model, version, name, value) VALUES (?,?,?,?)");
    put.Bind(1, r.model).Bind(2, r.version).Bind(3, name).Bind(4, value);
    RETURN_IF_ERROR(put.Run());
  }
  return tx.Commit();
}

absl::Status SqliteMetadataStore::DeleteVersion(absl::string_view model, int64_t version) {
  absl::MutexLock lock(&mu_);
  Transaction tx(db_);
  RETURN_IF_ERROR(tx.status());
  for (const char* sql : {"DELETE FROM model_versions WHERE model = ? AND version = ?",
                          "DELETE FROM version_labels WHERE model = ? AND version = ?",
                          "DELETE FROM version_metrics WHERE model = ? AND version = ?",
                          "DELETE FROM aliases WHERE model = ? AND version = ?",
                          "DELETE FROM traffic_splits WHERE model = ? AND version = ?"}) {
    Statement del(db_, sql);
    del.Bind(1, model).Bind(2, version);
    RETURN_IF_ERROR(del.Run());
  }
  return tx.Commit();
}

absl::Status SqliteMetadataStore::SetAlias(absl::string_view model, absl::string_view alias,
                                           int64_t version) {
  absl::MutexLock lock(&mu_);
  Statement put(db_, "INSERT OR REPLACE INTO aliases (model, alias, version) VALUES (?,?,?)");
  put.Bind(1, model).Bind(2, alias).Bind(3, version);
  return put.Run();
}

absl::Status SqliteMetadataStore::DeleteAlias(absl::string_view model, absl::string_view alias) {
  absl::MutexLock lock(&mu_);
  Statement del(db_, "DELETE FROM aliases WHERE model = ? AND alias = ?");
  del.Bind(1, model).Bind(2, alias);
  RETURN_IF_ERROR(del.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no alias '", alias, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::map<std::string, int64_t>>>
SqliteMetadataStore::ListAliases(absl::string_view model) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::map<std::string, int64_t>> aliases;
  Statement select(db_, "SELECT model, alias, version FROM aliases WHERE ?1 = '' OR model = ?1");
  select.Bind(1, model);
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    aliases[select.Text(0)][select.Text(1)] = select.Int(2);
  }
  return aliases;
}

absl::Status SqliteMetadataStore::SetTrafficSplit(absl::string_view model,
                                                  const TrafficSplit& split) {
  absl::MutexLock lock(&mu_);
  Transaction tx(db_);
  RETURN_IF_ERROR(tx.status());
  {
    Statement clear(db_, "DELETE FROM traffic_splits WHERE model = ?");
    clear.Bind(1, model);
    RETURN_IF_ERROR(clear.Run());
  }
  for (const auto& [version, weight] : split) {
    Statement put(db_, "INSERT INTO traffic_splits (model, version, weight) VALUES (?,?,?)");
    put.Bind(1, model).Bind(2, version).Bind(3, weight);
    RETURN_IF_ERROR(put.Run());
  }
  return tx.Commit();
}

absl::StatusOr<std::map<std::string, TrafficSplit>> SqliteMetadataStore::ListTrafficSplits(
    absl::string_view model) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, TrafficSplit> splits;
  Statement select(db_,
                   "SELECT model, version, weight FROM traffic_splits WHERE ?1 = '' OR model = ?1");
  select.Bind(1, model);
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    splits[select.Text(0)][select.Int(1)] = select.Real(2);
  }
  return splits;
}

}  // namespace gridserve::registry
