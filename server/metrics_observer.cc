#include "server/metrics_observer.h"

namespace gridserve::server {

namespace {

metrics::FailureReason ReasonOf(const scheduler::RequestRecord& record) {
  if (record.code == absl::StatusCode::kCancelled) return metrics::FailureReason::kCanceled;
  if (record.path == scheduler::RequestPath::kExecuted) return metrics::FailureReason::kBackend;
  // The scheduler refuses a request that does not fit max_batch_size as bad input, not load.
  if (record.code == absl::StatusCode::kInvalidArgument) return metrics::FailureReason::kOther;
  return metrics::FailureReason::kRejected;
}

// Whole microseconds, as Triton counts them.
double Micros(int64_t ns) { return ns > 0 ? static_cast<double>(ns / 1000) : 0; }

}  // namespace

void MetricsObserver::OnRequestArrived(const core::InferenceRequest&) {
  m_.pending_requests->Increment();
  if (m_.triton != nullptr) m_.triton->pending_request_count->Increment();
}

void MetricsObserver::OnBatchStarted(const scheduler::BatchRecord& batch) {
  m_.pending_requests->Decrement(static_cast<double>(batch.requests));
  if (m_.triton != nullptr) {
    m_.triton->pending_request_count->Decrement(static_cast<double>(batch.requests));
  }
}

void MetricsObserver::OnBatchFinished(const scheduler::BatchRecord& batch) {
  m_.executions->Increment();
  if (m_.triton != nullptr) m_.triton->exec_count->Increment();
  m_.batch_size->Observe(static_cast<double>(batch.items));
  bool split = batch.compute_input_ns || batch.compute_infer_ns || batch.compute_output_ns;
  m_.compute_input->Observe(batch.compute_input_ns * 1e-9);
  m_.compute_infer->Observe((split ? batch.compute_infer_ns : batch.end_ns - batch.start_ns) *
                            1e-9);
  m_.compute_output->Observe(batch.compute_output_ns * 1e-9);
}

void MetricsObserver::OnRequestFinished(const scheduler::RequestRecord& record) {
  if (record.path != scheduler::RequestPath::kExecuted) m_.pending_requests->Decrement();
  if (record.path != scheduler::RequestPath::kRefused) {
    m_.queue_duration->Observe(record.timings.queue_ns * 1e-9);
  }
  if (record.code == absl::StatusCode::kOk) {
    m_.requests_success->Increment();
    m_.items->Increment(static_cast<double>(record.items));
  } else {
    m_.requests_failure->Increment();
  }
  m_.request_duration->Observe((record.finish_ns - record.arrive_ns) * 1e-9);
  if (m_.triton != nullptr) RecordTriton(record);
}

void MetricsObserver::RecordTriton(const scheduler::RequestRecord& record) {
  const metrics::ModelVersionMetrics::Triton& t = *m_.triton;
  if (record.path != scheduler::RequestPath::kExecuted) t.pending_request_count->Decrement();
  if (record.code != absl::StatusCode::kOk) {
    metrics::FailureCounter(t, ReasonOf(record))->Increment();
    return;
  }
  t.request_success->Increment();
  t.inference_count->Increment(static_cast<double>(record.items));
  t.request_duration_us->Increment(Micros(record.finish_ns - record.arrive_ns));
  t.queue_duration_us->Increment(Micros(record.timings.queue_ns));
  t.compute_input_duration_us->Increment(Micros(record.timings.compute_input_ns));
  t.compute_infer_duration_us->Increment(Micros(record.timings.compute_infer_ns));
  t.compute_output_duration_us->Increment(Micros(record.timings.compute_output_ns));
}

}  // namespace gridserve::server
