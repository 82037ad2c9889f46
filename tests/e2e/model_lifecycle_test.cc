// End-to-end model lifecycle on the real binaries: poll mode under continuous load from the real
// gridserve-perf (a version folder written in pieces is served only once complete, the swap
// fails no request, a broken version leaves the old one serving), explicit mode with load,
// unload and upload through the real gridserve-cli, and restarts after SIGKILL.

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "gmock/gmock.h"
#include "gridserve/v1/registry.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kServer = std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve";
const std::string kCli = std::string(GRIDSERVE_BINARY_DIR) + "/client/gridserve-cli";
const std::string kPerf = std::string(GRIDSERVE_BINARY_DIR) + "/client/perf/gridserve-perf";
const std::string kModels = GRIDSERVE_TEST_MODELS_DIR;

std::string TestName() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }
std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/gridserve_lifecycle_" + TestName() + "_" + name + ".log";
}

// Polls `condition` every 100 ms until true or `timeout`; returns its last value.
template <typename F>
bool WaitFor(F condition, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::path(::testing::TempDir()) / ("gridserve_lifecycle_" + TestName());
    fs::remove_all(repo_);
    fs::create_directories(repo_);
    fs::copy(fs::path(kModels) / "add_sub", repo_ / "add_sub", fs::copy_options::recursive);
    fs::copy(fs::path(kModels) / "strlen", repo_ / "strlen", fs::copy_options::recursive);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(repo_);
  }

  void Start(std::vector<std::string> flags) {
    port_ = testing::FreeLoopbackPort();
    std::vector<std::string> argv = {kServer,
                                     "--model-repository=" + repo_.string(),
                                     "--grpc-address=127.0.0.1",
                                     "--grpc-port=" + std::to_string(port_),
                                     "--allow-metrics=false",
                                     "--strict-readiness=false"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    server_ = std::make_unique<testing::Subprocess>(argv, LogPath("server"));
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
    registry_ = gridserve::v1::RegistryService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          inference::ServerReadyResponse resp;
          return stub_->ServerReady(&ctx, {}, &resp).ok() && resp.ready();
        },
        std::chrono::seconds(90)))
        << server_->Output();
  }

  // "READY", "UNAVAILABLE: reason", ... for (model, version), "" when not listed.
  std::string State(const std::string& model, const std::string& version) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    inference::RepositoryIndexResponse index;
    if (!stub_->RepositoryIndex(&ctx, {}, &index).ok()) return "rpc failed";
    for (const auto& m : index.models()) {
      if (m.name() == model && m.version() == version) {
        return m.reason().empty() ? m.state() : m.state() + ": " + m.reason();
      }
    }
    return "";
  }

  grpc::Status Infer(const std::string& version, inference::ModelInferResponse* resp,
                     const std::string& model = "add_sub") {
    const std::vector<float> a = {1, 2, 3, 4};
    inference::ModelInferRequest req = testing::AddSubRequest(a, a);
    req.set_model_name(model);
    req.set_model_version(version);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->ModelInfer(&ctx, req, resp);
  }

  std::pair<int, std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {kCli, "--url", "127.0.0.1:" + std::to_string(port_), "--timeout-ms", "60000"});
    return testing::RunCommand(args, LogPath("cli"));
  }

  fs::path repo_;
  int port_ = 0;
  std::unique_ptr<testing::Subprocess> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  std::unique_ptr<gridserve::v1::RegistryService::Stub> registry_;
};

int64_t JsonInt(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":(\\d+)"))) return -1;
  return std::stoll(m[1]);
}

TEST_F(LifecycleTest, PollModeSwapsUnderLoadWithZeroFailedRequests) {
  Start({"--model-control-mode=poll", "--repository-poll-secs=1"});
  ASSERT_EQ(State("add_sub", "1"), "READY");

  // Closed loop, 8 in flight, on the latest version, for a window that covers both changes.
  testing::Subprocess perf(
      {kPerf, "-u", "127.0.0.1:" + std::to_string(port_), "-m", "add_sub", "--concurrency-range",
       "8", "--warmup-ms", "0", "--measurement-interval", "30000", "--threads", "1", "--json"},
      LogPath("perf"));
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // Version 2 arrives in pieces over ~3 s; polls in between see a changing folder.
  const std::string model = testing::ReadFile((repo_ / "add_sub" / "1" / "model.pt").string());
  fs::create_directories(repo_ / "add_sub" / "2");
  {
    std::ofstream out(repo_ / "add_sub" / "2" / "model.pt", std::ios::binary);
    const size_t piece = model.size() / 5 + 1;
    for (size_t offset = 0; offset < model.size(); offset += piece) {
      out.write(model.data() + offset, std::min(piece, model.size() - offset));
      out.flush();
      EXPECT_EQ(State("add_sub", "2"), "") << "a folder still being written is not loaded";
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
    }
  }
  ASSERT_TRUE(
      WaitFor([&] { return State("add_sub", "2") == "READY" && State("add_sub", "1") == ""; },
              std::chrono::seconds(30)))
      << server_->Output();
  inference::ModelInferResponse resp;
  ASSERT_TRUE(Infer("", &resp).ok());
  EXPECT_EQ(resp.model_version(), "2");

  // A broken version 3: reported, and version 2 keeps serving as latest.
  fs::create_directories(repo_ / "add_sub" / "3");
  std::ofstream(repo_ / "add_sub" / "3" / "model.pt") << "not a TorchScript archive";
  ASSERT_TRUE(WaitFor([&] { return State("add_sub", "3").rfind("UNAVAILABLE: ", 0) == 0; },
                      std::chrono::seconds(30)))
      << server_->Output();
  EXPECT_THAT(State("add_sub", "2"), HasSubstr("READY"));
  ASSERT_TRUE(Infer("", &resp).ok());
  EXPECT_EQ(resp.model_version(), "2");
  EXPECT_TRUE(perf.Wait(std::chrono::milliseconds(1)) == std::nullopt)
      << "the load window must cover both changes";

  // Polling keeps working after the failure: a fixed version 3 is picked up.
  std::ofstream(repo_ / "add_sub" / "3" / "model.pt", std::ios::binary) << model;
  ASSERT_TRUE(WaitFor([&] { return State("add_sub", "3") == "READY"; }, std::chrono::seconds(30)))
      << server_->Output();

  ASSERT_EQ(perf.Wait(std::chrono::seconds(120)), 0) << perf.Output();
  const std::string report = perf.Output();
  EXPECT_GT(JsonInt(report, "ok"), 100) << report;
  EXPECT_EQ(JsonInt(report, "errors"), 0) << report;
  EXPECT_EQ(JsonInt(report, "refused"), 0) << report;
}

TEST_F(LifecycleTest, ExplicitModeLoadUnloadUploadAndRegistry) {
  Start({"--model-control-mode=explicit", "--load-model=add_sub"});
  EXPECT_EQ(State("add_sub", "1"), "READY");
  EXPECT_EQ(State("strlen", ""), "UNAVAILABLE: unloaded");

  auto [code, out] = Cli({"models", "load", "strlen"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(State("strlen", "1"), "READY");
  std::tie(code, out) = Cli({"models", "unload", "add_sub"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(State("add_sub", "1"), "UNAVAILABLE: unloaded");
  inference::ModelInferResponse resp;
  grpc::Status infer = Infer("", &resp);
  EXPECT_EQ(infer.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(infer.error_message(), HasSubstr("not loaded"));

  // Upload a copy of add_sub under a new name from a folder elsewhere.
  const fs::path upload = repo_.parent_path() / (repo_.filename().string() + "_upload") / "adder";
  fs::remove_all(upload.parent_path());
  fs::create_directories(upload / "1");
  fs::copy_file(repo_ / "add_sub" / "1" / "model.pt", upload / "1" / "model.pt");
  std::string config = testing::ReadFile((repo_ / "add_sub" / "config.pbtxt").string());
  config.replace(config.find("\"add_sub\""), 9, "\"adder\"");
  std::ofstream(upload / "config.pbtxt") << config;
  std::tie(code, out) = Cli({"models", "upload", upload.string()});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(Infer("", &resp, "adder").ok());
  EXPECT_EQ(resp.model_version(), "1");
  std::tie(code, out) = Cli({"models", "versions", "adder", "--output", "json"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"source\": \"upload\""));
  std::tie(code, out) = Cli({"models", "upload", upload.string()});
  EXPECT_EQ(code, 1);
  EXPECT_THAT(out, HasSubstr("ALREADY_EXISTS"));
  fs::remove_all(upload.parent_path());

  // SIGKILL, with an upload's staging folder left behind as a crash mid-upload leaves it.
  server_->Signal(SIGKILL);
  server_->Wait(std::chrono::seconds(30));
  fs::create_directories(repo_ / ".upload-adder-1-0" / "2");
  std::ofstream(repo_ / ".upload-adder-1-0" / "2" / "model.pt") << "half";
  Start({"--model-control-mode=explicit", "--load-model=*"});
  EXPECT_FALSE(fs::exists(repo_ / ".upload-adder-1-0"));
  EXPECT_EQ(State("adder", "1"), "READY");
  EXPECT_EQ(State("adder", "2"), "");
  std::tie(code, out) = Cli({"models", "versions", "adder", "--output", "json"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"source\": \"upload\"")) << "the registry survived SIGKILL";
}

}  // namespace
}  // namespace gridserve
