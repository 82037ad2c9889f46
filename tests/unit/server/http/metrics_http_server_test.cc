#include "server/http/metrics_http_server.h"

#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/inference_metrics.h"
#include "runtime/metrics/metrics.h"
#include "runtime/metrics/process_collector.h"

namespace gridserve::http {
namespace {

using ::testing::HasSubstr;

MetricsHttpServer::Options Loopback() {
  MetricsHttpServer::Options options;
  options.address = "127.0.0.1";
  options.port = 0;
  return options;
}

std::unique_ptr<MetricsHttpServer> StartServer(const prometheus::Registry* registry,
                                               MetricsHttpServer::Options options = Loopback()) {
  auto server = MetricsHttpServer::Create(options, {registry});
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  absl::Status started = (*server)->Start();
  EXPECT_TRUE(started.ok()) << started;
  return *std::move(server);
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    requests_ = *metrics::Register<prometheus::Counter>(&registry_, "gridserve_test_requests_total",
                                                        "Requests.");
    requests_->Add({{"model", "m"}}).Increment(3);
  }

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
};

TEST_F(MetricsHttpServerTest, ServesRegistryWithPrometheusContentType) {
  auto server = StartServer(&registry_);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  httplib::Client client("127.0.0.1", server->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response->body, metrics::SerializeText({&registry_}));
  EXPECT_THAT(response->body, HasSubstr("gridserve_test_requests_total{model=\"m\"} 3\n"));

  // Each scrape renders afresh.
  requests_->Add({{"model", "m"}}).Increment();
  response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_THAT(response->body, HasSubstr("gridserve_test_requests_total{model=\"m\"} 4\n"));
}

TEST_F(MetricsHttpServerTest, OtherPathsAre404) {
  auto server = StartServer(&registry_);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/", "/metric", "/metrics/", "/metricsx", "/v2/health/ready"}) {
    auto response = client.Get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
}

TEST_F(MetricsHttpServerTest, ConcurrentScrapers) {
  auto server = StartServer(&registry_);
  ASSERT_NE(server, nullptr);
  std::vector<std::thread> scrapers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    scrapers.emplace_back([&] {
      httplib::Client client("127.0.0.1", server->port());
      for (int i = 0; i < 20; ++i) {
        auto response = client.Get("/metrics");
        if (response && response->status == 200) ++ok;
      }
    });
  }
  for (std::thread& scraper : scrapers) scraper.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(MetricsHttpServerTest, LifecycleAndStopFreesThePort) {
  auto created = MetricsHttpServer::Create(Loopback(), {&registry_});
  ASSERT_TRUE(created.ok());
  std::unique_ptr<MetricsHttpServer> server = *std::move(created);
  EXPECT_EQ(server->port(), 0);
  ASSERT_TRUE(server->Start().ok());
  const int port = server->port();
  EXPECT_EQ(server->Start().code(), absl::StatusCode::kFailedPrecondition);

  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  server->Stop();  // idempotent
  EXPECT_EQ(server->port(), 0);
  EXPECT_EQ(server->Start().code(), absl::StatusCode::kFailedPrecondition);

  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(1));
  EXPECT_FALSE(client.Get("/metrics"));

  // The same port can be bound again at once.
  MetricsHttpServer::Options options = Loopback();
  options.port = port;
  auto again = StartServer(&registry_, options);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->port(), port);
}

TEST_F(MetricsHttpServerTest, StopWithAnIdleKeepAliveClientIsBounded) {
  auto server = StartServer(&registry_);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get("/metrics"));  // the connection stays open and idle
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(MetricsHttpServerTest, NeverStartedServerStopsAndDestroys) {
  auto server = MetricsHttpServer::Create(Loopback(), {&registry_});
  ASSERT_TRUE(server.ok());
  (*server)->Stop();
  EXPECT_EQ((*server)->Start().code(), absl::StatusCode::kFailedPrecondition);
  auto unused = MetricsHttpServer::Create(Loopback(), {&registry_});
  ASSERT_TRUE(unused.ok());  // destroyed without Start
}

TEST_F(MetricsHttpServerTest, PortInUseIsUnavailable) {
  auto first = StartServer(&registry_);
  ASSERT_NE(first, nullptr);
  MetricsHttpServer::Options options = Loopback();
  options.port = first->port();
  auto second = MetricsHttpServer::Create(options, {&registry_});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Start().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*second)->port(), 0);
}

TEST_F(MetricsHttpServerTest, RejectsBadOptions) {
  EXPECT_EQ(MetricsHttpServer::Create(Loopback(), {nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsHttpServer::Create(Loopback(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (int port : {-1, 65536}) {
    MetricsHttpServer::Options options = Loopback();
    options.port = port;
    EXPECT_EQ(MetricsHttpServer::Create(options, {&registry_}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  MetricsHttpServer::Options options = Loopback();
  options.num_threads = 0;
  EXPECT_EQ(MetricsHttpServer::Create(options, {&registry_}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// What a live endpoint serves (process metrics and the gridserve_* families included) passes
// `promtool check metrics`. Skips when promtool is not installed.
TEST(MetricsHttpServerPromtoolTest, LiveEndpointPassesPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (Debian package: prometheus)";
  }
  prometheus::Registry registry;
  auto process = metrics::ProcessCollector::Create({});
  ASSERT_TRUE(process.ok());
  auto inference = metrics::InferenceMetrics::Create(&registry);
  ASSERT_TRUE(inference.ok());
  metrics::ModelVersionMetrics m = (*inference)->ForModelVersion("grid_load_forecast", "3");
  m.requests_success->Increment();
  m.request_duration->Observe(0.0123);
  m.ready->Set(1);

  auto created = MetricsHttpServer::Create(Loopback(), {&registry, process->get()});
  ASSERT_TRUE(created.ok());
  std::unique_ptr<MetricsHttpServer> server = *std::move(created);
  ASSERT_TRUE(server->Start().ok());
  httplib::Client client("127.0.0.1", server->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  EXPECT_THAT(response->body, HasSubstr("process_resident_memory_bytes "));

  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("scrape_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path, std::ios::binary) << response->body;
  FILE* pipe = popen(("promtool check metrics < '" + path.string() + "' 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output << "\n" << response->body;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace gridserve::http
