// ModelManager lifecycle: control modes, load/unload/reload with the atomic swap, polling of
// stable folders, uploads, and the registry (records, aliases, splits, reconciliation).

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "runtime/registry/sqlite_metadata_store.h"
#include "runtime/repository/model_files.h"
#include "runtime/repository/model_manager.h"
#include "tests/unit/runtime/repository/fake_backend_factory.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

constexpr char kConfig[] = R"pb(
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

class ModelLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            absl::StrCat("gridserve_lifecycle_unit_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = root_ / "repo";
    fs::create_directories(repo_);
    factory_ = std::make_shared<testing::FakeBackendFactory>();
    AddModel("a", "", {1});
    AddModel("b", "", {1});
    OpenStore();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  static void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  void AddModel(const std::string& name, const std::string& extra,
                const std::vector<int>& versions) {
    Write(repo_ / name / "config.pbtxt", absl::StrCat(extra, kConfig));
    for (int v : versions) AddVersion(name, v, absl::StrCat("weights of ", name, " v", v));
  }
  void AddVersion(const std::string& name, int v, const std::string& content) {
    Write(repo_ / name / std::to_string(v) / "model.pt", content);
  }
  void OpenStore() {
    store_.reset();
    auto store = registry::SqliteMetadataStore::Open({(root_ / "registry.db").string()});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Start(ControlMode mode, std::vector<std::string> startup = {}) {
    manager_.reset();
    ModelManager::Options options;
    options.repository_paths = {repo_.string()};
    options.backend_factory = factory_;
    options.cpu_cores = 2;
    options.control_mode = mode;
    options.startup_models = std::move(startup);
    options.load_threads = 2;
    options.store = store_.get();
    options.max_upload_bytes = 1000;
    options.on_load = [this](const LoadEvent& e) {
      absl::MutexLock lock(&events_mu_);
      events_.push_back(e);
    };
    auto manager = ModelManager::Create(std::move(options));
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    ASSERT_TRUE(manager_->LoadAll().ok());
  }

  // "READY", "UNAVAILABLE: reason", ... or "" when (name, version) is not in the index.
  std::string State(const std::string& name, int64_t version) {
    for (const auto& e : manager_->Index()) {
      if (e.name == name && e.version == version) {
        return e.reason.empty() ? std::string(ModelStateName(e.state))
                                : absl::StrCat(ModelStateName(e.state), ": ", e.reason);
      }
    }
    return "";
  }
  int64_t Latest(const std::string& name) {
    auto model = manager_->Get(name, 0);
    return model.ok() ? (*model)->version() : -1;
  }

  fs::path root_;
  fs::path repo_;
  std::shared_ptr<testing::FakeBackendFactory> factory_;
  std::unique_ptr<registry::SqliteMetadataStore> store_;
  std::unique_ptr<ModelManager> manager_;
  absl::Mutex events_mu_;
  std::vector<LoadEvent> events_;
};

TEST(ControlModeTest, ParsesTritonNames) {
  EXPECT_EQ(*ParseControlMode("none"), ControlMode::kNone);
  EXPECT_EQ(*ParseControlMode("poll"), ControlMode::kPoll);
  EXPECT_EQ(*ParseControlMode("explicit"), ControlMode::kExplicit);
  EXPECT_EQ(ParseControlMode("POLL").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelLifecycleTest, ExplicitModeLoadsOnlyStartupModelsThenLoadAndUnload) {
  Start(ControlMode::kExplicit, {"a"});
  EXPECT_EQ(State("a", 1), "READY");
  EXPECT_EQ(State("b", 0), "UNAVAILABLE: unloaded");
  EXPECT_EQ(manager_->Get("b", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(manager_->AllReady()) << "models never asked for do not count";

  ASSERT_TRUE(manager_->Load("b").ok());
  EXPECT_EQ(State("b", 1), "READY");
  ASSERT_TRUE(manager_->Unload("a").ok());
  EXPECT_EQ(State("a", 1), "UNAVAILABLE: unloaded");
  EXPECT_EQ(manager_->Get("a", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->Load("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Unload("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelLifecycleTest, ExplicitStartupModelMustExistAndStarLoadsAll) {
  manager_.reset();
  ModelManager::Options options;
  options.repository_paths = {repo_.string()};
  options.backend_factory = factory_;
  options.control_mode = ControlMode::kExplicit;
  options.startup_models = {"missing"};
  auto manager = ModelManager::Create(std::move(options));
  ASSERT_TRUE(manager.ok());
  EXPECT_EQ((*manager)->LoadAll().code(), absl::StatusCode::kNotFound);
  Start(ControlMode::kExplicit, {"*"});
  EXPECT_EQ(State("a", 1), "READY");
  EXPECT_EQ(State("b", 1), "READY");
}

TEST_F(ModelLifecycleTest, ReloadPicksUpANewVersionAndRetiresTheOld) {
  Start(ControlMode::kExplicit, {"a"});
  AddVersion("a", 2, "v2");
  ASSERT_TRUE(manager_->Load("a").ok());
  EXPECT_EQ(Latest("a"), 2);
  EXPECT_EQ(State("a", 1), "") << "latest { 1 } retires version 1 after the swap";
}

TEST_F(ModelLifecycleTest, FailedReloadKeepsThePreviousVersionServing) {
  Start(ControlMode::kExplicit, {"a"});
  AddVersion("a", 2, "v2");
  Write(repo_ / "a" / "2" / "FAIL_LOAD", "");
  EXPECT_EQ(manager_->Load("a").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Latest("a"), 1);
  EXPECT_EQ(State("a", 1).rfind("READY", 0), 0u);
  EXPECT_EQ(State("a", 2).rfind("UNAVAILABLE: fake load failure", 0), 0u) << State("a", 2);
  // A broken config also leaves the old version serving.
  Write(repo_ / "a" / "config.pbtxt", "input [ { name: ");
  EXPECT_FALSE(manager_->Load("a").ok());
  EXPECT_EQ(Latest("a"), 1);
}

TEST_F(ModelLifecycleTest, InFlightRequestsOnTheOldVersionFinishAcrossTheSwap) {
  Start(ControlMode::kExplicit, {"a"});
  auto old = manager_->Get("a", 0);
  ASSERT_TRUE(old.ok());
  factory_->CloseGate();
  absl::Notification done;
  absl::StatusOr<core::InferenceResponse> result;
  auto request = std::make_unique<core::InferenceRequest>();
  request->model_name = "a";
  request->model_version = 1;
  float value = 2.5f;
  request->inputs.push_back(
      {"x", core::Tensor::Owned(core::DataType::kFp32, {1},
                                std::string(reinterpret_cast<const char*>(&value), 4))});
  request->model_handle = *old;
  request->on_complete = [&](absl::StatusOr<core::InferenceResponse> r) {
    result = std::move(r);
    done.Notify();
  };
  ASSERT_TRUE((*old)->scheduler().Enqueue(std::move(request)).ok());
  factory_->WaitForExecuting(1);
  old = absl::UnknownError("released");  // only the queued request holds version 1 now

  AddVersion("a", 2, "v2");
  absl::Notification reloaded;
  manager_->LoadAsync("a", {}, [&](absl::Status) { reloaded.Notify(); });
  // The swap happens while the old request is held: new requests see version 2 ...
  for (int i = 0; i < 200 && Latest("a") != 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(Latest("a"), 2);
  // ... and the drain waits for the old one, which then completes normally.
  EXPECT_FALSE(reloaded.HasBeenNotified());
  factory_->OpenGate();
  done.WaitForNotification();
  EXPECT_TRUE(result.ok()) << result.status();
  reloaded.WaitForNotification();
}

TEST_F(ModelLifecycleTest, PollLoadsAFolderOnlyOnceItIsStable) {
  Start(ControlMode::kPoll);
  manager_->Poll();  // baseline
  AddVersion("a", 2, "partial");
  manager_->Poll();  // first sight of the change: not yet
  EXPECT_EQ(Latest("a"), 1);
  AddVersion("a", 2, "partial and more bytes");  // still being written
  manager_->Poll();
  EXPECT_EQ(Latest("a"), 1);
  manager_->Poll();  // unchanged since the last poll: load
  EXPECT_EQ(Latest("a"), 2);

  // A new model folder and a removed one.
  AddModel("c", "", {1});
  manager_->Poll();
  EXPECT_EQ(State("c", 1), "");
  manager_->Poll();
  EXPECT_EQ(State("c", 1), "READY");
  fs::remove_all(repo_ / "b");
  manager_->Poll();
  EXPECT_EQ(manager_->Get("b", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelLifecycleTest, PollKeepsWorkingAfterAFailedLoad) {
  Start(ControlMode::kPoll);
  AddVersion("a", 2, "v2");
  Write(repo_ / "a" / "2" / "FAIL_LOAD", "");
  manager_->Poll();
  manager_->Poll();
  EXPECT_EQ(Latest("a"), 1);
  EXPECT_EQ(State("a", 2).rfind("UNAVAILABLE", 0), 0u);
  manager_->Poll();
  EXPECT_EQ(events_.size(), 3u) << "a failed folder is not retried until it changes";
  fs::remove(repo_ / "a" / "2" / "FAIL_LOAD");
  manager_->Poll();
  manager_->Poll();
  EXPECT_EQ(Latest("a"), 2);
}

TEST_F(ModelLifecycleTest, UploadStagesAndRecordsTheVersion) {
  Start(ControlMode::kExplicit, {"a"});
  LoadRequest request;
  request.config_json = R"({"input":[{"name":"x","data_type":"TYPE_FP32","dims":["-1"]}],
                            "output":[{"name":"y","data_type":"TYPE_FP32","dims":["-1"]}]})";
  request.files["1/model.pt"] = "uploaded weights";
  request.parent_version = 0;
  ASSERT_TRUE(manager_->Load("up", request).ok());
  EXPECT_EQ(State("up", 1), "READY");
  auto record = store_->GetVersion("up", 1);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->source, "upload");
  EXPECT_EQ(record->sha256, Sha256Hex("uploaded weights"));
  EXPECT_EQ(record->size_bytes, 16);
  for (const auto& e : fs::directory_iterator(repo_)) {
    EXPECT_NE(e.path().filename().string().rfind(".upload-", 0), 0u) << "staging is cleaned";
  }
  // A second version of an existing model needs no config.
  LoadRequest v2;
  v2.files["2/model.pt"] = "v2";
  v2.parent_version = 1;
  ASSERT_TRUE(manager_->Load("up", v2).ok());
  EXPECT_EQ(Latest("up"), 2);
  EXPECT_EQ(store_->GetVersion("up", 2)->parent_version, 1);
}

TEST_F(ModelLifecycleTest, BadUploadsAreRefusedAndNothingIsWritten) {
  Start(ControlMode::kExplicit, {"a"});
  auto upload = [&](const std::string& name, const std::string& path, const std::string& bytes,
                    const std::string& config = "") {
    LoadRequest request;
    request.files[path] = bytes;
    request.config_json = config;
    return manager_->Load(name, request).code();
  };
  EXPECT_EQ(upload("a", "1/model.pt", "x"), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(upload("a", "../1/model.pt", "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("a", "2/../../evil", "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("a", "/etc/passwd", "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("a", std::string("2/mo\0del.pt", 11), "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("a", "2/model.pt", std::string(1001, 'x')),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(upload("a", "2/other.bin", "x"), absl::StatusCode::kInvalidArgument)
      << "a version without its model file";
  EXPECT_EQ(upload("..", "1/model.pt", "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("x/y", "1/model.pt", "x"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upload("new", "1/model.pt", "x"), absl::StatusCode::kInvalidArgument)
      << "a new model needs its config";
  EXPECT_EQ(upload("new", "1/model.pt", "x", "{not json"), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(repo_ / "a" / "2"));
  EXPECT_FALSE(fs::exists(repo_ / "new"));
  EXPECT_EQ(Latest("a"), 1);
}

TEST_F(ModelLifecycleTest, StartupRemovesUnfinishedUploads) {
  Write(repo_ / ".upload-a-1-0" / "2" / "model.pt", "half");
  Start(ControlMode::kNone);
  EXPECT_FALSE(fs::exists(repo_ / ".upload-a-1-0"));
  EXPECT_EQ(State("a", 2), "");
}

TEST_F(ModelLifecycleTest, RegistryIsRebuiltAndReconciledWithTheDisk) {
  Start(ControlMode::kNone);
  auto a1 = store_->GetVersion("a", 1);
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(a1->source, "file");
  EXPECT_EQ(a1->sha256, Sha256Hex("weights of a v1"));
  ASSERT_TRUE(manager_->SetAlias("b", "production", 1).ok());
  manager_.reset();

  // Offline: a's file changes, b's version folder goes.
  AddVersion("a", 1, "different weights");
  fs::remove_all(repo_ / "b" / "1");
  Start(ControlMode::kNone);
  EXPECT_EQ(store_->GetVersion("a", 1)->sha256, Sha256Hex("different weights"));
  EXPECT_EQ(store_->GetVersion("b", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager_->Aliases("b").empty()) << "the alias to the deleted version went with it";
}

TEST_F(ModelLifecycleTest, AliasesResolveAndBadOnesAreRefused) {
  AddModel("m", "version_policy { all { } }", {1, 2});
  Start(ControlMode::kNone);
  ASSERT_TRUE(manager_->SetAlias("m", "production", 1).ok());
  ASSERT_TRUE(manager_->SetAlias("m", "staging", 2).ok());
  EXPECT_EQ((*manager_->Resolve("m", "production"))->version(), 1);
  EXPECT_EQ((*manager_->Resolve("m", "staging"))->version(), 2);
  EXPECT_EQ((*manager_->Resolve("m", ""))->version(), 2);
  EXPECT_EQ(manager_->Resolve("m", "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Resolve("m", "-1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->SetAlias("m", "production", 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->SetAlias("zz", "production", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->SetAlias("m", "7up", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->SetAlias("m", "a/b", 1).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(manager_->DeleteAlias("m", "staging").ok());
  EXPECT_EQ(manager_->DeleteAlias("m", "staging").code(), absl::StatusCode::kNotFound);

  // Aliases survive a restart.
  Start(ControlMode::kNone);
  EXPECT_EQ((*manager_->Resolve("m", "production"))->version(), 1);
}

TEST_F(ModelLifecycleTest, TrafficSplitRoutesNinetyTenDeterministicallyAndSurvivesRestart) {
  AddModel("m", "version_policy { all { } }", {1, 2});
  Start(ControlMode::kNone);
  EXPECT_EQ(manager_->SetTrafficSplit("m", {{1, -1}, {2, 1}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->SetTrafficSplit("m", {{1, 0}, {2, 0}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->SetTrafficSplit("m", {{1, 90}, {5, 10}}).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(manager_->SetTrafficSplit("m", {{1, 90}, {2, 10}}).ok());

  auto count = [&] {
    std::map<int64_t, int> counts;
    for (int i = 0; i < 1000; ++i) {
      ++counts[(*manager_->Resolve("m", "", absl::StrCat("request-", i)))->version()];
    }
    return counts;
  };
  std::map<int64_t, int> first = count();
  EXPECT_NEAR(first[1], 900, 30);
  EXPECT_NEAR(first[2], 100, 30);
  EXPECT_EQ(count(), first) << "the same ids land on the same versions";
  // Requests without an id are split at random, still within the weights.
  std::map<int64_t, int> random;
  for (int i = 0; i < 1000; ++i) ++random[(*manager_->Resolve("m", ""))->version()];
  EXPECT_NEAR(random[2], 100, 45);
  // A version named explicitly ignores the split.
  EXPECT_EQ((*manager_->Resolve("m", "2", "request-1"))->version(), 2);

  Start(ControlMode::kNone);
  EXPECT_EQ(*manager_->GetTrafficSplit("m"), (registry::TrafficSplit{{1, 90}, {2, 10}}));
  EXPECT_EQ(count(), first);
  ASSERT_TRUE(manager_->SetTrafficSplit("m", {}).ok());
  EXPECT_EQ((*manager_->Resolve("m", "", "request-1"))->version(), 2);
}

TEST_F(ModelLifecycleTest, SetVersionLabelsMergesIntoTheRecord) {
  Start(ControlMode::kNone);
  ASSERT_TRUE(manager_->SetVersionLabels("a", 1, {{"owner", "grid"}}, {{"val_mae", 0.5}}).ok());
  ASSERT_TRUE(manager_->SetVersionLabels("a", 1, {{"stage", "canary"}}, {}).ok());
  auto record = store_->GetVersion("a", 1);
  EXPECT_EQ(record->labels,
            (std::map<std::string, std::string>{{"owner", "grid"}, {"stage", "canary"}}));
  EXPECT_EQ(record->metrics.at("val_mae"), 0.5);
  ASSERT_TRUE(manager_->SetVersionLabels("a", 1, {{"owner", ""}}, {}).ok());
  EXPECT_EQ(store_->GetVersion("a", 1)->labels.count("owner"), 0u);
  EXPECT_EQ(manager_->SetVersionLabels("a", 5, {}, {}).code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelLifecycleTest, ModelWarmupRunsBeforeReadyAndABadOneFailsTheLoad) {
  AddModel("warm",
           R"pb(model_warmup
                [ {
                  name: "zeros"
                  batch_size: 1
                  count: 3
                  inputs {
                    key: "x"
                    value {
                      data_type: TYPE_FP32
                      dims: [ 4 ]
                      zero_data: true
                    }
                  }
                }])pb",
           {1});
  AddModel("cold",
           R"pb(model_warmup
                [ {
                  name: "wrong"
                  batch_size: 1
                  inputs {
                    key: "nope"
                    value {
                      data_type: TYPE_FP32
                      dims: [ 4 ]
                      zero_data: true
                    }
                  }
                }])pb",
           {1});
  Start(ControlMode::kNone);
  EXPECT_EQ(State("warm", 1), "READY");
  EXPECT_EQ(factory_->executed(), 3) << "three warm-up runs before READY";
  EXPECT_EQ(State("cold", 1).rfind("UNAVAILABLE: model 'cold' warm-up 'wrong'", 0), 0u)
      << State("cold", 1);
}

TEST(ModelFilesTest, NamesAndUploadPaths) {
  EXPECT_TRUE(ValidateName("grid_load-forecast.v2", "model name").ok());
  for (std::string bad : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                          std::string("a\\b"), std::string("a\nb"), std::string("a\0b", 3),
                          std::string(".hidden"), std::string(300, 'x')}) {
    EXPECT_EQ(ValidateName(bad, "model name").code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(*ValidateUploadPath("3/model.pt"), 3);
  EXPECT_EQ(*ValidateUploadPath("3/sub/labels.txt"), 3);
  for (const char* bad : {"model.pt", "0/model.pt", "-1/model.pt", "01/model.pt", "3/", "3//x",
                          "3/../x", "x/model.pt", "/3/model.pt"}) {
    EXPECT_FALSE(ValidateUploadPath(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace gridserve::repository
