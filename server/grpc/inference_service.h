#pragma once

#include <atomic>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "inference/grpc_service.grpc.pb.h"
#include "runtime/core/clock.h"
#include "runtime/metrics/inference_metrics.h"
#include "runtime/repository/model_manager.h"

namespace gridserve::server {

// KServe v2 / Triton GRPCInferenceService on the gRPC callback API: no thread is blocked per
// request. ModelInfer validates and enqueues on the gRPC thread and finishes the RPC from the
// model's instance thread. RPCs not implemented yet answer UNIMPLEMENTED. Thread-safe.
class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  struct Options {
    // ServerReady only when every model loaded (Triton's --strict-readiness).
    bool strict_readiness = true;
    const core::Clock* clock = core::Clock::Real();
    // Counts requests refused before they reach a model's scheduler (bad input for a known
    // model). May be null.
    metrics::InferenceMetrics* metrics = nullptr;
    // Nice increment for gRPC's threads (--grpc-thread-nice) over the thread constructing the
    // service, applied by each thread the first time it runs ModelInfer (health, metadata and
    // the other RPCs share those threads, so under saturation they slow down too): request intake
    // and refusals then yield the CPU to model instance threads when the cores are saturated, so
    // admitted work keeps its speed under overload. 0 leaves priorities alone. Instance threads
    // must not be created on these threads (they would inherit the increment): models load on the
    // main thread.
    int grpc_thread_nice = 0;
    // RepositoryModelLoad/Unload are allowed in kExplicit only (Triton's rule).
    repository::ControlMode control_mode = repository::ControlMode::kNone;
    // --cpu-watts-per-core: ModelStatistics' energy estimate is CPU seconds times this. 0 = no
    // energy figures.
    double cpu_watts_per_core = 0;
  };

  // `models` must outlive the service.
  InferenceService(repository::ModelManager* models, Options options);

  // Readiness: false until models are loaded, and again from the start of shutdown.
  void SetModelsLoaded(bool loaded) { models_loaded_ = loaded; }
  void SetDraining() { draining_ = true; }
  bool IsReady() const;

  // After SetDraining(): blocks until every ModelInfer call accepted before it has been answered
  // (its status handed to gRPC), or until `deadline`. Returns true when none is left. Lets
  // shutdown end the gRPC server as soon as work is done instead of waiting for idle client
  // connections to close.
  bool WaitUntilNoInferInFlight(absl::Time deadline);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  // Triton's statistics extension: every ready version of every model for an empty name; else
  // the ready versions of `name`, or just `version`. NOT_FOUND for an unknown model or version,
  // UNAVAILABLE when the model has no ready version. gridserve adds `parameters` (double):
  // cpu_seconds, and with cpu_watts_per_core > 0 energy_joules, joules_per_inference and
  // cpu_watts_per_core (docs/metrics.md).
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* ctx,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  // Loads on the manager's load pool and finishes from there; loopback peers only, explicit
  // mode only (FAILED_PRECONDITION otherwise). `config` and `file:<version>/<name>` parameters
  // as Triton's.
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  // Load and unload: loopback peers only, and only in explicit mode (Triton's rule).
  absl::Status MayChangeModels(const grpc::CallbackServerContext& ctx, absl::string_view rpc) const;

  repository::ModelManager* const models_;
  const Options options_;
  // Absolute nice value for gRPC threads: the constructing (loading) thread's plus
  // grpc_thread_nice; INT32_MIN when off.
  const int grpc_thread_nice_target_;
  // ModelInfer's reactor->Finish, counted for WaitUntilNoInferInFlight().
  void FinishInfer(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);

  std::atomic<bool> models_loaded_{false};
  std::atomic<bool> draining_{false};
  absl::Mutex in_flight_mu_;
  int64_t infer_in_flight_ ABSL_GUARDED_BY(in_flight_mu_) = 0;
};

}  // namespace gridserve::server
