#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/core/cpu_meter.h"

namespace gridserve::testing {

// A CpuMeter whose thread clock advances `thread_step_ns` per read and whose helpers used
// `helper_ns` since every previous take, so each batch costs exactly
// thread_step_ns + helper_ns. Thread-safe.
class FakeCpuMeter : public core::CpuMeter {
 public:
  FakeCpuMeter(int64_t thread_step_ns, int64_t helper_ns)
      : thread_step_ns_(thread_step_ns), helper_ns_(helper_ns) {}

  // Each thread's own clock, as CLOCK_THREAD_CPUTIME_ID is.
  int64_t ThreadNanos() const override {
    thread_local int64_t thread_ns = 0;
    return thread_ns += thread_step_ns_;
  }
  int64_t TakeHelperNanos() const override { return helper_ns_; }
  void RegisterExecutionThread() const override { ++registered_; }

  int registered() const { return registered_; }

 private:
  const int64_t thread_step_ns_;
  const int64_t helper_ns_;
  mutable std::atomic<int> registered_{0};
};

}  // namespace gridserve::testing
