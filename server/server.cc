#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "runtime/backend/torchscript_backend.h"
#include "runtime/metrics/host_collector.h"
#include "runtime/metrics/inference_metrics.h"
#include "runtime/metrics/metrics.h"
#include "runtime/metrics/process_collector.h"
#include "runtime/repository/model_manager.h"
#include "server/grpc/inference_service.h"
#include "server/grpc/server_info_service.h"
#include "server/http/metrics_http_server.h"
#include "server/metrics_observer.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace gridserve::server {
namespace {

gridserve::v1::GetServerInfoResponse MakeServerInfo(const ServerOptions& options) {
  gridserve::v1::GetServerInfoResponse info;
  info.set_name("gridserve");
  info.set_version(kGridserveVersion);
  info.set_torch_version(backend::TorchVersion());
  info.set_grpc_version(grpc::Version());
  const cpu::BlasReport& report = options.process.blas;
  gridserve::v1::BlasInfo* blas = info.mutable_blas();
  blas->set_library(report.info.library);
  blas->set_version(report.info.version);
  blas->set_core(report.info.core);
  blas->set_selected_by(std::string(cpu::BlasSelectionName(report.selected_by)));
  blas->set_detail(report.detail);
  blas->set_threads(report.info.threads);
  blas->set_self_test_passed(report.self_test_passed);
  blas->set_self_test_error(report.self_test_error);
  blas->set_path(report.info.path);
  info.set_cpu(report.cpu);
  info.set_malloc(options.process.malloc);
  const char* omp = std::getenv("OMP_WAIT_POLICY");
  info.set_omp_wait_policy(omp != nullptr ? omp : "");
  return info;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;

  // Metrics first, so model loads are observed from the start.
  server->registry_ = std::make_unique<metrics::Registry>();
  absl::StatusOr<std::unique_ptr<metrics::ProcessCollector>> process =
      metrics::ProcessCollector::Create({});
  if (!process.ok()) return process.status();
  if (absl::Status s = server->registry_->AddCollector(*std::move(process)); !s.ok()) return s;
  metrics::InferenceMetrics::Options metrics_options;
  metrics_options.triton_names = options.metrics_triton_names;
  if (options.metrics_triton_names && options.allow_cpu_metrics) {
    if (absl::Status s =
            server->registry_->AddCollector(std::make_unique<metrics::HostCollector>());
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::unique_ptr<metrics::InferenceMetrics>> inference_metrics =
      metrics::InferenceMetrics::Create(server->registry_.get(), metrics_options);
  if (!inference_metrics.ok()) return inference_metrics.status();
  server->inference_metrics_ = *std::move(inference_metrics);
  server->inference_metrics_->SetBuildInfo(kGridserveVersion, backend::TorchVersion(),
                                           grpc::Version());
  if (options.allow_metrics) {
    http::MetricsHttpServer::Options http_options;
    http_options.address = options.metrics_address;
    http_options.port = options.metrics_port;
    absl::StatusOr<std::unique_ptr<http::MetricsHttpServer>> http =
        http::MetricsHttpServer::Create(http_options, server->registry_.get());
    if (!http.ok()) return http.status();
    server->metrics_http_ = *std::move(http);
    if (absl::Status s = server->metrics_http_->Start(); !s.ok()) return s;
    spdlog::info("metrics on http://{}:{}/metrics", options.metrics_address,
                 server->metrics_http_->port());
  }

  repository::ModelManager::Options manager_options;
  manager_options.repository_paths = options.model_repositories;
  manager_options.backend_factory = backend::MakeTorchScriptBackendFactory();
  manager_options.cpu_cores = options.cpu_cores;
  if (options.allow_metrics) {
    metrics::InferenceMetrics* inference = server->inference_metrics_.get();
    manager_options.observer_factory = [inference](const inference::ModelConfig& config,
                                                   int64_t version) {
      return scheduler::ObserverList{std::make_shared<MetricsObserver>(
          inference->ForModelVersion(config.name(), std::to_string(version)))};
    };
  }
  absl::StatusOr<std::unique_ptr<repository::ModelManager>> models =
      repository::ModelManager::Create(std::move(manager_options));
  if (!models.ok()) return models.status();
  server->models_ = *std::move(models);

  InferenceService::Options service_options;
  service_options.strict_readiness = options.strict_readiness;
  // --allow-metrics=false turns the whole metrics path off, not just the endpoint.
  service_options.metrics = options.allow_metrics ? server->inference_metrics_.get() : nullptr;
  service_options.grpc_thread_nice = options.grpc_thread_nice;
  service_options.cpu_watts_per_core = options.cpu_watts_per_core;
  server->service_ = std::make_unique<InferenceService>(server->models_.get(), service_options);
  server->info_service_ = std::make_unique<ServerInfoService>(MakeServerInfo(options));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::string address = absl::StrCat(options.grpc_address, ":", options.grpc_port);
  if (options.grpc_address.find(':') != std::string::npos) {
    address = absl::StrCat("[", options.grpc_address, "]:", options.grpc_port);  // IPv6
  }
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->grpc_port_);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->info_service_.get());
  int max_message = static_cast<int>(std::min<int64_t>(options.grpc_max_message_size, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", address));
  }
  auto* health = server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(false);
  spdlog::info("gRPC listening on {}:{} (max message {} bytes)", options.grpc_address,
               server->grpc_port_, max_message);

  absl::Status loaded = server->models_->LoadAll();
  if (!loaded.ok()) return loaded;
  if (options.exit_on_error && !server->models_->AllReady()) {
    for (const auto& entry : server->models_->Index()) {
      if (entry.state != repository::ModelState::kReady) {
        return absl::FailedPreconditionError(absl::StrCat(
            "model '", entry.name, "' failed to load (--exit-on-error): ", entry.reason));
      }
    }
  }
  server->PublishModelStates(true);
  server->service_->SetModelsLoaded(true);
  health->SetServingStatus(server->service_->IsReady());
  spdlog::info("gridserve ready: {} model version(s) known, ready={}",
               server->models_->Index().size(), server->service_->IsReady());
  return server;
}

Server::~Server() { Shutdown(); }

int Server::metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }

void Server::PublishModelStates(bool serving) {
  for (const auto& entry : models_->Index()) {
    if (entry.version == 0) continue;
    metrics::ModelVersionMetrics m =
        inference_metrics_->ForModelVersion(entry.name, std::to_string(entry.version));
    m.ready->Set(serving && entry.state == repository::ModelState::kReady ? 1 : 0);
    m.load_duration_seconds->Set(entry.load_seconds);
  }
}

void Server::Wait() { done_.WaitForNotification(); }

void Server::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  spdlog::info("shutting down: readiness off, draining in-flight requests (up to {} s)",
               options_.exit_timeout_secs);
  if (service_) service_->SetDraining();
  if (grpc_server_) {
    grpc_server_->GetHealthCheckService()->SetServingStatus(false);
    // Refuses new RPCs at once; in-flight ones may finish until the deadline, then are cancelled.
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           std::chrono::seconds(options_.exit_timeout_secs));
  }
  if (models_) {
    PublishModelStates(false);
    models_->UnloadAll();
  }
  if (metrics_http_) metrics_http_->Stop();
  spdlog::info("shutdown complete");
  done_.Notify();
}

}  // namespace gridserve::server
