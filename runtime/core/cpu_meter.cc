#include "runtime/core/cpu_meter.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace gridserve::core {
namespace {

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

std::vector<pid_t> ListTasks() {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return tids;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    tids.push_back(static_cast<pid_t>(std::atoi(entry->d_name)));
  }
  closedir(dir);
  return tids;
}

std::string TaskName(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/comm", static_cast<int>(tid));
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return "";
  char name[32] = {0};
  if (std::fgets(name, sizeof(name), f) == nullptr) name[0] = 0;
  std::fclose(f);
  std::string s(name);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Threads in the process: /proc/self/task's link count is 2 + threads (one stat, no listing).
long TaskCount() {
  struct stat st;
  return stat("/proc/self/task", &st) == 0 ? static_cast<long>(st.st_nlink) : -1;
}

// The name instance threads give themselves (runtime/scheduler); OpenMP workers they start
// inherit it.
constexpr char kInstanceThreadName[] = "gs-instance";

class RealCpuMeter final : public CpuMeter {
 public:
  // Runs before main() (see kLibraryPools below): every thread other than this one is a
  // library's pool (OpenBLAS starts its workers in its constructor).
  RealCpuMeter() {
    const pid_t self = CurrentTid();
    absl::MutexLock lock(&mu_);
    for (pid_t tid : ListTasks()) {
      known_.insert(tid);
      if (tid != self && tid != getpid()) AddHelperLocked(tid);
    }
    task_count_ = TaskCount();
  }

  int64_t ThreadNanos() const override {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  int64_t TakeHelperNanos() const override {
    absl::MutexLock lock(&mu_);
    const long count = TaskCount();
    if (count != task_count_) {
      task_count_ = count;
      ScanLocked();
    }
    int64_t taken = 0;
    for (auto it = helpers_.begin(); it != helpers_.end();) {
      const int64_t now = TaskCpuNanos(it->first);
      if (now < 0) {  // exited: what it used since the last call is lost (rare, small)
        helpers_.erase(it++);
        continue;
      }
      taken += now - it->second;
      it->second = now;
      ++it;
    }
    return taken;
  }

  void RegisterExecutionThread() const override {
    absl::MutexLock lock(&mu_);
    const pid_t tid = CurrentTid();
    known_.insert(tid);
    helpers_.erase(tid);
  }

 private:
  void AddHelperLocked(pid_t tid) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t now = TaskCpuNanos(tid);
    if (now >= 0) helpers_[tid] = now;
  }

  // New threads named like instance threads but not registered as one are their OpenMP workers.
  void ScanLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (pid_t tid : ListTasks()) {
      if (!known_.insert(tid).second) continue;
      if (TaskName(tid) == kInstanceThreadName) AddHelperLocked(tid);
    }
  }

  mutable absl::Mutex mu_;
  // Every thread seen (helpers, instance threads and the rest), so each is classified once.
  mutable absl::flat_hash_set<pid_t> known_ ABSL_GUARDED_BY(mu_);
  // Helper tid -> its CPU ns when last taken.
  mutable absl::flat_hash_map<pid_t, int64_t> helpers_ ABSL_GUARDED_BY(mu_);
  mutable long task_count_ ABSL_GUARDED_BY(mu_) = -1;
};

// Constructed during static initialization, after the shared libraries' constructors and before
// main() starts any thread of ours, so the threads it sees are the libraries' pools.
const CpuMeter* const kLibraryPools = CpuMeter::Real();

}  // namespace

const CpuMeter* CpuMeter::Real() {
  static const RealCpuMeter* const meter = new RealCpuMeter();
  return meter;
}

int64_t TaskCpuNanos(pid_t tid) {
  // The kernel's CPU-clock id of a thread (what pthread_getcpuclockid builds): ~tid << 3, with
  // CPUCLOCK_PERTHREAD (4) | CPUCLOCK_SCHED (2) in the low bits.
  const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 4 | 2);
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace gridserve::core
