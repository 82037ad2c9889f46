// Integration: model management over real gRPC on a loopback port: RepositoryModelLoad with
// Triton's `config` and `file:` parameters, RepositoryModelUnload, the control-mode rules, and
// gridserve.v1.RegistryService (lineage, aliases in ModelInfer/ModelReady/ModelMetadata, a 90/10
// split over 1000 request ids), across a restart.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gridserve/v1/registry.grpc.pb.h"
#include "gtest/gtest.h"
#include "runtime/repository/model_files.h"
#include "server/grpc/peer.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_server.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    grpc::Status s_ = (expr);                                              \
    ASSERT_TRUE(s_.ok()) << s_.error_code() << ": " << s_.error_message(); \
  } while (0)

// add_sub's config with every version served, as JSON (the `config` parameter).
constexpr char kAdderConfig[] = R"({
  "name": "adder", "platform": "pytorch_libtorch", "max_batch_size": 8,
  "version_policy": {"all": {}},
  "input": [{"name": "INPUT__0", "data_type": "TYPE_FP32", "dims": ["4"]},
            {"name": "INPUT__1", "data_type": "TYPE_FP32", "dims": ["4"]}],
  "output": [{"name": "OUTPUT__0", "data_type": "TYPE_FP32", "dims": ["4"]},
             {"name": "OUTPUT__1", "data_type": "TYPE_FP32", "dims": ["4"]}]})";

class ModelManagementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::path(::testing::TempDir()) /
            absl::StrCat("gridserve_mgmt_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(repo_);
    fs::create_directories(repo_);
    fs::copy(fs::path(GRIDSERVE_TEST_MODELS_DIR) / "add_sub", repo_ / "add_sub",
             fs::copy_options::recursive);
    model_bytes_ = testing::ReadFile((repo_ / "add_sub" / "1" / "model.pt").string());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(repo_);
  }

  void Start(const std::string& mode) {
    server_.reset();
    server::ServerOptions options = testing::LoopbackOptions(repo_.string());
    options.allow_metrics = false;
    options.model_control_mode = mode;
    options.max_upload_bytes = 1 << 20;
    auto server = server::Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::MakeStub(server_->grpc_port());
    registry_ = gridserve::v1::RegistryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Upload(const std::string& name, const std::map<std::string, std::string>& files,
                      const std::string& config = kAdderConfig) {
    inference::RepositoryModelLoadRequest request;
    request.set_model_name(name);
    if (!config.empty()) (*request.mutable_parameters())["config"].set_string_param(config);
    for (const auto& [path, bytes] : files) {
      (*request.mutable_parameters())["file:" + path].set_bytes_param(bytes);
    }
    inference::RepositoryModelLoadResponse response;
    return stub_->RepositoryModelLoad(testing::Context().get(), request, &response);
  }

  grpc::Status Infer(const std::string& model, const std::string& version, const std::string& id,
                     inference::ModelInferResponse* response) {
    const std::vector<float> a = {1, 2, 3, 4};
    inference::ModelInferRequest request = testing::AddSubRequest(a, a);
    request.set_model_name(model);
    request.set_model_version(version);
    request.set_id(id);
    return stub_->ModelInfer(testing::Context().get(), request, response);
  }

  fs::path repo_;
  std::string model_bytes_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  std::unique_ptr<gridserve::v1::RegistryService::Stub> registry_;
};

TEST_F(ModelManagementTest, LoadAndUnloadNeedExplicitMode) {
  Start("none");
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("add_sub");
  inference::RepositoryModelLoadResponse response;
  EXPECT_EQ(stub_->RepositoryModelLoad(testing::Context().get(), load, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("add_sub");
  inference::RepositoryModelUnloadResponse unload_response;
  EXPECT_EQ(
      stub_->RepositoryModelUnload(testing::Context().get(), unload, &unload_response).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ModelManagementTest, UploadIsServedWithItsLineageAndBadUploadsAreRefused) {
  Start("explicit");
  ASSERT_OK(Upload("adder", {{"1/model.pt", model_bytes_}}));
  inference::ModelInferResponse infer;
  ASSERT_OK(Infer("adder", "", "", &infer));
  EXPECT_EQ(infer.model_version(), "1");

  gridserve::v1::GetModelVersionRequest get;
  get.set_model("adder");
  get.set_version("1");
  gridserve::v1::GetModelVersionResponse version;
  ASSERT_OK(registry_->GetModelVersion(testing::Context().get(), get, &version));
  EXPECT_EQ(version.version().source(), "upload");
  EXPECT_EQ(version.version().sha256(), repository::Sha256Hex(model_bytes_));
  EXPECT_EQ(version.version().size_bytes(), static_cast<int64_t>(model_bytes_.size()));
  EXPECT_EQ(version.version().state(), "READY");

  EXPECT_EQ(Upload("adder", {{"../1/model.pt", "x"}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload("../adder", {{"1/model.pt", "x"}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload("adder", {{"2/model.pt", std::string((1 << 20) + 1, 'x')}}).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Upload("adder", {{"1/model.pt", model_bytes_}}).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(
      Upload("other", {{"1/model.pt", model_bytes_}}, "{\"max_batch_size\": \"x\"}").error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  // A broken new version: the load fails, version 1 keeps serving.
  grpc::Status broken = Upload("adder", {{"2/model.pt", "not a TorchScript archive"}}, "");
  EXPECT_FALSE(broken.ok());
  ASSERT_OK(Infer("adder", "", "", &infer));
  EXPECT_EQ(infer.model_version(), "1");
  inference::RepositoryIndexResponse index;
  ASSERT_OK(stub_->RepositoryIndex(testing::Context().get(), {}, &index));
  bool reported = false;
  for (const auto& m : index.models()) {
    if (m.name() == "adder" && m.version() == "2") {
      reported = m.state() == "UNAVAILABLE" && !m.reason().empty();
    }
  }
  EXPECT_TRUE(reported) << index.DebugString();

  // Unload: ModelReady false, inference UNAVAILABLE; load again.
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("adder");
  (*unload.mutable_parameters())["unload_dependents"].set_bool_param(true);
  inference::RepositoryModelUnloadResponse unloaded;
  ASSERT_OK(stub_->RepositoryModelUnload(testing::Context().get(), unload, &unloaded));
  inference::ModelReadyRequest ready_request;
  ready_request.set_name("adder");
  inference::ModelReadyResponse ready;
  ASSERT_OK(stub_->ModelReady(testing::Context().get(), ready_request, &ready));
  EXPECT_FALSE(ready.ready());
  EXPECT_EQ(Infer("adder", "", "", &infer).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ModelManagementTest, AliasesAndANinetyTenSplitRouteAndSurviveARestart) {
  Start("explicit");
  ASSERT_OK(Upload("adder", {{"1/model.pt", model_bytes_}, {"2/model.pt", model_bytes_}}));

  gridserve::v1::SetAliasRequest alias;
  alias.set_model("adder");
  alias.set_alias("production");
  alias.set_version(1);
  gridserve::v1::SetAliasResponse alias_response;
  ASSERT_OK(registry_->SetAlias(testing::Context().get(), alias, &alias_response));
  alias.set_version(9);
  EXPECT_EQ(registry_->SetAlias(testing::Context().get(), alias, &alias_response).error_code(),
            grpc::StatusCode::NOT_FOUND);

  gridserve::v1::SetTrafficSplitRequest split;
  split.set_model("adder");
  auto* v1 = split.add_split();
  v1->set_version(1);
  v1->set_weight(-1);
  auto* v2 = split.add_split();
  v2->set_version(2);
  v2->set_weight(10);
  gridserve::v1::SetTrafficSplitResponse split_response;
  EXPECT_EQ(
      registry_->SetTrafficSplit(testing::Context().get(), split, &split_response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  v1->set_weight(90);
  ASSERT_OK(registry_->SetTrafficSplit(testing::Context().get(), split, &split_response));

  for (int restart = 0; restart < 2; ++restart) {
    if (restart == 1) Start("explicit");  // and --load-model nothing: load it again
    if (restart == 1) {
      inference::RepositoryModelLoadRequest load;
      load.set_model_name("adder");
      inference::RepositoryModelLoadResponse loaded;
      ASSERT_OK(stub_->RepositoryModelLoad(testing::Context().get(), load, &loaded));
    }
    inference::ModelInferResponse infer;
    ASSERT_OK(Infer("adder", "production", "", &infer));
    EXPECT_EQ(infer.model_version(), "1");
    inference::ModelReadyRequest ready_request;
    ready_request.set_name("adder");
    ready_request.set_version("production");
    inference::ModelReadyResponse ready;
    ASSERT_OK(stub_->ModelReady(testing::Context().get(), ready_request, &ready));
    EXPECT_TRUE(ready.ready());
    inference::ModelMetadataRequest metadata_request;
    metadata_request.set_name("adder");
    metadata_request.set_version("production");
    inference::ModelMetadataResponse metadata;
    ASSERT_OK(stub_->ModelMetadata(testing::Context().get(), metadata_request, &metadata));
    EXPECT_THAT(metadata.versions(), ::testing::ElementsAre("1"));
    EXPECT_EQ(Infer("adder", "nope", "", &infer).error_code(), grpc::StatusCode::NOT_FOUND);

    std::map<std::string, int> counts;
    for (int i = 0; i < 1000; ++i) {
      ASSERT_OK(Infer("adder", "", absl::StrCat("meter-", i), &infer));
      ++counts[infer.model_version()];
    }
    EXPECT_NEAR(counts["1"], 900, 30) << "restart " << restart;
    EXPECT_NEAR(counts["2"], 100, 30) << "restart " << restart;
  }

  gridserve::v1::ListModelsRequest list;
  gridserve::v1::ListModelsResponse models;
  list.set_name("adder");
  ASSERT_OK(registry_->ListModels(testing::Context().get(), list, &models));
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).versions_size(), 2);
  EXPECT_EQ(models.models(0).aliases().at("production"), 1);
  EXPECT_EQ(models.models(0).traffic_split_size(), 2);
}

TEST(PeerTest, OnlyLoopbackPeersMayChangeModels) {
  EXPECT_TRUE(server::IsLoopbackPeer("ipv4:127.0.0.1:5000"));
  EXPECT_TRUE(server::IsLoopbackPeer("ipv6:[::1]:5000"));
  EXPECT_TRUE(server::IsLoopbackPeer("ipv6:[::ffff:127.0.0.1]:5000"));
  EXPECT_TRUE(server::IsLoopbackPeer("unix:/tmp/gridserve.sock"));
  EXPECT_FALSE(server::IsLoopbackPeer("ipv4:10.0.0.7:5000"));
  EXPECT_FALSE(server::IsLoopbackPeer("ipv6:[2001:db8::1]:5000"));
  EXPECT_FALSE(server::IsLoopbackPeer("ipv4:128.0.0.1:5000"));
}

}  // namespace
}  // namespace gridserve
