#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "server/options.h"

namespace grpc {
class Server;
}

namespace gridserve::repository {
class ModelManager;
}
namespace prometheus {
class Registry;
}
namespace gridserve::registry {
class SqliteMetadataStore;
}
namespace gridserve::metrics {
class HostCollector;
class InferenceMetrics;
class ProcessCollector;
}  // namespace gridserve::metrics
namespace gridserve::http {
class MetricsHttpServer;
}

namespace gridserve::server {

class InferenceService;
class ServerInfoService;
class LifecycleMetrics;
class RegistryService;

// The gridserve process minus main(): loads the model repositories and serves them over gRPC.
// Liveness does not depend on models: the gRPC port answers while models load.
// Thread-safe; Shutdown() may be called from any thread, once or more.
class Server {
 public:
  // Starts listening, then loads every model. Fails if a port cannot be bound, a repository does
  // not exist, or (with exit_on_error) a model fails to load.
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();

  // The bound gRPC port (useful with grpc_port = 0).
  int grpc_port() const { return grpc_port_; }
  // The bound /metrics port; 0 when metrics are off (--allow-metrics=false).
  int metrics_port() const;
  // The loaded models (tests look at their schedulers). Valid until the Server is destroyed.
  const repository::ModelManager& models() const { return *models_; }
  repository::ModelManager& mutable_models() { return *models_; }

  // Blocks until Shutdown() has finished.
  void Wait();

  // Graceful stop: readiness and health turn false, new RPCs are refused, in-flight requests
  // finish (bounded by exit_timeout_secs), then models are unloaded.
  void Shutdown();

 private:
  Server() = default;

  // Sets gridserve_model_ready / load duration for every known version from the index.
  void PublishModelStates(bool serving);
  // Sets the alias and split series of `model` from the manager.
  void PublishRouting(const std::string& model);

  ServerOptions options_;
  // Declared first: destroyed last, after everything that holds metric handles.
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::ProcessCollector> process_collector_;
  std::unique_ptr<metrics::HostCollector> host_collector_;  // --allow-cpu-metrics with Triton names
  std::unique_ptr<metrics::InferenceMetrics> inference_metrics_;
  std::unique_ptr<LifecycleMetrics> lifecycle_metrics_;
  std::unique_ptr<http::MetricsHttpServer> metrics_http_;
  // Before models_: the manager writes to it until it is gone.
  std::unique_ptr<registry::SqliteMetadataStore> store_;
  std::unique_ptr<repository::ModelManager> models_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<ServerInfoService> info_service_;
  std::unique_ptr<RegistryService> registry_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  // The (model, version) pairs PublishModelStates last saw, so retired ones drop to 0.
  absl::Mutex published_mu_;
  std::set<std::pair<std::string, int64_t>> published_ ABSL_GUARDED_BY(published_mu_);
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Notification done_;
};

}  // namespace gridserve::server
