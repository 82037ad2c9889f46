// gridserve: serves TorchScript models from Triton-layout repositories over KServe v2 gRPC.

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/allocator.h"
#include "server/flags.h"
#include "server/logging.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &byte, 1);
}

// LibTorch's OpenMP threads busy-wait after every parallel region by default, on cores that
// OpenBLAS's own threads, other instances and gRPC need: a 43-row GEMM of 4 x Linear(1024, 1024)
// took 13.0 ms with 2 intra-op threads instead of 2.8 ms with 1 (docs/benchmarks.md). libgomp reads
// OMP_WAIT_POLICY once, when it is loaded, before main() runs, so the only way to change it is
// to set it and exec ourselves again (same pid, same arguments). An explicit value is kept.
void SetPassiveOpenMpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  // The binary's own path, not /proc/self/exe, so the process keeps its name (ps, pgrep).
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof(path) - 1)) return;  // unreadable or truncated
  path[n] = '\0';
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv(path, argv);
  // exec failed (binary replaced or deleted?): carry on with the default policy, and do not
  // claim otherwise in the log.
  const int error = errno;
  unsetenv("OMP_WAIT_POLICY");
  std::fprintf(stderr, "gridserve: cannot re-execute %s to set OMP_WAIT_POLICY=PASSIVE: %s\n", path,
               std::strerror(error));
}

}  // namespace

int main(int argc, char** argv) {
  SetPassiveOpenMpWait(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<gridserve::server::ServerOptions> options = gridserve::server::ParseFlags(args);
  if (!options.ok()) {
    if (absl::IsFailedPrecondition(options.status())) {
      std::fputs(std::string(options.status().message()).c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "gridserve: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  if (absl::Status logging =
          gridserve::server::SetupLogging(options->log_verbose, options->log_format);
      !logging.ok()) {
    std::fprintf(stderr, "gridserve: %s\n", std::string(logging.message()).c_str());
    return 2;
  }
  // Abseil's mutex deadlock detection (on in Debian's build) keeps a lock graph on every
  // acquisition: 1-2% of the server's CPU in profiles under load. Lock order is documented next
  // to each mutex and exercised by the test suite instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  spdlog::info("OMP_WAIT_POLICY={}",
               std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset: active)");
  spdlog::info("malloc: {}", gridserve::server::MallocName());

  // SIGINT/SIGTERM only write the signal number to a pipe (async-signal-safe); a dedicated thread
  // reads it and runs the graceful shutdown outside the handler. A handler, not sigwait: libraries
  // start threads before main() whose signal masks we do not control.
  if (pipe(g_signal_pipe) != 0) {
    std::perror("gridserve: pipe");
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  absl::StatusOr<std::unique_ptr<gridserve::server::Server>> server =
      gridserve::server::Server::Create(*options);
  if (!server.ok()) {
    spdlog::critical("gridserve failed to start: {}", std::string(server.status().message()));
    return 1;
  }
  std::thread waiter([&] {
    unsigned char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    spdlog::info("received signal {}", sig);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  server->reset();
  return 0;
}
