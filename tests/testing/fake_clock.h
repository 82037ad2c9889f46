#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "runtime/core/clock.h"

namespace gridserve::testing {

// A clock that moves only when told to, so tests of delays and timeouts never sleep. Starts at
// 1 s (not 0, which the runtime reads as "no deadline"). Thread-safe.
//
// Code that waits on a clock (DynamicBatchScheduler) must be told after each jump:
//   clock.Advance(absl::Microseconds(100));
//   scheduler->Wake();
class FakeClock : public core::Clock {
 public:
  explicit FakeClock(int64_t start_ns = 1'000'000'000) : now_ns_(start_ns) {}

  int64_t NowNanos() const override { return now_ns_.load(std::memory_order_acquire); }

  void Advance(absl::Duration by) {
    now_ns_.fetch_add(absl::ToInt64Nanoseconds(by), std::memory_order_acq_rel);
  }
  void SetNanos(int64_t now_ns) { now_ns_.store(now_ns, std::memory_order_release); }

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace gridserve::testing
