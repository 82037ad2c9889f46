#include "runtime/core/cpu_meter.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace gridserve::core {
namespace {

// Burns `ms` of CPU time on the calling thread (by its own CPU clock, so a loaded machine only
// makes it take longer).
void Spin(int ms) {
  const int64_t end = CpuMeter::Real()->ThreadNanos() + int64_t{ms} * 1'000'000;
  volatile uint64_t x = 0;
  while (CpuMeter::Real()->ThreadNanos() < end) x = x + 1;
}

// Waits without burning CPU.
void WaitFor(const std::atomic<int>& phase, int at_least) {
  while (phase < at_least) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(CpuMeterTest, ThreadClockCountsOnlyThisThreadsWork) {
  const CpuMeter* meter = CpuMeter::Real();
  const int64_t start = meter->ThreadNanos();
  std::thread other([] { Spin(50); });
  other.join();
  const int64_t idle = meter->ThreadNanos() - start;
  Spin(50);
  const int64_t busy = meter->ThreadNanos() - start - idle;
  EXPECT_LT(idle, 20'000'000);  // the other thread's 50 ms are not ours
  EXPECT_GE(busy, 50'000'000);  // ours are
}

TEST(CpuMeterTest, TaskClockReadsAnotherThreadAndFailsForAGoneOne) {
  std::atomic<pid_t> tid{0};
  std::atomic<int> phase{0};
  std::thread worker([&] {
    Spin(30);
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    WaitFor(phase, 1);
  });
  while (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GE(TaskCpuNanos(tid), 30'000'000);
  phase = 1;
  worker.join();
  EXPECT_EQ(TaskCpuNanos(tid), -1);
}

// Threads that name themselves like instance threads without registering are OpenMP workers of
// instance threads: their CPU is handed out once by TakeHelperNanos. A registered instance
// thread's is not.
TEST(CpuMeterTest, HelpersAreCountedOnceAndInstanceThreadsNever) {
  const CpuMeter* meter = CpuMeter::Real();
  meter->TakeHelperNanos();  // start from now
  std::atomic<int> phase{0};
  std::atomic<int> done{0};
  auto run = [&](bool registered) {
    if (registered) meter->RegisterExecutionThread();
    pthread_setname_np(pthread_self(), "gs-instance");
    WaitFor(phase, 1);  // named, waiting to be discovered
    Spin(60);
    ++done;
    WaitFor(phase, 2);
  };
  std::thread helper(run, false);
  std::thread instance(run, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  meter->TakeHelperNanos();  // discovers both new threads; counts nothing yet of theirs
  phase = 1;
  WaitFor(done, 2);
  const int64_t first = meter->TakeHelperNanos();
  const int64_t second = meter->TakeHelperNanos();
  phase = 2;
  helper.join();
  instance.join();
  EXPECT_GE(first, 60'000'000);   // the helper's 60 ms
  EXPECT_LT(first, 100'000'000);  // but not the instance thread's 60 ms as well
  EXPECT_LT(second, 5'000'000);   // already handed out
}

}  // namespace
}  // namespace gridserve::core
