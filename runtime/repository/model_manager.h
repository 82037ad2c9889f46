#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "inference/model_config.pb.h"
#include "runtime/backend/backend.h"
#include "runtime/core/clock.h"
#include "runtime/scheduler/execution_observer.h"
#include "runtime/scheduler/inference_statistics.h"
#include "runtime/scheduler/scheduler.h"

namespace gridserve::repository {

// Lifecycle of one model version:
//   kLoading --> kReady --> kUnloading --> (gone)
//       \-----> kUnavailable (load failed; the reason is kept and reported)
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

// Owns the models of one or more Triton-layout repositories (`<repo>/<model>/config.pbtxt`,
// `<repo>/<model>/<version>/model.pt`): loads each model's versions per its version policy,
// keeps a failed model's reason while every other model serves, resolves name + version to a
// ready LoadedModel, and drains models on unload. Thread-safe.
class ModelManager {
 public:
  struct Options {
    // Repository roots (Triton's --model-repository, repeatable). Each must exist.
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
  };

  struct IndexEntry {
    std::string name;
    int64_t version = 0;  // 0 when the model failed before any version was known
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    double load_seconds = 0;  // how long loading took (READY versions)
  };

  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(Options options);
  ~ModelManager();

  // Finds and loads every model in the repositories. A model that fails to load is recorded as
  // kUnavailable with its reason; that is not an error here. Errors only when a repository
  // cannot be read. A model name found in two repositories keeps the first repository's model;
  // the duplicate is logged at error and skipped.
  absl::Status LoadAll();

  // The ready version `version` of `name`, or its highest ready version when `version` is 0.
  // NOT_FOUND for an unknown model or version; UNAVAILABLE when it exists but is not ready.
  absl::StatusOr<std::shared_ptr<LoadedModel>> Get(absl::string_view name, int64_t version) const;

  // The config of `name` (even when no version is ready). NOT_FOUND when unknown.
  absl::StatusOr<inference::ModelConfig> GetConfig(absl::string_view name) const;

  // Every model version known, sorted by name then version.
  std::vector<IndexEntry> Index() const;

  // True when every model found loaded all its versions (for --strict-readiness).
  bool AllReady() const;

  // Marks every version unloading, lets accepted requests finish, then frees the models.
  // New Get() calls fail with UNAVAILABLE from the start. Idempotent.
  void UnloadAll();

 private:
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    double load_seconds = 0;
    std::shared_ptr<LoadedModel> model;  // set when kReady
  };
  struct ModelEntry {
    std::string dir;
    absl::StatusOr<inference::ModelConfig> config = absl::UnknownError("not loaded");
    std::string reason;  // model-level failure (bad config, no versions)
    std::map<int64_t, VersionEntry> versions;
  };

  explicit ModelManager(Options options) : options_(std::move(options)) {}
  // Loads the model in `dir` into a new entry (no lock held while loading).
  ModelEntry LoadModel(const std::string& dir) const;
  absl::StatusOr<std::shared_ptr<LoadedModel>> LoadVersion(const inference::ModelConfig& config,
                                                           const std::string& dir,
                                                           int64_t version) const;

  const Options options_;

  mutable absl::Mutex mu_;
  std::map<std::string, ModelEntry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  bool unloading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gridserve::repository
