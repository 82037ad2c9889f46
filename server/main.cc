// gridserve: serves TorchScript models from Triton-layout repositories over KServe v2 gRPC.

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/cpu/blas_kernels.h"
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

// The value of --blas-coretype in `argv` ("auto" when absent), read before flags are parsed: the
// kernel is chosen before anything else runs (runtime/cpu/blas_kernels.h). A bad value selects
// nothing here; ParseFlags refuses it right after.
std::string BlasCoretypeArgument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--blas-coretype=", 0) == 0) return arg.substr(16);
    if (arg == "--blas-coretype" && i + 1 < argc) return argv[i + 1];
  }
  return "auto";
}

}  // namespace

int main(int argc, char** argv) {
  // Libraries read two settings once, when they are loaded (before main), so the process sets
  // them by exec'ing itself again (same pid, same arguments), at most once for both unless a
  // chosen BLAS kernel fails its check:
  // - LibTorch's OpenMP threads busy-wait after every parallel region by default, on cores that
  //   OpenBLAS's own threads, other instances and gRPC need: a 43-row GEMM of 4 x Linear(1024,
  //   1024) took 13.0 ms with 2 intra-op threads instead of 2.8 ms with 1 (docs/benchmarks.md).
  //   libgomp reads OMP_WAIT_POLICY; an explicit value is kept.
  // - OpenBLAS picks its kernels from the CPU model, and falls back to generic SSE3 ones on a
  //   model it does not know (3x slower on AVX-512 CPUs): --blas-coretype, OPENBLAS_CORETYPE.
  std::vector<std::pair<std::string, std::string>> omp_env;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) omp_env.emplace_back("OMP_WAIT_POLICY", "PASSIVE");
  std::string blas_request = BlasCoretypeArgument(argc, argv);
  if (!gridserve::cpu::IsValidCoretypeRequest(blas_request)) blas_request = "openblas";
  gridserve::cpu::BlasReport blas = gridserve::cpu::SelectBlasKernel(argv, blas_request, omp_env);
  if (!blas.exec_error.empty()) {
    // Carry on with the defaults, and do not claim otherwise in the log.
    std::fprintf(stderr, "gridserve: %s\n", blas.exec_error.c_str());
  }
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
  if (blas.self_test_passed && blas.selected_by != gridserve::cpu::BlasSelection::kFallback) {
    spdlog::info("{}", blas.LogLine());
  } else {
    spdlog::warn("{}", blas.LogLine());
  }
  options->process.blas = blas;
  options->process.malloc = gridserve::server::MallocName();

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
