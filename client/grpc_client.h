#pragma once

// gRPC client for the KServe v2 / Open Inference Protocol service (inference.GRPCInferenceService),
// as served by gridserve and by Triton Inference Server.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gridserve/v1/server_info.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"

namespace gridserve::client {

// Options of InferenceClient (defined outside it so that `= {}` works as a default argument).
struct InferenceClientOptions {
  // Largest message sent or received, bytes. Default 64 MiB; gRPC's own receive default of
  // 4 MiB is too small for image batches. Raise it for large tensors; the server has its own
  // limit too (RESOURCE_EXHAUSTED when either is exceeded).
  int max_message_bytes = 64 << 20;
  // Deadline for each call, measured from its start. Default infinite (no deadline). A call
  // that runs past it fails with DEADLINE_EXCEEDED.
  absl::Duration timeout = absl::InfiniteDuration();
};

// Blocking client for one server. Owns its channel; connects lazily on the first call and
// reconnects by itself after failures. Every method is safe to call concurrently from several
// threads (the gRPC stub is); the client must outlive the calls.
//
// Each method returns the server's status unchanged: the grpc::StatusCode becomes the
// absl::StatusCode of the same number and name (UNAVAILABLE when the server cannot be reached,
// NOT_FOUND for an unknown model, ...), with the server's message.
class InferenceClient {
 public:
  using Options = InferenceClientOptions;

  // `url` is "host:port" (any gRPC target string, e.g. "unix:/path", also works). Makes no
  // connection yet. INVALID_ARGUMENT for an empty url or a non-positive max_message_bytes or
  // timeout.
  static absl::StatusOr<std::unique_ptr<InferenceClient>> Create(std::string url,
                                                                 Options options = {});

  // Health. Each result is the server's answer; an unreachable server is an error (UNAVAILABLE),
  // not `false`.
  absl::StatusOr<bool> ServerLive() const;
  absl::StatusOr<bool> ServerReady() const;
  // An empty `version` lets the server's version policy choose.
  absl::StatusOr<bool> ModelReady(absl::string_view name, absl::string_view version = "") const;

  // Metadata and configuration.
  absl::StatusOr<inference::ServerMetadataResponse> ServerMetadata() const;
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(
      absl::string_view name, absl::string_view version = "") const;
  absl::StatusOr<inference::ModelConfigResponse> ModelConfig(absl::string_view name,
                                                             absl::string_view version = "") const;
  // All models in all repositories; `ready_only` lists only those ready for inference.
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(bool ready_only = false) const;

  // gridserve's own gridserve.v1.ServerInfoService: build, BLAS kernels, malloc. UNIMPLEMENTED
  // from servers that are not gridserve (Triton).
  absl::StatusOr<gridserve::v1::GetServerInfoResponse> ServerInfo() const;

  // One inference. Inputs should travel as raw_input_contents (see tensor_io.h).
  absl::StatusOr<inference::ModelInferResponse> Infer(
      const inference::ModelInferRequest& request) const;

  const std::string& url() const { return url_; }

 private:
  InferenceClient(std::string url, Options options, std::shared_ptr<grpc::Channel> channel);

  // The deadline from options_.timeout, for every call.
  void SetDeadline(grpc::ClientContext* context) const;
  // Makes one unary call with the deadline from options_.timeout.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (inference::GRPCInferenceService::Stub::*method)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request) const;

  // Constant after construction.
  const std::string url_;
  const Options options_;
  const std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  const std::unique_ptr<gridserve::v1::ServerInfoService::Stub> info_stub_;
};

// grpc::Status -> absl::Status with the same code and message. The one place the client converts.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gridserve::client
