#pragma once

// Scripted model instances and request helpers for scheduler tests: no LibTorch, no sleeps. Every
// wait is on a condition, with a generous timeout only as a safety net against a hung test.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/core/inference_request.h"
#include "runtime/scheduler/scheduler.h"
#include "tests/testing/fake_clock.h"

namespace gridserve::testing {

// How long a test waits for something that should happen at once before it fails.
inline constexpr absl::Duration kTestTimeout = absl::Seconds(30);

// A model whose instances record the batches they get, can be held mid-execution, can simulate
// compute time on a FakeClock, and answer each request by echoing its inputs (or with a scripted
// error). Thread-safe; each Instance() callback may run on its own thread.
class FakeExecutor {
 public:
  struct Batch {
    size_t instance = 0;
    std::vector<std::string> ids;  // request ids in batch order
    int64_t items = 0;
  };

  // The executor of instance `index`.
  scheduler::BatchExecutor Instance(size_t index) {
    return [this, index](absl::Span<core::InferenceRequest* const> batch) {
      return Run(index, batch);
    };
  }
  std::vector<scheduler::BatchExecutor> Instances(size_t count) {
    std::vector<scheduler::BatchExecutor> executors;
    for (size_t i = 0; i < count; ++i) executors.push_back(Instance(i));
    return executors;
  }

  // A batch holding request `id` blocks inside the executor until Release(id).
  void Hold(const std::string& id) {
    absl::MutexLock lock(&mu_);
    held_.insert(id);
  }
  void Release(const std::string& id) {
    absl::MutexLock lock(&mu_);
    held_.erase(id);
  }
  // Request `id` gets `status` instead of a response.
  void Fail(const std::string& id, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_[id] = std::move(status);
  }
  // Each execution advances `clock` by `compute` (nullptr: no simulated time).
  void SimulateCompute(FakeClock* clock, absl::Duration compute) {
    absl::MutexLock lock(&mu_);
    clock_ = clock;
    compute_ = compute;
  }
  // Responses report this phase split (all zero by default: the scheduler then counts the whole
  // execution as compute_infer).
  void ReportTimings(int64_t input_ns, int64_t infer_ns, int64_t output_ns) {
    absl::MutexLock lock(&mu_);
    timings_.compute_input_ns = input_ns;
    timings_.compute_infer_ns = infer_ns;
    timings_.compute_output_ns = output_ns;
  }

  // Waits until `count` batches have started / finished executing.
  bool AwaitStarted(size_t count, absl::Duration timeout = kTestTimeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, count]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return batches_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  bool AwaitFinished(size_t count, absl::Duration timeout = kTestTimeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return finished_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  // Waits until a batch holding request `id` has started.
  bool AwaitStartedId(const std::string& id, absl::Duration timeout = kTestTimeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, &id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (const Batch& batch : batches_) {
        if (std::find(batch.ids.begin(), batch.ids.end(), id) != batch.ids.end()) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  // Waits until `count` batches are executing at the same time.
  bool AwaitExecuting(size_t count, absl::Duration timeout = kTestTimeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return executing_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  // Batches in the order they started.
  std::vector<Batch> batches() const {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  // The ids of every batch, e.g. {{"a", "b"}, {"c"}}.
  std::vector<std::vector<std::string>> batch_ids() const {
    std::vector<std::vector<std::string>> ids;
    for (const Batch& batch : batches()) ids.push_back(batch.ids);
    return ids;
  }
  size_t max_executing() const {
    absl::MutexLock lock(&mu_);
    return max_executing_;
  }

 private:
  std::vector<absl::StatusOr<core::InferenceResponse>> Run(
      size_t index, absl::Span<core::InferenceRequest* const> batch) {
    Batch record;
    record.instance = index;
    for (const core::InferenceRequest* request : batch) {
      record.ids.push_back(request->id);
      record.items += request->batch_size;
    }
    absl::MutexLock lock(&mu_);
    batches_.push_back(record);
    ++executing_;
    max_executing_ = std::max(max_executing_, executing_);
    auto released = [this, &record]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (const std::string& id : record.ids) {
        if (held_.count(id)) return false;
      }
      return true;
    };
    mu_.Await(absl::Condition(&released));
    if (clock_ != nullptr) clock_->Advance(compute_);

    std::vector<absl::StatusOr<core::InferenceResponse>> results;
    for (const core::InferenceRequest* request : batch) {
      auto failure = failures_.find(request->id);
      if (failure != failures_.end()) {
        results.emplace_back(failure->second);
        continue;
      }
      core::InferenceResponse response;
      response.model_name = request->model_name;
      response.model_version = request->model_version;
      response.id = request->id;
      response.outputs = request->inputs;  // echo
      response.timings = timings_;
      results.emplace_back(std::move(response));
    }
    --executing_;
    ++finished_;
    return results;
  }

  mutable absl::Mutex mu_;
  std::set<std::string> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  FakeClock* clock_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration compute_ ABSL_GUARDED_BY(mu_);
  core::RequestTimings timings_ ABSL_GUARDED_BY(mu_);
  std::vector<Batch> batches_ ABSL_GUARDED_BY(mu_);
  size_t executing_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_executing_ ABSL_GUARDED_BY(mu_) = 0;
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
};

// Collects the results of requests in the order their on_complete ran. Thread-safe.
class ResultCollector {
 public:
  core::ResponseCallback Callback(const std::string& id) {
    return [this, id](absl::StatusOr<core::InferenceResponse> result) {
      absl::MutexLock lock(&mu_);
      order_.push_back(id);
      results_.emplace(id, std::move(result));
    };
  }

  bool AwaitCount(size_t count, absl::Duration timeout = kTestTimeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return order_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  size_t count() const {
    absl::MutexLock lock(&mu_);
    return order_.size();
  }
  // Request ids in completion order.
  std::vector<std::string> order() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }
  // The code of request `id`'s result; UNKNOWN when it has not completed.
  absl::StatusCode code(const std::string& id) const {
    absl::MutexLock lock(&mu_);
    auto it = results_.find(id);
    return it == results_.end() ? absl::StatusCode::kUnknown : it->second.status().code();
  }
  std::optional<core::InferenceResponse> response(const std::string& id) const {
    absl::MutexLock lock(&mu_);
    auto it = results_.find(id);
    if (it == results_.end() || !it->second.ok()) return std::nullopt;
    return *it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::StatusOr<core::InferenceResponse>> results_ ABSL_GUARDED_BY(mu_);
};

// A request `id` of `batch_size` items: one FP32 input `input` of shape [batch_size, item_dims...]
// (zeros), reporting to `results`.
inline std::unique_ptr<core::InferenceRequest> MakeRequest(const std::string& id,
                                                           int64_t batch_size,
                                                           ResultCollector* results,
                                                           core::Shape item_dims = {4},
                                                           const std::string& input = "x") {
  auto request = std::make_unique<core::InferenceRequest>();
  request->model_name = "fake";
  request->model_version = 1;
  request->id = id;
  request->batch_size = batch_size;
  core::Shape shape = {batch_size};
  shape.insert(shape.end(), item_dims.begin(), item_dims.end());
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  request->inputs.push_back(
      {input, core::Tensor::Owned(core::DataType::kFp32, shape,
                                  std::string(static_cast<size_t>(elements) * 4, '\0'))});
  if (results != nullptr) request->on_complete = results->Callback(id);
  return request;
}

}  // namespace gridserve::testing
