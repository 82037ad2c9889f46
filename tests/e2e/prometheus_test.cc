// End-to-end with a real Prometheus (Debian's `prometheus`): the `gridserve` binary serves
// /metrics on loopback, Prometheus runs with deploy/prometheus.yml (its target and intervals
// rewritten for the test) and deploy/prometheus/alerts.yml, scrapes gridserve, and answers
// PromQL queries for the request rate and for every panel of the Grafana dashboard.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kServer = std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve";
const std::string kSource = GRIDSERVE_SOURCE_DIR;
constexpr auto kDeadline = std::chrono::seconds(90);

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  EXPECT_NE(text.find(from), std::string::npos) << "'" << from << "' not in the deploy file";
  return absl::StrReplaceAll(text, {{from, to}});
}

// GET on 127.0.0.1:port; the body when the status is 200, else nullopt.
std::optional<std::string> Get(int port, const std::string& path,
                               const httplib::Params& params = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  auto result = client.Get(path, params, httplib::Headers{});
  if (!result || result->status != 200) return std::nullopt;
  return result->body;
}

// The value of the first sample in a Prometheus instant-query answer, or nullopt when the query
// failed or returned no series.
std::optional<double> QueryValue(int port, const std::string& promql) {
  std::optional<std::string> body = Get(port, "/api/v1/query", {{"query", promql}});
  if (!body) return std::nullopt;
  static const std::regex kValue(R"re("value":\[[0-9.e+]+,"([^"]+)"\])re");
  std::smatch match;
  if (!std::regex_search(*body, match, kValue)) return std::nullopt;
  return std::stod(match[1].str());
}

bool Infer(inference::GRPCInferenceService::Stub* stub) {
  const inference::ModelInferRequest req =
      testing::AddSubRequest(std::vector<float>(4, 0), std::vector<float>(4, 0));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  inference::ModelInferResponse resp;
  return stub->ModelInfer(&ctx, req, &resp).ok();
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(system("command -v prometheus >/dev/null 2>&1"), 0)
        << "Debian's prometheus package is missing: scripts/install-deps.sh installs it";
    dir_ = fs::path(::testing::TempDir()) / "gridserve_prometheus_e2e";
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "prometheus");

    grpc_port_ = testing::FreeLoopbackPort();
    metrics_port_ = testing::FreeLoopbackPort();
    prometheus_port_ = testing::FreeLoopbackPort();
    server_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{
            kServer, "--model-repository=" + std::string(GRIDSERVE_TEST_MODELS_DIR),
            "--grpc-address=127.0.0.1", "--grpc-port=" + std::to_string(grpc_port_),
            "--metrics-address=127.0.0.1", "--metrics-port=" + std::to_string(metrics_port_),
            "--strict-readiness=false"},
        (dir_ / "gridserve.log").string());

    // The shipped files, with only the target and the intervals changed.
    std::string config = testing::ReadFile(kSource + "/deploy/prometheus.yml");
    config = Replaced(config, "gridserve:8002", absl::StrCat("127.0.0.1:", metrics_port_));
    config = Replaced(config, "scrape_interval: 15s", "scrape_interval: 1s");
    config = Replaced(config, "scrape_timeout: 10s", "scrape_timeout: 1s");
    config = Replaced(config, "evaluation_interval: 15s", "evaluation_interval: 1s");
    std::ofstream(dir_ / "prometheus.yml") << config;
    fs::copy_file(kSource + "/deploy/prometheus/alerts.yml", dir_ / "prometheus" / "alerts.yml");

    prometheus_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{
            "/usr/bin/prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
            "--storage.tsdb.path=" + (dir_ / "data").string(),
            "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
            "--log.level=warn"},
        (dir_ / "prometheus.log").string());

    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  // Polls `done` every 250 ms until it returns true or the deadline passes.
  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  }

  std::string Logs() const {
    return "gridserve:\n" + server_->Output() + "\nprometheus:\n" + prometheus_->Output();
  }

  fs::path dir_;
  int grpc_port_ = 0, metrics_port_ = 0, prometheus_port_ = 0;
  std::unique_ptr<testing::Subprocess> server_, prometheus_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(PrometheusTest, ScrapesGridserveAndAnswersRequestRate) {
  ASSERT_TRUE(Eventually([&] { return Get(prometheus_port_, "/-/ready").has_value(); })) << Logs();
  ASSERT_TRUE(Eventually([&] {
    inference::ServerReadyResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return stub_->ServerReady(&ctx, {}, &resp).ok() && resp.ready();
  })) << Logs();
  // The target is up: Prometheus reached /metrics and parsed it.
  ASSERT_TRUE(Eventually([&] {
    return QueryValue(prometheus_port_, "up{job=\"gridserve\"}") == 1;
  })) << Logs();

  // Traffic spread over several scrapes, until the request rate is visible.
  const std::string rate_query =
      "sum by (model) (rate(gridserve_inference_requests_total{model=\"add_sub\","
      "outcome=\"success\"}[10s]))";
  int sent = 0;
  double rate = 0;
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < 20; ++i) {
      if (!Infer(stub_.get())) return false;
      ++sent;
    }
    rate = QueryValue(prometheus_port_, rate_query).value_or(0);
    return rate > 0;
  })) << "no request rate after "
      << sent << " requests\n"
      << Logs();
  EXPECT_GT(rate, 0);
  EXPECT_LT(rate, 1e6);

  // Once traffic stops, the scraped counter settles at exactly what was sent.
  const std::string total_query =
      "gridserve_inference_requests_total{model=\"add_sub\",outcome=\"success\"}";
  EXPECT_TRUE(Eventually([&] { return QueryValue(prometheus_port_, total_query) == sent; }))
      << "sent " << sent << ", Prometheus has "
      << QueryValue(prometheus_port_, total_query).value_or(-1);

  // deploy/prometheus/alerts.yml loaded, and its rules evaluate without errors.
  std::optional<std::string> rules = Get(prometheus_port_, "/api/v1/rules");
  ASSERT_TRUE(rules.has_value());
  for (const char* alert : {"GridserveDown", "GridserveHighP99Latency", "GridserveHighFailureRatio",
                            "GridserveQueueSaturated"}) {
    EXPECT_THAT(*rules, HasSubstr(absl::StrCat("\"name\":\"", alert, "\""))) << *rules;
  }
  EXPECT_TRUE(Eventually([&] {
    std::optional<std::string> r = Get(prometheus_port_, "/api/v1/rules");
    return r && r->find("\"health\":\"ok\"") != std::string::npos &&
           r->find("\"health\":\"err\"") == std::string::npos;
  })) << Get(prometheus_port_, "/api/v1/rules").value_or("");

  // The test repository's broken model is not ready: its alert is on its way (pending: `for` has
  // not elapsed yet), while the serving model raises nothing.
  EXPECT_TRUE(Eventually([&] {
    std::optional<std::string> alerts = Get(prometheus_port_, "/api/v1/alerts");
    return alerts &&
           alerts->find("\"alertname\":\"GridserveModelNotReady\"") != std::string::npos &&
           alerts->find("\"model\":\"corrupt\"") != std::string::npos;
  })) << Get(prometheus_port_, "/api/v1/alerts").value_or("");
  EXPECT_THAT(Get(prometheus_port_, "/api/v1/alerts").value_or(""),
              ::testing::Not(HasSubstr("\"model\":\"add_sub\"")));

  // Every panel query of the Grafana dashboard runs (Grafana's variables filled in) and,
  // after traffic, returns data.
  std::string dashboard = testing::ReadFile(kSource + "/deploy/grafana/gridserve-dashboard.json");
  static const std::regex kExpr(R"re("expr": "((?:[^"\\]|\\.)*)")re");
  int panels = 0;
  for (std::sregex_iterator it(dashboard.begin(), dashboard.end(), kExpr), end; it != end; ++it) {
    std::string expr = absl::StrReplaceAll((*it)[1].str(), {{"\\\"", "\""},
                                                            {"\\n", "\n"},
                                                            {"\\\\", "\\"},
                                                            {"$__rate_interval", "30s"},
                                                            {"$model", ".*"}});
    ++panels;
    EXPECT_TRUE(QueryValue(prometheus_port_, expr).has_value()) << "no data for: " << expr;
  }
  EXPECT_GE(panels, 10);
}

// promtool (same package) accepts the shipped files as they are.
TEST(PromtoolDeployTest, ConfigAndRulesAreValid) {
  ASSERT_EQ(system("command -v promtool >/dev/null 2>&1"), 0)
      << "Debian's prometheus package is missing: scripts/install-deps.sh installs it";
  const std::string log = ::testing::TempDir() + "/gridserve_promtool.log";
  auto [code, out] = testing::RunCommand(
      {"/usr/bin/promtool", "check", "rules", kSource + "/deploy/prometheus/alerts.yml"}, log);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("SUCCESS: 5 rules found"));
  std::tie(code, out) = testing::RunCommand(
      {"/usr/bin/promtool", "check", "config", kSource + "/deploy/prometheus.yml"}, log);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("SUCCESS"));
}

}  // namespace
}  // namespace gridserve
