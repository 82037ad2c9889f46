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
const std::string kPerf = std::string(GRIDSERVE_BINARY_DIR) + "/client/perf/gridserve-perf";
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

TEST_F(ServerBinaryTest, ClassificationAnswersTritonsFormatWithTheLabelFile) {
  // Over gRPC, as Triton's clients ask: the requested output's "classification" parameter.
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  inference::ModelInferRequest req;
  req.set_model_name("classify");
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(4);
  const std::vector<float> x = {0.1f, 0.7f, 0.2f, 0.9f};
  req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(x.data()), 16));
  auto* out = req.add_outputs();
  out->set_name("scores");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  inference::ModelInferResponse resp;
  grpc::Status status = stub->ModelInfer(&ctx, req, &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(resp.outputs_size(), 1);
  EXPECT_EQ(resp.outputs(0).datatype(), "BYTES");
  EXPECT_THAT(resp.outputs(0).shape(), ::testing::ElementsAre(1, 3));
  // "<value>:<index>[:<label>]", highest first; labels.txt has no line for index 3.
  const std::string& raw = resp.raw_output_contents(0);
  std::vector<std::string> elements;
  for (size_t pos = 0; pos + 4 <= raw.size();) {
    uint32_t len;
    std::memcpy(&len, raw.data() + pos, 4);
    elements.push_back(raw.substr(pos + 4, len));
    pos += 4 + len;
  }
  EXPECT_THAT(elements, ::testing::ElementsAre("0.900000:3", "0.700000:1:one", "0.200000:2:two"));

  // The server says it has the extension.
  grpc::ClientContext meta_ctx;
  inference::ServerMetadataResponse meta;
  ASSERT_TRUE(stub->ServerMetadata(&meta_ctx, {}, &meta).ok());
  EXPECT_THAT(meta.extensions(), ::testing::Contains("classification"));

  // The CLI's --classes asks for it; a BYTES output cannot be classified.
  auto [code, text] = Cli({"infer", "classify", "--input", "x=[[0.1, 0.7, 0.2, 0.9]]", "--output",
                           "scores", "--classes", "2"});
  EXPECT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr("\"data\": [[\"0.900000:3\", \"0.700000:1:one\"]]"));
  std::tie(code, text) =
      Cli({"infer", "echo", "--input", "text=[[\"a\"]]", "--output", "echoed", "--classes", "1"});
  EXPECT_EQ(code, 1) << text;
  EXPECT_THAT(text, HasSubstr("INVALID_ARGUMENT"));
}

TEST_F(ServerBinaryTest, AModelRefusingItsInputIsInvalidArgumentAndOnlyThatRequestFails) {
  auto [code, text] = Cli({"infer", "checked", "--input", "x=[[-1]]"});
  EXPECT_EQ(code, 1) << text;
  EXPECT_THAT(text, HasSubstr("error: INVALID_ARGUMENT: model 'checked' refused the input: "
                              "x must be >= 0, got -1"));
  std::tie(code, text) = Cli({"infer", "checked", "--input", "x=[[13]]"});
  EXPECT_EQ(code, 1) << text;
  EXPECT_THAT(text, HasSubstr("error: INTERNAL: "));

  // A bad and a good request queued together (the model waits 50 ms for a batch): the good
  // one is answered.
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  auto make = [](float v) {
    inference::ModelInferRequest req;
    req.set_model_name("checked");
    auto* in = req.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(1);
    req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(&v), 4));
    return req;
  };
  grpc::CompletionQueue cq;
  const std::vector<float> values = {-5.f, 4.f};
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<inference::ModelInferResponse> responses(values.size());
  std::vector<grpc::Status> statuses(values.size());
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>>>
      readers;
  for (size_t i = 0; i < values.size(); ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    readers.push_back(stub->AsyncModelInfer(contexts.back().get(), make(values[i]), &cq));
    readers.back()->Finish(&responses[i], &statuses[i], reinterpret_cast<void*>(i));
  }
  for (size_t n = 0; n < values.size(); ++n) {
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
  }
  EXPECT_EQ(statuses[0].error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(statuses[1].ok()) << statuses[1].error_message();
  float y;
  std::memcpy(&y, responses[1].raw_output_contents(0).data(), 4);
  EXPECT_EQ(y, 8.f);
}

TEST_F(ServerBinaryTest, SigtermWithIdleClientConnectionsExitsPromptlyAfterDraining) {
  // A client channel that made one call and stays open, and a TCP connection that never says a
  // word (a stuck client, a load balancer's probe): gRPC's graceful shutdown alone waits for
  // both to close (20 s here, or the exit timeout).
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub->ServerLive(&ctx, {}, &live).ok());
  const int raw = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  ASSERT_EQ(connect(raw, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  server_->Signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (server_->Output().find("drained: no inference call in flight") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_THAT(server_->Output(), HasSubstr("drained: no inference call in flight"));
  // The bound: the process is gone within 1 s of draining.
  EXPECT_EQ(server_->Wait(std::chrono::milliseconds(1000)), 0) << server_->Output();
  EXPECT_EQ(server_->Wait(std::chrono::seconds(60)), 0) << server_->Output();
  close(raw);
}

TEST_F(ServerBinaryTest, PerfStopsAndExitsNonZeroWhenTheServerDies) {
  testing::Subprocess perf({kPerf, "-m", "add_sub", "-u", "127.0.0.1:" + std::to_string(port_),
                            "--concurrency-range", "4:8:4", "--measurement-interval", "20000"},
                           LogPath("perf"));
  // Let it measure for a moment, then the server dies without a goodbye.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(std::chrono::seconds(10)).has_value());
  // Unreachable for more than --unreachable-timeout-ms (2 s): stop, summary, exit 1. A bound
  // of 15 s keeps the test robust on a loaded machine and still far below the 20 s window.
  std::optional<int> code = perf.Wait(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value()) << "gridserve-perf still running: " << perf.Output();
  EXPECT_EQ(*code, 1) << perf.Output();
  EXPECT_THAT(perf.Output(), HasSubstr("unreachable"));
  EXPECT_THAT(perf.Output(), HasSubstr("stopped after 1 of 2 steps"));
  // It backed off instead of spinning: tens of UNAVAILABLE answers, not 100,000.
  const std::string output = perf.Output();
  const size_t at = output.find("UNAVAILABLE=");
  ASSERT_NE(at, std::string::npos) << output;
  EXPECT_LT(std::stoll(output.substr(at + 12)), 2000) << output;
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
