// /metrics of a live server: counters exact after a known number of good and bad requests, and
// the exposition accepted by Prometheus' own promtool.

#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_server.h"

namespace gridserve {
namespace {

std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto result = client.Get("/metrics");
  if (!result || result->status != 200) return "";
  return result->body;
}

// The value of the sample line `series` (exact name and labels), or -1 when absent.
double Sample(const std::string& body, const std::string& series) {
  size_t pos = 0;
  while ((pos = body.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') return std::stod(body.substr(pos + series.size() + 1));
    pos += series.size();
  }
  return -1;
}

inference::ModelInferRequest AddSub(int rows, bool valid) {
  inference::ModelInferRequest req;
  req.set_model_name("add_sub");
  std::string raw(rows * 4 * sizeof(float), '\0');
  for (const char* name : {"INPUT__0", "INPUT__1"}) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype("FP32");
    in->add_shape(rows);
    in->add_shape(valid ? 4 : 5);  // a shape the model does not accept
    req.add_raw_input_contents(raw);
  }
  return req;
}

// `success` good add_sub requests of `rows` rows, then `failure` ones with a bad shape.
void SendTraffic(inference::GRPCInferenceService::Stub* stub, int success, int failure, int rows) {
  for (int i = 0; i < success; ++i) {
    inference::ModelInferResponse resp;
    ASSERT_TRUE(stub->ModelInfer(testing::Context().get(), AddSub(rows, true), &resp).ok());
  }
  for (int i = 0; i < failure; ++i) {
    inference::ModelInferResponse resp;
    ASSERT_EQ(stub->ModelInfer(testing::Context().get(), AddSub(rows, false), &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// Runs `promtool check metrics` on `body`; returns {exit code, report}.
std::pair<int, std::string> PromtoolCheck(const std::string& body, const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name + ".txt";
  std::ofstream(path) << body;
  const std::string cmd = "promtool check metrics < " + path + " > " + path + ".out 2>&1";
  const int rc = system(cmd.c_str());
  return {rc, testing::ReadFile(path + ".out")};
}

TEST(MetricsIntegrationTest, CountersAreExactAfterKnownTraffic) {
  auto server = server::Server::Create(testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);
  auto stub = testing::MakeStub((*server)->grpc_port());

  constexpr int kSuccess = 7, kFailure = 3, kRows = 2;
  ASSERT_NO_FATAL_FAILURE(SendTraffic(stub.get(), kSuccess, kFailure, kRows));

  std::string body = Scrape((*server)->metrics_port());
  ASSERT_FALSE(body.empty());
  const std::string labels = "model=\"add_sub\",version=\"1\"";
  // Labels render sorted by name.
  EXPECT_EQ(Sample(body,
                   "gridserve_inference_requests_total{model=\"add_sub\",outcome=\"success\","
                   "version=\"1\"}"),
            kSuccess);
  EXPECT_EQ(Sample(body,
                   "gridserve_inference_requests_total{model=\"add_sub\",outcome=\"failure\","
                   "version=\"1\"}"),
            kFailure);
  EXPECT_EQ(Sample(body, "gridserve_inference_items_total{" + labels + "}"), kSuccess * kRows);
  // add_sub has no dynamic_batching: one execution per successful request.
  EXPECT_EQ(Sample(body, "gridserve_inference_executions_total{" + labels + "}"), kSuccess);
  EXPECT_EQ(Sample(body, "gridserve_inference_request_duration_seconds_count{" + labels + "}"),
            kSuccess + kFailure);
  EXPECT_EQ(Sample(body, "gridserve_inference_pending_requests{" + labels + "}"), 0);
  EXPECT_EQ(Sample(body, "gridserve_model_ready{" + labels + "}"), 1);
  EXPECT_EQ(Sample(body, "gridserve_model_ready{model=\"corrupt\",version=\"1\"}"), 0);
  EXPECT_GT(Sample(body, "process_resident_memory_bytes"), 0);
  EXPECT_THAT(body, ::testing::HasSubstr("gridserve_build_info{"));

  // Prometheus' own checker accepts the live exposition (Debian's prometheus package).
  if (system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  auto [rc, report] = PromtoolCheck(body, "gridserve_metrics");
  EXPECT_EQ(rc, 0) << report;
}

TEST(MetricsIntegrationTest, TritonNamesCountTheSameTraffic) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.metrics_triton_names = true;
  auto server = server::Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->grpc_port());

  constexpr int kSuccess = 5, kFailure = 2, kRows = 3;
  ASSERT_NO_FATAL_FAILURE(SendTraffic(stub.get(), kSuccess, kFailure, kRows));

  std::string body = Scrape((*server)->metrics_port());
  ASSERT_FALSE(body.empty());
  const std::string labels = "{model=\"add_sub\",version=\"1\"}";
  EXPECT_EQ(Sample(body, "nv_inference_request_success" + labels), kSuccess);
  // Bad input is caught before the scheduler: Triton's reason "OTHER".
  EXPECT_EQ(Sample(body,
                   "nv_inference_request_failure{model=\"add_sub\",reason=\"OTHER\","
                   "version=\"1\"}"),
            kFailure);
  EXPECT_EQ(Sample(body,
                   "nv_inference_request_failure{model=\"add_sub\",reason=\"BACKEND\","
                   "version=\"1\"}"),
            0);
  EXPECT_EQ(Sample(body, "nv_inference_count" + labels), kSuccess * kRows);
  EXPECT_EQ(Sample(body, "nv_inference_exec_count" + labels), kSuccess);
  EXPECT_EQ(Sample(body, "nv_inference_pending_request_count" + labels), 0);
  EXPECT_GT(Sample(body, "nv_inference_request_duration_us" + labels), 0);
  EXPECT_GE(Sample(body, "nv_inference_request_duration_us" + labels),
            Sample(body, "nv_inference_queue_duration_us" + labels));
  EXPECT_GE(Sample(body, "nv_inference_compute_infer_duration_us" + labels), 0);
  EXPECT_GT(Sample(body, "nv_cpu_memory_total_bytes"), 0);
  EXPECT_GE(Sample(body, "nv_cpu_utilization"), 0);
  // The gridserve_* families count the same requests.
  EXPECT_EQ(Sample(body,
                   "gridserve_inference_requests_total{model=\"add_sub\",outcome=\"success\","
                   "version=\"1\"}"),
            kSuccess);

  // promtool lints Triton's names (counters without _total); gridserve's own names stay clean.
  if (system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  std::string report = PromtoolCheck(body, "gridserve_metrics_triton").second;
  EXPECT_THAT(report, ::testing::HasSubstr("nv_inference_request_success"));
  EXPECT_THAT(report, ::testing::Not(::testing::HasSubstr("gridserve_"))) << report;
  EXPECT_THAT(report, ::testing::Not(::testing::HasSubstr("process_"))) << report;
}

TEST(MetricsIntegrationTest, AllowMetricsFalseServesNoEndpoint) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.allow_metrics = false;
  auto server = server::Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), 0);
  // The metrics path is off too, but ModelStatistics (the scheduler's own counts) still works.
  auto stub = testing::MakeStub((*server)->grpc_port());
  inference::ModelInferResponse resp;
  ASSERT_TRUE(stub->ModelInfer(testing::Context().get(), AddSub(1, true), &resp).ok());
  inference::ModelStatisticsRequest stats_req;
  stats_req.set_name("add_sub");
  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(stub->ModelStatistics(testing::Context().get(), stats_req, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  EXPECT_EQ(stats.model_stats(0).inference_stats().success().count(), 1u);
}

}  // namespace
}  // namespace gridserve
