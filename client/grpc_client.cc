#include "client/grpc_client.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // Both enumerate the canonical codes with the same numbers (0..16).
  const int code = static_cast<int>(status.error_code());
  if (code < 1 || code > 16) {
    return absl::UnknownError(
        absl::StrCat("gRPC status code ", code, ": ", status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

absl::StatusOr<std::unique_ptr<InferenceClient>> InferenceClient::Create(std::string url,
                                                                         Options options) {
  if (url.empty()) return absl::InvalidArgumentError("server url is empty");
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be positive, got ", options.max_message_bytes));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(url, grpc::InsecureChannelCredentials(), arguments);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create a channel to '", url, "'"));
  }
  return std::unique_ptr<InferenceClient>(new InferenceClient(std::move(url), options, channel));
}

InferenceClient::InferenceClient(std::string url, Options options,
                                 std::shared_ptr<grpc::Channel> channel)
    : url_(std::move(url)),
      options_(options),
      stub_(inference::GRPCInferenceService::NewStub(channel)),
      info_stub_(gridserve::v1::ServerInfoService::NewStub(channel)) {}

void InferenceClient::SetDeadline(grpc::ClientContext* context) const {
  if (options_.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
}

absl::StatusOr<gridserve::v1::GetServerInfoResponse> InferenceClient::ServerInfo() const {
  grpc::ClientContext context;
  SetDeadline(&context);
  gridserve::v1::GetServerInfoResponse response;
  const grpc::Status status =
      info_stub_->GetServerInfo(&context, gridserve::v1::GetServerInfoRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

template <typename Request, typename Response>
absl::StatusOr<Response> InferenceClient::Call(
    grpc::Status (inference::GRPCInferenceService::Stub::*method)(grpc::ClientContext*,
                                                                  const Request&, Response*),
    const Request& request) const {
  grpc::ClientContext context;
  SetDeadline(&context);
  Response response;
  const grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<bool> InferenceClient::ServerLive() const {
  ASSIGN_OR_RETURN(
      const inference::ServerLiveResponse response,
      Call(&inference::GRPCInferenceService::Stub::ServerLive, inference::ServerLiveRequest()));
  return response.live();
}

absl::StatusOr<bool> InferenceClient::ServerReady() const {
  ASSIGN_OR_RETURN(
      const inference::ServerReadyResponse response,
      Call(&inference::GRPCInferenceService::Stub::ServerReady, inference::ServerReadyRequest()));
  return response.ready();
}

absl::StatusOr<bool> InferenceClient::ModelReady(absl::string_view name,
                                                 absl::string_view version) const {
  inference::ModelReadyRequest request;
  request.set_name(std::string(name));
  request.set_version(std::string(version));
  ASSIGN_OR_RETURN(const inference::ModelReadyResponse response,
                   Call(&inference::GRPCInferenceService::Stub::ModelReady, request));
  return response.ready();
}

absl::StatusOr<inference::ServerMetadataResponse> InferenceClient::ServerMetadata() const {
  return Call(&inference::GRPCInferenceService::Stub::ServerMetadata,
              inference::ServerMetadataRequest());
}

absl::StatusOr<inference::ModelMetadataResponse> InferenceClient::ModelMetadata(
    absl::string_view name, absl::string_view version) const {
  inference::ModelMetadataRequest request;
  request.set_name(std::string(name));
  request.set_version(std::string(version));
  return Call(&inference::GRPCInferenceService::Stub::ModelMetadata, request);
}

absl::StatusOr<inference::ModelConfigResponse> InferenceClient::ModelConfig(
    absl::string_view name, absl::string_view version) const {
  inference::ModelConfigRequest request;
  request.set_name(std::string(name));
  request.set_version(std::string(version));
  return Call(&inference::GRPCInferenceService::Stub::ModelConfig, request);
}

absl::StatusOr<inference::RepositoryIndexResponse> InferenceClient::RepositoryIndex(
    bool ready_only) const {
  inference::RepositoryIndexRequest request;
  request.set_ready(ready_only);
  return Call(&inference::GRPCInferenceService::Stub::RepositoryIndex, request);
}

absl::StatusOr<inference::ModelInferResponse> InferenceClient::Infer(
    const inference::ModelInferRequest& request) const {
  return Call(&inference::GRPCInferenceService::Stub::ModelInfer, request);
}

}  // namespace gridserve::client
