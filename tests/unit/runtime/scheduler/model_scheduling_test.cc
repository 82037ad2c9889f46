// How ModelManager turns a config into instances and a scheduler: dynamic_batching or not,
// instance groups (devices, intra-op threads, one thread each), the config translation, and the
// statistics every loaded version keeps.

#include <torch/cuda.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/backend/torchscript_backend.h"
#include "runtime/repository/batching_config.h"
#include "runtime/repository/model_config.h"
#include "runtime/repository/model_manager.h"
#include "tests/testing/fake_backend.h"
#include "tests/testing/fake_executor.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;
using ::gridserve::testing::ExecutorBackendFactory;
using ::gridserve::testing::FakeExecutor;
using ::gridserve::testing::MakeRequest;
using ::gridserve::testing::ResultCollector;
using ::testing::ElementsAre;
using Ids = std::vector<std::string>;
using scheduler::DynamicBatchScheduler;

constexpr char kIo[] = R"pb(
  input
  [ {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }] output
  [ {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }]
)pb";

class ModelSchedulingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::path(::testing::TempDir()) /
            absl::StrCat("gridserve_model_scheduling_test_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(repo_);
    fs::create_directories(repo_);
  }
  void TearDown() override {
    manager_.reset();
    fs::remove_all(repo_);
  }

  void AddModel(const std::string& name, const std::string& config) {
    fs::create_directories(repo_ / name / "1");
    std::ofstream(repo_ / name / "1" / "model.pt") << "";
    std::ofstream(repo_ / name / "config.pbtxt") << config << kIo;
  }

  void Load(std::shared_ptr<backend::BackendFactory> factory, int cpu_cores = 8) {
    ModelManager::Options options;
    options.repository_paths = {repo_.string()};
    options.backend_factory = std::move(factory);
    options.cpu_cores = cpu_cores;
    options.observer_factory = observer_factory_;
    auto manager = ModelManager::Create(std::move(options));
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    ASSERT_TRUE(manager_->LoadAll().ok());
  }
  void LoadFake(int cpu_cores = 8) {
    factory_ = std::make_shared<ExecutorBackendFactory>(&executor_);
    Load(factory_, cpu_cores);
  }

  std::shared_ptr<LoadedModel> Get(const std::string& name) {
    auto model = manager_->Get(name, 1);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : nullptr;
  }
  void Enqueue(LoadedModel& model, const std::string& id) {
    auto request = MakeRequest(id, 1, &results_);
    request->model_name = model.name();
    absl::Status status = model.scheduler().Enqueue(std::move(request));
    ASSERT_TRUE(status.ok()) << status;
  }

  fs::path repo_;
  FakeExecutor executor_;
  ResultCollector results_;
  std::shared_ptr<ExecutorBackendFactory> factory_;
  std::function<scheduler::ObserverList(const inference::ModelConfig&, int64_t)> observer_factory_;
  std::unique_ptr<ModelManager> manager_;  // last: drained before the fakes go
};

TEST_F(ModelSchedulingTest, DynamicBatchingCombinesQueuedRequests) {
  AddModel("batched", "max_batch_size: 8 dynamic_batching { }");
  LoadFake();
  auto model = Get("batched");
  ASSERT_NE(model, nullptr);

  executor_.Hold("x");
  Enqueue(*model, "x");
  ASSERT_TRUE(executor_.AwaitStartedId("x"));
  Enqueue(*model, "a");
  Enqueue(*model, "b");
  Enqueue(*model, "c");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"a", "b", "c"}));

  scheduler::StatisticsSnapshot stats = model->statistics().Snapshot();
  EXPECT_EQ(stats.inference_count, 4u);
  EXPECT_EQ(stats.execution_count, 2u);
  EXPECT_EQ(stats.success.count, 4u);
  ASSERT_EQ(stats.batch_stats.size(), 2u);
  EXPECT_EQ(stats.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(stats.batch_stats[1].batch_size, 3u);
  EXPECT_GT(stats.last_inference_ms, 0u);
}

TEST_F(ModelSchedulingTest, WithoutDynamicBatchingEachRequestRunsAlone) {
  AddModel("plain", "max_batch_size: 8");
  AddModel("no_batch_dim", "max_batch_size: 0 dynamic_batching { }");
  LoadFake();
  for (const char* name : {"plain", "no_batch_dim"}) {
    SCOPED_TRACE(name);
    auto model = Get(name);
    ASSERT_NE(model, nullptr);
    size_t before = executor_.batches().size();
    std::string x = absl::StrCat(name, "/x");
    executor_.Hold(x);
    Enqueue(*model, x);
    ASSERT_TRUE(executor_.AwaitStartedId(x));
    Enqueue(*model, absl::StrCat(name, "/a"));
    Enqueue(*model, absl::StrCat(name, "/b"));
    executor_.Release(x);
    ASSERT_TRUE(executor_.AwaitFinished(before + 3));
    auto batches = executor_.batch_ids();
    ASSERT_EQ(batches.size(), before + 3);
    for (size_t i = before; i < batches.size(); ++i) EXPECT_EQ(batches[i].size(), 1u);
  }
}

TEST_F(ModelSchedulingTest, QueuePolicyFromTheConfigApplies) {
  AddModel("limited", R"pb(
    max_batch_size: 1
    dynamic_batching { default_queue_policy { max_queue_size: 1 } }
  )pb");
  LoadFake();
  auto model = Get("limited");
  ASSERT_NE(model, nullptr);
  executor_.Hold("x");
  Enqueue(*model, "x");
  ASSERT_TRUE(executor_.AwaitStartedId("x"));
  Enqueue(*model, "a");
  EXPECT_EQ(model->scheduler().Enqueue(MakeRequest("b", 1, &results_)).code(),
            absl::StatusCode::kResourceExhausted);
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_EQ(model->statistics().Snapshot().fail.count, 1u);  // the refused request
}

TEST_F(ModelSchedulingTest, AnInconsistentBatchingConfigFailsOnlyThatVersion) {
  AddModel("bad_levels", R"pb(
    max_batch_size: 4
    dynamic_batching { priority_levels: 2 default_priority_level: 3 }
  )pb");
  AddModel("fine", "max_batch_size: 4 dynamic_batching { }");
  LoadFake();
  EXPECT_EQ(manager_->Get("bad_levels", 1).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(manager_->Get("fine", 1).ok());
}

TEST_F(ModelSchedulingTest, ExtraObserversFromTheFactorySeeEveryRequest) {
  struct Counter : scheduler::ExecutionObserver {
    void OnRequestFinished(const scheduler::RequestRecord&) override { ++finished; }
    std::atomic<int> finished{0};
  };
  auto counter = std::make_shared<Counter>();
  std::vector<std::string> seen;
  observer_factory_ = [&](const inference::ModelConfig& config, int64_t version) {
    seen.push_back(absl::StrCat(config.name(), "/", version));
    return scheduler::ObserverList{counter, nullptr};  // null entries are skipped
  };
  AddModel("observed", "max_batch_size: 4 dynamic_batching { }");
  LoadFake();
  EXPECT_THAT(seen, ElementsAre("observed/1"));
  auto model = Get("observed");
  ASSERT_NE(model, nullptr);
  Enqueue(*model, "a");
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(counter->finished.load(), 1);
}

// ---- Instance groups -------------------------------------------------------------------------

TEST_F(ModelSchedulingTest, InstanceGroupsMakeOneInstancePerCountAndDevice) {
  AddModel("grouped", R"pb(
    max_batch_size: 1
    dynamic_batching {} instance_group
    [ { count: 2 kind: KIND_CPU }
      , {
        count: 1
        kind: KIND_GPU
        gpus: [ 0, 1 ]
      }]
  )pb");
  LoadFake(/*cpu_cores=*/8);
  std::vector<std::string> devices;
  for (const auto& options : factory_->instances()) {
    devices.push_back(options.device);
    EXPECT_EQ(options.intra_op_threads, 2);  // 8 cores / 4 instances
  }
  EXPECT_THAT(devices, ElementsAre("cpu", "cpu", "cuda:0", "cuda:1"));

  // Each instance has its own thread: four held requests execute at the same time.
  auto model = Get("grouped");
  ASSERT_NE(model, nullptr);
  for (const char* id : {"a", "b", "c", "d"}) executor_.Hold(id);
  for (const char* id : {"a", "b", "c", "d"}) Enqueue(*model, id);
  ASSERT_TRUE(executor_.AwaitExecuting(4));
  for (const char* id : {"a", "b", "c", "d"}) executor_.Release(id);
  ASSERT_TRUE(results_.AwaitCount(4));
}

TEST_F(ModelSchedulingTest, IntraOpThreadsNeverDropBelowOne) {
  AddModel("many", "instance_group [ { count: 3 kind: KIND_CPU } ]");
  LoadFake(/*cpu_cores=*/2);
  ASSERT_EQ(factory_->instances().size(), 3u);
  for (const auto& options : factory_->instances()) EXPECT_EQ(options.intra_op_threads, 1);
}

TEST_F(ModelSchedulingTest, KindGpuWithoutCudaIsALoadErrorForThatModel) {
  fs::path source = fs::path(GRIDSERVE_TEST_MODELS_DIR) / "add_sub" / "1" / "model.pt";
  ASSERT_TRUE(fs::exists(source)) << source;
  for (const char* name : {"on_gpu", "on_cpu"}) {
    fs::create_directories(repo_ / name / "1");
    fs::copy_file(source, repo_ / name / "1" / "model.pt");
  }
  constexpr char kAddSubIo[] = R"pb(
    max_batch_size: 8 input
    [ {
      name: "INPUT__0"
      data_type: TYPE_FP32
      dims: [ 4 ]
    }
      , {
        name: "INPUT__1"
        data_type: TYPE_FP32
        dims: [ 4 ]
      }] output
    [ {
      name: "OUTPUT__0"
      data_type: TYPE_FP32
      dims: [ 4 ]
    }
      , {
        name: "OUTPUT__1"
        data_type: TYPE_FP32
        dims: [ 4 ]
      }]
  )pb";
  std::ofstream(repo_ / "on_gpu" / "config.pbtxt")
      << kAddSubIo << "instance_group [ { kind: KIND_GPU gpus: [ 0 ] } ]";
  std::ofstream(repo_ / "on_cpu" / "config.pbtxt")
      << kAddSubIo << "instance_group [ { count: 2 kind: KIND_CPU } ]";
  Load(backend::MakeTorchScriptBackendFactory(), /*cpu_cores=*/2);

  EXPECT_TRUE(manager_->Get("on_cpu", 1).ok());
  auto gpu = manager_->Get("on_gpu", 1);
  if (torch::cuda::is_available()) {
    EXPECT_TRUE(gpu.ok()) << gpu.status();
  } else {
    EXPECT_EQ(gpu.status().code(), absl::StatusCode::kUnavailable);
    for (const auto& entry : manager_->Index()) {
      if (entry.name != "on_gpu") continue;
      EXPECT_EQ(entry.state, ModelState::kUnavailable);
      EXPECT_FALSE(entry.reason.empty());
    }
  }
}

// ---- Config translation ----------------------------------------------------------------------

TEST(BatchingConfigTest, TranslatesEveryDynamicBatchingField) {
  auto config =
      ParseModelConfig(absl::StrCat(R"pb(
                                      max_batch_size: 16
                                      dynamic_batching {
                                        preferred_batch_size: [ 4, 8 ]
                                        max_queue_delay_microseconds: 250
                                        preserve_ordering: true
                                        priority_levels: 3
                                        default_priority_level: 2
                                        default_queue_policy {
                                          max_queue_size: 64
                                          default_timeout_microseconds: 1000
                                          allow_timeout_override: true
                                          timeout_action: DELAY
                                        }
                                        priority_queue_policy {
                                          key: 1
                                          value: { max_queue_size: 8 timeout_action: REJECT }
                                        }
                                      }
                                    )pb",
                                    kIo),
                       "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(UsesDynamicBatching(*config));
  auto options = DynamicBatchOptionsFromConfig(*config);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->max_batch_size, 16);
  EXPECT_THAT(options->preferred_batch_sizes, ElementsAre(4, 8));
  EXPECT_EQ(options->max_queue_delay_us, 250u);
  EXPECT_TRUE(options->preserve_ordering);
  EXPECT_EQ(options->priority_levels, 3u);
  EXPECT_EQ(options->default_priority_level, 2u);
  EXPECT_EQ(options->default_queue_policy.max_queue_size, 64u);
  EXPECT_EQ(options->default_queue_policy.default_timeout_us, 1000u);
  EXPECT_TRUE(options->default_queue_policy.allow_timeout_override);
  EXPECT_EQ(options->default_queue_policy.timeout_action,
            DynamicBatchScheduler::TimeoutAction::kDelay);
  ASSERT_EQ(options->priority_queue_policy.count(1), 1u);
  EXPECT_EQ(options->priority_queue_policy.at(1).max_queue_size, 8u);
  EXPECT_EQ(options->priority_queue_policy.at(1).timeout_action,
            DynamicBatchScheduler::TimeoutAction::kReject);
}

TEST(BatchingConfigTest, OnlyBatchingModelsWithTheBlockUseTheBatcher) {
  auto with_block =
      ParseModelConfig(absl::StrCat("max_batch_size: 0 dynamic_batching { }", kIo), "m");
  auto without = ParseModelConfig(absl::StrCat("max_batch_size: 8", kIo), "m");
  ASSERT_TRUE(with_block.ok() && without.ok());
  EXPECT_FALSE(UsesDynamicBatching(*with_block));
  EXPECT_FALSE(UsesDynamicBatching(*without));
}

TEST(BatchingConfigTest, APolicyForALevelThatDoesNotExistIsInvalid) {
  auto config = ParseModelConfig(absl::StrCat(R"pb(
                                                max_batch_size: 4
                                                dynamic_batching {
                                                  priority_levels: 2
                                                  default_priority_level: 1
                                                  priority_queue_policy {
                                                    key: 5
                                                    value: {}
                                                  }
                                                }
                                              )pb",
                                              kIo),
                                 "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(DynamicBatchOptionsFromConfig(*config).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gridserve::repository
