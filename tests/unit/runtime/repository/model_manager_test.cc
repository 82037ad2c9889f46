#include "runtime/repository/model_manager.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/unit/runtime/repository/fake_backend_factory.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

constexpr char kIo[] = R"pb(
  input
  [ {
    name: "x"
    data_type: TYPE_FP32
    dims: [ -1 ]
  }] output
  [ {
    name: "y"
    data_type: TYPE_FP32
    dims: [ -1 ]
  }]
)pb";

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            absl::StrCat("gridserve_model_manager_test_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = root_ / "repo";
    fs::create_directories(repo_);
    factory_ = std::make_shared<testing::FakeBackendFactory>();

    // good: versions 1..3 all served; version 2 fails to load.
    AddModel(repo_, "good", "version_policy { all { } }", {1, 2, 3});
    Touch(repo_ / "good" / "2" / "FAIL_LOAD");
    // latest_only: the default policy serves only the highest version.
    AddModel(repo_, "latest_only", "", {1, 2});
    // broken_config: a config that does not parse.
    fs::create_directories(repo_ / "broken_config" / "1");
    Write(repo_ / "broken_config" / "config.pbtxt", "input [ { name: ");
    // no_config: a folder without config.pbtxt.
    fs::create_directories(repo_ / "no_config" / "1");
    // no_versions: a valid config but no version folder.
    AddModel(repo_, "no_versions", "", {});
    // missing_version: the policy names a version that has no folder.
    AddModel(repo_, "missing_version", "version_policy { specific { versions: [ 5 ] } }", {1});
    // Hidden folders and plain files at the top level are not models.
    AddModel(repo_, ".hidden", "", {1});
    Write(repo_ / "README.md", "not a model");
  }

  void TearDown() override {
    manager_.reset();
    fs::remove_all(root_);
  }

  static void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  static void Touch(const fs::path& path) { Write(path, ""); }

  static void AddModel(const fs::path& repo, const std::string& name, const std::string& extra,
                       const std::vector<int>& versions) {
    Write(repo / name / "config.pbtxt", absl::StrCat(extra, kIo));
    for (int v : versions) Touch(repo / name / std::to_string(v) / "model.pt");
  }

  ModelManager::Options Options() {
    ModelManager::Options options;
    options.repository_paths = {repo_.string()};
    options.backend_factory = factory_;
    options.cpu_cores = 4;
    return options;
  }

  // Creates the manager over repo_ and loads it.
  void Load() {
    auto manager = ModelManager::Create(Options());
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    absl::Status loaded = manager_->LoadAll();
    ASSERT_TRUE(loaded.ok()) << loaded;
  }

  const ModelManager::IndexEntry* Find(const std::vector<ModelManager::IndexEntry>& index,
                                       const std::string& name, int64_t version) {
    for (const auto& e : index) {
      if (e.name == name && e.version == version) return &e;
    }
    return nullptr;
  }

  fs::path root_;
  fs::path repo_;
  std::shared_ptr<testing::FakeBackendFactory> factory_;
  std::unique_ptr<ModelManager> manager_;
};

// Builds a one-element FP32 request for `model` whose completion is reported to `done`.
std::unique_ptr<core::InferenceRequest> MakeRequest(
    const std::shared_ptr<LoadedModel>& model, absl::Notification* done,
    absl::StatusOr<core::InferenceResponse>* result) {
  auto request = std::make_unique<core::InferenceRequest>();
  request->model_name = model->name();
  request->model_version = model->version();
  request->id = "req-1";
  float value = 1.5f;
  request->inputs.push_back(
      {"x", core::Tensor::Owned(core::DataType::kFp32, {1},
                                std::string(reinterpret_cast<const char*>(&value), 4))});
  request->model_handle = model;
  request->on_complete = [done, result](absl::StatusOr<core::InferenceResponse> r) {
    *result = std::move(r);
    done->Notify();
  };
  return request;
}

// --- Create ---

TEST_F(ModelManagerTest, CreateNeedsABackendFactory) {
  ModelManager::Options options = Options();
  options.backend_factory = nullptr;
  EXPECT_EQ(ModelManager::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelManagerTest, CreateNeedsARepository) {
  ModelManager::Options options = Options();
  options.repository_paths.clear();
  EXPECT_EQ(ModelManager::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelManagerTest, CreateWithMissingRepositoryIsNotFound) {
  ModelManager::Options options = Options();
  options.repository_paths.push_back((root_ / "missing").string());
  EXPECT_EQ(ModelManager::Create(options).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, CreateWithNullClockIsInvalid) {
  ModelManager::Options options = Options();
  options.clock = nullptr;
  EXPECT_EQ(ModelManager::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- LoadAll and Index ---

TEST_F(ModelManagerTest, GoodVersionsAreReadyAndAFailedVersionIsUnavailableWithItsReason) {
  Load();
  auto index = manager_->Index();
  const auto* v1 = Find(index, "good", 1);
  const auto* v2 = Find(index, "good", 2);
  const auto* v3 = Find(index, "good", 3);
  ASSERT_NE(v1, nullptr);
  ASSERT_NE(v2, nullptr);
  ASSERT_NE(v3, nullptr);
  EXPECT_EQ(v1->state, ModelState::kReady);
  EXPECT_EQ(v2->state, ModelState::kUnavailable);
  EXPECT_FALSE(v2->reason.empty());
  EXPECT_EQ(v3->state, ModelState::kReady);
}

TEST_F(ModelManagerTest, BrokenModelsAreUnavailableWithAReasonWhileOthersAreReady) {
  Load();
  auto index = manager_->Index();
  for (const char* name : {"broken_config", "no_config", "no_versions", "missing_version"}) {
    SCOPED_TRACE(name);
    const auto* entry = Find(index, name, 0);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->state, ModelState::kUnavailable);
    EXPECT_FALSE(entry->reason.empty());
    EXPECT_EQ(manager_->Get(name, 0).status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_TRUE(manager_->Get("good", 0).ok());
  EXPECT_TRUE(manager_->Get("latest_only", 0).ok());
  EXPECT_FALSE(manager_->AllReady());
}

TEST_F(ModelManagerTest, IndexIsSortedAndSkipsHiddenFoldersAndFiles) {
  Load();
  std::vector<std::pair<std::string, int64_t>> got;
  for (const auto& e : manager_->Index()) got.emplace_back(e.name, e.version);
  std::vector<std::pair<std::string, int64_t>> want = {
      {"broken_config", 0},   {"good", 1},      {"good", 2},       {"good", 3}, {"latest_only", 2},
      {"missing_version", 0}, {"no_config", 0}, {"no_versions", 0}};
  EXPECT_EQ(got, want);
}

TEST_F(ModelManagerTest, OnlyPolicyVersionsReachTheBackend) {
  Load();
  std::vector<std::string> dirs = factory_->loaded_dirs();
  std::sort(dirs.begin(), dirs.end());
  std::vector<std::string> want = {(repo_ / "good" / "1").string(), (repo_ / "good" / "3").string(),
                                   (repo_ / "latest_only" / "2").string()};
  EXPECT_EQ(dirs, want);
}

TEST_F(ModelManagerTest, AllReadyWhenEveryModelLoads) {
  fs::path clean = root_ / "clean";
  AddModel(clean, "a", "", {1});
  AddModel(clean, "b", "version_policy { all { } }", {1, 2});
  ModelManager::Options options = Options();
  options.repository_paths = {clean.string()};
  auto manager = ModelManager::Create(options);
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE((*manager)->LoadAll().ok());
  EXPECT_TRUE((*manager)->AllReady());
  EXPECT_EQ((*manager)->Index().size(), 3u);
}

TEST_F(ModelManagerTest, ModelsFromSeveralRepositoriesAreServed) {
  fs::path second = root_ / "second";
  AddModel(second, "other", "", {4});
  ModelManager::Options options = Options();
  options.repository_paths.push_back(second.string());
  auto manager = ModelManager::Create(options);
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE((*manager)->LoadAll().ok());
  auto other = (*manager)->Get("other", 0);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->version(), 4);
  EXPECT_TRUE((*manager)->Get("good", 1).ok());
}

TEST_F(ModelManagerTest, AModelInTwoRepositoriesKeepsTheFirst) {
  fs::path second = root_ / "second";
  AddModel(second, "latest_only", "", {9});
  ModelManager::Options options = Options();
  options.repository_paths.push_back(second.string());
  auto manager = ModelManager::Create(options);
  ASSERT_TRUE(manager.ok());
  (*manager)->LoadAll().IgnoreError();
  auto model = (*manager)->Get("latest_only", 0);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->version(), 2);
  EXPECT_EQ((*manager)->Get("latest_only", 9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, InstancesSplitTheCpuCores) {
  fs::path repo = root_ / "cores";
  AddModel(repo, "two", "instance_group [ { count: 2 kind: KIND_CPU } ]", {1});
  ModelManager::Options options = Options();
  options.repository_paths = {repo.string()};
  options.cpu_cores = 6;
  auto manager = ModelManager::Create(options);
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE((*manager)->LoadAll().ok());
  EXPECT_EQ(factory_->instances(), 2);
  EXPECT_EQ(factory_->intra_op_threads(), (std::vector<int>{3, 3}));
}

// --- Get / GetConfig ---

TEST_F(ModelManagerTest, GetByVersion) {
  Load();
  auto v1 = manager_->Get("good", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->version(), 1);
  EXPECT_EQ((*v1)->name(), "good");
  EXPECT_EQ((*v1)->config().name(), "good");
  auto v3 = manager_->Get("good", 3);
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ((*v3)->version(), 3);
}

TEST_F(ModelManagerTest, GetLatestIsTheHighestReadyVersion) {
  Load();
  auto latest = manager_->Get("good", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ((*latest)->version(), 3);
  auto only = manager_->Get("latest_only", 0);
  ASSERT_TRUE(only.ok());
  EXPECT_EQ((*only)->version(), 2);
}

TEST_F(ModelManagerTest, GetLatestSkipsAFailedHighestVersion) {
  Touch(repo_ / "good" / "4" / "FAIL_LOAD");
  Load();
  auto latest = manager_->Get("good", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ((*latest)->version(), 3);
}

TEST_F(ModelManagerTest, GetFailedVersionIsUnavailable) {
  Load();
  EXPECT_EQ(manager_->Get("good", 2).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ModelManagerTest, GetUnknownModelIsNotFound) {
  Load();
  EXPECT_EQ(manager_->Get("nope", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Get("nope", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Get(".hidden", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, GetUnknownVersionIsNotFound) {
  Load();
  EXPECT_EQ(manager_->Get("good", 7).status().code(), absl::StatusCode::kNotFound);
  // Version 1 of latest_only exists on disk but is not served by the policy.
  EXPECT_EQ(manager_->Get("latest_only", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, GetConfig) {
  Load();
  auto config = manager_->GetConfig("good");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "good");
  EXPECT_TRUE(config->version_policy().has_all());
  // A model with no ready version still has its config.
  EXPECT_TRUE(manager_->GetConfig("no_versions").ok());
  EXPECT_EQ(manager_->GetConfig("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->GetConfig("broken_config").status().code(), absl::StatusCode::kUnavailable);
}

// --- serving and unloading ---

TEST_F(ModelManagerTest, ReadyModelServesThroughItsScheduler) {
  Load();
  auto model = manager_->Get("good", 3);
  ASSERT_TRUE(model.ok());
  absl::Notification done;
  absl::StatusOr<core::InferenceResponse> result;
  ASSERT_TRUE((*model)->scheduler().Enqueue(MakeRequest(*model, &done, &result)).ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->model_version, 3);
  EXPECT_EQ(result->id, "req-1");
  ASSERT_EQ(result->outputs.size(), 1u);
  EXPECT_EQ(result->outputs[0].name, "y");
  float value;
  std::memcpy(&value, result->outputs[0].tensor.data(), 4);
  EXPECT_EQ(value, 1.5f);
}

TEST_F(ModelManagerTest, UnloadAllDrainsAcceptedRequestsThenGetIsUnavailable) {
  Load();
  auto model = manager_->Get("good", 0);
  ASSERT_TRUE(model.ok());
  factory_->CloseGate();
  absl::Notification done;
  absl::StatusOr<core::InferenceResponse> result;
  ASSERT_TRUE((*model)->scheduler().Enqueue(MakeRequest(*model, &done, &result)).ok());
  factory_->WaitForExecuting(1);
  model->reset();  // the request's model_handle keeps the version alive

  std::atomic<bool> unloaded{false};
  std::thread unloader([&] {
    manager_->UnloadAll();
    unloaded = true;
  });
  // New lookups fail as soon as unloading starts, while the accepted request is still held.
  for (int i = 0; i < 3000 && manager_->Get("good", 0).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(manager_->Get("good", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->Get("good", 1).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(done.HasBeenNotified());
  EXPECT_FALSE(unloaded.load());

  factory_->OpenGate();
  unloader.join();
  EXPECT_TRUE(unloaded.load());
  ASSERT_TRUE(done.HasBeenNotified());
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(factory_->executed(), 1);

  EXPECT_EQ(manager_->Get("good", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->Get("latest_only", 2).status().code(), absl::StatusCode::kUnavailable);
  // Unknown names stay NOT_FOUND.
  EXPECT_EQ(manager_->Get("nope", 0).status().code(), absl::StatusCode::kNotFound);
  const auto* v1 = Find(manager_->Index(), "good", 1);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->state, ModelState::kUnloading);
  EXPECT_FALSE(manager_->AllReady());
}

TEST_F(ModelManagerTest, UnloadAllIsIdempotentAndRefusesNewRequests) {
  Load();
  auto model = manager_->Get("good", 1);
  ASSERT_TRUE(model.ok());
  manager_->UnloadAll();
  manager_->UnloadAll();
  // A handle taken before the unload still refers to a shut-down scheduler.
  absl::Notification done;
  absl::StatusOr<core::InferenceResponse> result;
  EXPECT_EQ((*model)->scheduler().Enqueue(MakeRequest(*model, &done, &result)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->LoadAll().code(), absl::StatusCode::kUnavailable);
}

TEST(ModelStateNameTest, TritonStateNames) {
  EXPECT_EQ(ModelStateName(ModelState::kLoading), "LOADING");
  EXPECT_EQ(ModelStateName(ModelState::kReady), "READY");
  EXPECT_EQ(ModelStateName(ModelState::kUnavailable), "UNAVAILABLE");
  EXPECT_EQ(ModelStateName(ModelState::kUnloading), "UNLOADING");
}

}  // namespace
}  // namespace gridserve::repository
