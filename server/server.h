#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "server/options.h"

namespace grpc {
class Server;
}

namespace gridserve::repository {
class ModelManager;
}
namespace gridserve::metrics {
class Registry;
class InferenceMetrics;
}  // namespace gridserve::metrics
namespace gridserve::http {
class MetricsHttpServer;
}

namespace gridserve::server {

class InferenceService;
class ServerInfoService;

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

  // Blocks until Shutdown() has finished.
  void Wait();

  // Graceful stop: readiness and health turn false, new RPCs are refused, in-flight requests
  // finish (bounded by exit_timeout_secs), then models are unloaded.
  void Shutdown();

 private:
  Server() = default;

  // Sets gridserve_model_ready / load duration for every known version from the index.
  void PublishModelStates(bool serving);

  ServerOptions options_;
  // Declared first: destroyed last, after everything that holds metric handles.
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<metrics::InferenceMetrics> inference_metrics_;
  std::unique_ptr<http::MetricsHttpServer> metrics_http_;
  std::unique_ptr<repository::ModelManager> models_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<ServerInfoService> info_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Notification done_;
};

}  // namespace gridserve::server
