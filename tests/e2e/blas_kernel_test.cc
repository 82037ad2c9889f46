// End-to-end: the real `gridserve` and `gridserve-blas` binaries choose OpenBLAS kernels at
// start-up (runtime/cpu/blas_kernels.h). OpenBLAS knows this machine's CPU, so the case the
// selection exists for (a CPU model OpenBLAS does not know, which gets the generic Prescott
// kernels) is made with OPENBLAS_CORETYPE=Prescott standing for the detected core
// (GRIDSERVE_BLAS_TREAT_CORETYPE_AS_DETECTED=1); it runs on any x86 machine.

#include <grpcpp/grpcpp.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gridserve/v1/server_info.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

using ::testing::HasSubstr;

const std::string kServer = std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve";
const std::string kBlasTool = std::string(GRIDSERVE_BINARY_DIR) + "/runtime/cpu/gridserve-blas";
const std::string kModels = GRIDSERVE_TEST_MODELS_DIR;

std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/gridserve_blas_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name + ".log";
}

// The kernels this CPU can run better than Prescott, read from /proc/cpuinfo's flags
// (independently of the code under test, which asks cpuid).
std::set<std::string> ExpectedBetterCores() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  bool amd = false;
  while (std::getline(in, line)) {
    if (line.rfind("vendor_id", 0) == 0) amd = line.find("AuthenticAMD") != std::string::npos;
    if (line.rfind("flags", 0) == 0) {
      flags = " " + line.substr(line.find(':') + 1) + " ";
      break;
    }
  }
  auto has = [&flags](const char* flag) {
    return flags.find(std::string(" ") + flag + " ") != std::string::npos;
  };
  if (amd && has("avx2") && has("fma")) return {"Zen"};
  if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq") && has("avx512cd")) {
    return {"Cooperlake", "SkylakeX"};  // Cooperlake where this OpenBLAS has it and bf16 exists
  }
  if (has("avx2") && has("fma")) return {"Haswell"};
  if (has("avx")) return {"Sandybridge"};
  return {};
}

using Vars = std::vector<std::pair<std::string, std::string>>;

struct Env {
  // Sets `vars` for the processes started while it lives (each ctest entry is its own process).
  explicit Env(Vars vars) : vars_(std::move(vars)) {
    for (const auto& [name, value] : vars_) setenv(name.c_str(), value.c_str(), 1);
  }
  ~Env() {
    for (const auto& [name, value] : vars_) unsetenv(name.c_str());
  }
  Vars vars_;
};

// A gridserve on the test models, started with the current environment plus `flags`.
class Server {
 public:
  Server(const std::string& name, std::vector<std::string> flags)
      : port_(testing::FreeLoopbackPort()) {
    std::vector<std::string> argv = {kServer,
                                     "--model-repository=" + kModels,
                                     "--grpc-address=127.0.0.1",
                                     "--grpc-port=" + std::to_string(port_),
                                     "--allow-metrics=false",
                                     "--strict-readiness=false"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    process_ = std::make_unique<testing::Subprocess>(argv, LogPath(name));
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  ~Server() {
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(60));
  }

  bool WaitReady() {
    auto stub = inference::GRPCInferenceService::NewStub(channel_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      inference::ServerReadyResponse resp;
      if (stub->ServerReady(&ctx, {}, &resp).ok() && resp.ready()) return true;
      if (process_->Wait(std::chrono::milliseconds(100)).has_value()) return false;
    }
    return false;
  }

  gridserve::v1::GetServerInfoResponse Info() {
    auto stub = gridserve::v1::ServerInfoService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    gridserve::v1::GetServerInfoResponse info;
    grpc::Status status = stub->GetServerInfo(&ctx, {}, &info);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return info;
  }

  // linear4 (4 x Linear(1024, 1024)) on `rows` rows of fixed inputs.
  std::vector<float> Linear4(int rows) {
    std::vector<float> x(static_cast<size_t>(rows) * 1024);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i));
    const inference::ModelInferRequest req = testing::Linear4Request(x);
    auto stub = inference::GRPCInferenceService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    inference::ModelInferResponse resp;
    grpc::Status status = stub->ModelInfer(&ctx, req, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<float> y(x.size());
    if (status.ok() && resp.raw_output_contents_size() == 1 &&
        resp.raw_output_contents(0).size() == y.size() * sizeof(float)) {
      std::memcpy(y.data(), resp.raw_output_contents(0).data(), y.size() * sizeof(float));
    } else {
      ADD_FAILURE() << "no linear4 output";
    }
    return y;
  }

  std::string Environ() {
    return testing::ReadFile("/proc/" + std::to_string(process_->pid()) + "/environ");
  }
  std::string Output() { return process_->Output(); }

 private:
  int port_;
  std::unique_ptr<testing::Subprocess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

bool EnvironHas(const std::string& environ, const std::string& entry) {
  return environ.find(entry + std::string(1, '\0')) != std::string::npos;
}

TEST(BlasKernelTest, GenericCoreIsReplacedAndServesTheSameOutputs) {
  const std::set<std::string> better = ExpectedBetterCores();
  std::vector<float> chosen_out, generic_out;
  {
    Env env(Vars{{"OPENBLAS_CORETYPE", "Prescott"},
                 {"GRIDSERVE_BLAS_TREAT_CORETYPE_AS_DETECTED", "1"}});
    Server server("auto", {});
    ASSERT_TRUE(server.WaitReady()) << server.Output();
    gridserve::v1::GetServerInfoResponse info = server.Info();
    EXPECT_EQ(info.blas().library(), "OpenBLAS");
    EXPECT_TRUE(info.blas().self_test_passed()) << info.blas().self_test_error();
    if (better.empty()) {
      GTEST_LOG_(INFO) << "this CPU has no AVX: Prescott is the right kernel";
      EXPECT_EQ(info.blas().core(), "Prescott");
      EXPECT_EQ(info.blas().selected_by(), "openblas");
    } else {
      EXPECT_EQ(better.count(info.blas().core()), 1u) << info.blas().core();
      EXPECT_EQ(info.blas().selected_by(), "auto");
      EXPECT_THAT(info.blas().detail(), HasSubstr("Prescott"));
      // The process runs with the chosen core in its environment (the exec took place), and the
      // start-up log names it.
      EXPECT_TRUE(EnvironHas(server.Environ(), "OPENBLAS_CORETYPE=" + info.blas().core()));
      EXPECT_TRUE(EnvironHas(server.Environ(), "GRIDSERVE_BLAS_SELECTION=auto:Prescott"));
      EXPECT_THAT(server.Output(), HasSubstr("core " + info.blas().core() + " (auto:"));
    }
    chosen_out = server.Linear4(8);
  }
  {
    // An explicit OPENBLAS_CORETYPE is the user's choice: kept.
    Env env(Vars{{"OPENBLAS_CORETYPE", "Prescott"}});
    Server server("generic", {});
    ASSERT_TRUE(server.WaitReady()) << server.Output();
    gridserve::v1::GetServerInfoResponse info = server.Info();
    EXPECT_EQ(info.blas().core(), "Prescott");
    EXPECT_EQ(info.blas().selected_by(), "environment");
    EXPECT_TRUE(info.blas().self_test_passed());
    generic_out = server.Linear4(8);
  }
  ASSERT_EQ(chosen_out.size(), generic_out.size());
  double worst = 0;
  for (size_t i = 0; i < chosen_out.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(chosen_out[i]) - generic_out[i]) /
                                std::max(1.0, std::fabs(static_cast<double>(generic_out[i]))));
  }
  EXPECT_LE(worst, 1e-5);
}

TEST(BlasKernelTest, CoreTheLibraryLacksFallsBackAndServes) {
  Server server("nosuch", {"--blas-coretype=NoSuchCore"});
  ASSERT_TRUE(server.WaitReady()) << server.Output();
  gridserve::v1::GetServerInfoResponse info = server.Info();
  EXPECT_EQ(info.blas().selected_by(), "fallback");
  EXPECT_THAT(info.blas().detail(), HasSubstr("NoSuchCore"));
  EXPECT_NE(info.blas().core(), "NoSuchCore");
  EXPECT_TRUE(info.blas().self_test_passed());
  EXPECT_EQ(server.Linear4(1).size(), 1024u);
}

TEST(BlasKernelTest, FlagForcesACore) {
  Server server("flag", {"--blas-coretype=Prescott"});
  ASSERT_TRUE(server.WaitReady()) << server.Output();
  gridserve::v1::GetServerInfoResponse info = server.Info();
  EXPECT_EQ(info.blas().core(), "Prescott");
  EXPECT_EQ(info.blas().selected_by(), "flag");
}

TEST(BlasKernelTest, BadFlagValueIsAUsageError) {
  auto [code, out] = testing::RunCommand(
      {kServer, "--model-repository=" + kModels, "--blas-coretype=a/b"}, LogPath("bad"));
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("--blas-coretype"));
}

TEST(BlasKernelTest, ToolMakesTheSameDecisionForOtherProcesses) {
  const std::set<std::string> better = ExpectedBetterCores();
  Env env(
      Vars{{"OPENBLAS_CORETYPE", "Prescott"}, {"GRIDSERVE_BLAS_TREAT_CORETYPE_AS_DETECTED", "1"}});
  auto [code, out] = testing::RunCommand({kBlasTool, "--format=env"}, LogPath("tool"));
  EXPECT_EQ(code, 0) << out;
  if (better.empty()) {
    EXPECT_THAT(out, HasSubstr("OPENBLAS_CORETYPE=Prescott"));
  } else {
    bool found = false;
    for (const std::string& core : better) {
      found = found || out.find("OPENBLAS_CORETYPE=" + core + "\n") != std::string::npos;
    }
    EXPECT_TRUE(found) << out;
    EXPECT_THAT(out, HasSubstr("GRIDSERVE_BLAS_SELECTION=auto:Prescott"));
  }
  std::tie(code, out) = testing::RunCommand({kBlasTool, "--format=xml"}, LogPath("tool_bad"));
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace gridserve
