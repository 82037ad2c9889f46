#pragma once

// The real `gridserve` binary as a child process of a test: on free loopback ports, ready when
// ServerReady says so (polled with a deadline), stopped with SIGTERM (SIGKILL by Subprocess if a
// test ends early).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace gridserve::testing {

class ServerProcess {
 public:
  // Starts gridserve on `repository` with `extra_flags`; output goes to `log_path`.
  ServerProcess(const std::string& repository, const std::vector<std::string>& extra_flags,
                const std::string& log_path)
      : grpc_port_(FreeLoopbackPort()), metrics_port_(FreeLoopbackPort()) {
    std::vector<std::string> argv = {std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve",
                                     "--model-repository=" + repository,
                                     "--grpc-address=127.0.0.1",
                                     "--grpc-port=" + std::to_string(grpc_port_),
                                     "--metrics-address=127.0.0.1",
                                     "--metrics-port=" + std::to_string(metrics_port_),
                                     "--strict-readiness=false"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<Subprocess>(argv, log_path);
  }

  // Polls ServerReady until true or `timeout`; whether it became ready.
  bool WaitReady(std::chrono::seconds timeout) {
    auto stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(url(), grpc::InsecureChannelCredentials()));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      inference::ServerReadyResponse response;
      if (stub->ServerReady(&ctx, {}, &response).ok() && response.ready()) return true;
      if (process_->Wait(std::chrono::milliseconds(0))) return false;  // exited
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // SIGTERM, then the exit code (nullopt if it did not exit within `timeout`).
  std::optional<int> Stop(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    process_->Signal(SIGTERM);
    return process_->Wait(timeout);
  }

  std::string url() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return process_->pid(); }
  std::string Output() const { return process_->Output(); }

 private:
  const int grpc_port_;
  const int metrics_port_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace gridserve::testing
