#include "runtime/scheduler/dynamic_batch_scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/core/status_macros.h"

namespace gridserve::scheduler {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
// Levels are a vector of queues; Triton configs use a handful.
constexpr uint32_t kMaxPriorityLevels = 1024;

// base_ns + us microseconds, saturating at kForever (timeouts come from untrusted requests).
int64_t AddMicros(int64_t base_ns, uint64_t us) {
  constexpr uint64_t kMaxUs = static_cast<uint64_t>(kForever / 1000);
  if (us >= kMaxUs) return kForever;
  int64_t add = static_cast<int64_t>(us) * 1000;
  return base_ns > kForever - add ? kForever : base_ns + add;
}

// The earliest of two times where 0 means none.
int64_t EarliestOf(int64_t a, int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// Requests with equal keys may share a batch: the same input names and types, and the same dims
// after the batch dim. Inputs are sorted by name so their order in the request does not matter.
std::string ShapeKey(const core::InferenceRequest& request) {
  std::vector<const core::NamedTensor*> inputs;
  inputs.reserve(request.inputs.size());
  for (const core::NamedTensor& input : request.inputs) inputs.push_back(&input);
  std::sort(
      inputs.begin(), inputs.end(),
      [](const core::NamedTensor* a, const core::NamedTensor* b) { return a->name < b->name; });
  std::string key;
  for (const core::NamedTensor* input : inputs) {
    absl::StrAppend(&key, input->name, "\x1f", static_cast<int>(input->tensor.dtype()), ":");
    const core::Shape& shape = input->tensor.shape();
    for (size_t d = 1; d < shape.size(); ++d) absl::StrAppend(&key, shape[d], ",");
    key.push_back('\x1e');
  }
  return key;
}

absl::Status CheckPolicy(const DynamicBatchScheduler::QueuePolicy& policy) {
  if (policy.timeout_action != DynamicBatchScheduler::TimeoutAction::kReject &&
      policy.timeout_action != DynamicBatchScheduler::TimeoutAction::kDelay) {
    return absl::InvalidArgumentError("timeout_action must be REJECT or DELAY");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DynamicBatchScheduler>> DynamicBatchScheduler::Create(
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
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dynamic batching needs max_batch_size >= 1, got ", options.max_batch_size));
  }
  for (int64_t size : options.preferred_batch_sizes) {
    if (size < 1 || size > options.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat("preferred batch size ", size,
                                                     " is outside [1, max_batch_size ",
                                                     options.max_batch_size, "]"));
    }
  }
  if (options.priority_levels > kMaxPriorityLevels) {
    return absl::InvalidArgumentError(absl::StrCat("priority_levels ", options.priority_levels,
                                                   " is above the limit of ", kMaxPriorityLevels));
  }
  if (options.priority_levels > 0 && (options.default_priority_level < 1 ||
                                      options.default_priority_level > options.priority_levels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("default_priority_level ", options.default_priority_level, " is outside [1, ",
                     options.priority_levels, "]"));
  }
  RETURN_IF_ERROR(CheckPolicy(options.default_queue_policy));
  for (const auto& [level, policy] : options.priority_queue_policy) {
    if (level < 1 || level > options.priority_levels) {
      return absl::InvalidArgumentError(absl::StrCat("priority_queue_policy for level ", level,
                                                     " is outside [1, priority_levels ",
                                                     options.priority_levels, "]"));
    }
    RETURN_IF_ERROR(CheckPolicy(policy));
  }
  std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());
  return std::unique_ptr<DynamicBatchScheduler>(
      new DynamicBatchScheduler(std::move(options), std::move(instances)));
}

DynamicBatchScheduler::DynamicBatchScheduler(Options options, std::vector<BatchExecutor> instances)
    : options_(std::move(options)),
      executors_(std::move(instances)),
      max_queue_delay_ns_(AddMicros(0, options_.max_queue_delay_us)) {
  absl::MutexLock lock(&mu_);
  levels_ = std::vector<Level>(std::max<uint32_t>(1, options_.priority_levels));
  for (size_t i = 0; i < levels_.size(); ++i) {
    auto it = options_.priority_queue_policy.find(static_cast<uint32_t>(i + 1));
    levels_[i].policy =
        it != options_.priority_queue_policy.end() ? it->second : options_.default_queue_policy;
  }
  states_.assign(executors_.size(), InstanceState::kLooking);
  seen_epoch_.assign(executors_.size(), 0);
  for (size_t i = 0; i < executors_.size(); ++i) {
    threads_.emplace_back([this, i] { InstanceLoop(i); });
  }
  delivery_thread_ = std::thread([this] { DeliveryLoop(); });
}

DynamicBatchScheduler::~DynamicBatchScheduler() { Shutdown(); }

absl::Status DynamicBatchScheduler::Enqueue(std::unique_ptr<core::InferenceRequest> request) {
  RecordArrival(*request, *options_.clock, options_.observers);
  absl::Status refused;
  if (request->batch_size < 1 || request->batch_size > options_.max_batch_size) {
    refused = absl::InvalidArgumentError(
        absl::StrCat("model '", request->model_name, "': a request of ", request->batch_size,
                     " items does not fit max_batch_size ", options_.max_batch_size));
  } else {
    size_t level = 0;
    if (options_.priority_levels > 0) {
      uint32_t priority = request->priority;
      if (priority == 0 || priority > options_.priority_levels) {
        priority = options_.default_priority_level;
      }
      level = priority - 1;
    }
    Entry entry;
    entry.shape_key = ShapeKey(*request);

    absl::MutexLock lock(&mu_);
    Level& queue = levels_[level];
    if (stopping_) {
      refused = absl::UnavailableError(
          absl::StrCat("model '", request->model_name, "' is shutting down"));
    } else if (queue.policy.max_queue_size > 0 && queue.size() >= queue.policy.max_queue_size) {
      refused = absl::ResourceExhaustedError(
          absl::StrCat("queue of model '", request->model_name, "' is full (", queue.size(),
                       " requests at priority level ", level + 1, ")"));
    } else {
      uint64_t timeout_us = queue.policy.default_timeout_us;
      if (queue.policy.allow_timeout_override && request->timeout_us != 0 &&
          (timeout_us == 0 || request->timeout_us < timeout_us)) {
        timeout_us = request->timeout_us;
      }
      entry.timeout_ns = timeout_us == 0 ? 0 : AddMicros(request->enqueue_ns, timeout_us);
      next_expiry_ns_ =
          EarliestOf(next_expiry_ns_, EarliestOf(entry.timeout_ns, request->deadline_ns));
      entry.sequence = next_sequence_++;
      entry.request = std::move(request);
      queue.queue.push_back(std::move(entry));
      ++queued_;
      ++in_flight_;
      ++epoch_;
      return absl::OkStatus();
    }
  }
  RecordUnexecuted(*request, refused, RequestPath::kRefused, *options_.clock, options_.observers);
  return refused;
}

size_t DynamicBatchScheduler::InFlight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

void DynamicBatchScheduler::Wake() {
  absl::MutexLock lock(&mu_);
  ++epoch_;
}

bool DynamicBatchScheduler::IdleLocked() const {
  for (size_t i = 0; i < states_.size(); ++i) {
    switch (states_[i]) {
      case InstanceState::kLooking:
      case InstanceState::kFinishing:
        return false;
      case InstanceState::kWaiting:
        if (seen_epoch_[i] != epoch_) return false;
        break;
      case InstanceState::kExecuting:
      case InstanceState::kStopped:
        break;
    }
  }
  return handed_off_ == 0;
}

bool DynamicBatchScheduler::WaitUntilIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(this, &DynamicBatchScheduler::IdleLocked), timeout);
}

void DynamicBatchScheduler::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);  // a second caller waits for the first to finish
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ++epoch_;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  // The instances are gone, so nothing more is handed off: deliver the rest, then stop.
  {
    absl::MutexLock lock(&delivery_mu_);
    delivery_stopping_ = true;
  }
  if (delivery_thread_.joinable()) delivery_thread_.join();
}

void DynamicBatchScheduler::InstanceLoop(size_t index) {
  options_.cpu_meter->RegisterExecutionThread();
  // Visible in top -H and /proc/<pid>/task/*/comm; also how tests find instance threads.
  pthread_setname_np(pthread_self(), "gs-instance");
  struct WaitArg {
    DynamicBatchScheduler* self;
    size_t index;
  } arg{this, index};
  // True once something happened since this instance last looked.
  absl::Condition changed(
      +[](WaitArg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->self->epoch_ != a->self->seen_epoch_[a->index];
      },
      &arg);

  mu_.Lock();
  for (;;) {
    states_[index] = InstanceState::kLooking;
    int64_t now = options_.clock->NowNanos();
    std::vector<Entry> rejected;
    ExpireLocked(now, &rejected);
    if (!rejected.empty()) {
      states_[index] = InstanceState::kFinishing;
      mu_.Unlock();
      Reject(std::move(rejected));
      mu_.Lock();
      continue;
    }
    Plan plan = PlanLocked(now);
    if (plan.take > 0) {
      std::vector<Entry> batch = TakeLocked(plan.take);
      ++epoch_;  // the other idle instances look at what is left
      states_[index] = InstanceState::kExecuting;
      mu_.Unlock();
      Execute(index, std::move(batch), now);
      mu_.Lock();
      continue;
    }
    if (stopping_ && queued_ == 0) break;
    states_[index] = InstanceState::kWaiting;
    seen_epoch_[index] = epoch_;
    if (plan.wake_at_ns == 0) {
      mu_.Await(changed);
    } else {
      mu_.AwaitWithTimeout(changed, absl::Nanoseconds(plan.wake_at_ns - now));
    }
  }
  states_[index] = InstanceState::kStopped;
  mu_.Unlock();
}

void DynamicBatchScheduler::ExpireLocked(int64_t now, std::vector<Entry>* rejected) {
  if (next_expiry_ns_ == 0 || now < next_expiry_ns_) return;
  int64_t next = 0;
  for (Level& level : levels_) {
    std::deque<Entry> kept;
    for (Entry& entry : level.queue) {
      int64_t deadline = entry.request->deadline_ns;
      if (deadline > 0 && now >= deadline) {
        rejected->push_back(std::move(entry));
      } else if (entry.timeout_ns > 0 && now >= entry.timeout_ns) {
        if (level.policy.timeout_action == TimeoutAction::kReject) {
          rejected->push_back(std::move(entry));
        } else {
          entry.timeout_ns = 0;  // delayed requests wait with no further timeout
          level.delayed.push_back(std::move(entry));
        }
      } else {
        next = EarliestOf(next, EarliestOf(entry.timeout_ns, deadline));
        kept.push_back(std::move(entry));
      }
    }
    level.queue.swap(kept);
    std::deque<Entry> delayed;
    for (Entry& entry : level.delayed) {
      int64_t deadline = entry.request->deadline_ns;
      if (deadline > 0 && now >= deadline) {
        rejected->push_back(std::move(entry));
      } else {
        next = EarliestOf(next, deadline);
        delayed.push_back(std::move(entry));
      }
    }
    level.delayed.swap(delayed);
  }
  queued_ -= rejected->size();
  next_expiry_ns_ = next;
}

DynamicBatchScheduler::Plan DynamicBatchScheduler::PlanLocked(int64_t now) const {
  Plan plan;
  if (queued_ == 0) return plan;

  // The candidate: the head in service order and the requests after it that can join it.
  const Entry* head = nullptr;
  int64_t items = 0;
  size_t count = 0;
  int64_t oldest_ns = kForever;
  bool blocked = false;
  auto consider = [&](const Entry& entry) {  // false: stop scanning
    int64_t size = entry.request->batch_size;
    if (head == nullptr) {
      head = &entry;
    } else if (entry.shape_key != head->shape_key || items + size > options_.max_batch_size) {
      blocked = true;
      return false;
    }
    items += size;
    ++count;
    oldest_ns = std::min(oldest_ns, entry.request->enqueue_ns);
    return items < options_.max_batch_size;
  };
  bool more = true;
  for (const Level& level : levels_) {
    for (const Entry& entry : level.queue) {
      if (!(more = consider(entry))) break;
    }
    if (!more) break;
    for (const Entry& entry : level.delayed) {
      if (!(more = consider(entry))) break;
    }
    if (!more) break;
  }

  const std::vector<int64_t>& preferred = options_.preferred_batch_sizes;
  bool full = items >= options_.max_batch_size;
  // The scan took every queued request that fits unless it was blocked, so at a preferred size
  // nothing more can join.
  bool at_preferred = std::binary_search(preferred.begin(), preferred.end(), items);
  int64_t delay_ends_ns =
      oldest_ns > kForever - max_queue_delay_ns_ ? kForever : oldest_ns + max_queue_delay_ns_;
  if (full || at_preferred || blocked || now >= delay_ends_ns || stopping_) {
    plan.take = count;
  } else {
    plan.wake_at_ns = EarliestOf(delay_ends_ns, next_expiry_ns_);
  }
  return plan;
}

std::vector<DynamicBatchScheduler::Entry> DynamicBatchScheduler::TakeLocked(size_t count) {
  std::vector<Entry> batch;
  batch.reserve(count);
  for (Level& level : levels_) {
    while (batch.size() < count && !level.queue.empty()) {
      batch.push_back(std::move(level.queue.front()));
      level.queue.pop_front();
    }
    while (batch.size() < count && !level.delayed.empty()) {
      batch.push_back(std::move(level.delayed.front()));
      level.delayed.pop_front();
    }
    if (batch.size() == count) break;
  }
  queued_ -= batch.size();
  return batch;
}

void DynamicBatchScheduler::Execute(size_t index, std::vector<Entry> batch, int64_t picked_ns) {
  std::vector<std::pair<uint64_t, Finished>> finished;
  finished.reserve(batch.size());
  // Requests whose client has gone are answered instead of executed (checked outside mu_: the
  // cancellation probe calls into gRPC).
  std::vector<Entry> live;
  live.reserve(batch.size());
  for (Entry& entry : batch) {
    if (absl::Status unrunnable = RunnableWhenTaken(*entry.request, picked_ns); !unrunnable.ok()) {
      finished.push_back(Unexecuted(entry, std::move(unrunnable)));
    } else {
      live.push_back(std::move(entry));
    }
  }
  if (live.empty()) {
    absl::MutexLock lock(&mu_);
    states_[index] = InstanceState::kFinishing;
  } else {
    std::vector<core::InferenceRequest*> requests;
    requests.reserve(live.size());
    for (Entry& entry : live) requests.push_back(entry.request.get());
    BatchExecutor run = [this, index](absl::Span<core::InferenceRequest* const> batch) {
      auto results = executors_[index](batch);
      absl::MutexLock lock(&mu_);
      states_[index] = InstanceState::kFinishing;
      return results;
    };
    std::vector<absl::StatusOr<core::InferenceResponse>> results = ExecuteBatch(
        run, requests, index, picked_ns, *options_.clock, *options_.cpu_meter, options_.observers);
    for (size_t i = 0; i < live.size(); ++i) {
      finished.emplace_back(live[i].sequence,
                            Finished{std::move(live[i].request), std::move(results[i])});
    }
  }
  HandOff(std::move(finished));
}

void DynamicBatchScheduler::HandOff(std::vector<std::pair<uint64_t, Finished>> finished) {
  {
    absl::MutexLock lock(&mu_);
    ++handed_off_;
  }
  {
    absl::MutexLock lock(&delivery_mu_);
    // Backpressure: when the delivery thread is a batch per instance behind, this instance
    // delivers its own batch, so the backlog stays bounded and delivery keeps pace.
    if (to_deliver_.size() < executors_.size()) {
      to_deliver_.push_back(std::move(finished));
      return;
    }
  }
  DeliverAll(std::move(finished));
  absl::MutexLock lock(&mu_);
  --handed_off_;
}

void DynamicBatchScheduler::DeliveryLoop() {
  pthread_setname_np(pthread_self(), "gs-deliver");
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(delivery_mu_) {
    return !to_deliver_.empty() || delivery_stopping_;
  };
  for (;;) {
    std::vector<std::pair<uint64_t, Finished>> finished;
    {
      absl::MutexLock lock(&delivery_mu_);
      delivery_mu_.Await(absl::Condition(&ready));
      if (to_deliver_.empty()) return;  // stopping, and everything is delivered
      finished = std::move(to_deliver_.front());
      to_deliver_.pop_front();
    }
    DeliverAll(std::move(finished));
    absl::MutexLock lock(&mu_);
    --handed_off_;
  }
}

void DynamicBatchScheduler::Reject(std::vector<Entry> rejected) {
  std::vector<std::pair<uint64_t, Finished>> finished;
  finished.reserve(rejected.size());
  for (Entry& entry : rejected) {
    finished.push_back(Unexecuted(entry, TimedOutInQueue(*entry.request)));
  }
  DeliverAll(std::move(finished));
}

std::pair<uint64_t, DynamicBatchScheduler::Finished> DynamicBatchScheduler::Unexecuted(
    Entry& entry, absl::Status status) {
  RecordUnexecuted(*entry.request, status, RequestPath::kExpiredInQueue, *options_.clock,
                   options_.observers);
  return {entry.sequence, Finished{std::move(entry.request), std::move(status)}};
}

void DynamicBatchScheduler::DeliverAll(std::vector<std::pair<uint64_t, Finished>> finished) {
  size_t delivered = 0;
  if (!options_.preserve_ordering) {
    for (auto& [sequence, done] : finished) {
      Deliver(*done.request, std::move(done.result));
      done.request.reset();  // releases the request's bytes and model handle
      ++delivered;
    }
  } else {
    // Whoever finds the next sequence delivers it and every consecutive one after it, one at a
    // time outside the lock; the others only leave theirs in held_.
    order_mu_.Lock();
    for (auto& [sequence, done] : finished) held_.emplace(sequence, std::move(done));
    if (!delivering_) {
      delivering_ = true;
      while (!held_.empty() && held_.begin()->first == next_to_deliver_) {
        Finished done = std::move(held_.begin()->second);
        held_.erase(held_.begin());
        ++next_to_deliver_;
        order_mu_.Unlock();
        Deliver(*done.request, std::move(done.result));
        done.request.reset();
        ++delivered;
        order_mu_.Lock();
      }
      delivering_ = false;
    }
    order_mu_.Unlock();
  }
  if (delivered > 0) {
    absl::MutexLock lock(&mu_);
    in_flight_ -= delivered;
  }
}

}  // namespace gridserve::scheduler
