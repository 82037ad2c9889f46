// gridserve: serves TorchScript models from Triton-layout repositories over KServe v2 gRPC.

#include <signal.h>

#include <cstdio>
#include <thread>

#include "absl/status/status.h"
#include "server/flags.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
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
  spdlog::set_level(options->log_verbose > 0 ? spdlog::level::debug : spdlog::level::info);

  // SIGINT/SIGTERM are taken by a dedicated thread (sigwait), so shutdown runs outside a
  // signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<gridserve::server::Server>> server =
      gridserve::server::Server::Create(*options);
  if (!server.ok()) {
    spdlog::critical("gridserve failed to start: {}", std::string(server.status().message()));
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received signal {}", sig);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  server->reset();
  return 0;
}
