#include "runtime/scheduler/scheduler.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gridserve::scheduler {

void RecordArrival(core::InferenceRequest& request, const core::Clock& clock,
                   const ObserverList& observers) {
  request.enqueue_ns = clock.NowNanos();
  for (const auto& observer : observers) observer->OnRequestArrived(request);
}

std::vector<absl::StatusOr<core::InferenceResponse>> ExecuteBatch(
    const BatchExecutor& executor, absl::Span<core::InferenceRequest* const> batch, size_t instance,
    int64_t picked_ns, const core::Clock& clock, const core::CpuMeter& cpu_meter,
    const ObserverList& observers) {
  BatchRecord record;
  record.instance = instance;
  record.requests = batch.size();
  for (const core::InferenceRequest* request : batch) record.items += request->batch_size;
  record.start_ns = clock.NowNanos();
  for (const auto& observer : observers) observer->OnBatchStarted(record);

  const int64_t thread_cpu_start = cpu_meter.ThreadNanos();
  std::vector<absl::StatusOr<core::InferenceResponse>> results = executor(batch);
  // Helper CPU since the last batch (of any model) ended counts here: the pools' idle spinning
  // after a batch is that batch's cost, and each helper nanosecond is counted once.
  record.cpu_ns = cpu_meter.ThreadNanos() - thread_cpu_start + cpu_meter.TakeHelperNanos();
  record.end_ns = clock.NowNanos();
  results.resize(batch.size(), absl::InternalError("executor returned too few results"));

  // Every response of a batch carries the same split; take it from the first OK one.
  for (const auto& result : results) {
    if (!result.ok()) continue;
    if (record.succeeded++ > 0) continue;
    record.compute_input_ns = result->timings.compute_input_ns;
    record.compute_infer_ns = result->timings.compute_infer_ns;
    record.compute_output_ns = result->timings.compute_output_ns;
  }
  bool reported_split =
      record.compute_input_ns + record.compute_infer_ns + record.compute_output_ns > 0;
  if (!reported_split) record.compute_infer_ns = record.end_ns - record.start_ns;
  for (const auto& observer : observers) observer->OnBatchFinished(record);

  for (size_t i = 0; i < batch.size(); ++i) {
    const core::InferenceRequest& request = *batch[i];
    core::RequestTimings timings;
    timings.queue_ns = picked_ns - request.enqueue_ns;
    timings.compute_input_ns = record.compute_input_ns;
    timings.compute_infer_ns = record.compute_infer_ns;
    timings.compute_output_ns = record.compute_output_ns;
    timings.executed_batch_size = record.items;
    if (results[i].ok()) results[i]->timings = timings;

    RequestRecord done;
    done.request = &request;
    done.code = results[i].status().code();
    done.path = RequestPath::kExecuted;
    done.items = request.batch_size;
    done.arrive_ns = request.enqueue_ns;
    done.finish_ns = record.end_ns;
    done.timings = timings;
    for (const auto& observer : observers) observer->OnRequestFinished(done);
  }
  return results;
}

absl::Status TimedOutInQueue(const core::InferenceRequest& request) {
  return absl::DeadlineExceededError(
      absl::StrCat("request timed out in the queue of model '", request.model_name, "'"));
}

absl::Status RunnableWhenTaken(const core::InferenceRequest& request, int64_t now) {
  if (request.deadline_ns > 0 && now >= request.deadline_ns) return TimedOutInQueue(request);
  if (request.is_cancelled && request.is_cancelled()) {
    return absl::CancelledError(absl::StrCat("request to model '", request.model_name,
                                             "' was cancelled by the client while queued"));
  }
  return absl::OkStatus();
}

void RecordUnexecuted(const core::InferenceRequest& request, const absl::Status& status,
                      RequestPath path, const core::Clock& clock, const ObserverList& observers) {
  if (observers.empty()) return;
  RequestRecord done;
  done.request = &request;
  done.code = status.code();
  done.path = path;
  done.items = request.batch_size;
  done.arrive_ns = request.enqueue_ns;
  done.finish_ns = clock.NowNanos();
  if (path == RequestPath::kExpiredInQueue) done.timings.queue_ns = done.finish_ns - done.arrive_ns;
  for (const auto& observer : observers) observer->OnRequestFinished(done);
}

void Deliver(core::InferenceRequest& request, absl::StatusOr<core::InferenceResponse> result) {
  if (!request.on_complete) return;
  core::ResponseCallback done = std::move(request.on_complete);
  request.on_complete = nullptr;
  done(std::move(result));
}

}  // namespace gridserve::scheduler
