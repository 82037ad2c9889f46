#include "server/metrics_observer.h"

namespace gridserve::server {

void MetricsObserver::OnRequestArrived(const core::InferenceRequest&) {
  m_.pending_requests->Increment();
}

void MetricsObserver::OnBatchStarted(const scheduler::BatchRecord& batch) {
  m_.pending_requests->Decrement(static_cast<double>(batch.requests));
}

void MetricsObserver::OnBatchFinished(const scheduler::BatchRecord& batch) {
  m_.executions->Increment();
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
    m_.items->IncrementBy(static_cast<uint64_t>(record.items));
  } else {
    m_.requests_failure->Increment();
  }
  m_.request_duration->Observe((record.finish_ns - record.arrive_ns) * 1e-9);
}

}  // namespace gridserve::server
