#pragma once

// An in-process KServe v2 server for client tests: a scripted GRPCInferenceService on a loopback
// port. (Lives here rather than in tests/testing/ because only the client tests use it.)

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "inference/grpc_service.grpc.pb.h"

namespace gridserve::client::testing {

// Models:
//   "echo" v1: READY. Inputs x FP32 [-1, 2], s BYTES [-1], h FP16 [-1]. Infer returns every
//     input as an output of the same name, datatype, shape and raw contents (only the requested
//     outputs when the request names some) and echoes the id.
//   "slow" v1: READY; Infer waits until the call is cancelled (or 10 s) and then fails.
//   "sleepy" v1: loaded but not ready; ModelReady says false.
//   "broken" v2: UNAVAILABLE in the index with a reason.
// Anything else: NOT_FOUND. Thread-safe: no mutable state after construction except `ready`.
class FakeInferenceService final : public inference::GRPCInferenceService::Service {
 public:
  std::atomic<bool> ready{true};

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    response->set_ready(ready.load());
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    if (!Known(request->name())) return NotFound(request->name());
    response->set_ready(request->name() != "sleepy");
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    response->set_name("fake");
    response->set_version("0.0.1");
    response->add_extensions("model_repository");
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (!Known(request->name())) return NotFound(request->name());
    response->set_name(request->name());
    response->add_versions("1");
    response->set_platform("pytorch_libtorch");
    if (request->name() == "echo") {
      AddTensor(response->add_inputs(), "x", "FP32", {-1, 2});
      AddTensor(response->add_inputs(), "s", "BYTES", {-1});
      AddTensor(response->add_inputs(), "h", "FP16", {-1});
      AddTensor(response->add_outputs(), "x", "FP32", {-1, 2});
      AddTensor(response->add_outputs(), "s", "BYTES", {-1});
      AddTensor(response->add_outputs(), "h", "FP16", {-1});
    } else {
      AddTensor(response->add_inputs(), "x", "FP32", {-1, 2});
      AddTensor(response->add_outputs(), "x", "FP32", {-1, 2});
    }
    return grpc::Status::OK;
  }

  grpc::Status ModelConfig(grpc::ServerContext*, const inference::ModelConfigRequest* request,
                           inference::ModelConfigResponse* response) override {
    if (!Known(request->name())) return NotFound(request->name());
    response->mutable_config()->set_name(request->name());
    response->mutable_config()->set_platform("pytorch_libtorch");
    response->mutable_config()->set_max_batch_size(8);
    return grpc::Status::OK;
  }

  grpc::Status RepositoryIndex(grpc::ServerContext*,
                               const inference::RepositoryIndexRequest* request,
                               inference::RepositoryIndexResponse* response) override {
    AddIndex(response, "echo", "1", "READY", "");
    AddIndex(response, "slow", "1", "READY", "");
    if (request->ready()) return grpc::Status::OK;
    AddIndex(response, "sleepy", "1", "LOADING", "");
    AddIndex(response, "broken", "2", "UNAVAILABLE", "load failed: bad file");
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    if (request->model_name() == "slow") {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return grpc::Status(grpc::StatusCode::INTERNAL, "slow model gave up");
    }
    if (request->model_name() != "echo") return NotFound(request->model_name());
    if (request->raw_input_contents_size() != request->inputs_size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "raw contents required");
    }
    response->set_model_name("echo");
    response->set_model_version("1");
    response->set_id(request->id());
    for (int i = 0; i < request->inputs_size(); ++i) {
      const auto& input = request->inputs(i);
      bool wanted = request->outputs_size() == 0;
      for (const auto& output : request->outputs()) wanted |= output.name() == input.name();
      if (!wanted) continue;
      auto* output = response->add_outputs();
      output->set_name(input.name());
      output->set_datatype(input.datatype());
      *output->mutable_shape() = input.shape();
      response->add_raw_output_contents(request->raw_input_contents(i));
    }
    return grpc::Status::OK;
  }

 private:
  static bool Known(const std::string& name) {
    return name == "echo" || name == "slow" || name == "sleepy";
  }

  static grpc::Status NotFound(const std::string& name) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("unknown model '", name, "'"));
  }

  static void AddTensor(inference::ModelMetadataResponse::TensorMetadata* tensor,
                        const std::string& name, const std::string& datatype,
                        std::initializer_list<int64_t> shape) {
    tensor->set_name(name);
    tensor->set_datatype(datatype);
    for (int64_t dim : shape) tensor->add_shape(dim);
  }

  static void AddIndex(inference::RepositoryIndexResponse* response, const std::string& name,
                       const std::string& version, const std::string& state,
                       const std::string& reason) {
    auto* model = response->add_models();
    model->set_name(name);
    model->set_version(version);
    model->set_state(state);
    model->set_reason(reason);
  }
};

// Runs a FakeInferenceService on 127.0.0.1 with an ephemeral port; stops it on destruction.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(256 << 20);
    builder.SetMaxSendMessageSize(256 << 20);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  bool started() const { return server_ != nullptr && port_ > 0; }
  std::string url() const { return absl::StrCat("127.0.0.1:", port_); }
  FakeInferenceService& service() { return service_; }

 private:
  FakeInferenceService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace gridserve::client::testing
