#include "runtime/scheduler/direct_scheduler.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gridserve::scheduler {

absl::StatusOr<std::unique_ptr<DirectScheduler>> DirectScheduler::Create(
    Options options, std::vector<BatchExecutor> instances) {
  if (instances.empty()) return absl::InvalidArgumentError("a scheduler needs at least one instance");
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock must not be null");
  return std::unique_ptr<DirectScheduler>(new DirectScheduler(options, std::move(instances)));
}

DirectScheduler::DirectScheduler(Options options, std::vector<BatchExecutor> instances)
    : options_(options), executors_(std::move(instances)) {
  for (size_t i = 0; i < executors_.size(); ++i) {
    threads_.emplace_back([this, i] { InstanceLoop(i); });
  }
}

DirectScheduler::~DirectScheduler() { Shutdown(); }

absl::Status DirectScheduler::Enqueue(std::unique_ptr<core::InferenceRequest> request) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("model is shutting down");
  if (options_.max_queue_size > 0 && queue_.size() >= options_.max_queue_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("queue of model '", request->model_name, "' is full (", queue_.size(),
                     " requests)"));
  }
  request->enqueue_ns = options_.clock->NowNanos();
  queue_.push_back(std::move(request));
  return absl::OkStatus();
}

size_t DirectScheduler::InFlight() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + executing_;
}

void DirectScheduler::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void DirectScheduler::InstanceLoop(size_t index) {
  for (;;) {
    std::unique_ptr<core::InferenceRequest> request;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DirectScheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return !s->queue_.empty() || s->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      request = std::move(queue_.front());
      queue_.pop_front();
      ++executing_;
    }
    int64_t now = options_.clock->NowNanos();
    if (request->deadline_ns > 0 && now >= request->deadline_ns) {
      FailRequest(*request, absl::DeadlineExceededError(absl::StrCat(
                                "request timed out in the queue of model '", request->model_name, "'")));
    } else {
      core::InferenceRequest* batch[] = {request.get()};
      CompleteBatch(batch, executors_[index](batch), now);
    }
    absl::MutexLock lock(&mu_);
    --executing_;
  }
}

}  // namespace gridserve::scheduler
