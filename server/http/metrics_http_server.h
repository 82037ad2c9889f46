#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace gridserve::http {

// Serves `GET /metrics` over HTTP/1.1 with cpp-httplib: at each scrape, what the collectables
// (a prometheus::Registry, the process collector, ...) hold, in the Prometheus text format 0.0.4
// (metrics::SerializeText: prometheus-cpp's TextSerializer). Every other path answers 404. Does not
// own the collectables, which must outlive it.
//
// Why not prometheus::Exposer (prometheus-cpp-pull, civetweb): destroying one took about 1 s
// even with no client (measured; see README.md), it matches /metrics as a prefix (/metricsx
// answers), sends no `version=0.0.4` in the Content-Type, and adds its own exposer_* families;
// cpp-httplib is already the project's HTTP library (and the REST front end's).
//
// Lifecycle: kNew --Start()--> kServing --Stop()--> kStopped (terminal). A failed Start() leaves
// kNew. Stop() is idempotent and also called by the destructor; it returns once the listener and
// workers have exited, within about max(keep_alive_timeout_s, read_timeout_s) when a client
// holds an idle connection.
//
// Threads: while serving, one listener thread plus `num_threads` workers, owned by this object.
// Thread safety: Start() and Stop() may be called from any thread; port() is safe at any time.
class MetricsHttpServer {
 public:
  struct Options {
    // Address to bind: an IPv4/IPv6 literal or host name. Default: all IPv4 interfaces.
    std::string address = "0.0.0.0";
    // TCP port; 0 binds an ephemeral port (read it back with port()). Default 8002, as Triton.
    int port = 8002;
    // Workers answering scrapes. Each Prometheus server scrapes serially; 2 absorbs overlap.
    int num_threads = 2;
    // An idle keep-alive connection is closed after this many seconds; a client that connects
    // and sends nothing is dropped after read_timeout_s. Both bound how long Stop() can take.
    int keep_alive_timeout_s = 2;
    int read_timeout_s = 2;
  };

  // INVALID_ARGUMENT for no or a null collectable, or out-of-range options. Binds nothing yet.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      Options options, std::vector<const prometheus::Collectable*> collectables);

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds and starts serving; returns once connections are being accepted. FAILED_PRECONDITION
  // unless kNew; UNAVAILABLE if the address cannot be bound (in use, not permitted, unknown).
  absl::Status Start();
  // Stops accepting, finishes in-flight scrapes and joins all threads.
  void Stop();

  // The bound port while serving (the real one when Options::port is 0); 0 before Start().
  int port() const { return port_.load(std::memory_order_acquire); }

 private:
  enum class State { kNew, kServing, kStopped };

  MetricsHttpServer(Options options, std::vector<const prometheus::Collectable*> collectables);

  // Constant after construction.
  const Options options_;
  const std::vector<const prometheus::Collectable*> collectables_;
  const std::unique_ptr<httplib::Server> server_;

  std::atomic<int> port_{0};
  std::atomic<bool> listen_returned_{false};

  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kNew;
  std::thread listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::http
