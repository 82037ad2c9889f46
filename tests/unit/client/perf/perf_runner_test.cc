// gridserve-perf end to end against a scripted in-process server on 127.0.0.1.

#include "client/perf/perf_runner.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"

namespace gridserve::client::perf {
namespace {

using ::testing::HasSubstr;

// Model "m": x FP32 [-1, 4], max_batch_size 8. Every 4th ModelInfer is refused with
// RESOURCE_EXHAUSTED; the others succeed. "broken" fails every request with INTERNAL. With
// `statistics`, ModelStatistics reports every success as half a batch of 2 with 100 us queue
// time; without, it is UNIMPLEMENTED (the base class). Thread-safe.
class ScriptedService final : public inference::GRPCInferenceService::Service {
 public:
  explicit ScriptedService(bool statistics) : statistics_(statistics) {}

  std::atomic<int64_t> infers{0};

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (request->name() != "m" && request->name() != "broken") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown model");
    }
    response->set_name(request->name());
    auto* input = response->add_inputs();
    input->set_name("x");
    input->set_datatype("FP32");
    input->add_shape(-1);
    input->add_shape(4);
    return grpc::Status::OK;
  }

  grpc::Status ModelConfig(grpc::ServerContext*, const inference::ModelConfigRequest* request,
                           inference::ModelConfigResponse* response) override {
    response->mutable_config()->set_name(request->name());
    response->mutable_config()->set_max_batch_size(8);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    if (request->model_name() == "broken") {
      return grpc::Status(grpc::StatusCode::INTERNAL, "broken");
    }
    if (request->inputs_size() != 1 || request->raw_input_contents_size() != 1 ||
        request->inputs(0).shape_size() != 2 ||
        request->raw_input_contents(0).size() !=
            static_cast<size_t>(request->inputs(0).shape(0)) * 4 * 4) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad request");
    }
    if (++infers % 4 == 0) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "full");
    successes_ += 1;
    response->set_model_name("m");
    response->add_raw_output_contents(request->raw_input_contents(0));
    return grpc::Status::OK;
  }

  grpc::Status ModelStatistics(grpc::ServerContext*, const inference::ModelStatisticsRequest*,
                               inference::ModelStatisticsResponse* response) override {
    if (!statistics_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
    const int64_t n = successes_.load();
    auto* m = response->add_model_stats();
    m->set_name("m");
    m->set_version("1");
    m->set_inference_count(n);
    m->set_execution_count(n / 2);
    m->mutable_inference_stats()->mutable_success()->set_count(n);
    m->mutable_inference_stats()->mutable_queue()->set_count(n);
    m->mutable_inference_stats()->mutable_queue()->set_ns(n * 100'000);
    return grpc::Status::OK;
  }

 private:
  const bool statistics_;
  std::atomic<int64_t> successes_{0};
};

class PerfRunnerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Start(GetParam()); }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now()); }

  void Start(bool statistics) {
    service_ = std::make_unique<ScriptedService>(statistics);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  std::string Url() const { return "127.0.0.1:" + std::to_string(port_); }

  // Runs gridserve-perf with `args` plus the server's url; returns the exit code.
  int Run(std::vector<std::string> args) {
    args.push_back("-u");
    args.push_back(Url());
    out_.str("");
    err_.str("");
    return PerfMain(args, out_, err_);
  }

  google::protobuf::Struct Json() {
    google::protobuf::Struct root;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &root).ok()) << out_.str();
    return root;
  }

  std::unique_ptr<ScriptedService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_P(PerfRunnerTest, ClosedLoopStepsCountRefusalsApart) {
  ASSERT_EQ(Run({"-m", "m", "--concurrency-range", "1:4:3", "--measurement-interval", "300",
                 "--warmup-ms", "50", "-b", "2", "--json"}),
            kExitOk)
      << err_.str();
  google::protobuf::Struct root = Json();
  const auto& steps = root.fields().at("steps").list_value();
  ASSERT_EQ(steps.values_size(), 2);
  for (int i = 0; i < 2; ++i) {
    const auto& s = steps.values(i).struct_value().fields();
    EXPECT_EQ(s.at("concurrency").number_value(), i == 0 ? 1 : 4);
    const double ok = s.at("ok").number_value();
    const double refused = s.at("refused").number_value();
    EXPECT_GT(ok, 0);
    EXPECT_GT(refused, 0);
    // One in four is refused (give or take the window edges).
    EXPECT_NEAR(refused / (ok + refused), 0.25, 0.05);
    EXPECT_EQ(s.at("errors").number_value(), 0);
    // window_s is printed to the millisecond.
    const double expected = ok * 2 / s.at("window_s").number_value();
    EXPECT_NEAR(s.at("throughput_infer_per_s").number_value(), expected, expected * 0.005);
    EXPECT_GT(s.at("p99_us").number_value(), 0);
    EXPECT_LE(s.at("p50_us").number_value(), s.at("p99_us").number_value());
    // The process's own CPU in the window (here it also hosts the fake server).
    EXPECT_GT(s.at("client_cpu_us_per_request").number_value(), 0);
    EXPECT_GT(s.at("client_cpu_cores").number_value(), 0);
    EXPECT_LE(s.at("client_cpu_cores").number_value(), std::thread::hardware_concurrency() + 0.5);
    if (GetParam()) {
      EXPECT_NEAR(s.at("server_avg_batch").number_value(), 2, 0.2);
      EXPECT_NEAR(s.at("server_queue_us").number_value(), 100, 0.5);
    } else {
      EXPECT_EQ(s.at("server_queue_us").kind_case(), google::protobuf::Value::kNullValue);
    }
  }
  // The human report went to stderr.
  EXPECT_THAT(err_.str(), HasSubstr("Concurrency: 4"));
  EXPECT_THAT(err_.str(), HasSubstr(GetParam() ? "avg batch" : "queue n/a, compute n/a"));
}

TEST_P(PerfRunnerTest, OtherFailuresAreErrorsByCode) {
  ASSERT_EQ(Run({"-m", "broken", "--measurement-interval", "200", "--warmup-ms", "0"}), kExitOk)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("refused (RESOURCE_EXHAUSTED) 0"));
  EXPECT_THAT(out_.str(), HasSubstr("(INTERNAL="));
}

TEST_P(PerfRunnerTest, MaxRequestsEndsTheWindowEarly) {
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Run({"-m", "m", "--concurrency-range", "2", "--measurement-interval", "60000",
                 "--warmup-ms", "0", "--max-requests", "40", "--json"}),
            kExitOk)
      << err_.str();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  const google::protobuf::Struct root = Json();
  const auto& s = root.fields().at("steps").list_value().values(0).struct_value().fields();
  EXPECT_GE(s.at("ok").number_value() + s.at("refused").number_value(), 40);
  EXPECT_LT(s.at("window_s").number_value(), 20);
}

TEST_P(PerfRunnerTest, OpenLoopSendsAtTheRate) {
  ASSERT_EQ(Run({"-m", "m", "--request-rate-range", "200", "--measurement-interval", "1000",
                 "--warmup-ms", "100", "--json"}),
            kExitOk)
      << err_.str();
  const google::protobuf::Struct root = Json();
  const auto& s = root.fields().at("steps").list_value().values(0).struct_value().fields();
  EXPECT_EQ(s.at("request_rate").number_value(), 200);
  EXPECT_EQ(s.at("concurrency").number_value(), 0);
  // 200/s for 1 s, with slack for a loaded machine.
  EXPECT_NEAR(s.at("ok").number_value() + s.at("refused").number_value(), 200, 60);
}

TEST_P(PerfRunnerTest, RefusalBackoffStillRuns) {
  ASSERT_EQ(Run({"-m", "m", "--concurrency-range", "8", "--measurement-interval", "200",
                 "--warmup-ms", "0", "--refusal-backoff-ms", "5", "--json"}),
            kExitOk)
      << err_.str();
  const google::protobuf::Struct root = Json();
  const auto& s = root.fields().at("steps").list_value().values(0).struct_value().fields();
  EXPECT_GT(s.at("ok").number_value(), 0);
  EXPECT_GT(s.at("refused").number_value(), 0);
}

TEST_P(PerfRunnerTest, WritesCsv) {
  // One file per parameter: ctest runs each instance of this test in its own process, at once.
  const std::string path =
      ::testing::TempDir() + "/perf_runner_test_" + std::to_string(GetParam()) + ".csv";
  ASSERT_EQ(Run({"-m", "m", "--concurrency-range", "1:2", "--measurement-interval", "100",
                 "--warmup-ms", "0", "-f", path}),
            kExitOk)
      << err_.str();
  std::ifstream csv(path);
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 3);  // header + 2 steps
  EXPECT_THAT(out_.str(), HasSubstr("*** Measurement Settings ***"));
}

TEST_P(PerfRunnerTest, ServerErrorsAndUsage) {
  EXPECT_EQ(Run({"-m", "nope", "--measurement-interval", "100"}), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("error: NOT_FOUND"));
  EXPECT_EQ(Run({"-m", "m", "-b", "9", "--shape", "y:1"}), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("INVALID_ARGUMENT"));
  EXPECT_EQ(Run({"--concurrency-range", "1"}), kExitUsage);
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("Usage: gridserve-perf"));
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutStatistics, PerfRunnerTest, ::testing::Bool());

}  // namespace
}  // namespace gridserve::client::perf
