#include "client/perf/load_generator.h"

#include <grpcpp/alarm.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace gridserve::client::perf {
namespace {

using Clock = std::chrono::steady_clock;

// User + system CPU time of the whole process so far.
absl::Duration ProcessCpuTime() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return absl::ZeroDuration();
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

// Step phases, advanced only by the controlling thread:
//   kWarmup --> kMeasure --> kDrain --> kDone
// Completions are recorded only in kMeasure; no request starts from kDrain on; workers exit in
// kDone once their last request has finished.
enum class Phase : int { kWarmup, kMeasure, kDrain, kDone };

// Whether the server answers: the time since when every answer was UNAVAILABLE. Shared by the
// workers, the pacer and the controlling thread.
struct Reachability {
  // Steady-clock nanoseconds of the first UNAVAILABLE after the last other answer; 0 while the
  // server answers.
  std::atomic<int64_t> unavailable_since_ns{0};
  std::atomic<int> consecutive_unavailable{0};
  absl::Mutex mu;
  std::string last_message ABSL_GUARDED_BY(mu);

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }
  void Record(const grpc::Status& status) {
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      // Loads first: the common case (the server answers) writes nothing shared.
      if (unavailable_since_ns.load(std::memory_order_relaxed) != 0) {
        unavailable_since_ns.store(0, std::memory_order_relaxed);
      }
      if (consecutive_unavailable.load(std::memory_order_relaxed) != 0) {
        consecutive_unavailable.store(0, std::memory_order_relaxed);
      }
      return;
    }
    int64_t expected = 0;
    unavailable_since_ns.compare_exchange_strong(expected, Now(), std::memory_order_relaxed);
    consecutive_unavailable.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&mu);
    last_message = status.error_message();
  }
  bool Unavailable() const { return unavailable_since_ns.load(std::memory_order_relaxed) != 0; }
  // How long every answer has been UNAVAILABLE (zero while the server answers).
  absl::Duration UnavailableFor() const {
    const int64_t since = unavailable_since_ns.load(std::memory_order_relaxed);
    return since == 0 ? absl::ZeroDuration() : absl::Nanoseconds(Now() - since);
  }
  // Closed-loop wait after an UNAVAILABLE answer: 10 ms doubling to 640 ms.
  absl::Duration Backoff() const {
    const int n = std::min(consecutive_unavailable.load(std::memory_order_relaxed), 7);
    return absl::Milliseconds(10) * (1 << std::max(0, n - 1));
  }
};

// One call in flight, or (backing_off) one closed-loop slot waiting out its refusal backoff on
// `alarm`. Owned by the worker whose completion queue it is on; deleted when its completion
// (or alarm) is taken off the queue.
struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  Clock::time_point start;
  bool backing_off = false;
  grpc::Alarm alarm;
};

// One client thread: its stub, completion queue and tallies. The tallies are touched only by
// its thread until that thread is joined.
class Worker {
 public:
  Worker(std::shared_ptr<grpc::Channel> channel, const LoadOptions& options,
         const std::atomic<Phase>* phase, std::atomic<int64_t>* completed_in_window,
         Reachability* reachability)
      : stub_(std::move(channel)),
        options_(options),
        phase_(phase),
        completed_in_window_(completed_in_window),
        reachability_(reachability) {}

  // Starts one call. Safe from any thread (the pacing thread uses it in open loop).
  void Start() {
    auto* call = new Call;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(options_.timeout));
    call->start = Clock::now();
    call->reader = stub_.PrepareUnaryCall(&call->context, options_.method, options_.payload, &cq_);
    outstanding_.fetch_add(1, std::memory_order_relaxed);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  // Takes completions until the step is done and nothing is in flight. In closed loop, each
  // completion before kDrain starts the next request.
  void Run(bool closed_loop) {
    for (;;) {
      void* tag = nullptr;
      bool ok = false;
      const auto status = cq_.AsyncNext(
          &tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(20));
      if (status == grpc::CompletionQueue::SHUTDOWN) break;
      if (status == grpc::CompletionQueue::GOT_EVENT) {
        std::unique_ptr<Call> call(static_cast<Call*>(tag));
        const Clock::time_point end = Clock::now();
        const Phase phase = phase_->load(std::memory_order_acquire);
        if (call->backing_off) {  // the slot's backoff is over
          outstanding_.fetch_sub(1, std::memory_order_relaxed);
          if (phase < Phase::kDrain) Start();
          continue;
        }
        if (phase == Phase::kMeasure) {
          if (call->status.ok()) {
            latencies_us_.push_back(
                std::chrono::duration_cast<std::chrono::microseconds>(end - call->start).count());
          } else {
            ++failures_[static_cast<int>(call->status.error_code())];
          }
          completed_in_window_->fetch_add(1, std::memory_order_relaxed);
        }
        reachability_->Record(call->status);
        absl::Duration backoff = absl::ZeroDuration();
        if (call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          backoff = options_.refusal_backoff;
        } else if (call->status.error_code() == grpc::StatusCode::UNAVAILABLE) {
          backoff = reachability_->Backoff();
        }
        if (closed_loop && phase < Phase::kDrain && backoff > absl::ZeroDuration()) {
          // The slot stays outstanding until its alarm fires, so the drain waits for it.
          call->backing_off = true;
          Call* slot = call.release();
          slot->alarm.Set(
              &cq_, std::chrono::system_clock::now() + absl::ToChronoNanoseconds(backoff), slot);
          continue;
        }
        outstanding_.fetch_sub(1, std::memory_order_relaxed);
        if (closed_loop && phase < Phase::kDrain) Start();
        continue;
      }
      // Timed out: nothing finished for a while; see whether the step is over.
      if (phase_->load(std::memory_order_acquire) == Phase::kDone &&
          outstanding_.load(std::memory_order_relaxed) == 0) {
        break;
      }
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) delete static_cast<Call*>(tag);
  }

  int64_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }
  std::vector<int64_t>& latencies_us() { return latencies_us_; }
  const std::map<int, int64_t>& failures() const { return failures_; }

 private:
  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  const LoadOptions& options_;
  const std::atomic<Phase>* const phase_;
  std::atomic<int64_t>* const completed_in_window_;
  Reachability* const reachability_;
  std::atomic<int64_t> outstanding_{0};
  std::vector<int64_t> latencies_us_;
  std::map<int, int64_t> failures_;
};

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options) {
  if (options.channels.empty()) return absl::InvalidArgumentError("no channels");
  if ((options.concurrency > 0) == (options.request_rate > 0)) {
    return absl::InvalidArgumentError("set exactly one of concurrency and request_rate");
  }
  if (options.window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the measurement window must be positive");
  }
  const bool closed_loop = options.concurrency > 0;
  std::atomic<Phase> phase{Phase::kWarmup};
  std::atomic<int64_t> completed_in_window{0};
  std::atomic<int64_t> skipped{0};
  Reachability reachability;

  // Closed loop never needs more threads than requests in flight.
  size_t n = options.channels.size();
  if (closed_loop) n = std::min<size_t>(n, static_cast<size_t>(options.concurrency));
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>(options.channels[i], options, &phase,
                                               &completed_in_window, &reachability));
  }
  if (closed_loop) {
    for (int64_t i = 0; i < options.concurrency; ++i) workers[i % n]->Start();
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, closed_loop] { w->Run(closed_loop); });

  // Open loop: start requests at evenly spaced times, catching up after oversleeping.
  std::thread pacer;
  if (!closed_loop) {
    pacer = std::thread([&] {
      const auto interval = std::chrono::duration<double>(1.0 / options.request_rate);
      const Clock::time_point begin = Clock::now();
      int64_t sent = 0;
      size_t next_worker = 0;
      Clock::time_point last_probe;
      while (phase.load(std::memory_order_acquire) < Phase::kDrain) {
        const Clock::time_point due =
            begin + std::chrono::duration_cast<Clock::duration>(interval * sent);
        const Clock::time_point now = Clock::now();
        if (due > now) {
          // Short sleeps so that the end of the step is noticed promptly.
          std::this_thread::sleep_until(std::min(due, now + std::chrono::milliseconds(20)));
          continue;
        }
        ++sent;
        int64_t in_flight = 0;
        for (auto& w : workers) in_flight += w->outstanding();
        const bool probing = reachability.Unavailable();
        if (in_flight >= options.max_outstanding ||
            (probing && now - last_probe < std::chrono::milliseconds(100))) {
          if (phase.load(std::memory_order_acquire) == Phase::kMeasure) {
            skipped.fetch_add(1, std::memory_order_relaxed);
          }
          continue;
        }
        if (probing) last_probe = now;
        workers[next_worker]->Start();
        next_worker = (next_worker + 1) % workers.size();
      }
    });
  }

  // True once the server has answered only UNAVAILABLE for unreachable_timeout.
  auto unreachable = [&] {
    return options.unreachable_timeout > absl::ZeroDuration() &&
           reachability.UnavailableFor() > options.unreachable_timeout;
  };
  const Clock::time_point warmup_end = Clock::now() + absl::ToChronoNanoseconds(options.warmup);
  while (Clock::now() < warmup_end && !unreachable()) {
    std::this_thread::sleep_until(
        std::min(warmup_end, Clock::now() + std::chrono::milliseconds(5)));
  }
  if (options.before_window) options.before_window();
  const Clock::time_point window_start = Clock::now();
  const absl::Duration cpu_at_start = ProcessCpuTime();
  phase.store(Phase::kMeasure, std::memory_order_release);
  const Clock::time_point window_deadline =
      window_start + absl::ToChronoNanoseconds(options.window);
  bool gave_up = false;
  while (Clock::now() < window_deadline) {
    if (unreachable()) {
      gave_up = true;
      break;
    }
    if (options.max_requests > 0 &&
        completed_in_window.load(std::memory_order_relaxed) >= options.max_requests) {
      break;
    }
    std::this_thread::sleep_until(
        std::min(window_deadline, Clock::now() + std::chrono::milliseconds(5)));
  }
  phase.store(Phase::kDrain, std::memory_order_release);
  const Clock::time_point window_end = Clock::now();
  const absl::Duration client_cpu = ProcessCpuTime() - cpu_at_start;
  if (options.after_window) options.after_window();
  if (pacer.joinable()) pacer.join();
  phase.store(Phase::kDone, std::memory_order_release);
  for (auto& t : threads) t.join();

  LoadResult result;
  result.window = absl::FromChrono(window_end - window_start);
  for (auto& w : workers) {
    result.ok_latencies_us.insert(result.ok_latencies_us.end(), w->latencies_us().begin(),
                                  w->latencies_us().end());
    for (const auto& [code, count] : w->failures()) result.failures[code] += count;
  }
  result.skipped = skipped.load();
  result.client_cpu = client_cpu;
  result.server_unreachable = gave_up || unreachable();
  if (result.server_unreachable) {
    absl::MutexLock lock(&reachability.mu);
    result.unreachable_message = reachability.last_message;
  }
  return result;
}

}  // namespace gridserve::client::perf
