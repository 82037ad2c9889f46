#include "runtime/repository/model_manager.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/core/config_types.h"
#include "runtime/core/logging.h"
#include "runtime/core/status_macros.h"
#include "runtime/repository/batching_config.h"
#include "runtime/repository/model_config.h"
#include "runtime/repository/request_validator.h"
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

// Stable across processes and platforms (a request id lands on the same split version after a
// restart): FNV-1a, then splitmix64's finalizer to spread similar ids.
uint64_t HashId(absl::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

// A number in [0, 1): from the request id when there is one, else random.
double SplitPoint(absl::string_view request_id) {
  if (!request_id.empty()) return (HashId(request_id) >> 11) * 0x1.0p-53;
  thread_local std::mt19937_64 random(std::random_device{}());
  return (random() >> 11) * 0x1.0p-53;
}

std::string ModelFileName(const inference::ModelConfig& config) {
  return config.default_model_filename().empty() ? "model.pt" : config.default_model_filename();
}

int64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

// A positive version number as clients write it ("3"); nullopt for anything else.
std::optional<int64_t> ParseVersionNumber(absl::string_view text) {
  int64_t v;
  if (text.empty() || !absl::ascii_isdigit(text[0]) || !absl::SimpleAtoi(text, &v) || v <= 0) {
    return std::nullopt;
  }
  return v;
}

absl::Status CheckAliasName(absl::string_view alias) {
  RETURN_IF_ERROR(ValidateName(alias, "alias"));
  if (!absl::ascii_isalpha(alias[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias '", alias, "' must start with a letter (versions are numbers)"));
  }
  return absl::OkStatus();
}

constexpr char kStagingPrefix[] = ".upload-";

}  // namespace

absl::StatusOr<ControlMode> ParseControlMode(absl::string_view text) {
  if (text == "none") return ControlMode::kNone;
  if (text == "poll") return ControlMode::kPoll;
  if (text == "explicit") return ControlMode::kExplicit;
  return absl::InvalidArgumentError(
      absl::StrCat("model control mode '", text, "' is not none, poll or explicit"));
}

absl::string_view ControlModeName(ControlMode mode) {
  switch (mode) {
    case ControlMode::kNone:
      return "none";
    case ControlMode::kPoll:
      return "poll";
    case ControlMode::kExplicit:
      return "explicit";
  }
  return "none";
}

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
  if (options.load_threads < 1) {
    return absl::InvalidArgumentError("--model-load-thread-count must be at least 1");
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

ModelManager::ModelManager(Options options)
    : options_(std::move(options)), pool_(std::make_unique<LoadPool>(options_.load_threads)) {}

ModelManager::~ModelManager() {
  UnloadAll();
  pool_.reset();  // runs what is queued (nothing loads after UnloadAll), then joins
}

absl::StatusOr<std::map<std::string, std::string>> ModelManager::DiscoverModels() const {
  std::map<std::string, std::string> found;
  for (const std::string& repo : options_.repository_paths) {
    std::error_code ec;
    fs::directory_iterator it(repo, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot read repository ", repo, ": ", ec.message()));
    }
    std::vector<fs::path> dirs;
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      std::error_code dir_ec;
      if (entry.is_directory(dir_ec) && !name.empty() && name[0] != '.') {
        dirs.push_back(entry.path());
      }
    }
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& dir : dirs) {
      std::string name = dir.filename().string();
      auto [existing, inserted] = found.emplace(name, dir.string());
      if (!inserted && existing->second != dir.string()) {
        Log()->error("model '{}' found in two repositories; keeping {}", name, existing->second);
      }
    }
  }
  return found;
}

absl::StatusOr<std::string> ModelManager::FindModelDir(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName(name, "model name"));
  for (const std::string& repo : options_.repository_paths) {
    std::error_code ec;
    fs::path dir = fs::path(repo) / name;
    if (fs::is_directory(dir, ec)) return dir.string();
  }
  return absl::NotFoundError(absl::StrCat("model '", name, "' is not in any model repository"));
}

std::shared_ptr<absl::Mutex> ModelManager::ModelOpLock(const std::string& name) {
  absl::MutexLock lock(&ops_mu_);
  std::shared_ptr<absl::Mutex>& mu = op_locks_[name];
  if (!mu) mu = std::make_shared<absl::Mutex>();
  return mu;
}

void ModelManager::RunOnPool(const std::string& name, std::function<absl::Status()> op,
                             std::function<void(absl::Status)> done) {
  pool_->Schedule([this, name, op = std::move(op), done = std::move(done)] {
    absl::Status status;
    {
      std::shared_ptr<absl::Mutex> mu = ModelOpLock(name);
      absl::MutexLock lock(mu.get());
      bool stopping;
      {
        absl::MutexLock state_lock(&mu_);
        stopping = unloading_;
      }
      status = stopping ? absl::UnavailableError("server is shutting down") : op();
    }
    if (done) done(status);
  });
}

absl::Status ModelManager::RunOnPoolAndWait(const std::string& name,
                                            std::function<absl::Status()> op) {
  absl::Notification finished;
  absl::Status result;
  RunOnPool(name, std::move(op), [&](absl::Status status) {
    result = std::move(status);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

absl::Status ModelManager::LoadAll() {
  // Upload staging left by a crash is never served: remove it.
  for (const std::string& repo : options_.repository_paths) {
    std::error_code ec;
    for (fs::directory_iterator it(repo, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (absl::StartsWith(name, kStagingPrefix)) {
        Log()->warn("removing unfinished upload {} (interrupted before it was complete)",
                    it->path().string());
        std::error_code rm_ec;
        fs::remove_all(it->path(), rm_ec);
      }
    }
  }
  ASSIGN_OR_RETURN(auto found, DiscoverModels());
  std::vector<std::string> to_load;
  if (options_.control_mode == ControlMode::kExplicit) {
    bool all = false;
    for (const std::string& name : options_.startup_models) {
      if (name == "*") {
        all = true;
        continue;
      }
      if (!found.count(name)) {
        return absl::NotFoundError(
            absl::StrCat("--load-model: model '", name, "' is not in any model repository"));
      }
      to_load.push_back(name);
    }
    if (all) {
      to_load.clear();
      for (const auto& [name, dir] : found) to_load.push_back(name);
    }
  } else {
    for (const auto& [name, dir] : found) to_load.push_back(name);
  }
  {
    absl::MutexLock lock(&mu_);
    if (unloading_) return absl::UnavailableError("server is shutting down");
    for (const auto& [name, dir] : found) {
      ModelEntry& entry = models_[name];
      entry.dir = dir;
      entry.unloaded = true;  // until loaded below
      entry.reason = "unloaded";
    }
  }
  // Registry first, so versions that load below find their records (and lineage) in place.
  ReconcileStore(found);

  absl::BlockingCounter pending(static_cast<int>(to_load.size()));
  for (const std::string& name : to_load) {
    std::string dir = found[name];
    RunOnPool(
        name,
        [this, name, dir] {
          ModelFingerprint fp = FingerprintModel(dir);
          {
            absl::MutexLock lock(&seen_mu_);
            last_seen_[name] = fp;
          }
          return ReloadModel(name, dir, nullptr, fp);
        },
        [&pending](absl::Status) { pending.DecrementCount(); });
  }
  pending.Wait();
  return absl::OkStatus();
}

absl::Status ModelManager::Load(const std::string& name, LoadRequest request) {
  absl::Notification finished;
  absl::Status result;
  LoadAsync(name, std::move(request), [&](absl::Status status) {
    result = std::move(status);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

void ModelManager::LoadAsync(const std::string& name, LoadRequest request,
                             std::function<void(absl::Status)> done) {
  if (absl::Status valid = ValidateName(name, "model name"); !valid.ok()) {
    done(valid);
    return;
  }
  auto shared = std::make_shared<LoadRequest>(std::move(request));
  RunOnPool(
      name,
      [this, name, shared]() -> absl::Status {
        std::string dir;
        std::optional<inference::ModelConfig> override_config;
        if (!shared->files.empty()) {
          RETURN_IF_ERROR(Upload(name, *shared, &dir));  // writes config.pbtxt too
        } else {
          ASSIGN_OR_RETURN(dir, FindModelDir(name));
          if (!shared->config_json.empty()) {
            inference::ModelConfig parsed;
            auto status = google::protobuf::util::JsonStringToMessage(shared->config_json, &parsed);
            if (!status.ok()) {
              return absl::InvalidArgumentError(absl::StrCat(
                  "model '", name,
                  "': the config parameter is not a ModelConfig in JSON: ", status.ToString()));
            }
            std::string text;
            google::protobuf::TextFormat::PrintToString(parsed, &text);
            ASSIGN_OR_RETURN(override_config, ParseModelConfig(text, name));
          }
        }
        ModelFingerprint fp = FingerprintModel(dir);
        absl::Status status =
            ReloadModel(name, dir, override_config ? &*override_config : nullptr, fp);
        absl::MutexLock lock(&seen_mu_);
        last_seen_[name] = fp;
        return status;
      },
      std::move(done));
}

absl::Status ModelManager::Unload(const std::string& name) {
  return RunOnPoolAndWait(name, [this, name] { return UnloadModel(name); });
}

void ModelManager::UnloadAsync(const std::string& name, std::function<void(absl::Status)> done) {
  RunOnPool(
      name, [this, name] { return UnloadModel(name); }, std::move(done));
}

absl::Status ModelManager::ReloadModel(const std::string& name, const std::string& dir,
                                       const inference::ModelConfig* config_override,
                                       const ModelFingerprint& fp) {
  absl::StatusOr<inference::ModelConfig> config =
      config_override != nullptr ? absl::StatusOr<inference::ModelConfig>(*config_override)
                                 : LoadModelConfig(dir);
  const std::string config_fp =
      config_override != nullptr
          ? absl::StrCat("override:", Sha256Hex(config_override->SerializeAsString()))
          : fp.config;
  absl::StatusOr<std::vector<int64_t>> desired =
      config.ok() ? SelectVersions(*config, ListVersions(dir))
                  : absl::StatusOr<std::vector<int64_t>>(config.status());

  // What is loaded now (copies of the handles; released before anything drains).
  std::map<int64_t, VersionEntry> before;
  std::string before_config_fp;
  {
    absl::MutexLock lock(&mu_);
    ModelEntry& entry = models_[name];
    entry.dir = dir;
    before = entry.versions;
    before_config_fp = entry.config_fingerprint;
    bool serving = false;
    for (const auto& [v, e] : before) serving |= e.state == ModelState::kReady;
    if (!desired.ok()) {
      std::string reason(desired.status().message());
      if (serving) {
        entry.reason = absl::StrCat("reload failed, previous version still serving: ", reason);
        Log()->error("model '{}' reload failed (previous version keeps serving): {}", name, reason);
      } else {
        entry.config = config;
        entry.unloaded = false;
        entry.reason = reason;
        entry.versions.clear();
        Log()->error("model '{}' is unavailable: {}", name, reason);
      }
      if (options_.on_load) options_.on_load({name, 0, false, 0});
      return desired.status();
    }
    // Versions loading for the first time show LOADING.
    for (int64_t v : *desired) {
      auto it = entry.versions.find(v);
      if (it == entry.versions.end() || it->second.state != ModelState::kReady) {
        VersionEntry& loading = entry.versions[v];
        loading.state = ModelState::kLoading;
        loading.reason.clear();
      }
    }
  }

  struct Outcome {
    int64_t version;
    bool kept = false;
    absl::StatusOr<std::shared_ptr<LoadedModel>> model = absl::UnknownError("not loaded");
    double seconds = 0;
    std::string fingerprint;
  };
  std::vector<Outcome> outcomes;
  absl::Status first_error;
  int loaded = 0;
  for (int64_t v : *desired) {
    Outcome out;
    out.version = v;
    auto fp_it = fp.versions.find(v);
    out.fingerprint = fp_it == fp.versions.end() ? "" : fp_it->second;
    auto old = before.find(v);
    if (old != before.end() && old->second.state == ModelState::kReady &&
        old->second.fingerprint == out.fingerprint && before_config_fp == config_fp) {
      out.kept = true;
      outcomes.push_back(std::move(out));
      continue;
    }
    RecordVersion(*config, dir, v, registry::kSourceFile, 0);
    const int64_t start = options_.clock->NowNanos();
    out.model = LoadVersion(*config, dir, v);
    out.seconds = (options_.clock->NowNanos() - start) * 1e-9;
    if (out.model.ok()) {
      ++loaded;
      Log()->info("loaded model '{}' version {} in {:.1f} ms", name, v, out.seconds * 1e3);
    } else {
      Log()->error("model '{}' version {} failed to load: {}", name, v,
                   std::string(out.model.status().message()));
      if (first_error.ok()) {
        first_error = absl::Status(
            out.model.status().code(),
            absl::StrCat("model '", name, "' version ", v, ": ", out.model.status().message()));
      }
    }
    if (options_.on_load) options_.on_load({name, v, out.model.ok(), out.seconds});
    outcomes.push_back(std::move(out));
  }

  // The swap: one critical section replaces the version map, so a request sees either the old
  // set or the new one.
  std::vector<std::shared_ptr<LoadedModel>> retired;
  {
    absl::MutexLock lock(&mu_);
    ModelEntry& entry = models_[name];
    std::map<int64_t, VersionEntry> next;
    bool failed = !first_error.ok();
    for (Outcome& out : outcomes) {
      auto old = before.find(out.version);
      const bool old_ready = old != before.end() && old->second.state == ModelState::kReady;
      if (out.kept) {
        next[out.version] = old->second;
      } else if (out.model.ok()) {
        VersionEntry& e = next[out.version];
        e.state = ModelState::kReady;
        e.model = *std::move(out.model);
        e.load_seconds = out.seconds;
        e.fingerprint = out.fingerprint;
      } else if (old_ready) {
        // The replacement failed: the old load of this version keeps serving.
        VersionEntry& e = next[out.version];
        e = old->second;
        e.reason = absl::StrCat("reload failed, previous load still serving: ",
                                out.model.status().message());
      } else {
        VersionEntry& e = next[out.version];
        e.state = ModelState::kUnavailable;
        e.reason = std::string(out.model.status().message());
      }
    }
    if (failed) {
      // Whatever served before and is not replaced keeps serving (a broken new version must
      // not take the model down).
      for (auto& [v, e] : before) {
        if (e.state == ModelState::kReady && !next.count(v)) next[v] = e;
      }
    }
    for (auto& [v, e] : before) {
      if (!e.model) continue;
      auto it = next.find(v);
      if (it == next.end() || it->second.model != e.model) retired.push_back(e.model);
    }
    if (!failed || loaded > 0 || !entry.config.ok() || before.empty()) {
      entry.config = *config;
      entry.config_fingerprint = config_fp;
    }
    entry.versions = std::move(next);
    entry.loaded_fingerprint = fp;
    entry.unloaded = false;
    entry.reason = failed ? std::string(first_error.message()) : "";
  }
  before.clear();
  outcomes.clear();
  for (std::shared_ptr<LoadedModel>& model : retired) {
    const int64_t version = model->version();
    Drain(std::move(model));
    Log()->info("unloaded model '{}' version {} (replaced or retired by its version policy)", name,
                version);
  }
  if (options_.on_change) options_.on_change(name);
  return first_error;
}

void ModelManager::Drain(std::shared_ptr<LoadedModel> model) const {
  // Requests that resolved this version before the swap still hold it (some not yet enqueued):
  // wait for them, so none of them fails, then stop the scheduler with nothing left in it.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.drain_timeout_secs);
  while (model.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (model.use_count() > 1) {
    Log()->warn("model '{}' version {}: requests still hold it after {} s; stopping it anyway",
                model->name(), model->version(), options_.drain_timeout_secs);
  }
  model->scheduler().Shutdown();
  model.reset();
}

absl::Status ModelManager::UnloadModel(const std::string& name) {
  std::vector<std::shared_ptr<LoadedModel>> models;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
    ModelEntry& entry = it->second;
    entry.unloaded = true;
    entry.reason = "unloaded";
    for (auto& [v, e] : entry.versions) {
      if (e.model) models.push_back(e.model);
      e.state = ModelState::kUnloading;
    }
  }
  for (std::shared_ptr<LoadedModel>& model : models) {
    {
      absl::MutexLock lock(&mu_);
      auto it = models_.find(name);
      if (it != models_.end()) {
        for (auto& [v, e] : it->second.versions) {
          if (e.model == model) e.model.reset();
        }
      }
    }
    Drain(std::move(model));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it != models_.end()) {
      std::error_code ec;
      if (!fs::is_directory(it->second.dir, ec)) {
        models_.erase(it);  // its folder is gone: forget it
      } else {
        for (auto& [v, e] : it->second.versions) {
          e.state = ModelState::kUnavailable;
          e.reason = "unloaded";
        }
        it->second.loaded_fingerprint = ModelFingerprint{};
      }
    }
  }
  Log()->info("unloaded model '{}'", name);
  if (options_.on_change) options_.on_change(name);
  return absl::OkStatus();
}

void ModelManager::Poll() {
  absl::MutexLock poll_lock(&poll_mu_);
  absl::StatusOr<std::map<std::string, std::string>> found = DiscoverModels();
  if (!found.ok()) {
    Log()->warn("repository poll failed: {}", std::string(found.status().message()));
    return;
  }
  std::vector<std::pair<std::string, std::function<absl::Status()>>> work;
  seen_mu_.Lock();
  for (const auto& [name, dir] : *found) {
    ModelFingerprint fp = FingerprintModel(dir);
    auto seen = last_seen_.find(name);
    const bool stable = seen != last_seen_.end() && seen->second == fp;
    last_seen_[name] = fp;
    if (!stable) continue;  // new or still changing: look again at the next poll
    {
      absl::MutexLock lock(&mu_);
      auto it = models_.find(name);
      if (it != models_.end() && it->second.loaded_fingerprint == fp) continue;
    }
    std::string model_dir = dir;
    work.emplace_back(
        name, [this, name, model_dir, fp] { return ReloadModel(name, model_dir, nullptr, fp); });
  }
  std::vector<std::string> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, entry] : models_) {
      if (!found->count(name)) gone.push_back(name);
    }
  }
  for (const std::string& name : gone) {
    last_seen_.erase(name);
    work.emplace_back(name, [this, name] { return UnloadModel(name); });
  }
  seen_mu_.Unlock();
  absl::BlockingCounter pending(static_cast<int>(work.size()));
  for (auto& [name, op] : work) {
    RunOnPool(name, std::move(op), [&pending](absl::Status) { pending.DecrementCount(); });
  }
  pending.Wait();
}

void ModelManager::StartPolling(absl::Duration interval) {
  if (poll_thread_) return;
  poll_thread_ = std::make_unique<std::thread>([this, interval] {
    pthread_setname_np(pthread_self(), "gs-poll");
    while (true) {
      {
        absl::MutexLock lock(&stop_mu_);
        if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) return;
      }
      Poll();
    }
  });
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
  auto model = std::make_shared<LoadedModel>(config, version, std::move(backend),
                                             std::move(statistics), std::move(sched));
  RETURN_IF_ERROR(RunWarmup(*model, dir));
  return model;
}

absl::Status ModelManager::RunWarmup(LoadedModel& model, const std::string& dir) const {
  const inference::ModelConfig& config = model.config();
  for (const inference::ModelWarmup& warmup : config.model_warmup()) {
    const std::string what =
        absl::StrCat("model '", config.name(), "' warm-up '", warmup.name(), "'");
    const int64_t batch = std::max<int64_t>(1, warmup.batch_size());
    if (config.max_batch_size() == 0 && warmup.batch_size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": batch_size ", warmup.batch_size(),
                                                     " but the model does not batch"));
    }
    const uint32_t count = std::max<uint32_t>(1, warmup.count());
    for (uint32_t run = 0; run < count; ++run) {
      auto request = std::make_unique<core::InferenceRequest>();
      request->model_name = config.name();
      request->model_version = model.version();
      request->id = absl::StrCat("warmup-", warmup.name());
      std::mt19937 random(run);
      for (const auto& [name, input] : warmup.inputs()) {
        const core::DataType dtype = core::DataTypeFromConfig(input.data_type());
        core::Shape shape;
        if (config.max_batch_size() > 0) shape.push_back(batch);
        int64_t elements = config.max_batch_size() > 0 ? batch : 1;
        for (int64_t d : input.dims()) {
          if (d <= 0 || d > (int64_t{1} << 24) || elements > (int64_t{1} << 28) / d) {
            return absl::InvalidArgumentError(
                absl::StrCat(what, ": input '", name, "' has a bad or too large dim ", d));
          }
          shape.push_back(d);
          elements *= d;
        }
        std::string bytes;
        if (dtype == core::DataType::kBytes) {
          bytes.assign(static_cast<size_t>(elements) * 4, '\0');  // empty strings
        } else if (input.input_data_type_case() == inference::ModelWarmup::Input::kInputDataFile) {
          RETURN_IF_ERROR(ValidateName(input.input_data_file(), "warm-up input_data_file"));
          std::ifstream in(fs::path(dir) / "warmup" / input.input_data_file(), std::ios::binary);
          if (!in) {
            return absl::NotFoundError(
                absl::StrCat(what, ": no file warmup/", input.input_data_file()));
          }
          bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        } else {
          bytes.assign(static_cast<size_t>(elements) * core::DataTypeByteSize(dtype), '\0');
          if (input.input_data_type_case() == inference::ModelWarmup::Input::kRandomData) {
            // Bytes in [0, 64): every integer type gets small non-negative values and no
            // float pattern is NaN or Inf (the top byte keeps the sign and exponent low).
            for (char& c : bytes) c = static_cast<char>(random() % 64);
          }
        }
        request->inputs.push_back(
            {name, core::Tensor::Owned(dtype, std::move(shape), std::move(bytes))});
      }
      if (absl::Status valid = ValidateRequest(config, request.get()); !valid.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": ", valid.message()));
      }
      absl::Notification done;
      absl::Status result;
      request->on_complete = [&](absl::StatusOr<core::InferenceResponse> response) {
        result = response.status();
        done.Notify();
      };
      RETURN_IF_ERROR(model.scheduler().Enqueue(std::move(request)));
      done.WaitForNotification();
      if (!result.ok()) {
        return absl::Status(result.code(), absl::StrCat(what, " failed: ", result.message()));
      }
    }
    Log()->info("{} ran {} time(s)", what, count);
  }
  return absl::OkStatus();
}

absl::Status ModelManager::Upload(const std::string& name, const LoadRequest& request,
                                  std::string* dir) {
  RETURN_IF_ERROR(ValidateName(name, "model name"));
  int64_t total = 0;
  std::set<int64_t> versions;
  for (const auto& [path, bytes] : request.files) {
    ASSIGN_OR_RETURN(int64_t version, ValidateUploadPath(path));
    versions.insert(version);
    total += static_cast<int64_t>(bytes.size());
  }
  if (total > options_.max_upload_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("upload of model '", name, "' is ", total, " bytes, more than ",
                     "--max-upload-bytes=", options_.max_upload_bytes));
  }
  absl::StatusOr<std::string> existing = FindModelDir(name);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  std::optional<inference::ModelConfig> config;
  std::string config_text;
  if (!request.config_json.empty()) {
    inference::ModelConfig parsed;
    auto status = google::protobuf::util::JsonStringToMessage(request.config_json, &parsed);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", name,
          "': the config parameter is not a ModelConfig in JSON: ", status.ToString()));
    }
    if (parsed.name().empty()) parsed.set_name(name);
    google::protobuf::TextFormat::PrintToString(parsed, &config_text);
    ASSIGN_OR_RETURN(config, ParseModelConfig(config_text, name));
  } else if (existing.ok()) {
    ASSIGN_OR_RETURN(config, LoadModelConfig(*existing));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", name, "' is new: its upload needs the config parameter (ModelConfig as JSON)"));
  }
  const fs::path model_dir =
      existing.ok() ? fs::path(*existing) : fs::path(options_.repository_paths[0]) / name;
  std::error_code ec;
  for (int64_t v : versions) {
    if (fs::exists(model_dir / std::to_string(v), ec)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "model '", name, "' version ", v, " exists; versions are immutable, upload a new one"));
    }
  }
  const std::string model_file = ModelFileName(*config);
  for (int64_t v : versions) {
    if (!request.files.count(absl::StrCat(v, "/", model_file))) {
      return absl::InvalidArgumentError(absl::StrCat("upload of model '", name, "' version ", v,
                                                     " has no file:", v, "/", model_file));
    }
  }
  // Everything is written under a hidden folder beside the model (same filesystem, never
  // served, removed at start-up if a crash leaves it), synced, then renamed into place.
  static std::atomic<int> counter{0};
  const fs::path staging =
      model_dir.parent_path() / absl::StrCat(kStagingPrefix, name, "-", getpid(), "-", counter++);
  auto cleanup = [&] {
    std::error_code rm_ec;
    fs::remove_all(staging, rm_ec);
  };
  for (const auto& [path, bytes] : request.files) {
    if (absl::Status s = WriteFileDurably((staging / path).string(), bytes); !s.ok()) {
      cleanup();
      return s;
    }
  }
  if (!config_text.empty()) {
    if (absl::Status s = WriteFileDurably((staging / "config.pbtxt").string(), config_text);
        !s.ok()) {
      cleanup();
      return s;
    }
  }
  if (!existing.ok()) {
    fs::rename(staging, model_dir, ec);
  } else {
    for (int64_t v : versions) {
      fs::rename(staging / std::to_string(v), model_dir / std::to_string(v), ec);
      if (ec) break;
    }
    if (!ec && !config_text.empty()) {
      fs::rename(staging / "config.pbtxt", model_dir / "config.pbtxt", ec);
    }
    cleanup();
  }
  if (ec) {
    cleanup();
    return absl::InternalError(
        absl::StrCat("cannot move the upload of model '", name, "' into place: ", ec.message()));
  }
  Log()->info("uploaded model '{}' ({} bytes, {} version(s)) into {}", name, total, versions.size(),
              model_dir.string());
  for (int64_t v : versions) {
    RecordVersion(*config, model_dir.string(), v, registry::kSourceUpload, request.parent_version);
  }
  *dir = model_dir.string();
  return absl::OkStatus();
}

void ModelManager::RecordVersion(const inference::ModelConfig& config, const std::string& dir,
                                 int64_t version, absl::string_view source,
                                 int64_t parent_version) const {
  if (options_.store == nullptr) return;
  const std::string name = fs::path(dir).filename().string();
  const fs::path file = fs::path(dir) / std::to_string(version) / ModelFileName(config);
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return;  // the load reports it
  absl::StatusOr<registry::VersionRecord> record = options_.store->GetVersion(name, version);
  if (record.ok()) {
    // Unchanged size and mtime: the recorded sha256 stands (no re-hash at every start).
    const int64_t size = static_cast<int64_t>(fs::file_size(file, ec));
    absl::StatusOr<FileDigest> quick = FileDigest{};
    auto mtime = fs::last_write_time(file, ec);
    const int64_t mtime_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
    if (size == record->size_bytes && mtime_ns == record->file_mtime_ns) return;
  } else if (!absl::IsNotFound(record.status())) {
    Log()->warn("registry read failed for model '{}' version {}: {}", name, version,
                std::string(record.status().message()));
    return;
  }
  absl::StatusOr<FileDigest> digest = DigestFile(file.string());
  if (!digest.ok()) return;
  registry::VersionRecord next;
  if (record.ok()) {
    next = *record;
    if (record->sha256 != digest->sha256) {
      Log()->warn(
          "registry disagrees with the disk: model '{}' version {} was recorded with sha256 {} "
          "but {} has sha256 {}; the record now follows the file (source=file)",
          name, version, record->sha256, file.string(), digest->sha256);
      next.source = registry::kSourceFile;
    }
  } else {
    next.model = name;
    next.version = version;
    next.created_at_ms = NowUnixMs();
    next.source = std::string(source);
    next.parent_version = parent_version;
  }
  next.sha256 = digest->sha256;
  next.size_bytes = digest->size_bytes;
  next.file_mtime_ns = digest->mtime_ns;
  if (absl::Status s = options_.store->PutVersion(next); !s.ok()) {
    Log()->warn("registry write failed for model '{}' version {}: {}", name, version,
                std::string(s.message()));
  }
}

void ModelManager::ReconcileStore(const std::map<std::string, std::string>& dirs) {
  if (options_.store == nullptr) return;
  absl::StatusOr<std::vector<registry::VersionRecord>> records = options_.store->ListVersions("");
  if (!records.ok()) {
    Log()->error("registry unreadable: {}", std::string(records.status().message()));
    return;
  }
  std::error_code ec;
  for (const registry::VersionRecord& r : *records) {
    auto dir = dirs.find(r.model);
    if (dir != dirs.end() &&
        fs::is_directory(fs::path(dir->second) / std::to_string(r.version), ec)) {
      continue;
    }
    Log()->warn(
        "registry disagrees with the disk: model '{}' version {} has a record but no "
        "folder; removing the record and any alias or split entry that named it",
        r.model, r.version);
    options_.store->DeleteVersion(r.model, r.version).IgnoreError();
  }
  if (records->empty()) Log()->info("registry is empty: rebuilding it from the repository");
  for (const auto& [name, dir] : dirs) {
    absl::StatusOr<inference::ModelConfig> config = LoadModelConfig(dir);
    inference::ModelConfig fallback;
    for (int64_t v : ListVersions(dir)) {
      RecordVersion(config.ok() ? *config : fallback, dir, v, registry::kSourceFile, 0);
    }
  }
  absl::StatusOr<std::map<std::string, std::map<std::string, int64_t>>> aliases =
      options_.store->ListAliases("");
  absl::StatusOr<std::map<std::string, registry::TrafficSplit>> splits =
      options_.store->ListTrafficSplits("");
  absl::MutexLock lock(&mu_);
  aliases_.clear();
  splits_.clear();
  if (aliases.ok()) {
    for (auto& [model, map] : *aliases) aliases_[model] = map;
  }
  if (splits.ok()) {
    for (auto& [model, split] : *splits) splits_[model] = split;
  }
}

absl::StatusOr<std::shared_ptr<LoadedModel>> ModelManager::Get(absl::string_view name,
                                                               int64_t version) const {
  absl::MutexLock lock(&mu_);
  return GetLocked(name, version);
}

absl::StatusOr<std::shared_ptr<LoadedModel>> ModelManager::GetLocked(absl::string_view name,
                                                                     int64_t version) const {
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  }
  const ModelEntry& entry = it->second;
  if (unloading_) return absl::UnavailableError(absl::StrCat("model '", name, "' is unloading"));
  if (entry.unloaded) {
    return absl::UnavailableError(
        absl::StrCat("model '", name, "' is not loaded (load it with RepositoryModelLoad)"));
  }
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.state == ModelState::kReady) return v->second.model;
    }
    std::string reason = entry.reason;
    if (reason.empty() && !entry.versions.empty()) reason = entry.versions.rbegin()->second.reason;
    if (reason.empty()) reason = "loading";
    return absl::UnavailableError(absl::StrCat("model '", name, "' is not ready: ", reason));
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version));
  }
  if (v->second.state != ModelState::kReady) {
    return absl::UnavailableError(
        absl::StrCat("model '", name, "' version ", version,
                     " is not ready: ", v->second.reason.empty() ? "loading" : v->second.reason));
  }
  return v->second.model;
}

absl::StatusOr<int64_t> ModelManager::ResolveVersionNumber(absl::string_view name,
                                                           absl::string_view version) const {
  if (version.empty()) return 0;
  if (std::optional<int64_t> number = ParseVersionNumber(version)) return *number;
  if (!CheckAliasName(version).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "': version '",
                                                   absl::CHexEscape(version),
                                                   "' is neither a positive integer nor an alias"));
  }
  absl::MutexLock lock(&mu_);
  if (!models_.count(name)) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  auto model = aliases_.find(name);
  if (model != aliases_.end()) {
    auto alias = model->second.find(std::string(version));
    if (alias != model->second.end()) return alias->second;
  }
  return absl::NotFoundError(absl::StrCat("model '", name, "' has no alias '", version, "'"));
}

absl::StatusOr<std::shared_ptr<LoadedModel>> ModelManager::Resolve(
    absl::string_view name, absl::string_view version, absl::string_view request_id) const {
  if (!version.empty()) {
    ASSIGN_OR_RETURN(int64_t number, ResolveVersionNumber(name, version));
    return Get(name, number);
  }
  absl::MutexLock lock(&mu_);
  auto split = splits_.find(name);
  if (split != splits_.end() && !unloading_) {
    // Weights over the split's ready versions only: a canary that is not loaded gets nothing.
    std::vector<std::pair<std::shared_ptr<LoadedModel>, double>> ready;
    double total = 0;
    for (const auto& [v, weight] : split->second) {
      if (weight <= 0) continue;
      absl::StatusOr<std::shared_ptr<LoadedModel>> model = GetLocked(name, v);
      if (!model.ok()) continue;
      ready.emplace_back(*std::move(model), weight);
      total += weight;
    }
    if (!ready.empty()) {
      double point = SplitPoint(request_id) * total;
      for (auto& [model, weight] : ready) {
        if (point < weight) return model;
        point -= weight;
      }
      return ready.back().first;
    }
  }
  return GetLocked(name, 0);
}

absl::StatusOr<inference::ModelConfig> ModelManager::GetConfig(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  if (it->second.unloaded) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is not loaded"));
  }
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
      std::string reason = v.reason;
      if (reason.empty() && v.state == ModelState::kReady && !entry.reason.empty()) {
        reason = entry.reason;  // e.g. a newer version failed while this one serves
      }
      index.push_back(
          {name, version, unloading_ ? ModelState::kUnloading : v.state, reason, v.load_seconds});
    }
  }
  return index;
}

bool ModelManager::AllReady() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, entry] : models_) {
    if (entry.unloaded) continue;
    if (entry.versions.empty()) return false;
    for (const auto& [version, v] : entry.versions) {
      if (v.state != ModelState::kReady) return false;
    }
  }
  return !unloading_;
}

absl::Status ModelManager::CheckVersionOnDisk(const std::string& model, int64_t version) const {
  ASSIGN_OR_RETURN(std::string dir, FindModelDir(model));
  std::error_code ec;
  if (version <= 0 || !fs::is_directory(fs::path(dir) / std::to_string(version), ec)) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", version));
  }
  return absl::OkStatus();
}

absl::Status ModelManager::SetAlias(const std::string& model, const std::string& alias,
                                    int64_t version) {
  if (options_.store == nullptr) return absl::FailedPreconditionError("no registry configured");
  RETURN_IF_ERROR(CheckAliasName(alias));
  RETURN_IF_ERROR(CheckVersionOnDisk(model, version));
  RETURN_IF_ERROR(options_.store->SetAlias(model, alias, version));
  {
    absl::MutexLock lock(&mu_);
    aliases_[model][alias] = version;
  }
  Log()->info("alias '{}' of model '{}' -> version {}", alias, model, version);
  if (options_.on_change) options_.on_change(model);
  return absl::OkStatus();
}

absl::Status ModelManager::DeleteAlias(const std::string& model, const std::string& alias) {
  if (options_.store == nullptr) return absl::FailedPreconditionError("no registry configured");
  RETURN_IF_ERROR(FindModelDir(model).status());
  RETURN_IF_ERROR(options_.store->DeleteAlias(model, alias));
  {
    absl::MutexLock lock(&mu_);
    aliases_[model].erase(alias);
  }
  Log()->info("alias '{}' of model '{}' removed", alias, model);
  if (options_.on_change) options_.on_change(model);
  return absl::OkStatus();
}

std::map<std::string, int64_t> ModelManager::Aliases(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = aliases_.find(model);
  return it == aliases_.end() ? std::map<std::string, int64_t>{} : it->second;
}

absl::Status ModelManager::SetTrafficSplit(const std::string& model,
                                           const registry::TrafficSplit& split) {
  if (options_.store == nullptr) return absl::FailedPreconditionError("no registry configured");
  RETURN_IF_ERROR(FindModelDir(model).status());
  double total = 0;
  for (const auto& [version, weight] : split) {
    if (!std::isfinite(weight) || weight < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", model, "': split weight of version ", version, " must be >= 0, got ", weight));
    }
    RETURN_IF_ERROR(CheckVersionOnDisk(model, version));
    total += weight;
  }
  if (!split.empty() && !(total > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model,
                     "': split weights sum to 0; give at least one version a "
                     "positive weight (an empty split removes it)"));
  }
  RETURN_IF_ERROR(options_.store->SetTrafficSplit(model, split));
  {
    absl::MutexLock lock(&mu_);
    if (split.empty()) {
      splits_.erase(model);
    } else {
      splits_[model] = split;
    }
  }
  Log()->info("traffic split of model '{}' set ({} version(s))", model, split.size());
  if (options_.on_change) options_.on_change(model);
  return absl::OkStatus();
}

absl::StatusOr<registry::TrafficSplit> ModelManager::GetTrafficSplit(
    const std::string& model) const {
  RETURN_IF_ERROR(FindModelDir(model).status());
  absl::MutexLock lock(&mu_);
  auto it = splits_.find(model);
  return it == splits_.end() ? registry::TrafficSplit{} : it->second;
}

absl::Status ModelManager::SetVersionLabels(const std::string& model, int64_t version,
                                            const std::map<std::string, std::string>& labels,
                                            const std::map<std::string, double>& metrics) {
  if (options_.store == nullptr) return absl::FailedPreconditionError("no registry configured");
  RETURN_IF_ERROR(CheckVersionOnDisk(model, version));
  std::shared_ptr<absl::Mutex> op = ModelOpLock(model);  // no race with a load's RecordVersion
  absl::MutexLock op_lock(op.get());
  ASSIGN_OR_RETURN(registry::VersionRecord record, options_.store->GetVersion(model, version));
  for (const auto& [key, value] : labels) {
    if (key.empty()) return absl::InvalidArgumentError("label keys must not be empty");
    if (value.empty()) {
      record.labels.erase(key);
    } else {
      record.labels[key] = value;
    }
  }
  for (const auto& [key, value] : metrics) {
    if (key.empty() || !std::isfinite(value)) {
      return absl::InvalidArgumentError("metrics need a name and a finite value");
    }
    record.metrics[key] = value;
  }
  return options_.store->PutVersion(record);
}

void ModelManager::UnloadAll() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (poll_thread_) {
    poll_thread_->join();
    poll_thread_.reset();
  }
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
