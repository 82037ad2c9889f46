#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "runtime/backend/torchscript_backend.h"
#include "runtime/metrics/host_collector.h"
#include "runtime/metrics/inference_metrics.h"
#include "runtime/metrics/process_collector.h"
#include "runtime/registry/sqlite_metadata_store.h"
#include "runtime/repository/model_manager.h"
#include "server/grpc/inference_service.h"
#include "server/grpc/registry_service.h"
#include "server/grpc/server_info_service.h"
#include "server/http/metrics_http_server.h"
#include "server/lifecycle_metrics.h"
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

  // Metrics first, so model loads are observed from the start. Throw on a duplicate family name:
  // two modules must not silently share one.
  server->registry_ =
      std::make_unique<prometheus::Registry>(prometheus::Registry::InsertBehavior::Throw);
  absl::StatusOr<std::unique_ptr<metrics::ProcessCollector>> process =
      metrics::ProcessCollector::Create({});
  if (!process.ok()) return process.status();
  server->process_collector_ = *std::move(process);
  metrics::InferenceMetrics::Options metrics_options;
  metrics_options.triton_names = options.metrics_triton_names;
  if (options.metrics_triton_names && options.allow_cpu_metrics) {
    server->host_collector_ = std::make_unique<metrics::HostCollector>();
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
    std::vector<const prometheus::Collectable*> collectables = {server->registry_.get(),
                                                                server->process_collector_.get()};
    if (server->host_collector_) collectables.push_back(server->host_collector_.get());
    absl::StatusOr<std::unique_ptr<http::MetricsHttpServer>> http =
        http::MetricsHttpServer::Create(http_options, std::move(collectables));
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
  absl::StatusOr<repository::ControlMode> mode =
      repository::ParseControlMode(options.model_control_mode);
  if (!mode.ok()) return mode.status();
  manager_options.control_mode = *mode;
  manager_options.startup_models = options.load_models;
  manager_options.load_threads = options.model_load_thread_count;
  manager_options.max_upload_bytes = options.max_upload_bytes;
  // The registry: one SQLite file, by default inside the first repository (hidden, so never
  // taken for a model).
  registry::SqliteMetadataStore::Options store_options;
  store_options.path = options.registry_path.empty()
                           ? options.model_repositories[0] + "/.gridserve-registry.db"
                           : options.registry_path;
  bool recreated = false;
  absl::StatusOr<std::unique_ptr<registry::SqliteMetadataStore>> store =
      registry::SqliteMetadataStore::Open(store_options, &recreated);
  if (store.ok()) {
    server->store_ = *std::move(store);
    spdlog::info("registry: {}{}", server->store_->path(), recreated ? " (recreated)" : "");
    manager_options.store = server->store_.get();
  } else {
    // A read-only repository still serves; only lineage, aliases and splits are unavailable.
    spdlog::error("registry unavailable, serving without it (no lineage, aliases or splits): {}",
                  std::string(store.status().message()));
  }
  Server* self = server.get();
  absl::StatusOr<std::unique_ptr<LifecycleMetrics>> lifecycle =
      LifecycleMetrics::Create(server->registry_.get());
  if (!lifecycle.ok()) return lifecycle.status();
  server->lifecycle_metrics_ = *std::move(lifecycle);
  manager_options.on_load = [self](const repository::LoadEvent& event) {
    self->lifecycle_metrics_->OnLoad(event);
  };
  manager_options.on_change = [self](const std::string& model) {
    self->PublishModelStates(true);
    self->PublishRouting(model);
  };
  absl::StatusOr<std::unique_ptr<repository::ModelManager>> models =
      repository::ModelManager::Create(std::move(manager_options));
  if (!models.ok()) return models.status();
  server->models_ = *std::move(models);

  InferenceService::Options service_options;
  service_options.strict_readiness = options.strict_readiness;
  // --allow-metrics=false turns the whole metrics path off, not just the endpoint.
  service_options.metrics = options.allow_metrics ? server->inference_metrics_.get() : nullptr;
  service_options.grpc_thread_nice = options.grpc_thread_nice;
  service_options.control_mode = *mode;
  service_options.cpu_watts_per_core = options.cpu_watts_per_core;
  server->service_ = std::make_unique<InferenceService>(server->models_.get(), service_options);
  server->info_service_ = std::make_unique<ServerInfoService>(MakeServerInfo(options));
  server->registry_service_ = std::make_unique<RegistryService>(server->models_.get());

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
  builder.RegisterService(server->registry_service_.get());
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
  std::set<std::string> names;
  for (const auto& entry : server->models_->Index()) names.insert(entry.name);
  for (const std::string& name : names) server->PublishRouting(name);
  if (*mode == repository::ControlMode::kPoll) {
    server->models_->StartPolling(absl::Seconds(options.repository_poll_secs));
    spdlog::info("polling the model repositories every {} s", options.repository_poll_secs);
  }
  server->service_->SetModelsLoaded(true);
  health->SetServingStatus(server->service_->IsReady());
  spdlog::info("gridserve ready: {} model version(s) known, ready={}",
               server->models_->Index().size(), server->service_->IsReady());
  return server;
}

Server::~Server() { Shutdown(); }

int Server::metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }

void Server::PublishModelStates(bool serving) {
  absl::MutexLock lock(&published_mu_);
  std::set<std::pair<std::string, int64_t>> now;
  for (const auto& entry : models_->Index()) {
    if (entry.version == 0) continue;
    now.insert({entry.name, entry.version});
    metrics::ModelVersionMetrics m =
        inference_metrics_->ForModelVersion(entry.name, std::to_string(entry.version));
    m.ready->Set(serving && entry.state == repository::ModelState::kReady ? 1 : 0);
    m.load_duration_seconds->Set(entry.load_seconds);
  }
  // Versions retired by a reload or a removed folder are no longer in the index: not ready.
  for (const auto& [name, version] : published_) {
    if (!now.count({name, version})) {
      inference_metrics_->ForModelVersion(name, std::to_string(version)).ready->Set(0);
    }
  }
  published_ = std::move(now);
}

void Server::PublishRouting(const std::string& model) {
  absl::StatusOr<registry::TrafficSplit> split = models_->GetTrafficSplit(model);
  lifecycle_metrics_->PublishRouting(model, models_->Aliases(model),
                                     split.ok() ? *split : registry::TrafficSplit{});
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
    // Drain: new inference is refused (UNAVAILABLE); accepted calls finish until the exit
    // timeout. gRPC's own graceful shutdown would also wait for every client connection to
    // close, and an idle or stuck client never closes its: so wait for the calls here, then give
    // gRPC a short grace to flush the last answers before it cancels whatever is left.
    const absl::Time deadline = absl::Now() + absl::Seconds(options_.exit_timeout_secs);
    const bool drained = !service_ || service_->WaitUntilNoInferInFlight(deadline);
    spdlog::info(drained ? "drained: no inference call in flight"
                         : "exit timeout: cancelling the inference calls still in flight");
    const absl::Time grace = std::min(deadline, absl::Now() + absl::Milliseconds(200));
    grpc_server_->Shutdown(absl::ToChronoTime(std::max(grace, absl::Now())));
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
