#pragma once

#include <sys/types.h>

#include <cstdint>

namespace gridserve::core {

// CPU time spent executing models, from thread CPU clocks; the source of the per-model CPU
// seconds and energy figures (docs/metrics.md). Injected into the schedulers so tests can drive
// it. Implementations are thread-safe.
//
// Execution burns CPU on two kinds of threads: the instance thread that calls `forward`
// (ThreadNanos around the call measures it exactly) and the compute helpers working for it:
// OpenBLAS's thread pool (started by the library before main()) and LibTorch's OpenMP workers
// (started by instance threads, whose name they inherit). Helpers are shared by every instance,
// so TakeHelperNanos hands out their CPU to whichever caller asks next: each helper nanosecond is
// counted exactly once, by the batch that ended next. While one model executes alone the split is
// exact; with several models executing at once it is an estimate.
class CpuMeter {
 public:
  virtual ~CpuMeter() = default;

  // CPU time of the calling thread, ns (CLOCK_THREAD_CPUTIME_ID).
  virtual int64_t ThreadNanos() const = 0;
  // CPU time the helper threads used since the previous call (by any caller), ns.
  virtual int64_t TakeHelperNanos() const = 0;
  // Called by each instance thread when it starts, before it names itself: it is not a helper.
  virtual void RegisterExecutionThread() const = 0;

  // The process-wide meter. Never null; lives forever.
  static const CpuMeter* Real();
};

// CPU time of thread `tid` of this process, ns, or -1 when the thread no longer exists.
int64_t TaskCpuNanos(pid_t tid);

}  // namespace gridserve::core
