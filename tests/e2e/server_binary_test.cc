// End-to-end: the real `gridserve` binary started with Triton's flags on a loopback port, driven
// over gRPC and through the real `gridserve-cli`, then stopped with SIGTERM.

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kServer = std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve";
const std::string kCli = std::string(GRIDSERVE_BINARY_DIR) + "/client/gridserve-cli";
const std::string kModels = GRIDSERVE_TEST_MODELS_DIR;

// Per test and name: ctest runs the tests of this binary in parallel processes.
std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/gridserve_e2e_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name + ".log";
}

// Polls ServerReady until true or the deadline; returns whether it became ready.
bool WaitReady(int port, std::chrono::seconds timeout) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    inference::ServerReadyResponse resp;
    if (stub->ServerReady(&ctx, {}, &resp).ok() && resp.ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class ServerBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::FreeLoopbackPort();
    unsetenv("OMP_WAIT_POLICY");  // the server picks its own
    server_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{kServer, "--model-repository=" + kModels, "--grpc-address",
                                 "127.0.0.1", "--grpc-port=" + std::to_string(port_),
                                 "--metrics-address=127.0.0.1",
                                 "--metrics-port=" + std::to_string(testing::FreeLoopbackPort()),
                                 "--strict-readiness=false"},
        LogPath("server"));
    ASSERT_TRUE(WaitReady(port_, std::chrono::seconds(90))) << server_->Output();
  }

  std::pair<int, std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {kCli, "--url", "127.0.0.1:" + std::to_string(port_), "--timeout-ms", "30000"});
    return testing::RunCommand(args, LogPath("cli"));
  }

  int port_ = 0;
  std::unique_ptr<testing::Subprocess> server_;
};

TEST_F(ServerBinaryTest, ServesAndExitsCleanlyOnSigterm) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  const std::vector<float> a = {1, 2, 3, 4};
  const inference::ModelInferRequest req = testing::AddSubRequest(a, a);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  inference::ModelInferResponse resp;
  ASSERT_TRUE(stub->ModelInfer(&ctx, req, &resp).ok());
  std::vector<float> sum(4);
  std::memcpy(sum.data(), resp.raw_output_contents(0).data(), 16);
  EXPECT_THAT(sum, ::testing::ElementsAre(2, 4, 6, 8));

  // main() re-executed itself with passive OpenMP waiting (the environment the kernel keeps is
  // that of the last exec) and kept its name.
  EXPECT_THAT(server_->Output(), HasSubstr("OMP_WAIT_POLICY=PASSIVE"));
  std::string environ = testing::ReadFile("/proc/" + std::to_string(server_->pid()) + "/environ");
  EXPECT_NE(environ.find(std::string("OMP_WAIT_POLICY=PASSIVE\0", 24)), std::string::npos);
  EXPECT_EQ(testing::ReadFile("/proc/" + std::to_string(server_->pid()) + "/comm"), "gridserve\n");

  // The malloc in use is the one the build chose.
  const std::string maps = testing::ReadFile("/proc/" + std::to_string(server_->pid()) + "/maps");
#ifdef GRIDSERVE_WITH_JEMALLOC
  EXPECT_THAT(maps, HasSubstr("libjemalloc.so"));
#else
  EXPECT_THAT(maps, Not(HasSubstr("libjemalloc.so")));
#endif

  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(std::chrono::seconds(60)), 0) << server_->Output();
}

TEST(ServerBinaryEnvTest, ExplicitOmpWaitPolicyIsKept) {
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  const int port = testing::FreeLoopbackPort();
  testing::Subprocess server(
      {kServer, "--model-repository=" + kModels, "--grpc-address=127.0.0.1",
       "--grpc-port=" + std::to_string(port), "--allow-metrics=false", "--strict-readiness=false"},
      LogPath("omp_env"));
  unsetenv("OMP_WAIT_POLICY");
  ASSERT_TRUE(WaitReady(port, std::chrono::seconds(90))) << server.Output();
  EXPECT_THAT(server.Output(), HasSubstr("OMP_WAIT_POLICY=ACTIVE"));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(std::chrono::seconds(60)), 0) << server.Output();
}

TEST_F(ServerBinaryTest, CliHealthModelsMetadataAndInfer) {
  auto [code, out] = Cli({"health"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"live\": true"));

  std::tie(code, out) = Cli({"models"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("corrupt"));
  EXPECT_THAT(out, HasSubstr("UNAVAILABLE"));

  std::tie(code, out) = Cli({"metadata", "strlen"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("BYTES"));

  std::tie(code, out) = Cli({"infer", "add_sub", "--input", "INPUT__0=[[1, 2, 3, 4]]", "--input",
                             "INPUT__1=[[0.5, 0.5, 0.5, 0.5]]", "--id", "e2e-1"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("e2e-1"));
  EXPECT_THAT(out, HasSubstr("1.5"));
  EXPECT_THAT(out, HasSubstr("4.5"));

  std::tie(code, out) = Cli({"infer", "echo", "--input", "text=[[\"grid\"]]"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("grid!"));

  // Bad input and unknown model: exit 1 with the gRPC code.
  std::tie(code, out) = Cli(
      {"infer", "add_sub", "--input", "INPUT__0=[[1, 2, 3]]", "--input", "INPUT__1=[[1, 2, 3]]"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("INVALID_ARGUMENT"));
  std::tie(code, out) = Cli({"infer", "no_such_model", "--input", "x=[1]"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("NOT_FOUND"));
}

TEST(ServerBinaryFlagsTest, BadFlagsExitWithUsageError) {
  auto [code, out] = testing::RunCommand({kServer, "--no-such-flag=1"}, LogPath("flags1"));
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = testing::RunCommand({kServer}, LogPath("flags2"));
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = testing::RunCommand(
      {kServer, "--model-repository=" + kModels, "--grpc-port=99999"}, LogPath("flags3"));
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = testing::RunCommand({kServer, "--help"}, LogPath("flags4"));
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("--model-repository"));
}

TEST(ServerBinaryFlagsTest, ExitOnErrorStopsOnBrokenModel) {
  int port = testing::FreeLoopbackPort();
  auto [code, out] = testing::RunCommand(
      {kServer, "--model-repository=" + kModels, "--grpc-address=127.0.0.1",
       "--grpc-port=" + std::to_string(port), "--allow-metrics=false", "--exit-on-error=true"},
      LogPath("exit_on_error"), std::chrono::seconds(120));
  EXPECT_EQ(code, 1) << out;
}

TEST(ServerBinaryFlagsTest, MissingRepositoryExits1) {
  auto [code, out] = testing::RunCommand(
      {kServer, "--model-repository=/no/such/dir", "--grpc-address=127.0.0.1",
       "--grpc-port=" + std::to_string(testing::FreeLoopbackPort()), "--allow-metrics=false"},
      LogPath("missing_repo"));
  EXPECT_EQ(code, 1) << out;
}

}  // namespace
}  // namespace gridserve
