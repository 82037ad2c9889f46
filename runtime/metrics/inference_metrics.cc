#include "runtime/metrics/inference_metrics.h"

#include "runtime/core/status_macros.h"

namespace gridserve::metrics {

absl::StatusOr<std::unique_ptr<InferenceMetrics>> InferenceMetrics::Create(Registry* registry,
                                                                           Options options) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  std::unique_ptr<InferenceMetrics> m(new InferenceMetrics());
  const std::vector<std::string> mv = {"model", "version"};
  ASSIGN_OR_RETURN(m->requests_, registry->AddCounter("gridserve_inference_requests_total",
                                                      "Inference requests completed, by outcome.",
                                                      {"model", "version", "outcome"}));
  ASSIGN_OR_RETURN(m->items_,
                   registry->AddCounter("gridserve_inference_items_total",
                                        "Inference items (a request of batch n counts n).", mv));
  ASSIGN_OR_RETURN(m->executions_,
                   registry->AddCounter("gridserve_inference_executions_total",
                                        "Batches executed by model instances.", mv));
  ASSIGN_OR_RETURN(m->request_duration_,
                   registry->AddHistogram("gridserve_inference_request_duration_seconds",
                                          "Time from receiving a request to completing it.", mv,
                                          options.latency_buckets_s));
  ASSIGN_OR_RETURN(m->queue_duration_,
                   registry->AddHistogram("gridserve_inference_queue_duration_seconds",
                                          "Time a request waited in the scheduler queue.", mv,
                                          options.latency_buckets_s));
  ASSIGN_OR_RETURN(
      m->compute_duration_,
      registry->AddHistogram("gridserve_inference_compute_duration_seconds",
                             "Time per batch in each compute phase.", {"model", "version", "phase"},
                             options.latency_buckets_s));
  ASSIGN_OR_RETURN(m->batch_size_, registry->AddHistogram("gridserve_inference_batch_size",
                                                          "Items per executed batch.", mv,
                                                          options.batch_size_buckets));
  ASSIGN_OR_RETURN(m->pending_requests_,
                   registry->AddGauge("gridserve_inference_pending_requests",
                                      "Requests queued and not yet taken into a batch.", mv));
  ASSIGN_OR_RETURN(m->model_ready_,
                   registry->AddGauge("gridserve_model_ready",
                                      "1 if the model version is ready to serve, else 0.", mv));
  ASSIGN_OR_RETURN(m->model_load_duration_,
                   registry->AddGauge("gridserve_model_load_duration_seconds",
                                      "Time the last load of the model version took.", mv));
  ASSIGN_OR_RETURN(m->build_info_,
                   registry->AddGauge("gridserve_build_info", "gridserve build; always 1.",
                                      {"version", "torch_version", "grpc_version"}));
  if (options.triton_names) {
    TritonFamilies& t = m->triton_;
    auto counter = [&](const char* name, const char* help, Family<Counter>** out) {
      absl::StatusOr<Family<Counter>*> family = registry->AddCounter(name, help, mv);
      if (family.ok()) *out = *family;
      return family.status();
    };
    RETURN_IF_ERROR(counter("nv_inference_request_success",
                            "Number of successful inference requests, all batch sizes",
                            &t.request_success));
    ASSIGN_OR_RETURN(t.request_failure,
                     registry->AddCounter("nv_inference_request_failure",
                                          "Number of failed inference requests, all batch sizes",
                                          {"model", "version", "reason"}));
    RETURN_IF_ERROR(counter("nv_inference_count",
                            "Number of inferences performed (does not include cached requests)",
                            &t.inference_count));
    RETURN_IF_ERROR(counter("nv_inference_exec_count",
                            "Number of model executions performed (does not include cached "
                            "requests)",
                            &t.exec_count));
    RETURN_IF_ERROR(counter("nv_inference_request_duration_us",
                            "Cumulative inference request duration in microseconds",
                            &t.request_duration_us));
    RETURN_IF_ERROR(counter("nv_inference_queue_duration_us",
                            "Cumulative inference queuing duration in microseconds",
                            &t.queue_duration_us));
    RETURN_IF_ERROR(counter("nv_inference_compute_input_duration_us",
                            "Cumulative compute input duration in microseconds",
                            &t.compute_input_duration_us));
    RETURN_IF_ERROR(counter("nv_inference_compute_infer_duration_us",
                            "Cumulative compute inference duration in microseconds",
                            &t.compute_infer_duration_us));
    RETURN_IF_ERROR(counter("nv_inference_compute_output_duration_us",
                            "Cumulative inference compute output duration in microseconds",
                            &t.compute_output_duration_us));
    ASSIGN_OR_RETURN(t.pending_request_count,
                     registry->AddGauge("nv_inference_pending_request_count",
                                        "Instantaneous number of pending requests awaiting "
                                        "execution per-model.",
                                        mv));
  }
  return m;
}

Counter* FailureCounter(const ModelVersionMetrics::Triton& triton, FailureReason reason) {
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
  const Labels mv = {{"model", model}, {"version", version}};
  auto with = [&mv](const char* name, const char* value) {
    Labels labels = mv;
    labels.emplace(name, value);
    return labels;
  };
  ModelVersionMetrics m;
  m.requests_success = &requests_->Add(with("outcome", "success"));
  m.requests_failure = &requests_->Add(with("outcome", "failure"));
  m.items = &items_->Add(mv);
  m.executions = &executions_->Add(mv);
  m.request_duration = &request_duration_->Add(mv);
  m.queue_duration = &queue_duration_->Add(mv);
  m.compute_input = &compute_duration_->Add(with("phase", "input"));
  m.compute_infer = &compute_duration_->Add(with("phase", "infer"));
  m.compute_output = &compute_duration_->Add(with("phase", "output"));
  m.batch_size = &batch_size_->Add(mv);
  m.pending_requests = &pending_requests_->Add(mv);
  m.ready = &model_ready_->Add(mv);
  m.load_duration_seconds = &model_load_duration_->Add(mv);
  if (triton_.request_success != nullptr) {
    absl::MutexLock lock(&triton_mu_);
    std::unique_ptr<ModelVersionMetrics::Triton>& t = triton_handles_[model + "\n" + version];
    if (t == nullptr) {
      t = std::make_unique<ModelVersionMetrics::Triton>();
      t->request_success = &triton_.request_success->Add(mv);
      t->failure_rejected = &triton_.request_failure->Add(with("reason", "REJECTED"));
      t->failure_canceled = &triton_.request_failure->Add(with("reason", "CANCELED"));
      t->failure_backend = &triton_.request_failure->Add(with("reason", "BACKEND"));
      t->failure_other = &triton_.request_failure->Add(with("reason", "OTHER"));
      t->inference_count = &triton_.inference_count->Add(mv);
      t->exec_count = &triton_.exec_count->Add(mv);
      t->request_duration_us = &triton_.request_duration_us->Add(mv);
      t->queue_duration_us = &triton_.queue_duration_us->Add(mv);
      t->compute_input_duration_us = &triton_.compute_input_duration_us->Add(mv);
      t->compute_infer_duration_us = &triton_.compute_infer_duration_us->Add(mv);
      t->compute_output_duration_us = &triton_.compute_output_duration_us->Add(mv);
      t->pending_request_count = &triton_.pending_request_count->Add(mv);
    }
    m.triton = t.get();
  }
  return m;
}

void InferenceMetrics::RemoveModelVersion(const std::string& model, const std::string& version) {
  const Labels mv = {{"model", model}, {"version", version}};
  for (const char* outcome : {"success", "failure"}) {
    Labels labels = mv;
    labels.emplace("outcome", outcome);
    requests_->Remove(labels);
  }
  for (const char* phase : {"input", "infer", "output"}) {
    Labels labels = mv;
    labels.emplace("phase", phase);
    compute_duration_->Remove(labels);
  }
  items_->Remove(mv);
  executions_->Remove(mv);
  request_duration_->Remove(mv);
  queue_duration_->Remove(mv);
  batch_size_->Remove(mv);
  pending_requests_->Remove(mv);
  model_ready_->Remove(mv);
  model_load_duration_->Remove(mv);
  if (triton_.request_success != nullptr) {
    for (const char* reason : {"REJECTED", "CANCELED", "BACKEND", "OTHER"}) {
      Labels labels = mv;
      labels.emplace("reason", reason);
      triton_.request_failure->Remove(labels);
    }
    for (Family<Counter>* family :
         {triton_.request_success, triton_.inference_count, triton_.exec_count,
          triton_.request_duration_us, triton_.queue_duration_us, triton_.compute_input_duration_us,
          triton_.compute_infer_duration_us, triton_.compute_output_duration_us}) {
      family->Remove(mv);
    }
    triton_.pending_request_count->Remove(mv);
    absl::MutexLock lock(&triton_mu_);
    triton_handles_.erase(model + "\n" + version);
  }
}

void InferenceMetrics::SetBuildInfo(const std::string& version, const std::string& torch_version,
                                    const std::string& grpc_version) {
  build_info_
      ->Add(
          {{"version", version}, {"torch_version", torch_version}, {"grpc_version", grpc_version}})
      .Set(1);
}

}  // namespace gridserve::metrics
