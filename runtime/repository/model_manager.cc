#include "runtime/repository/model_manager.h"

#include <filesystem>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/core/logging.h"
#include "runtime/core/status_macros.h"
#include "runtime/repository/batching_config.h"
#include "runtime/repository/model_config.h"
#include "runtime/scheduler/direct_scheduler.h"
#include "runtime/scheduler/dynamic_batch_scheduler.h"
#include "spdlog/spdlog.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = core::ModuleLogger("repository");
  return logger;
}

}  // namespace

absl::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
    case ModelState::kUnloading:
      return "UNLOADING";
  }
  return "UNKNOWN";
}

LoadedModel::LoadedModel(inference::ModelConfig config, int64_t version,
                         std::unique_ptr<backend::Backend> backend,
                         std::shared_ptr<const scheduler::InferenceStatistics> statistics,
                         std::unique_ptr<scheduler::Scheduler> scheduler)
    : config_(std::move(config)),
      version_(version),
      statistics_(std::move(statistics)),
      backend_(std::move(backend)),
      scheduler_(std::move(scheduler)) {}

LoadedModel::~LoadedModel() { scheduler_->Shutdown(); }

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(Options options) {
  if (!options.backend_factory) return absl::InvalidArgumentError("backend_factory is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock must not be null");
  if (options.repository_paths.empty()) {
    return absl::InvalidArgumentError("at least one --model-repository is required");
  }
  for (const std::string& path : options.repository_paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      return absl::NotFoundError(absl::StrCat("model repository ", path, " is not a directory"));
    }
  }
  if (options.cpu_cores <= 0) {
    options.cpu_cores = std::max(1u, std::thread::hardware_concurrency());
  }
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(options)));
}

ModelManager::~ModelManager() { UnloadAll(); }

absl::Status ModelManager::LoadAll() {
  // Discover first, then load without holding the lock (loading runs model code and may be slow).
  std::vector<std::pair<std::string, std::string>> found;  // name, dir
  for (const std::string& repo : options_.repository_paths) {
    std::error_code ec;
    fs::directory_iterator it(repo, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("cannot read repository ", repo, ": ", ec.message()));
    std::vector<fs::path> dirs;
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (entry.is_directory(ec) && !name.empty() && name[0] != '.') dirs.push_back(entry.path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& dir : dirs) found.emplace_back(dir.filename().string(), dir.string());
  }
  for (const auto& [name, dir] : found) {
    {
      absl::MutexLock lock(&mu_);
      if (unloading_) return absl::UnavailableError("server is shutting down");
      if (models_.count(name)) {
        Log()->error("model '{}' found in two repositories; keeping {}", name, models_[name].dir);
        continue;
      }
      models_[name].dir = dir;
      models_[name].reason = "loading";
    }
    ModelEntry entry = LoadModel(dir);
    absl::MutexLock lock(&mu_);
    models_[name] = std::move(entry);
  }
  return absl::OkStatus();
}

ModelManager::ModelEntry ModelManager::LoadModel(const std::string& dir) const {
  ModelEntry entry;
  entry.dir = dir;
  std::string name = fs::path(dir).filename().string();
  entry.config = LoadModelConfig(dir);
  if (!entry.config.ok()) {
    entry.reason = std::string(entry.config.status().message());
    Log()->error("model '{}' is unavailable: {}", name, entry.reason);
    return entry;
  }
  absl::StatusOr<std::vector<int64_t>> versions = SelectVersions(*entry.config, ListVersions(dir));
  if (!versions.ok()) {
    entry.reason = std::string(versions.status().message());
    Log()->error("model '{}' is unavailable: {}", name, entry.reason);
    return entry;
  }
  for (int64_t version : *versions) {
    VersionEntry& v = entry.versions[version];
    int64_t start = options_.clock->NowNanos();
    absl::StatusOr<std::shared_ptr<LoadedModel>> model = LoadVersion(*entry.config, dir, version);
    if (model.ok()) {
      v.state = ModelState::kReady;
      v.model = *std::move(model);
      v.load_seconds = (options_.clock->NowNanos() - start) * 1e-9;
      Log()->info("loaded model '{}' version {} in {:.1f} ms", name, version,
                  (options_.clock->NowNanos() - start) / 1e6);
    } else {
      v.state = ModelState::kUnavailable;
      v.reason = std::string(model.status().message());
      Log()->error("model '{}' version {} is unavailable: {}", name, version, v.reason);
    }
  }
  return entry;
}

absl::StatusOr<std::shared_ptr<LoadedModel>> ModelManager::LoadVersion(
    const inference::ModelConfig& config, const std::string& dir, int64_t version) const {
  std::string version_dir = (fs::path(dir) / std::to_string(version)).string();
  ASSIGN_OR_RETURN(std::unique_ptr<backend::Backend> backend,
                   options_.backend_factory->Create(config, version_dir));

  int total = 0;
  for (const auto& group : config.instance_group()) {
    int per_device = group.kind() == inference::ModelInstanceGroup::KIND_GPU
                         ? std::max(1, group.gpus_size())
                         : 1;
    total += group.count() * per_device;
  }
  backend::InstanceOptions base;
  base.intra_op_threads = std::max(1, options_.cpu_cores / std::max(1, total));

  std::vector<scheduler::BatchExecutor> executors;
  for (const auto& group : config.instance_group()) {
    std::vector<std::string> devices;
    if (group.kind() == inference::ModelInstanceGroup::KIND_GPU) {
      if (group.gpus().empty()) devices.push_back("cuda:0");
      for (int gpu : group.gpus()) devices.push_back(absl::StrCat("cuda:", gpu));
    } else {
      devices.push_back("cpu");  // KIND_CPU, and KIND_AUTO on this CPU build
    }
    for (const std::string& device : devices) {
      for (int i = 0; i < group.count(); ++i) {
        backend::InstanceOptions options = base;
        options.device = device;
        ASSIGN_OR_RETURN(std::unique_ptr<backend::ModelInstance> instance,
                         backend->CreateInstance(options));
        std::shared_ptr<backend::ModelInstance> shared = std::move(instance);
        executors.push_back([shared](absl::Span<core::InferenceRequest* const> batch) {
          return shared->Execute(batch);
        });
      }
    }
  }

  auto statistics = std::make_shared<scheduler::InferenceStatistics>();
  scheduler::ObserverList observers = {statistics};
  if (options_.observer_factory) {
    for (auto& observer : options_.observer_factory(config, version)) {
      if (observer != nullptr) observers.push_back(std::move(observer));
    }
  }
  std::unique_ptr<scheduler::Scheduler> sched;
  if (UsesDynamicBatching(config)) {
    ASSIGN_OR_RETURN(scheduler::DynamicBatchScheduler::Options options,
                     DynamicBatchOptionsFromConfig(config));
    options.clock = options_.clock;
    options.observers = std::move(observers);
    ASSIGN_OR_RETURN(
        sched, scheduler::DynamicBatchScheduler::Create(std::move(options), std::move(executors)));
  } else {
    scheduler::DirectScheduler::Options options;
    options.clock = options_.clock;
    options.observers = std::move(observers);
    ASSIGN_OR_RETURN(sched,
                     scheduler::DirectScheduler::Create(std::move(options), std::move(executors)));
  }
  return std::make_shared<LoadedModel>(config, version, std::move(backend), std::move(statistics),
                                       std::move(sched));
}

absl::StatusOr<std::shared_ptr<LoadedModel>> ModelManager::Get(absl::string_view name,
                                                               int64_t version) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  }
  const ModelEntry& entry = it->second;
  if (unloading_) return absl::UnavailableError(absl::StrCat("model '", name, "' is unloading"));
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.state == ModelState::kReady) return v->second.model;
    }
    std::string reason = entry.reason;
    if (reason.empty() && !entry.versions.empty()) reason = entry.versions.rbegin()->second.reason;
    return absl::UnavailableError(absl::StrCat("model '", name, "' is not ready: ", reason));
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version));
  }
  if (v->second.state != ModelState::kReady) {
    return absl::UnavailableError(
        absl::StrCat("model '", name, "' version ", version, " is not ready: ", v->second.reason));
  }
  return v->second.model;
}

absl::StatusOr<inference::ModelConfig> ModelManager::GetConfig(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  if (!it->second.config.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "model '", name, "' has no valid config: ", it->second.config.status().message()));
  }
  return *it->second.config;
}

std::vector<ModelManager::IndexEntry> ModelManager::Index() const {
  absl::MutexLock lock(&mu_);
  std::vector<IndexEntry> index;
  for (const auto& [name, entry] : models_) {
    if (entry.versions.empty()) {
      index.push_back({name, 0, ModelState::kUnavailable, entry.reason});
      continue;
    }
    for (const auto& [version, v] : entry.versions) {
      index.push_back(
          {name, version, unloading_ ? ModelState::kUnloading : v.state, v.reason, v.load_seconds});
    }
  }
  return index;
}

bool ModelManager::AllReady() const {
  for (const IndexEntry& entry : Index()) {
    if (entry.state != ModelState::kReady) return false;
  }
  return true;
}

void ModelManager::UnloadAll() {
  std::vector<std::shared_ptr<LoadedModel>> models;
  {
    absl::MutexLock lock(&mu_);
    if (unloading_) return;
    unloading_ = true;
    for (auto& [name, entry] : models_) {
      for (auto& [version, v] : entry.versions) {
        if (v.model) models.push_back(v.model);
      }
    }
  }
  // Drain outside the lock: requests already accepted finish; their callbacks may call Get().
  for (auto& model : models) model->scheduler().Shutdown();
  absl::MutexLock lock(&mu_);
  for (auto& [name, entry] : models_) {
    for (auto& [version, v] : entry.versions) {
      v.model.reset();
      if (v.state == ModelState::kReady) v.state = ModelState::kUnloading;
    }
  }
}

}  // namespace gridserve::repository
