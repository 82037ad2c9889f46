#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/scheduler/scheduler.h"

namespace gridserve::scheduler {

// Triton's `dynamic_batching` for one model version: combines queued requests into batches of up
// to max_batch_size items and runs each batch on the first idle instance. Thread-safe.
//
// Queue. One FIFO per priority level (1 is served first; one level when priority_levels is 0),
// each with its own QueuePolicy. Service order is level 1's requests in arrival order, then
// level 1's delayed requests, then level 2's, and so on. Enqueue never blocks: a level holding
// max_queue_size requests refuses more with RESOURCE_EXHAUSTED.
//
// Timeouts. A request's queue timeout is its level's default_timeout_us, or its own `timeout_us`
// when the policy allows the override and that is shorter (a default of 0 means none, so any
// request timeout is shorter; Triton only lets a request shorten a non-zero default). When it
// passes while the request is queued: REJECT answers DEADLINE_EXCEEDED and the request never
// executes; DELAY moves it behind the requests of its level still within their timeout (Triton's
// delayed queue), where it waits with no further timeout. A request's absolute deadline_ns (the
// gRPC deadline) always rejects: its caller has gone. Expired requests are answered when an
// instance next looks at the queue: at once when one is idle, otherwise when the first busy
// instance finishes its batch. A request whose is_cancelled() is true when an instance takes it
// into a batch is answered CANCELLED and left out of the batch.
//
// Batches. Each instance has one thread; when idle it looks at the head of the queue (in service
// order) and builds the candidate batch: the head, then the following requests in service order
// while each has the same non-batch input shapes (names, types and dims 1.. of every input) as
// the head and fits in max_batch_size whole (a request of several items is never split). The
// candidate closes and executes on that instance as soon as
//   1. it holds max_batch_size items; or
//   2. it holds a preferred batch size and no more queued requests fit in it; or
//   3. the next queued request cannot join it (it would pass max_batch_size or has other
//      shapes), so waiting cannot grow it; or
//   4. its oldest request has waited max_queue_delay_us (0: at once, a batch of whatever is
//      queued); or
//   5. Shutdown began (draining does not wait).
// Otherwise the instance waits for a new request, for the delay to pass or for the next timeout.
// Unlike Triton, a batch past a preferred size is not cut back to it when the delay passes: the
// leftover requests have waited as long, and are sent with the rest.
//
// Delivery. An instance hands its finished batch to the scheduler's delivery thread and goes
// back to the queue at once: on_complete (the front end serializing and sending each response)
// runs there, not on the instance, so the model does not sit idle while a batch's responses go
// out (measured: 1.7 ms for 64 responses of 4 KiB, a quarter of the cycle of a 4.7 ms batch).
// When the delivery thread is already one batch per instance behind, the instance delivers its
// batch itself (backpressure). Requests that expire in the queue are answered by the instance
// that finds them. Shutdown returns after every accepted request's on_complete has run and the
// request is destroyed.
//
// Ordering. With preserve_ordering, every accepted request's on_complete runs in acceptance order
// (errors included): a response that finishes early is held until all earlier ones are delivered.
// Without it, each batch's responses are delivered as soon as it finishes.
class DynamicBatchScheduler : public Scheduler {
 public:
  enum class TimeoutAction {
    kReject,  // answer DEADLINE_EXCEEDED, never execute
    kDelay,   // keep it, behind the requests of its level still within their timeout
  };

  struct QueuePolicy {
    // Requests queued at this level (delayed ones included) beyond this are refused with
    // RESOURCE_EXHAUSTED. 0 = no limit. Set it so that a full queue still drains within the
    // clients' latency budget: about max_batch_size x instances x (budget / batch latency).
    uint32_t max_queue_size = 0;
    // Queue timeout of requests that set none, in microseconds. 0 = none.
    uint64_t default_timeout_us = 0;
    // Whether a request's own timeout_us may shorten default_timeout_us.
    bool allow_timeout_override = false;
    TimeoutAction timeout_action = TimeoutAction::kReject;
  };

  struct Options {
    // Most items (sum of request batch_size) in one batch. >= 1. Requests larger than this are
    // refused with INVALID_ARGUMENT.
    int64_t max_batch_size = 1;
    // Batch sizes to close a batch at before the delay passes (rule 2); each in
    // [1, max_batch_size]. Use only when the model is much faster at these sizes.
    std::vector<int64_t> preferred_batch_sizes;
    // Longest time the oldest request of a batch waits for more to join, in microseconds. 0 =
    // never wait. Raise it until throughput stops improving; it adds up to this much latency.
    uint64_t max_queue_delay_us = 0;
    // Deliver responses in acceptance order (see class comment).
    bool preserve_ordering = false;
    // Priority levels 1..priority_levels (1 first); 0 = a single level.
    uint32_t priority_levels = 0;
    // Level of requests with priority 0 or above priority_levels. In [1, priority_levels] when
    // priority_levels > 0; ignored otherwise.
    uint32_t default_priority_level = 0;
    // Policy of every level not in priority_queue_policy.
    QueuePolicy default_queue_policy;
    // Per-level policies; keys in [1, priority_levels].
    std::map<uint32_t, QueuePolicy> priority_queue_policy;
    // Time source for delays, timeouts and timings. Never null.
    const core::Clock* clock = core::Clock::Real();
    // CPU time of executions (BatchRecord::cpu_ns). Never null.
    const core::CpuMeter* cpu_meter = core::CpuMeter::Real();
    // Told about every request and execution (statistics, metrics); none may be null.
    ObserverList observers;
  };

  // Starts one thread per executor. INVALID_ARGUMENT for inconsistent options or no executors.
  static absl::StatusOr<std::unique_ptr<DynamicBatchScheduler>> Create(
      Options options, std::vector<BatchExecutor> instances);
  ~DynamicBatchScheduler() override;

  // Errors (the request is then still the caller's): INVALID_ARGUMENT when batch_size is not in
  // [1, max_batch_size]; RESOURCE_EXHAUSTED when the request's level is full; UNAVAILABLE after
  // Shutdown began.
  absl::Status Enqueue(std::unique_ptr<core::InferenceRequest> request) override;
  size_t InFlight() const override;
  void Shutdown() override;

  // Makes idle instances look at the clock again now. Waits end by themselves with the real
  // clock; a clock that jumps (tests' FakeClock::Advance) needs this call after each jump.
  void Wake();

  // For tests: blocks until every instance is either inside its executor or waiting having seen
  // everything that happened so far (arrivals, Wake calls, batches taken), with every finished
  // batch delivered: nothing more happens until the clock moves, a request arrives or an
  // executor returns. False when `timeout` passes first.
  bool WaitUntilIdle(absl::Duration timeout);

 private:
  struct Entry {
    std::unique_ptr<core::InferenceRequest> request;
    std::string shape_key;   // what two requests must share to be batched together
    uint64_t sequence = 0;   // acceptance order
    int64_t timeout_ns = 0;  // queue timeout, absolute on the clock; 0 = none
  };
  struct Level {
    QueuePolicy policy;
    std::deque<Entry> queue;    // arrival order, within their timeout
    std::deque<Entry> delayed;  // timed out under kDelay, in the order they timed out
    size_t size() const { return queue.size() + delayed.size(); }
  };
  // What an idle instance does next.
  struct Plan {
    size_t take = 0;         // > 0: execute the first `take` requests in service order
    int64_t wake_at_ns = 0;  // otherwise: look again at this time; 0 = when something happens
  };
  // What an instance thread is doing (for WaitUntilIdle):
  //   kLooking --> kWaiting --> kLooking ...
  //       \--> kExecuting (inside its executor) --> kFinishing (observers, delivery) --> kLooking
  //       \--> kFinishing (answering expired requests) --> kLooking
  //       \--> kStopped (drained after Shutdown)
  enum class InstanceState { kLooking, kWaiting, kExecuting, kFinishing, kStopped };
  // A result ready to be delivered, in acceptance order when ordering is preserved.
  struct Finished {
    std::unique_ptr<core::InferenceRequest> request;
    absl::StatusOr<core::InferenceResponse> result;
  };

  DynamicBatchScheduler(Options options, std::vector<BatchExecutor> instances);
  void InstanceLoop(size_t index);
  // Moves requests whose timeout passed (kDelay) and removes those to reject into `rejected`.
  void ExpireLocked(int64_t now, std::vector<Entry>* rejected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Plan PlanLocked(int64_t now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<Entry> TakeLocked(size_t count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Execute(size_t index, std::vector<Entry> batch, int64_t picked_ns);
  void Reject(std::vector<Entry> rejected);
  // Tells the observers that `entry` failed in the queue with `status` and takes its request, to
  // be delivered with that status.
  std::pair<uint64_t, Finished> Unexecuted(Entry& entry, absl::Status status);
  // Calls on_complete for each (held back until earlier sequences are delivered when ordering is
  // preserved) and destroys the requests.
  void DeliverAll(std::vector<std::pair<uint64_t, Finished>> finished);
  // Hands a finished batch to the delivery thread.
  void HandOff(std::vector<std::pair<uint64_t, Finished>> finished);
  void DeliveryLoop();
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  const std::vector<BatchExecutor> executors_;
  const int64_t max_queue_delay_ns_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  std::vector<Level> levels_ ABSL_GUARDED_BY(mu_);
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Lower bound of the earliest timeout or deadline queued; 0 = none.
  int64_t next_expiry_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped by every arrival, Wake, Shutdown and batch taken: idle instances wait for a change.
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<InstanceState> states_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> seen_epoch_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // accepted, on_complete not yet run
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t handed_off_ ABSL_GUARDED_BY(mu_) = 0;  // batches given to the delivery thread, not done

  // The delivery thread's queue of finished batches.
  absl::Mutex delivery_mu_;  // never held with mu_ or order_mu_
  std::deque<std::vector<std::pair<uint64_t, Finished>>> to_deliver_ ABSL_GUARDED_BY(delivery_mu_);
  bool delivery_stopping_ ABSL_GUARDED_BY(delivery_mu_) = false;
  std::thread delivery_thread_;

  // Ordered delivery (preserve_ordering). Callbacks run outside every lock.
  absl::Mutex order_mu_;  // never held with mu_
  absl::btree_map<uint64_t, Finished> held_ ABSL_GUARDED_BY(order_mu_);
  uint64_t next_to_deliver_ ABSL_GUARDED_BY(order_mu_) = 0;
  bool delivering_ ABSL_GUARDED_BY(order_mu_) = false;

  absl::Mutex join_mu_;  // serializes Shutdown
};

}  // namespace gridserve::scheduler
