// The floor for the per-request overhead benchmark: one gRPC round trip over TCP loopback with
// no inference server behind it, driven the way gridserve-perf drives a server at concurrency 1
// (GenericStub + CompletionQueue, one call in flight, the request serialized once).
//
// Usage: bench_grpc_echo [benchmark flags]
// Two servers behind one in-process gRPC server on 127.0.0.1 (callback API, like gridserve):
//   BM_GrpcEcho/bytes   a generic service returning the request bytes unchanged: bare gRPC
//   BM_GrpcEcho/kserve  GRPCInferenceService::ModelInfer parsing the request and answering every
//                       input as an output (no model, no queue): gRPC + protobuf, i.e. what
//                       gridserve cannot avoid
// The payload is an add_sub request (INPUT__0, INPUT__1: FP32 [1, 4], raw contents), the same
// bytes gridserve-perf sends for `-m add_sub`. Counters: p50_us, p90_us, p99_us per round trip.

#include <benchmark/benchmark.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"

namespace {

constexpr char kEchoMethod[] = "/gridserve.bench.Echo/Echo";
constexpr char kInferMethod[] = "/inference.GRPCInferenceService/ModelInfer";

// Answers any generic call with the bytes of its first message.
class BytesEcho final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { StartRead(&message_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
          return;
        }
        StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer message_;
    };
    return new Reactor;
  }
};

// KServe ModelInfer without a model: every input comes back as an output.
class KServeEcho final : public inference::GRPCInferenceService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    response->set_model_name(request->model_name());
    response->set_model_version("1");
    for (int i = 0; i < request->inputs_size(); ++i) {
      auto* out = response->add_outputs();
      out->set_name(request->inputs(i).name());
      out->set_datatype(request->inputs(i).datatype());
      *out->mutable_shape() = request->inputs(i).shape();
    }
    *response->mutable_raw_output_contents() = request->raw_input_contents();
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

grpc::ByteBuffer AddSubRequest() {
  inference::ModelInferRequest request;
  request.set_model_name("add_sub");
  for (const char* name : {"INPUT__0", "INPUT__1"}) {
    auto* input = request.add_inputs();
    input->set_name(name);
    input->set_datatype("FP32");
    input->add_shape(1);
    input->add_shape(4);
    const float values[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values), 16));
  }
  const std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

struct Fixture {
  BytesEcho bytes_echo;
  KServeEcho kserve_echo;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  Fixture() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterCallbackGenericService(&bytes_echo);
    builder.RegisterService(&kserve_echo);
    server = builder.BuildAndStart();
  }
};

Fixture& SharedFixture() {
  static Fixture* fixture = new Fixture;
  return *fixture;
}

void RoundTrips(benchmark::State& state, const char* method) {
  Fixture& fixture = SharedFixture();
  if (!fixture.server) {
    state.SkipWithError("cannot start the echo server on 127.0.0.1");
    return;
  }
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(fixture.port),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  const grpc::ByteBuffer payload = AddSubRequest();
  std::vector<int64_t> latencies_ns;
  latencies_ns.reserve(1 << 16);

  auto one_call = [&]() -> bool {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::ByteBuffer response;
    grpc::Status status;
    const auto start = std::chrono::steady_clock::now();
    auto reader = stub.PrepareUnaryCall(&context, method, payload, &cq);
    reader->StartCall();
    reader->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    cq.Next(&tag, &ok);
    const auto end = std::chrono::steady_clock::now();
    latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    return status.ok();
  };
  for (int i = 0; i < 200; ++i) one_call();  // connect and warm up
  latencies_ns.clear();

  for (auto _ : state) {
    if (!one_call()) {
      state.SkipWithError("echo call failed");
      break;
    }
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  if (latencies_ns.empty()) return;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto percentile_us = [&](double p) {
    size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_ns.size()));
    rank = std::min(rank, latencies_ns.size() - 1);
    return static_cast<double>(latencies_ns[rank]) / 1000.0;
  };
  state.counters["p50_us"] = percentile_us(50);
  state.counters["p90_us"] = percentile_us(90);
  state.counters["p99_us"] = percentile_us(99);
}

void BM_GrpcEchoBytes(benchmark::State& state) { RoundTrips(state, kEchoMethod); }
void BM_GrpcEchoKServe(benchmark::State& state) { RoundTrips(state, kInferMethod); }

BENCHMARK(BM_GrpcEchoBytes)
    ->Name("BM_GrpcEcho/bytes")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GrpcEchoKServe)
    ->Name("BM_GrpcEcho/kserve")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
