#include "runtime/scheduler/direct_scheduler.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace gridserve::scheduler {

absl::StatusOr<std::unique_ptr<DirectScheduler>> DirectScheduler::Create(
    Options options, std::vector<BatchExecutor> instances) {
  if (instances.empty())
    return absl::InvalidArgumentError("a scheduler needs at least one instance");
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock must not be null");
  if (options.cpu_meter == nullptr) {
    return absl::InvalidArgumentError("cpu_meter must not be null");
  }
  for (const auto& observer : options.observers) {
    if (observer == nullptr) return absl::InvalidArgumentError("observers must not be null");
  }
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
  RecordArrival(*request, *options_.clock, options_.observers);
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError(
          absl::StrCat("model '", request->model_name, "' is shutting down"));
    } else if (options_.max_queue_size > 0 && queue_.size() >= options_.max_queue_size) {
      refused = absl::ResourceExhaustedError(absl::StrCat(
          "queue of model '", request->model_name, "' is full (", queue_.size(), " requests)"));
    } else {
      queue_.push_back(std::move(request));
      return absl::OkStatus();
    }
  }
  RecordUnexecuted(*request, refused, RequestPath::kRefused, *options_.clock, options_.observers);
  return refused;
}

size_t DirectScheduler::InFlight() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + executing_;
}

void DirectScheduler::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);  // a second caller waits for the first to finish
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void DirectScheduler::InstanceLoop(size_t index) {
  options_.cpu_meter->RegisterExecutionThread();
  // Visible in top -H and /proc/<pid>/task/*/comm; also how tests find instance threads.
  pthread_setname_np(pthread_self(), "gs-instance");
  for (;;) {
    std::unique_ptr<core::InferenceRequest> request;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DirectScheduler* s)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return !s->queue_.empty() || s->stopping_; },
          this));
      if (queue_.empty()) return;  // stopping and drained
      request = std::move(queue_.front());
      queue_.pop_front();
      ++executing_;
    }
    int64_t now = options_.clock->NowNanos();
    if (absl::Status unrunnable = RunnableWhenTaken(*request, now); !unrunnable.ok()) {
      RecordUnexecuted(*request, unrunnable, RequestPath::kExpiredInQueue, *options_.clock,
                       options_.observers);
      Deliver(*request, std::move(unrunnable));
    } else {
      core::InferenceRequest* batch[] = {request.get()};
      auto results = ExecuteBatch(executors_[index], batch, index, now, *options_.clock,
                                  *options_.cpu_meter, options_.observers);
      Deliver(*request, std::move(results[0]));
    }
    request.reset();  // before InFlight() stops counting it
    absl::MutexLock lock(&mu_);
    --executing_;
  }
}

}  // namespace gridserve::scheduler
