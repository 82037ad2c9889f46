#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {

// Handles to one model version's metrics: prometheus-cpp metrics owned by the registry. Plain
// pointers: copy freely, use from any thread, valid until InferenceMetrics::RemoveModelVersion
// for this version.
struct ModelVersionMetrics {
  // gridserve_inference_requests_total{outcome="success"} and {outcome="failure"}.
  prometheus::Counter* requests_success = nullptr;
  prometheus::Counter* requests_failure = nullptr;
  prometheus::Counter* items = nullptr;               // + batch size of each request
  prometheus::Counter* executions = nullptr;          // + 1 per executed batch
  prometheus::Histogram* request_duration = nullptr;  // seconds, receipt to response, every request
  prometheus::Histogram* queue_duration = nullptr;    // seconds, enqueue to batch start
  prometheus::Histogram* compute_input = nullptr;     // seconds, phase="input" (gather inputs)
  prometheus::Histogram* compute_infer = nullptr;     // seconds, phase="infer" (forward)
  prometheus::Histogram* compute_output = nullptr;    // seconds, phase="output" (split outputs)
  prometheus::Histogram* batch_size = nullptr;        // items per executed batch
  prometheus::Gauge* pending_requests = nullptr;      // +1 on enqueue, -1 when a batch takes it
  prometheus::Gauge* ready = nullptr;                 // gridserve_model_ready: 1 serving, else 0
  prometheus::Gauge* load_duration_seconds = nullptr;  // gridserve_model_load_duration_seconds

  // Triton's nv_inference_* families, or nullptr unless Options::triton_names. Durations are
  // whole microseconds, counted for successful requests only (as Triton does); the compute
  // durations add the phase time of the request's batch once per request.
  struct Triton {
    prometheus::Counter* request_success = nullptr;  // nv_inference_request_success
    // nv_inference_request_failure{reason="REJECTED"}, "CANCELED", "BACKEND", "OTHER".
    prometheus::Counter* failure_rejected = nullptr;
    prometheus::Counter* failure_canceled = nullptr;
    prometheus::Counter* failure_backend = nullptr;
    prometheus::Counter* failure_other = nullptr;
    prometheus::Counter* inference_count = nullptr;  // nv_inference_count (items)
    prometheus::Counter* exec_count = nullptr;       // nv_inference_exec_count (batches)
    // nv_inference_{request,queue,compute_input,compute_infer,compute_output}_duration_us.
    prometheus::Counter* request_duration_us = nullptr;
    prometheus::Counter* queue_duration_us = nullptr;
    prometheus::Counter* compute_input_duration_us = nullptr;
    prometheus::Counter* compute_infer_duration_us = nullptr;
    prometheus::Counter* compute_output_duration_us = nullptr;
    prometheus::Gauge* pending_request_count = nullptr;  // nv_inference_pending_request_count
  };
  const Triton* triton = nullptr;  // owned by InferenceMetrics; nullptr when not exported
};

// Why a request failed, in the terms of Triton's nv_inference_request_failure{reason}.
enum class FailureReason {
  kRejected,  // refused or expired by the scheduler: queue full, timeout, deadline
  kCanceled,  // the client cancelled
  kBackend,   // the model ran and failed
  kOther,     // anything else (bad input caught by the front end, ...)
};

// The failure counter of `reason` in `triton` (never null when `triton` is not).
prometheus::Counter* FailureCounter(const ModelVersionMetrics::Triton& triton,
                                    FailureReason reason);

// The gridserve_* metric families of issue 4 (labels model and version), registered once per
// process, so names, help and buckets live in one place. Thread-safe. The registry must outlive it.
//
//   auto metrics = InferenceMetrics::Create(&registry);         // in main
//   ModelVersionMetrics m = (*metrics)->ForModelVersion("mnist", "1");  // at load
//   m.queue_duration->Observe(queue_ns * 1e-9);                 // on the hot path
//   (*metrics)->RemoveModelVersion("mnist", "1");               // after unload, no users left
class InferenceMetrics {
 public:
  struct Options {
    // Buckets (seconds) of the request, queue and compute histograms. Tune when p99 falls
    // between two wide buckets; every bucket is one series per model version per histogram.
    std::vector<double> latency_buckets_s = DefaultLatencyBuckets();
    // Buckets of gridserve_inference_batch_size; should cover max_batch_size.
    std::vector<double> batch_size_buckets = ExponentialBuckets(1, 2, 10);  // 1 .. 512
    // Also export Triton's nv_inference_* per-model families (--metrics-triton-names), so
    // dashboards and autoscaling rules written for Triton keep working. Their names predate
    // Prometheus' naming rules (counters without _total, microseconds), which promtool reports.
    bool triton_names = false;
  };

  // Registers the families. ALREADY_EXISTS if called twice on a registry made with
  // InsertBehavior::Throw; INVALID_ARGUMENT for a null registry or bucket bounds that are not
  // finite and strictly increasing.
  static absl::StatusOr<std::unique_ptr<InferenceMetrics>> Create(prometheus::Registry* registry,
                                                                  Options options);
  static absl::StatusOr<std::unique_ptr<InferenceMetrics>> Create(prometheus::Registry* registry) {
    return Create(registry, Options());
  }

  // Creates (or returns the existing) metrics of one model version. Takes locks: call at load
  // time, not per request.
  ModelVersionMetrics ForModelVersion(const std::string& model, const std::string& version);
  // Stops exporting the version's series. The caller guarantees no one still uses its handles.
  void RemoveModelVersion(const std::string& model, const std::string& version);

  // gridserve_build_info{version, torch_version, grpc_version} 1.
  void SetBuildInfo(const std::string& version, const std::string& torch_version,
                    const std::string& grpc_version);

 private:
  template <typename T>
  using Family = prometheus::Family<T>;

  // What ForModelVersion handed out for one version, so RemoveModelVersion can remove exactly
  // those metrics (prometheus-cpp removes by pointer). Stable address: `triton` points into it.
  struct Handles {
    ModelVersionMetrics metrics;
    ModelVersionMetrics::Triton triton;
  };

  explicit InferenceMetrics(Options options) : options_(std::move(options)) {}

  // Constant after Create; families are owned by the registry.
  const Options options_;
  Family<prometheus::Counter>* requests_ = nullptr;
  Family<prometheus::Counter>* items_ = nullptr;
  Family<prometheus::Counter>* executions_ = nullptr;
  Family<prometheus::Histogram>* request_duration_ = nullptr;
  Family<prometheus::Histogram>* queue_duration_ = nullptr;
  Family<prometheus::Histogram>* compute_duration_ = nullptr;
  Family<prometheus::Histogram>* batch_size_ = nullptr;
  Family<prometheus::Gauge>* pending_requests_ = nullptr;
  Family<prometheus::Gauge>* model_ready_ = nullptr;
  Family<prometheus::Gauge>* model_load_duration_ = nullptr;
  Family<prometheus::Gauge>* build_info_ = nullptr;

  // Triton's families; all nullptr unless Options::triton_names.
  struct TritonFamilies {
    Family<prometheus::Counter>* request_success = nullptr;
    Family<prometheus::Counter>* request_failure = nullptr;
    Family<prometheus::Counter>* inference_count = nullptr;
    Family<prometheus::Counter>* exec_count = nullptr;
    Family<prometheus::Counter>* request_duration_us = nullptr;
    Family<prometheus::Counter>* queue_duration_us = nullptr;
    Family<prometheus::Counter>* compute_input_duration_us = nullptr;
    Family<prometheus::Counter>* compute_infer_duration_us = nullptr;
    Family<prometheus::Counter>* compute_output_duration_us = nullptr;
    Family<prometheus::Gauge>* pending_request_count = nullptr;
  };
  TritonFamilies triton_;

  absl::Mutex mu_;
  // One entry per model version ({model, version}), kept until RemoveModelVersion.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Handles>> versions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::metrics
