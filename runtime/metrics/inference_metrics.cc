#include "runtime/metrics/inference_metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/core/status_macros.h"

namespace gridserve::metrics {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

absl::Status CheckBuckets(const char* what, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " bucket bounds must be finite and strictly increasing"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<InferenceMetrics>> InferenceMetrics::Create(
    prometheus::Registry* registry, Options options) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  RETURN_IF_ERROR(CheckBuckets("latency", options.latency_buckets_s));
  RETURN_IF_ERROR(CheckBuckets("batch size", options.batch_size_buckets));
  const bool triton_names = options.triton_names;
  std::unique_ptr<InferenceMetrics> m(new InferenceMetrics(std::move(options)));
  ASSIGN_OR_RETURN(m->requests_, Register<Counter>(registry, "gridserve_inference_requests_total",
                                                   "Inference requests completed, by outcome."));
  ASSIGN_OR_RETURN(m->items_,
                   Register<Counter>(registry, "gridserve_inference_items_total",
                                     "Inference items (a request of batch n counts n)."));
  ASSIGN_OR_RETURN(m->executions_,
                   Register<Counter>(registry, "gridserve_inference_executions_total",
                                     "Batches executed by model instances."));
  ASSIGN_OR_RETURN(m->request_duration_,
                   Register<Histogram>(registry, "gridserve_inference_request_duration_seconds",
                                       "Time from receiving a request to completing it."));
  ASSIGN_OR_RETURN(m->queue_duration_,
                   Register<Histogram>(registry, "gridserve_inference_queue_duration_seconds",
                                       "Time a request waited in the scheduler queue."));
  ASSIGN_OR_RETURN(m->compute_duration_,
                   Register<Histogram>(registry, "gridserve_inference_compute_duration_seconds",
                                       "Time per batch in each compute phase."));
  ASSIGN_OR_RETURN(m->batch_size_, Register<Histogram>(registry, "gridserve_inference_batch_size",
                                                       "Items per executed batch."));
  ASSIGN_OR_RETURN(m->pending_requests_,
                   Register<Gauge>(registry, "gridserve_inference_pending_requests",
                                   "Requests queued and not yet taken into a batch."));
  ASSIGN_OR_RETURN(m->model_ready_,
                   Register<Gauge>(registry, "gridserve_model_ready",
                                   "1 if the model version is ready to serve, else 0."));
  ASSIGN_OR_RETURN(m->model_load_duration_,
                   Register<Gauge>(registry, "gridserve_model_load_duration_seconds",
                                   "Time the last load of the model version took."));
  ASSIGN_OR_RETURN(m->build_info_,
                   Register<Gauge>(registry, "gridserve_build_info", "gridserve build; always 1."));
  if (triton_names) {
    TritonFamilies& t = m->triton_;
    // Triton's own help texts, so its dashboards' tooltips read the same.
    struct {
      Family<Counter>** family;
      const char* name;
      const char* help;
    } const counters[] = {
        {&t.request_success, "nv_inference_request_success",
         "Number of successful inference requests, all batch sizes"},
        {&t.request_failure, "nv_inference_request_failure",
         "Number of failed inference requests, all batch sizes"},
        {&t.inference_count, "nv_inference_count",
         "Number of inferences performed (does not include cached requests)"},
        {&t.exec_count, "nv_inference_exec_count",
         "Number of model executions performed (does not include cached requests)"},
        {&t.request_duration_us, "nv_inference_request_duration_us",
         "Cumulative inference request duration in microseconds"},
        {&t.queue_duration_us, "nv_inference_queue_duration_us",
         "Cumulative inference queuing duration in microseconds"},
        {&t.compute_input_duration_us, "nv_inference_compute_input_duration_us",
         "Cumulative compute input duration in microseconds"},
        {&t.compute_infer_duration_us, "nv_inference_compute_infer_duration_us",
         "Cumulative compute inference duration in microseconds"},
        {&t.compute_output_duration_us, "nv_inference_compute_output_duration_us",
         "Cumulative inference compute output duration in microseconds"},
    };
    for (const auto& counter : counters) {
      ASSIGN_OR_RETURN(*counter.family, Register<Counter>(registry, counter.name, counter.help));
    }
    ASSIGN_OR_RETURN(
        t.pending_request_count,
        Register<Gauge>(registry, "nv_inference_pending_request_count",
                        "Instantaneous number of pending requests awaiting execution per-model."));
  }
  return m;
}

prometheus::Counter* FailureCounter(const ModelVersionMetrics::Triton& triton,
                                    FailureReason reason) {
  switch (reason) {
    case FailureReason::kRejected:
      return triton.failure_rejected;
    case FailureReason::kCanceled:
      return triton.failure_canceled;
    case FailureReason::kBackend:
      return triton.failure_backend;
    case FailureReason::kOther:
      break;
  }
  return triton.failure_other;
}

ModelVersionMetrics InferenceMetrics::ForModelVersion(const std::string& model,
                                                      const std::string& version) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Handles>& handles = versions_[{model, version}];
  if (handles != nullptr) return handles->metrics;
  handles = std::make_unique<Handles>();
  const prometheus::Labels mv = {{"model", model}, {"version", version}};
  auto with = [&mv](const char* name, const char* value) {
    prometheus::Labels labels = mv;
    labels.emplace(name, value);
    return labels;
  };
  const std::vector<double>& latency = options_.latency_buckets_s;
  ModelVersionMetrics& m = handles->metrics;
  m.requests_success = &requests_->Add(with("outcome", "success"));
  m.requests_failure = &requests_->Add(with("outcome", "failure"));
  m.items = &items_->Add(mv);
  m.executions = &executions_->Add(mv);
  m.request_duration = &request_duration_->Add(mv, latency);
  m.queue_duration = &queue_duration_->Add(mv, latency);
  m.compute_input = &compute_duration_->Add(with("phase", "input"), latency);
  m.compute_infer = &compute_duration_->Add(with("phase", "infer"), latency);
  m.compute_output = &compute_duration_->Add(with("phase", "output"), latency);
  m.batch_size = &batch_size_->Add(mv, options_.batch_size_buckets);
  m.pending_requests = &pending_requests_->Add(mv);
  m.ready = &model_ready_->Add(mv);
  m.load_duration_seconds = &model_load_duration_->Add(mv);
  if (triton_.request_success != nullptr) {
    ModelVersionMetrics::Triton& t = handles->triton;
    t.request_success = &triton_.request_success->Add(mv);
    t.failure_rejected = &triton_.request_failure->Add(with("reason", "REJECTED"));
    t.failure_canceled = &triton_.request_failure->Add(with("reason", "CANCELED"));
    t.failure_backend = &triton_.request_failure->Add(with("reason", "BACKEND"));
    t.failure_other = &triton_.request_failure->Add(with("reason", "OTHER"));
    t.inference_count = &triton_.inference_count->Add(mv);
    t.exec_count = &triton_.exec_count->Add(mv);
    t.request_duration_us = &triton_.request_duration_us->Add(mv);
    t.queue_duration_us = &triton_.queue_duration_us->Add(mv);
    t.compute_input_duration_us = &triton_.compute_input_duration_us->Add(mv);
    t.compute_infer_duration_us = &triton_.compute_infer_duration_us->Add(mv);
    t.compute_output_duration_us = &triton_.compute_output_duration_us->Add(mv);
    t.pending_request_count = &triton_.pending_request_count->Add(mv);
    m.triton = &t;
  }
  return m;
}

void InferenceMetrics::RemoveModelVersion(const std::string& model, const std::string& version) {
  absl::MutexLock lock(&mu_);
  auto it = versions_.find({model, version});
  if (it == versions_.end()) return;
  const ModelVersionMetrics& m = it->second->metrics;
  requests_->Remove(m.requests_success);
  requests_->Remove(m.requests_failure);
  items_->Remove(m.items);
  executions_->Remove(m.executions);
  request_duration_->Remove(m.request_duration);
  queue_duration_->Remove(m.queue_duration);
  compute_duration_->Remove(m.compute_input);
  compute_duration_->Remove(m.compute_infer);
  compute_duration_->Remove(m.compute_output);
  batch_size_->Remove(m.batch_size);
  pending_requests_->Remove(m.pending_requests);
  model_ready_->Remove(m.ready);
  model_load_duration_->Remove(m.load_duration_seconds);
  if (const ModelVersionMetrics::Triton* t = m.triton) {
    triton_.request_success->Remove(t->request_success);
    for (Counter* failure :
         {t->failure_rejected, t->failure_canceled, t->failure_backend, t->failure_other}) {
      triton_.request_failure->Remove(failure);
    }
    triton_.inference_count->Remove(t->inference_count);
    triton_.exec_count->Remove(t->exec_count);
    triton_.request_duration_us->Remove(t->request_duration_us);
    triton_.queue_duration_us->Remove(t->queue_duration_us);
    triton_.compute_input_duration_us->Remove(t->compute_input_duration_us);
    triton_.compute_infer_duration_us->Remove(t->compute_infer_duration_us);
    triton_.compute_output_duration_us->Remove(t->compute_output_duration_us);
    triton_.pending_request_count->Remove(t->pending_request_count);
  }
  versions_.erase(it);
}

void InferenceMetrics::SetBuildInfo(const std::string& version, const std::string& torch_version,
                                    const std::string& grpc_version) {
  build_info_
      ->Add(
          {{"version", version}, {"torch_version", torch_version}, {"grpc_version", grpc_version}})
      .Set(1);
}

}  // namespace gridserve::metrics
