#include "server/http/metrics_http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::http {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    Options options, std::vector<const prometheus::Collectable*> collectables) {
  if (collectables.empty() ||
      std::find(collectables.begin(), collectables.end(), nullptr) != collectables.end()) {
    return absl::InvalidArgumentError("metrics server needs non-null collectables");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics port out of range: ", options.port));
  }
  if (options.num_threads < 1 || options.keep_alive_timeout_s < 1 || options.read_timeout_s < 1) {
    return absl::InvalidArgumentError(
        "metrics server num_threads, keep_alive_timeout_s and read_timeout_s must be >= 1");
  }
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(std::move(options), std::move(collectables)));
}

MetricsHttpServer::MetricsHttpServer(Options options,
                                     std::vector<const prometheus::Collectable*> collectables)
    : options_(std::move(options)),
      collectables_(std::move(collectables)),
      server_(std::make_unique<httplib::Server>()) {
  const int num_threads = options_.num_threads;
  server_->new_task_queue = [num_threads] { return new httplib::ThreadPool(num_threads); };
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_payload_max_length(64 * 1024);  // scrapes carry no body
  // httplib's default also sets SO_REUSEPORT, which lets a second process bind the same port and
  // silently take half the scrapes. Only SO_REUSEADDR: restart quickly, but never share a port.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics::SerializeText(collectables_), metrics::kTextContentType);
  });
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start() {
  absl::MutexLock lock(&mu_);
  if (state_ != State::kNew) return absl::FailedPreconditionError("metrics server already started");
  int port = options_.port;
  const bool bound = port == 0 ? (port = server_->bind_to_any_port(options_.address)) > 0
                               : server_->bind_to_port(options_.address, port);
  if (!bound) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind metrics endpoint ", options_.address, ":", options_.port));
  }
  listener_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_.store(true, std::memory_order_release);
  });
  // httplib 0.11 ignores stop() until its accept loop has set is_running(), so wait for that
  // (or for an early exit) before anyone can call Stop().
  while (!server_->is_running() && !listen_returned_.load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (listen_returned_.load(std::memory_order_acquire)) {
    listener_.join();
    state_ = State::kStopped;
    return absl::UnavailableError(absl::StrCat("metrics endpoint ", options_.address, ":", port,
                                               " stopped listening at once"));
  }
  port_.store(port, std::memory_order_release);
  state_ = State::kServing;
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (state_ == State::kServing) {
    server_->stop();
    listener_.join();
    port_.store(0, std::memory_order_release);
  }
  state_ = State::kStopped;
}

}  // namespace gridserve::http
