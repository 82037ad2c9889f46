#pragma once

// Starts an in-process gridserve on 127.0.0.1 with an ephemeral port and gives tests a stub.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "server/server.h"

namespace gridserve::testing {

inline server::ServerOptions LoopbackOptions(const std::string& repository) {
  server::ServerOptions options;
  options.model_repositories = {repository};
  options.grpc_address = "127.0.0.1";
  options.grpc_port = 0;
  options.metrics_address = "127.0.0.1";
  options.metrics_port = 0;
  options.strict_readiness = false;
  options.exit_timeout_secs = 10;
  options.cpu_cores = 2;
  // In-process servers share the test's threads; a test that checks priorities sets its own.
  options.grpc_thread_nice = 0;
  return options;
}

inline std::unique_ptr<inference::GRPCInferenceService::Stub> MakeStub(int port,
                                                                       int max_message = 64 << 20) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message);
  args.SetMaxSendMessageSize(max_message);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                           grpc::InsecureChannelCredentials(), args);
  return inference::GRPCInferenceService::NewStub(channel);
}

// A ClientContext with a deadline, so no test can hang on a call.
inline std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

}  // namespace gridserve::testing
