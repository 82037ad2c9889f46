#include "server/grpc/inference_service.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/core/config_types.h"
#include "runtime/core/logging.h"
#include "runtime/core/status_macros.h"
#include "runtime/repository/request_validator.h"
#include "server/grpc/peer.h"
#include "server/grpc/status_util.h"
#include "server/grpc/tensor_conversion.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace gridserve::server {
namespace {

int CurrentThreadNice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  return nice == -1 && errno != 0 ? 0 : nice;
}

// Raises the calling thread's nice value to `target` (absolute, so threads that inherited an
// already lowered priority do not drift further), once per thread. On Linux a thread id passed
// to setpriority(PRIO_PROCESS) names that thread alone. Raising nice needs no privilege; a
// failure only leaves the priority as it was.
void LowerThreadPriorityOnce(int target) {
  thread_local bool done = false;
  if (done) return;
  done = true;
  if (CurrentThreadNice() < target) {
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), target);
  }
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

template <typename Tensors, typename Out>
void AddTensorMetadata(const Tensors& tensors, bool batching, Out* out) {
  for (const auto& t : tensors) {
    auto* meta = out->Add();
    meta->set_name(t.name());
    meta->set_datatype(std::string(core::DataTypeName(core::DataTypeFromConfig(t.data_type()))));
    if (batching) meta->add_shape(-1);
    for (int64_t d : t.dims()) meta->add_shape(d);
  }
}

void SetDuration(const scheduler::StatisticDuration& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

void SetDouble(inference::ModelStatistics* out, const std::string& key, double value) {
  (*out->mutable_parameters())[key].set_double_param(value);
}

void ToModelStatistics(const repository::LoadedModel& model, double cpu_watts_per_core,
                       inference::ModelStatistics* out) {
  scheduler::StatisticsSnapshot s = model.statistics().Snapshot();
  out->set_name(model.name());
  out->set_version(std::to_string(model.version()));
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  inference::InferStatistics* stats = out->mutable_inference_stats();
  SetDuration(s.success, stats->mutable_success());
  SetDuration(s.fail, stats->mutable_fail());
  SetDuration(s.queue, stats->mutable_queue());
  SetDuration(s.compute_input, stats->mutable_compute_input());
  SetDuration(s.compute_infer, stats->mutable_compute_infer());
  SetDuration(s.compute_output, stats->mutable_compute_output());
  for (const scheduler::BatchSizeStatistics& size : s.batch_stats) {
    inference::InferBatchStatistics* batch = out->add_batch_stats();
    batch->set_batch_size(size.batch_size);
    SetDuration(size.compute_input, batch->mutable_compute_input());
    SetDuration(size.compute_infer, batch->mutable_compute_infer());
    SetDuration(size.compute_output, batch->mutable_compute_output());
  }
  // gridserve's resource accounting (Triton clients ignore the field).
  const double cpu_seconds = static_cast<double>(s.cpu_ns) * 1e-9;
  SetDouble(out, "cpu_seconds", cpu_seconds);
  if (cpu_watts_per_core > 0) {
    const double joules = cpu_seconds * cpu_watts_per_core;
    SetDouble(out, "cpu_watts_per_core", cpu_watts_per_core);
    SetDouble(out, "energy_joules", joules);
    if (s.inference_count > 0) {
      SetDouble(out, "joules_per_inference", joules / static_cast<double>(s.inference_count));
    }
  }
}

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = core::ModuleLogger("server");
  return logger;
}

}  // namespace

InferenceService::InferenceService(repository::ModelManager* models, Options options)
    : models_(models),
      options_(options),
      grpc_thread_nice_target_(options.grpc_thread_nice > 0
                                   ? std::min(19, CurrentThreadNice() + options.grpc_thread_nice)
                                   : INT32_MIN) {}

bool InferenceService::IsReady() const {
  if (draining_ || !models_loaded_) return false;
  return !options_.strict_readiness || models_->AllReady();
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(IsReady());
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  // The version may be a number or an alias.
  absl::StatusOr<int64_t> version =
      models_->ResolveVersionNumber(request->name(), request->version());
  if (!version.ok()) return Finish(ctx, version.status());
  absl::StatusOr<std::shared_ptr<repository::LoadedModel>> model =
      models_->Get(request->name(), *version);
  if (!model.ok() && absl::IsNotFound(model.status())) return Finish(ctx, model.status());
  response->set_ready(model.ok() && !draining_);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("gridserve");
  response->set_version(kGridserveVersion);
  for (const char* ext :
       {"classification", "model_configuration", "model_repository", "statistics"}) {
    response->add_extensions(ext);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<int64_t> version =
      models_->ResolveVersionNumber(request->name(), request->version());
  if (!version.ok()) return Finish(ctx, version.status());
  absl::StatusOr<inference::ModelConfig> config = models_->GetConfig(request->name());
  if (!config.ok()) return Finish(ctx, config.status());
  bool found = false;
  for (const auto& entry : models_->Index()) {
    if (entry.name != request->name() || entry.version == 0) continue;
    if (*version != 0 && entry.version != *version) continue;
    response->add_versions(std::to_string(entry.version));
    found = true;
  }
  if (*version != 0 && !found) {
    return Finish(ctx, absl::NotFoundError(absl::StrCat("model '", request->name(),
                                                        "' has no version ", *version)));
  }
  response->set_name(config->name());
  response->set_platform(config->platform());
  bool batching = config->max_batch_size() > 0;
  AddTensorMetadata(config->input(), batching, response->mutable_inputs());
  AddTensorMetadata(config->output(), batching, response->mutable_outputs());
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(
    grpc::CallbackServerContext* ctx, const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  absl::StatusOr<inference::ModelConfig> config = models_->GetConfig(request->name());
  if (!config.ok()) return Finish(ctx, config.status());
  *response->mutable_config() = *std::move(config);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* ctx, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  for (const auto& entry : models_->Index()) {
    if (request->ready() && entry.state != repository::ModelState::kReady) continue;
    auto* model = response->add_models();
    model->set_name(entry.name);
    if (entry.version > 0) model->set_version(std::to_string(entry.version));
    model->set_state(std::string(repository::ModelStateName(entry.state)));
    model->set_reason(entry.reason);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(
    grpc::CallbackServerContext* ctx, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  if (request->name().empty() && !request->version().empty()) {
    return Finish(ctx, absl::InvalidArgumentError("a model version needs a model name"));
  }
  absl::StatusOr<int64_t> version =
      request->name().empty() ? absl::StatusOr<int64_t>(0)
                              : models_->ResolveVersionNumber(request->name(), request->version());
  if (!version.ok()) return Finish(ctx, version.status());
  if (!request->name().empty()) {
    absl::StatusOr<inference::ModelConfig> config = models_->GetConfig(request->name());
    if (!config.ok() && absl::IsNotFound(config.status())) return Finish(ctx, config.status());
  }
  if (*version != 0) {
    absl::StatusOr<std::shared_ptr<repository::LoadedModel>> model =
        models_->Get(request->name(), *version);
    if (!model.ok()) return Finish(ctx, model.status());
    ToModelStatistics(**model, options_.cpu_watts_per_core, response->add_model_stats());
    return Finish(ctx, absl::OkStatus());
  }
  for (const auto& entry : models_->Index()) {
    if (entry.state != repository::ModelState::kReady) continue;
    if (!request->name().empty() && entry.name != request->name()) continue;
    // The version may have gone since Index(); skip it then.
    absl::StatusOr<std::shared_ptr<repository::LoadedModel>> model =
        models_->Get(entry.name, entry.version);
    if (model.ok())
      ToModelStatistics(**model, options_.cpu_watts_per_core, response->add_model_stats());
  }
  if (!request->name().empty() && response->model_stats().empty()) {
    return Finish(ctx, absl::UnavailableError(
                           absl::StrCat("model '", request->name(), "' has no ready version")));
  }
  return Finish(ctx, absl::OkStatus());
}

bool InferenceService::WaitUntilNoInferInFlight(absl::Time deadline) {
  absl::MutexLock lock(&in_flight_mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(in_flight_mu_) { return infer_in_flight_ == 0; };
  return in_flight_mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void InferenceService::FinishInfer(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
  reactor->Finish(status);
  absl::MutexLock lock(&in_flight_mu_);
  --infer_in_flight_;
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int64_t received_ns = options_.clock->NowNanos();
  if (grpc_thread_nice_target_ != INT32_MIN) LowerThreadPriorityOnce(grpc_thread_nice_target_);
  {
    // Counted before the draining check, so a call that passes it is waited for at shutdown.
    absl::MutexLock lock(&in_flight_mu_);
    ++infer_in_flight_;
  }
  auto fail = [&](const absl::Status& status) {
    Log()->debug("infer failed: model='{}' id='{}' code={} {}", request->model_name(),
                 request->id(), absl::StatusCodeToString(status.code()),
                 std::string(status.message()));
    FinishInfer(reactor, ToGrpcStatus(status));
    return reactor;
  };
  if (draining_) return fail(absl::UnavailableError("server is shutting down"));

  // A number, an alias, or (empty) the traffic split / latest ready version; the id keeps a
  // request on the same split version.
  absl::StatusOr<std::shared_ptr<repository::LoadedModel>> model =
      models_->Resolve(request->model_name(), request->model_version(), request->id());
  if (!model.ok()) return fail(model.status());
  // From here the model is known: a refusal counts as that version's failed request. (Requests
  // for unknown models are not counted per model: their names are client-chosen labels.)
  auto fail_for_model = [&](const absl::Status& status) {
    if (options_.metrics != nullptr) {
      metrics::ModelVersionMetrics m =
          options_.metrics->ForModelVersion((*model)->name(), std::to_string((*model)->version()));
      m.requests_failure->Increment();
      m.request_duration->Observe((options_.clock->NowNanos() - received_ns) * 1e-9);
      if (m.triton != nullptr) {
        metrics::FailureCounter(*m.triton, metrics::FailureReason::kOther)->Increment();
      }
    }
    return fail(status);
  };
  auto infer = std::make_unique<core::InferenceRequest>();
  absl::Status status = ToInferenceRequest(*request, infer.get());
  if (!status.ok()) return fail_for_model(status);
  status = repository::ValidateRequest((*model)->config(), infer.get());
  if (!status.ok()) return fail_for_model(status);

  infer->model_version = (*model)->version();
  auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto remaining = deadline - std::chrono::system_clock::now();
    infer->deadline_ns =
        options_.clock->NowNanos() +
        std::max<int64_t>(0,
                          std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count());
  }
  // A client that cancels (TryCancel, closing the channel) while its request is queued gets its
  // request dropped before execution. IsCancelled is safe from any thread until Finish.
  infer->is_cancelled = [ctx] { return ctx->IsCancelled(); };
  infer->model_handle = *model;
  std::string model_name = request->model_name();
  std::string id = request->id();
  infer->on_complete = [this, reactor, response, model_name,
                        id](absl::StatusOr<core::InferenceResponse> result) {
    if (result.ok()) {
      ToModelInferResponse(*result, response);
      FinishInfer(reactor, grpc::Status::OK);
      return;
    }
    Log()->debug("infer failed: model='{}' id='{}' code={} {}", model_name, id,
                 absl::StatusCodeToString(result.status().code()),
                 std::string(result.status().message()));
    FinishInfer(reactor, ToGrpcStatus(result.status()));
  };
  status = (*model)->scheduler().Enqueue(std::move(infer));
  if (!status.ok()) return fail(status);
  return reactor;
}

absl::Status InferenceService::MayChangeModels(const grpc::CallbackServerContext& ctx,
                                               absl::string_view rpc) const {
  RETURN_IF_ERROR(RequireLoopbackPeer(ctx, rpc));
  if (options_.control_mode != repository::ControlMode::kExplicit) {
    return absl::FailedPreconditionError(
        absl::StrCat("explicit model load / unload is not allowed in model control mode '",
                     repository::ControlModeName(options_.control_mode),
                     "' (start with --model-control-mode=explicit)"));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  if (absl::Status allowed = MayChangeModels(*ctx, "RepositoryModelLoad"); !allowed.ok()) {
    return Finish(ctx, allowed);
  }
  repository::LoadRequest load;
  for (const auto& [key, param] : request->parameters()) {
    if (key == "config") {
      if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
        return Finish(ctx, absl::InvalidArgumentError(
                               "parameter 'config' must be a string (ModelConfig as JSON)"));
      }
      load.config_json = param.string_param();
    } else if (absl::StartsWith(key, "file:")) {
      if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kBytesParam) {
        return Finish(
            ctx, absl::InvalidArgumentError(absl::StrCat("parameter '", key, "' must be bytes")));
      }
      load.files[key.substr(5)] = param.bytes_param();
    } else if (key == "parent_version") {
      if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kInt64Param) {
        return Finish(ctx, absl::InvalidArgumentError("parameter 'parent_version' must be int64"));
      }
      load.parent_version = param.int64_param();
    }
    // Other parameters are ignored, as Triton does.
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const std::string name = request->model_name();
  Log()->info("RepositoryModelLoad '{}' from {} ({} file(s))", name, ctx->peer(),
              load.files.size());
  models_->LoadAsync(name, std::move(load),
                     [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  if (absl::Status allowed = MayChangeModels(*ctx, "RepositoryModelUnload"); !allowed.ok()) {
    return Finish(ctx, allowed);
  }
  // unload_dependents is accepted; gridserve has no ensembles, so there are no dependents.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Log()->info("RepositoryModelUnload '{}' from {}", request->model_name(), ctx->peer());
  models_->UnloadAsync(request->model_name(),
                       [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace gridserve::server
