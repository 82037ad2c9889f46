#pragma once

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace gridserve::repository {

// A fixed set of threads (named gs-load) that run model loads and unloads in FIFO order, so that
// loading never runs on a request thread and the threads that instances are created from keep
// the process's normal priority. Thread-safe. The destructor runs the work already queued, then
// joins. (Abseil has no public thread pool; this is the 40 lines a pool needs here.)
class LoadPool {
 public:
  explicit LoadPool(int threads);
  ~LoadPool();
  void Schedule(std::function<void()> work);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace gridserve::repository
