// End-to-end: the CPU seconds gridserve counts for a model (thread CPU clocks around execution,
// runtime/core/cpu_meter.h) against the CPU the kernel charged the whole server process
// (/proc/<pid>/stat), while only that model is driven; and the energy estimate derived from them.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/requests.h"
#include "tests/testing/server_process.h"

namespace gridserve {
namespace {

constexpr double kWattsPerCore = 10.0;

// utime + stime of a process, seconds (clock ticks of 10 ms: use windows of seconds).
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command name, which is in parentheses and may hold spaces.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> fields{std::istream_iterator<std::string>(rest), {}};
  // state is field 3 of the full line, so utime (14) and stime (15) are [11] and [12] here.
  return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / sysconf(_SC_CLK_TCK);
}

struct Accounting {
  double cpu_seconds = 0;
  double energy_joules = 0;
  double joules_per_inference = 0;
  double watts = 0;
  uint64_t inferences = 0;
};

Accounting Statistics(inference::GRPCInferenceService::Stub* stub, const std::string& model) {
  inference::ModelStatisticsRequest request;
  request.set_name(model);
  inference::ModelStatisticsResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = stub->ModelStatistics(&ctx, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  Accounting a;
  if (response.model_stats_size() != 1) return a;
  const inference::ModelStatistics& s = response.model_stats(0);
  auto get = [&](const std::string& key) {
    auto it = s.parameters().find(key);
    return it == s.parameters().end() ? -1.0 : it->second.double_param();
  };
  a.cpu_seconds = get("cpu_seconds");
  a.energy_joules = get("energy_joules");
  a.joules_per_inference = get("joules_per_inference");
  a.watts = get("cpu_watts_per_core");
  a.inferences = s.inference_count();
  return a;
}

// linear4 (4 x Linear(1024, 1024)) on `rows` x 1024 values of a ramp.
inference::ModelInferRequest Linear4Request(int rows) {
  std::vector<float> values(static_cast<size_t>(rows) * 1024);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) / 97.0f;
  return testing::Linear4Request(values);
}

TEST(CpuAccountingTest, ModelCpuSecondsMatchProcessCpuWithinTenPercent) {
  testing::ServerProcess server(
      GRIDSERVE_TEST_MODELS_DIR,
      {"--allow-metrics=false", "--cpu-watts-per-core=" + std::to_string(kWattsPerCore)},
      ::testing::TempDir() + "/gridserve_cpu_accounting.log");
  ASSERT_TRUE(server.WaitReady(std::chrono::seconds(90))) << server.Output();
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(server.url(), grpc::InsecureChannelCredentials()));

  // Bounded load: 4 clients x 60 requests of 16 rows. Requests are large enough that execution,
  // not gRPC, is most of the process's CPU (as for the zoo's models), but gRPC's share is still in
  // the process figure: the counter must be within 10% below it, and never above it.
  const inference::ModelInferRequest request = Linear4Request(16);
  const Accounting before = Statistics(stub.get(), "linear4");
  const double proc_before = ProcessCpuSeconds(server.pid());
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 60; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        inference::ModelInferResponse response;
        if (!stub->ModelInfer(&ctx, request, &response).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  const double proc_after = ProcessCpuSeconds(server.pid());
  const Accounting after = Statistics(stub.get(), "linear4");
  ASSERT_EQ(failures.load(), 0);

  const double process = proc_after - proc_before;
  const double counted = after.cpu_seconds - before.cpu_seconds;
  ASSERT_GT(process, 1.0) << "too little work to compare at 10 ms clock ticks";
  EXPECT_NEAR(counted, process, 0.10 * process);
  std::printf("linear4: counted %.3f s of CPU, /proc %.3f s (%.1f%%)\n", counted, process,
              100.0 * counted / process);

  // The energy estimate is CPU seconds x watts per core, per inference too.
  EXPECT_EQ(after.inferences - before.inferences, 4u * 60u * 16u);
  EXPECT_DOUBLE_EQ(after.watts, kWattsPerCore);
  EXPECT_NEAR(after.energy_joules, after.cpu_seconds * kWattsPerCore, 1e-9);
  EXPECT_NEAR(after.joules_per_inference,
              after.energy_joules / static_cast<double>(after.inferences), 1e-12);
  EXPECT_EQ(server.Stop(), 0) << server.Output();
}

// A model never run has used no CPU, and a server with --cpu-watts-per-core=0 reports CPU
// seconds but no energy.
TEST(CpuAccountingTest, NoEnergyFiguresWithoutWatts) {
  testing::ServerProcess server(GRIDSERVE_TEST_MODELS_DIR,
                                {"--allow-metrics=false", "--cpu-watts-per-core=0"},
                                ::testing::TempDir() + "/gridserve_cpu_accounting_0w.log");
  ASSERT_TRUE(server.WaitReady(std::chrono::seconds(90))) << server.Output();
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(server.url(), grpc::InsecureChannelCredentials()));
  const Accounting idle = Statistics(stub.get(), "linear4");
  EXPECT_EQ(idle.cpu_seconds, 0.0);
  EXPECT_EQ(idle.energy_joules, -1.0);  // absent
  EXPECT_EQ(idle.watts, -1.0);
  EXPECT_EQ(server.Stop(), 0) << server.Output();
}

}  // namespace
}  // namespace gridserve
