#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "inference/model_config.pb.h"
#include "runtime/backend/backend.h"
#include "runtime/core/clock.h"
#include "runtime/registry/metadata_store.h"
#include "runtime/repository/load_pool.h"
#include "runtime/repository/model_files.h"
#include "runtime/scheduler/execution_observer.h"
#include "runtime/scheduler/inference_statistics.h"
#include "runtime/scheduler/scheduler.h"

namespace gridserve::repository {

// Lifecycle of one model version (one state machine per version, driven by ModelManager):
//   (new) --> kLoading --> kReady --> kUnloading --> kUnavailable ("unloaded")
//                  \------> kUnavailable (load failed; the reason is kept and reported)
//   kUnavailable --> kLoading (load or poll again)
// A reload of a ready version loads the replacement beside it (the index shows the serving
// version kReady meanwhile), swaps it in atomically, then drains and unloads the old one; if the
// replacement fails, the old one keeps serving and the failure is the version's reason.
enum class ModelState { kLoading, kReady, kUnavailable, kUnloading };

// "LOADING", "READY", "UNAVAILABLE", "UNLOADING" (Triton's RepositoryIndex states).
absl::string_view ModelStateName(ModelState state);

// A ready model version: its config, instances, scheduler and statistics. Shared by the manager
// and by every in-flight request that uses it (InferenceRequest::model_handle), so unloading
// never frees a model in use. Thread-safe.
class LoadedModel {
 public:
  // `statistics` must be one of `scheduler`'s observers.
  LoadedModel(inference::ModelConfig config, int64_t version,
              std::unique_ptr<backend::Backend> backend,
              std::shared_ptr<const scheduler::InferenceStatistics> statistics,
              std::unique_ptr<scheduler::Scheduler> scheduler);
  ~LoadedModel();

  const inference::ModelConfig& config() const { return config_; }
  const std::string& name() const { return config_.name(); }
  int64_t version() const { return version_; }
  scheduler::Scheduler& scheduler() { return *scheduler_; }
  // Triton's ModelStatistics for this version since it loaded.
  const scheduler::InferenceStatistics& statistics() const { return *statistics_; }

 private:
  const inference::ModelConfig config_;
  const int64_t version_;
  const std::shared_ptr<const scheduler::InferenceStatistics> statistics_;
  const std::unique_ptr<backend::Backend> backend_;
  // Last, so it stops (its instance threads use the backend) before anything else goes.
  const std::unique_ptr<scheduler::Scheduler> scheduler_;
};

// Triton's --model-control-mode.
enum class ControlMode {
  kNone,      // load everything at start; no changes afterwards (Triton's default)
  kPoll,      // load everything at start, then follow the repository on disk
  kExplicit,  // load what --load-model names at start; RepositoryModelLoad/Unload change it
};
absl::StatusOr<ControlMode> ParseControlMode(absl::string_view text);
absl::string_view ControlModeName(ControlMode mode);

// What RepositoryModelLoad asks for besides the model name.
struct LoadRequest {
  // Triton's `config` parameter: a ModelConfig as JSON that replaces config.pbtxt for this load.
  // With `files` it is written as the model's config.pbtxt. Empty: config.pbtxt on disk.
  std::string config_json;
  // Triton's `file:<version>/<name>` parameters: relative path -> content. The versions named
  // must not exist yet; they are staged in a hidden folder, synced and renamed into place.
  std::map<std::string, std::string> files;
  // Registry lineage for uploaded versions (0: none).
  int64_t parent_version = 0;
};

// One model load attempt, reported to Options::on_load (for metrics).
struct LoadEvent {
  std::string model;
  int64_t version = 0;
  bool ok = false;
  double seconds = 0;
};

// Owns the models of one or more Triton-layout repositories (`<repo>/<model>/config.pbtxt`,
// `<repo>/<model>/<version>/model.pt`): loads each model's versions per its version policy and
// the control mode, keeps a failed version's reason while everything else serves, resolves
// name + version (or alias, or traffic split) to a ready LoadedModel, reloads and unloads with
// an atomic swap, and keeps the registry (MetadataStore) in step with the disk. Loads run on
// the manager's load pool (`load_threads` threads), never on the caller's request threads;
// operations on one model are serialized, different models load in parallel. Thread-safe.
class ModelManager {
 public:
  struct Options {
    // Repository roots (Triton's --model-repository, repeatable). Each must exist. Uploads of
    // new models go to the first.
    std::vector<std::string> repository_paths;
    // Makes a backend per model version. Required.
    std::shared_ptr<backend::BackendFactory> backend_factory;
    // Cores to share among a model's instances: each instance gets max(1, cores / instances)
    // intra-op threads unless the config sets INTRA_OP_THREAD_COUNT. 0 = hardware concurrency.
    int cpu_cores = 0;
    // Clock for the schedulers. Never null.
    const core::Clock* clock = core::Clock::Real();
    // Makes extra observers of each model version's scheduler (e.g. Prometheus metrics), called
    // once per version as it loads, beside the version's own InferenceStatistics. May be empty;
    // null results are skipped. An observer lives as long as its version.
    std::function<scheduler::ObserverList(const inference::ModelConfig& config, int64_t version)>
        observer_factory;
    // Triton's --model-control-mode (default none).
    ControlMode control_mode = ControlMode::kNone;
    // Explicit mode: the models to load at start (--load-model; "*" = all). Ignored otherwise.
    std::vector<std::string> startup_models;
    // Threads that load models (--model-load-thread-count, default 4 as Triton). >= 1.
    int load_threads = 4;
    // Largest upload (sum of `file:` parameter sizes) accepted by Load, bytes
    // (--max-upload-bytes). RESOURCE_EXHAUSTED above it.
    int64_t max_upload_bytes = int64_t{1} << 30;
    // The registry. May be null (no lineage, aliases or splits). Not owned; outlives the manager.
    registry::MetadataStore* store = nullptr;
    // Called after every version load attempt, from a load thread. May be empty.
    std::function<void(const LoadEvent&)> on_load;
    // Called after a model's versions changed (a load, reload or unload finished and swapped;
    // from a load thread) or its aliases or split changed (from the caller's thread), with no
    // lock held. May be empty.
    std::function<void(const std::string& model)> on_change;
    // How long an unload or swap waits for requests that hold the old version, seconds; after
    // that the old version's scheduler stops (queued requests fail with UNAVAILABLE).
    double drain_timeout_secs = 30;
  };

  struct IndexEntry {
    std::string name;
    int64_t version = 0;  // 0 when the model failed (or is unloaded) before any version was known
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    double load_seconds = 0;  // how long loading took (READY versions)
  };

  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(Options options);
  ~ModelManager();

  // Start-up: removes upload staging left by a crash, loads the models the control mode asks for
  // (all of them, or the startup_models in explicit mode) on the load pool and waits, then
  // reconciles the registry with the disk (records rebuilt for versions without one; records of
  // deleted folders or changed files fixed, with a warning each). A model that fails to load is
  // recorded as kUnavailable with its reason; that is not an error here. Errors only when a
  // repository cannot be read or an explicit startup model does not exist. A model name found in
  // two repositories keeps the first repository's model; the duplicate is logged and skipped.
  absl::Status LoadAll();

  // RepositoryModelLoad: loads `name` or reloads it (a changed config or model file, new or
  // removed version folders), uploading `request.files` first. Blocks until done; runs on the
  // load pool. Returns the load's error (the previous versions keep serving): NOT_FOUND for a
  // model not in any repository, INVALID_ARGUMENT for a bad name, config or upload path,
  // ALREADY_EXISTS for an uploaded version that exists, RESOURCE_EXHAUSTED for an upload over
  // max_upload_bytes, INVALID_ARGUMENT/NOT_FOUND/INTERNAL from the backend when no version loads.
  absl::Status Load(const std::string& name, LoadRequest request = {});
  // As Load, but returns at once and calls `done` with the result from a load thread.
  void LoadAsync(const std::string& name, LoadRequest request,
                 std::function<void(absl::Status)> done);

  // RepositoryModelUnload: new requests fail at once (UNAVAILABLE, "unloaded"), accepted ones
  // finish, then the versions are freed. The model stays in the index as UNAVAILABLE/"unloaded".
  // NOT_FOUND when unknown. Blocks (on the load pool); UnloadAsync does not.
  absl::Status Unload(const std::string& name);
  void UnloadAsync(const std::string& name, std::function<void(absl::Status)> done);

  // One poll of every repository (poll mode; tests call it directly): a model folder whose
  // fingerprint (model_files.h) is the same as at the previous poll and differs from what is
  // loaded is reloaded; a folder still changing waits for the next poll; a removed folder is
  // unloaded; a new folder is loaded once stable. Blocks until the loads it started finish.
  void Poll();
  // Runs Poll() every `interval` on a thread of the manager until UnloadAll().
  void StartPolling(absl::Duration interval);

  // The ready version `version` of `name`, or its highest ready version when `version` is 0.
  // NOT_FOUND for an unknown model or version; UNAVAILABLE when it exists but is not ready.
  absl::StatusOr<std::shared_ptr<LoadedModel>> Get(absl::string_view name, int64_t version) const;

  // As Get, with the version as a client sends it: "" (the traffic split when the model has one,
  // chosen by a hash of `request_id` when it is not empty so that a request id always lands on
  // the same version, else at random; without a split the highest ready version), a positive
  // integer, or an alias. INVALID_ARGUMENT for a malformed version, NOT_FOUND for an unknown
  // alias. A split version that is not ready gets no traffic; with none ready, "" serves the
  // highest ready version.
  absl::StatusOr<std::shared_ptr<LoadedModel>> Resolve(absl::string_view name,
                                                       absl::string_view version,
                                                       absl::string_view request_id = "") const;
  // The version number a client version string names ("" -> 0, alias -> its version).
  absl::StatusOr<int64_t> ResolveVersionNumber(absl::string_view name,
                                               absl::string_view version) const;

  // The config of `name` (even when no version is ready). NOT_FOUND when unknown.
  absl::StatusOr<inference::ModelConfig> GetConfig(absl::string_view name) const;

  // Every model version known, sorted by name then version.
  std::vector<IndexEntry> Index() const;

  // True when every model found loaded all its versions (for --strict-readiness). Models
  // unloaded on purpose (explicit mode) do not count.
  bool AllReady() const;

  // Registry writes, validated against what exists: an alias or split names versions that have
  // a folder on disk (NOT_FOUND otherwise); split weights are finite, >= 0 and sum to > 0
  // (INVALID_ARGUMENT). FAILED_PRECONDITION without a store. Written to the store first, then
  // used for routing.
  absl::Status SetAlias(const std::string& model, const std::string& alias, int64_t version);
  absl::Status DeleteAlias(const std::string& model, const std::string& alias);
  absl::Status SetTrafficSplit(const std::string& model, const registry::TrafficSplit& split);
  absl::StatusOr<registry::TrafficSplit> GetTrafficSplit(const std::string& model) const;
  // alias -> version of `model`.
  std::map<std::string, int64_t> Aliases(const std::string& model) const;
  // Merges `labels` (an empty value removes the key) and `metrics` into the version's record.
  absl::Status SetVersionLabels(const std::string& model, int64_t version,
                                const std::map<std::string, std::string>& labels,
                                const std::map<std::string, double>& metrics);
  // May be null.
  registry::MetadataStore* store() const { return options_.store; }

  // Marks every version unloading, lets accepted requests finish, then frees the models.
  // New Get() calls fail with UNAVAILABLE from the start. Stops polling. Idempotent.
  void UnloadAll();

 private:
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    double load_seconds = 0;
    std::shared_ptr<LoadedModel> model;  // set when kReady
    std::string fingerprint;             // of the version folder `model` was loaded from
  };
  struct ModelEntry {
    std::string dir;
    absl::StatusOr<inference::ModelConfig> config = absl::UnknownError("not loaded");
    std::string config_fingerprint;       // of the config `config` was read from (or the override)
    std::string reason;                   // model-level failure (bad config, no versions)
    bool unloaded = false;                // explicit unload, or never loaded in explicit mode
    ModelFingerprint loaded_fingerprint;  // of the folder as last (re)loaded, failed or not
    std::map<int64_t, VersionEntry> versions;
  };

  explicit ModelManager(Options options);

  // The model folder of `name` in the first repository that has it; NOT_FOUND otherwise.
  absl::StatusOr<std::string> FindModelDir(const std::string& name) const;
  // Every model folder of every repository: name -> dir (first repository wins).
  absl::StatusOr<std::map<std::string, std::string>> DiscoverModels() const;
  // Loads or reloads `name` from `dir` (see the class comment on the swap). Runs on a load
  // thread with the model's operation lock held. `config_override`: the parsed `config`
  // parameter, or null.
  absl::Status ReloadModel(const std::string& name, const std::string& dir,
                           const inference::ModelConfig* config_override,
                           const ModelFingerprint& fingerprint);
  absl::Status UnloadModel(const std::string& name);
  absl::Status Upload(const std::string& name, const LoadRequest& request, std::string* dir);
  absl::StatusOr<std::shared_ptr<LoadedModel>> LoadVersion(const inference::ModelConfig& config,
                                                           const std::string& dir,
                                                           int64_t version) const;
  // Runs the config's model_warmup requests (Triton's: zero_data, random_data or
  // input_data_file under <model>/warmup/; `count` times each) through the version's scheduler
  // and waits for them; an error fails the load, so the version never becomes READY.
  absl::Status RunWarmup(LoadedModel& model, const std::string& dir) const;
  // Waits (bounded) until only the manager holds `model`, then stops its scheduler.
  void Drain(std::shared_ptr<LoadedModel> model) const;
  // Records `version` of `name` in the store (if any): a new record from the file, or an
  // existing one checked against it (a changed file is fixed with a warning).
  void RecordVersion(const inference::ModelConfig& config, const std::string& dir, int64_t version,
                     absl::string_view source, int64_t parent_version) const;
  // Start-up reconciliation of the store with the repositories.
  void ReconcileStore(const std::map<std::string, std::string>& dirs);
  // Runs `op` on the load pool with `name`'s operation lock held.
  void RunOnPool(const std::string& name, std::function<absl::Status()> op,
                 std::function<void(absl::Status)> done);
  absl::Status RunOnPoolAndWait(const std::string& name, std::function<absl::Status()> op);
  std::shared_ptr<absl::Mutex> ModelOpLock(const std::string& name);
  absl::Status CheckVersionOnDisk(const std::string& model, int64_t version) const;
  absl::StatusOr<std::shared_ptr<LoadedModel>> GetLocked(absl::string_view name,
                                                         int64_t version) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;

  // Lock order: a model's operation lock (ops_mu_ only to find it), then mu_.
  mutable absl::Mutex mu_;
  std::map<std::string, ModelEntry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, int64_t>, std::less<>> aliases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, registry::TrafficSplit, std::less<>> splits_ ABSL_GUARDED_BY(mu_);
  bool unloading_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex ops_mu_;
  std::map<std::string, std::shared_ptr<absl::Mutex>> op_locks_ ABSL_GUARDED_BY(ops_mu_);

  // One Poll() at a time. Never held by a load-pool task.
  absl::Mutex poll_mu_;
  // Each model folder's fingerprint at the last look (poll or load). Never held while waiting.
  absl::Mutex seen_mu_;
  std::map<std::string, ModelFingerprint> last_seen_ ABSL_GUARDED_BY(seen_mu_);

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::unique_ptr<std::thread> poll_thread_;
  // Last: stopped (its queued work finished) before the rest goes.
  std::unique_ptr<LoadPool> pool_;
};

}  // namespace gridserve::repository
