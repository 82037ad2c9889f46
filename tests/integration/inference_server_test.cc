// Integration tests: a real gridserve on a loopback ephemeral port, spoken to over real gRPC with
// stubs generated from proto/inference/grpc_service.proto (Triton's messages and field numbers).

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/repository/model_manager.h"
#include "tests/testing/requests.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_server.h"

namespace gridserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    grpc::Status s_ = (expr);                                              \
    ASSERT_TRUE(s_.ok()) << s_.error_code() << ": " << s_.error_message(); \
  } while (0)

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Framed(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    uint32_t len = e.size();
    out.append(reinterpret_cast<const char*>(&len), 4);
    out.append(e);
  }
  return out;
}

template <typename T>
std::vector<T> Values(const std::string& raw) {
  std::vector<T> out(raw.size() / sizeof(T));
  std::memcpy(out.data(), raw.data(), out.size() * sizeof(T));
  return out;
}

void AddInput(inference::ModelInferRequest* req, const std::string& name, const std::string& type,
              std::vector<int64_t> shape, const std::string& raw) {
  auto* in = req->add_inputs();
  in->set_name(name);
  in->set_datatype(type);
  for (int64_t d : shape) in->add_shape(d);
  req->add_raw_input_contents(raw);
}

using testing::AddSubRequest;

class InferenceServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = server::Server::Create(testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    // Readiness is polled with a deadline, never assumed.
    auto stub = testing::MakeStub(server_->grpc_port());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < deadline) {
      inference::ServerReadyResponse resp;
      ready = stub->ServerReady(testing::Context(5).get(), {}, &resp).ok() && resp.ready();
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(ready);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { stub_ = testing::MakeStub(server_->grpc_port()); }

  grpc::Status Infer(const inference::ModelInferRequest& req, inference::ModelInferResponse* resp) {
    return stub_->ModelInfer(testing::Context().get(), req, resp);
  }

  static server::Server* server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

server::Server* InferenceServerTest::server_ = nullptr;

TEST_F(InferenceServerTest, LiveReadyAndMetadata) {
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(testing::Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());

  inference::ServerMetadataResponse meta;
  ASSERT_TRUE(stub_->ServerMetadata(testing::Context().get(), {}, &meta).ok());
  EXPECT_EQ(meta.name(), "gridserve");
  EXPECT_FALSE(meta.version().empty());

  inference::ModelMetadataRequest mreq;
  mreq.set_name("add_sub");
  inference::ModelMetadataResponse mresp;
  ASSERT_TRUE(stub_->ModelMetadata(testing::Context().get(), mreq, &mresp).ok());
  EXPECT_EQ(mresp.platform(), "pytorch_libtorch");
  EXPECT_THAT(mresp.versions(), ElementsAre("1"));
  ASSERT_EQ(mresp.inputs_size(), 2);
  EXPECT_EQ(mresp.inputs(0).name(), "INPUT__0");
  EXPECT_EQ(mresp.inputs(0).datatype(), "FP32");
  EXPECT_THAT(mresp.inputs(0).shape(), ElementsAre(-1, 4));
  EXPECT_THAT(mresp.outputs(1).shape(), ElementsAre(-1, 4));

  mreq.set_name("nobatch");
  ASSERT_TRUE(stub_->ModelMetadata(testing::Context().get(), mreq, &mresp).ok());
  EXPECT_THAT(mresp.inputs(0).shape(), ElementsAre(-1));  // max_batch_size 0: no batch dim

  mreq.set_name("no_such_model");
  EXPECT_EQ(stub_->ModelMetadata(testing::Context().get(), mreq, &mresp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(InferenceServerTest, ModelReadyPerModel) {
  inference::ModelReadyRequest req;
  inference::ModelReadyResponse resp;
  req.set_name("add_sub");
  ASSERT_TRUE(stub_->ModelReady(testing::Context().get(), req, &resp).ok());
  EXPECT_TRUE(resp.ready());
  req.set_name("corrupt");
  ASSERT_TRUE(stub_->ModelReady(testing::Context().get(), req, &resp).ok());
  EXPECT_FALSE(resp.ready());
  req.set_name("nobatch");
  req.set_version("2");
  ASSERT_TRUE(stub_->ModelReady(testing::Context().get(), req, &resp).ok());
  EXPECT_TRUE(resp.ready());
  req.set_version("7");
  EXPECT_EQ(stub_->ModelReady(testing::Context().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  req.set_name("missing");
  req.clear_version();
  EXPECT_EQ(stub_->ModelReady(testing::Context().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(InferenceServerTest, RepositoryIndexReportsBrokenModelsWithReasons) {
  inference::RepositoryIndexResponse resp;
  ASSERT_TRUE(stub_->RepositoryIndex(testing::Context().get(), {}, &resp).ok());
  std::map<std::string, inference::RepositoryIndexResponse::ModelIndex> by_name;
  for (const auto& m : resp.models()) by_name[m.name() + "/" + m.version()] = m;
  ASSERT_TRUE(by_name.count("add_sub/1"));
  EXPECT_EQ(by_name["add_sub/1"].state(), "READY");
  EXPECT_EQ(by_name["nobatch/1"].state(), "READY");
  EXPECT_EQ(by_name["nobatch/2"].state(), "READY");
  ASSERT_TRUE(by_name.count("corrupt/1"));
  EXPECT_EQ(by_name["corrupt/1"].state(), "UNAVAILABLE");
  EXPECT_FALSE(by_name["corrupt/1"].reason().empty());
  ASSERT_TRUE(by_name.count("bad_config/"));
  EXPECT_EQ(by_name["bad_config/"].state(), "UNAVAILABLE");
  EXPECT_THAT(by_name["bad_config/"].reason(), HasSubstr("TYPE_FLOAT99"));

  inference::RepositoryIndexRequest ready_only;
  ready_only.set_ready(true);
  ASSERT_TRUE(stub_->RepositoryIndex(testing::Context().get(), ready_only, &resp).ok());
  for (const auto& m : resp.models()) EXPECT_EQ(m.state(), "READY") << m.name();
}

TEST_F(InferenceServerTest, ModelConfigReturnsNormalizedConfig) {
  inference::ModelConfigRequest req;
  req.set_name("strlen");
  inference::ModelConfigResponse resp;
  ASSERT_TRUE(stub_->ModelConfig(testing::Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.config().name(), "strlen");
  EXPECT_EQ(resp.config().max_batch_size(), 8);
  EXPECT_EQ(resp.config().platform(), "pytorch_libtorch");  // filled from backend: "pytorch"
  EXPECT_EQ(resp.config().instance_group_size(), 1);
  req.set_name("nope");
  EXPECT_EQ(stub_->ModelConfig(testing::Context().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(InferenceServerTest, RawFp32TwoInputsTwoOutputs) {
  auto req = AddSubRequest({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 1, 1, 2, 2, 2, 2});
  req.set_id("req-42");
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  EXPECT_EQ(resp.model_name(), "add_sub");
  EXPECT_EQ(resp.model_version(), "1");
  EXPECT_EQ(resp.id(), "req-42");
  ASSERT_EQ(resp.outputs_size(), 2);
  ASSERT_EQ(resp.raw_output_contents_size(), 2);
  EXPECT_EQ(resp.outputs(0).name(), "OUTPUT__0");
  EXPECT_EQ(resp.outputs(0).datatype(), "FP32");
  EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(2, 4));
  EXPECT_THAT(Values<float>(resp.raw_output_contents(0)), ElementsAre(2, 3, 4, 5, 7, 8, 9, 10));
  EXPECT_THAT(Values<float>(resp.raw_output_contents(1)), ElementsAre(0, 1, 2, 3, 3, 4, 5, 6));
}

TEST_F(InferenceServerTest, RequestedOutputsAreHonoured) {
  auto req = AddSubRequest({1, 2, 3, 4}, {4, 3, 2, 1});
  req.add_outputs()->set_name("OUTPUT__1");
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  ASSERT_EQ(resp.outputs_size(), 1);
  EXPECT_EQ(resp.outputs(0).name(), "OUTPUT__1");
  EXPECT_THAT(Values<float>(resp.raw_output_contents(0)), ElementsAre(-3, -1, 1, 3));
}

TEST_F(InferenceServerTest, TypedContents) {
  inference::ModelInferRequest req;
  req.set_model_name("add_sub");
  for (const char* name : {"INPUT__0", "INPUT__1"}) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(4);
    for (float v : {0.5f, 1.5f, 2.5f, 3.5f}) in->mutable_contents()->add_fp32_contents(v);
  }
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  EXPECT_THAT(Values<float>(resp.raw_output_contents(0)), ElementsAre(1, 3, 5, 7));
}

TEST_F(InferenceServerTest, BytesInInt64Out) {
  inference::ModelInferRequest req;
  req.set_model_name("strlen");
  AddInput(&req, "text", "BYTES", {3, 1}, Framed({"hello", "", "h\xC3\xA9llo \xE2\x98\x95"}));
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  EXPECT_EQ(resp.outputs(0).datatype(), "INT64");
  EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(3, 1));
  EXPECT_THAT(Values<int64_t>(resp.raw_output_contents(0)), ElementsAre(5, 0, 10));

  // The same through typed bytes_contents.
  inference::ModelInferRequest typed;
  typed.set_model_name("strlen");
  auto* in = typed.add_inputs();
  in->set_name("text");
  in->set_datatype("BYTES");
  in->add_shape(2);
  in->add_shape(1);
  in->mutable_contents()->add_bytes_contents("abc");
  in->mutable_contents()->add_bytes_contents(std::string("\0\xff", 2));
  ASSERT_OK(Infer(typed, &resp));
  EXPECT_THAT(Values<int64_t>(resp.raw_output_contents(0)), ElementsAre(3, 2));
}

TEST_F(InferenceServerTest, BytesOutput) {
  inference::ModelInferRequest req;
  req.set_model_name("echo");
  AddInput(&req, "text", "BYTES", {1, 2}, Framed({"grid", "\xC3\xA9t\xC3\xA9"}));
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  EXPECT_EQ(resp.outputs(0).datatype(), "BYTES");
  EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(1, 2));
  EXPECT_EQ(resp.raw_output_contents(0), Framed({"grid!", "\xC3\xA9t\xC3\xA9!"}));
}

TEST_F(InferenceServerTest, DictOutputsAndOptionalInput) {
  inference::ModelInferRequest req;
  req.set_model_name("dict_out");
  AddInput(&req, "x", "FP32", {1, 3}, Raw<float>({1, 2, 3}));
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  ASSERT_EQ(resp.outputs_size(), 2);
  std::map<std::string, std::vector<float>> out;
  for (int i = 0; i < resp.outputs_size(); ++i) {
    out[resp.outputs(i).name()] = Values<float>(resp.raw_output_contents(i));
  }
  EXPECT_THAT(out["total"], ElementsAre(6));
  EXPECT_THAT(out["scaled"], ElementsAre(2, 4, 6));  // default scale 2 when `scale` is absent

  AddInput(&req, "scale", "FP32", {1, 1}, Raw<float>({10}));
  ASSERT_OK(Infer(req, &resp));
  for (int i = 0; i < resp.outputs_size(); ++i) {
    out[resp.outputs(i).name()] = Values<float>(resp.raw_output_contents(i));
  }
  EXPECT_THAT(out["scaled"], ElementsAre(10, 20, 30));
}

TEST_F(InferenceServerTest, EveryNumericTypeRoundTrips) {
  const std::vector<std::pair<std::string, std::string>> types = {
      {"BOOL", Raw<uint8_t>({1, 0})},
      {"UINT8", Raw<uint8_t>({0, 255})},
      {"INT8", Raw<int8_t>({-128, 127})},
      {"INT16", Raw<int16_t>({-32768, 7})},
      {"INT32", Raw<int32_t>({INT32_MIN, 9})},
      {"INT64", Raw<int64_t>({INT64_MIN, INT64_MAX})},
      {"FP16", Raw<uint16_t>({0x3C00, 0xC000})},
      {"FP32", Raw<float>({1.25f, -0.0f})},
      {"FP64", Raw<double>({3.141592653589793, -1e300})}};
  inference::ModelInferRequest req;
  req.set_model_name("identity_types");
  for (size_t i = 0; i < types.size(); ++i) {
    AddInput(&req, "INPUT__" + std::to_string(i), types[i].first, {1, 2}, types[i].second);
  }
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  ASSERT_EQ(resp.outputs_size(), 9);
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(resp.outputs(i).datatype(), types[i].first);
    EXPECT_EQ(resp.raw_output_contents(i), types[i].second) << types[i].first;
  }
}

TEST_F(InferenceServerTest, NonBatchingModelAndExplicitVersions) {
  inference::ModelInferRequest req;
  req.set_model_name("nobatch");
  req.set_model_version("2");
  AddInput(&req, "x", "FP32", {3}, Raw<float>({1, 2, 3}));
  inference::ModelInferResponse resp;
  ASSERT_OK(Infer(req, &resp));
  EXPECT_EQ(resp.model_version(), "2");
  EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(3));
  EXPECT_THAT(Values<float>(resp.raw_output_contents(0)), ElementsAre(3, 6, 9));
  req.set_model_version("1");
  ASSERT_OK(Infer(req, &resp));
  EXPECT_EQ(resp.model_version(), "1");
  req.set_model_version("3");
  EXPECT_EQ(Infer(req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Every malformed request of issue 2 section 6 gets its code, and the server keeps serving.
TEST_F(InferenceServerTest, BadInputsGetTheRightCodes) {
  inference::ModelInferResponse resp;
  auto code = [&](const inference::ModelInferRequest& req) {
    return Infer(req, &resp).error_code();
  };
  auto good = [] { return AddSubRequest({1, 2, 3, 4}, {1, 2, 3, 4}); };
  const auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

  auto req = good();
  req.set_model_name("unknown_model");
  EXPECT_EQ(code(req), grpc::StatusCode::NOT_FOUND);
  req = good();
  req.set_model_version("9");
  EXPECT_EQ(code(req), grpc::StatusCode::NOT_FOUND);
  req = good();
  req.set_model_version("one");  // could be an alias: there is none by that name
  EXPECT_EQ(code(req), grpc::StatusCode::NOT_FOUND);
  req = good();
  req.set_model_version("-1");  // neither a positive integer nor an alias
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(1)->set_name("INPUT__7");  // unknown input name (and INPUT__1 missing)
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs()->RemoveLast();
  req.mutable_raw_input_contents()->RemoveLast();  // missing input
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->set_datatype("FP64");  // datatype mismatch (same byte count 16 -> 2)
  req.mutable_inputs(0)->set_shape(1, 2);
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->set_datatype("FLOAT");  // not a datatype at all
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->clear_shape();
  req.mutable_inputs(0)->add_shape(4);  // rank mismatch
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->set_shape(1, 5);  // dim mismatch
  EXPECT_EQ(code(req), kInvalid);
  req = AddSubRequest(std::vector<float>(36, 1), std::vector<float>(36, 1));  // batch 9 > 8
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->set_shape(0, -1);  // negative dim
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(0)->set_shape(0, INT64_MAX / 2);  // overflowing element count
  req.mutable_inputs(0)->set_shape(1, 4);
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_raw_input_contents(0)->append("xx");  // byte count != prod(shape) * 4
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_raw_input_contents()->RemoveLast();  // fewer raw contents than inputs
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.mutable_inputs(1)->mutable_contents()->add_fp32_contents(1);  // raw and typed mixed
  EXPECT_EQ(code(req), kInvalid);
  req = good();
  req.add_outputs()->set_name("OUTPUT__9");  // unknown requested output
  EXPECT_EQ(code(req), kInvalid);

  // Typed contents of the wrong kind, and of the wrong count.
  inference::ModelInferRequest typed;
  typed.set_model_name("add_sub");
  for (const char* name : {"INPUT__0", "INPUT__1"}) {
    auto* in = typed.add_inputs();
    in->set_name(name);
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(4);
    for (int v : {1, 2, 3, 4}) in->mutable_contents()->add_int_contents(v);
  }
  EXPECT_EQ(code(typed), kInvalid);
  for (int i = 0; i < 2; ++i) {
    typed.mutable_inputs(i)->mutable_contents()->clear_int_contents();
    for (float v : {1.f, 2.f, 3.f})
      typed.mutable_inputs(i)->mutable_contents()->add_fp32_contents(v);
  }
  EXPECT_EQ(code(typed), kInvalid);

  // BYTES framing: a length prefix past the end, and a count that differs from the shape.
  inference::ModelInferRequest bytes;
  bytes.set_model_name("strlen");
  std::string framed = Framed({"abc"});
  framed[0] = 100;
  AddInput(&bytes, "text", "BYTES", {1, 1}, framed);
  EXPECT_EQ(code(bytes), kInvalid);
  *bytes.mutable_raw_input_contents(0) = Framed({"a", "b"});
  EXPECT_EQ(code(bytes), kInvalid);
  *bytes.mutable_raw_input_contents(0) = "ab";  // truncated prefix
  EXPECT_EQ(code(bytes), kInvalid);

  // A model that failed to load answers UNAVAILABLE, not a crash.
  inference::ModelInferRequest broken;
  broken.set_model_name("corrupt");
  AddInput(&broken, "x", "FP32", {1, 1}, Raw<float>({1}));
  EXPECT_EQ(code(broken), grpc::StatusCode::UNAVAILABLE);

  // Still serving.
  ASSERT_OK(Infer(good(), &resp));
  EXPECT_THAT(Values<float>(resp.raw_output_contents(0)), ElementsAre(2, 4, 6, 8));
}

TEST_F(InferenceServerTest, SixtyFourConcurrentRequestsGetTheirOwnAnswers) {
  constexpr int kClients = 64;
  std::vector<std::thread> clients;
  std::vector<grpc::Status> statuses(kClients);
  std::vector<inference::ModelInferResponse> responses(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto stub = testing::MakeStub(server_->grpc_port());
      float base = static_cast<float>(i);
      auto req = AddSubRequest({base, base + 1, base + 2, base + 3}, {1, 1, 1, 1});
      req.set_id("client-" + std::to_string(i));
      statuses[i] = stub->ModelInfer(testing::Context().get(), req, &responses[i]);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    float base = static_cast<float>(i);
    EXPECT_EQ(responses[i].id(), "client-" + std::to_string(i));
    EXPECT_THAT(Values<float>(responses[i].raw_output_contents(0)),
                ElementsAre(base + 1, base + 2, base + 3, base + 4));
    EXPECT_THAT(Values<float>(responses[i].raw_output_contents(1)),
                ElementsAre(base - 1, base, base + 1, base + 2));
  }
}

// ModelStatistics (Triton's message): a fresh server's counts match exactly the traffic sent.
TEST(InferenceServerStatisticsTest, CountsMatchTraffic) {
  auto server = server::Server::Create(testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->grpc_port());
  for (int i = 0; i < 5; ++i) {
    inference::ModelInferResponse resp;
    ASSERT_OK(stub->ModelInfer(testing::Context().get(),
                               AddSubRequest(std::vector<float>(12, 1), std::vector<float>(12, 2)),
                               &resp));  // 3 items each
  }
  inference::ModelStatisticsRequest req;
  req.set_name("add_sub");
  req.set_version("1");
  inference::ModelStatisticsResponse resp;
  ASSERT_OK(stub->ModelStatistics(testing::Context().get(), req, &resp));
  ASSERT_EQ(resp.model_stats_size(), 1);
  const auto& stats = resp.model_stats(0);
  EXPECT_EQ(stats.name(), "add_sub");
  EXPECT_EQ(stats.version(), "1");
  EXPECT_EQ(stats.inference_count(), 15u);
  EXPECT_EQ(stats.execution_count(), 5u);
  EXPECT_EQ(stats.inference_stats().success().count(), 5u);
  EXPECT_EQ(stats.inference_stats().fail().count(), 0u);
  EXPECT_GT(stats.inference_stats().compute_infer().ns(), 0u);
  EXPECT_GT(stats.last_inference(), 0u);

  req.set_name("no_such_model");
  EXPECT_EQ(stub->ModelStatistics(testing::Context().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  inference::ModelStatisticsRequest all;
  ASSERT_OK(stub->ModelStatistics(testing::Context().get(), all, &resp));
  EXPECT_GE(resp.model_stats_size(), 7);  // every ready version
}

// Nice values of this process's threads, by thread name.
std::multimap<std::string, int> ThreadNiceValues() {
  std::multimap<std::string, int> nice;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm = testing::ReadFile(task.path() / "comm");
    std::string stat = testing::ReadFile(task.path() / "stat");
    size_t close = stat.rfind(')');
    if (comm.empty() || close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));  // field 3 (state) onwards
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
    }
    nice.emplace(comm.substr(0, comm.find('\n')), std::stoi(field));  // field 19: nice
  }
  return nice;
}

TEST(InferenceServerPriorityTest, GrpcThreadsYieldToInstanceThreads) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.grpc_thread_nice = 7;
  auto server = server::Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->grpc_port());
  for (int i = 0; i < 20; ++i) {
    inference::ModelInferResponse resp;
    ASSERT_OK(stub->ModelInfer(testing::Context().get(),
                               AddSubRequest(std::vector<float>(4, 1), std::vector<float>(4, 2)),
                               &resp));
  }
  // Instance threads were made by this (the loading) thread and keep its priority.
  const int base = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  std::multimap<std::string, int> nice = ThreadNiceValues();
  int instances = 0, lowered = 0;
  for (const auto& [name, value] : nice) {
    if (name == "gs-instance") {
      ++instances;
      EXPECT_EQ(value, base) << "instance threads keep the process's priority";
    }
    if (value == std::min(19, base + 7)) ++lowered;
  }
  EXPECT_GT(instances, 0);
  EXPECT_GE(lowered, 1) << "the threads that ran ModelInfer run 7 nice levels lower";
}

// gRPC health (grpc.health.v1.Health/Check) over a generic stub: the empty request asks for the
// server's overall status; the response's field 1 is the status enum (1 = SERVING).
TEST_F(InferenceServerTest, StandardHealthServiceReportsServing) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  grpc::ByteBuffer request;  // empty HealthCheckRequest
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer reply;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &reply,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(15), [&] { return done; }));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

// A server with a small message limit refuses a larger request with RESOURCE_EXHAUSTED and keeps
// serving requests under the limit.
TEST(InferenceServerLimitsTest, OversizeMessageIsRefused) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.grpc_max_message_size = 64 * 1024;
  auto server = server::Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->grpc_port());
  inference::ModelInferRequest req;
  req.set_model_name("linear4");
  AddInput(&req, "x", "FP32", {32, 1024}, std::string(32 * 1024 * 4, '\0'));  // 128 KiB
  inference::ModelInferResponse resp;
  EXPECT_EQ(stub->ModelInfer(testing::Context().get(), req, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  inference::ModelInferRequest small;
  small.set_model_name("linear4");
  AddInput(&small, "x", "FP32", {1, 1024}, std::string(1024 * 4, '\0'));
  EXPECT_TRUE(stub->ModelInfer(testing::Context().get(), small, &resp).ok());
}

// Strict readiness: with a corrupt model in the repository the server is live but not ready.
TEST(InferenceServerReadinessTest, StrictReadinessFollowsModels) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.strict_readiness = true;
  auto server = server::Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->grpc_port());
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub->ServerLive(testing::Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub->ServerReady(testing::Context().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
}

TEST(InferenceServerStartupTest, ExitOnErrorFailsStartupOnBrokenModel) {
  auto options = testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR);
  options.exit_on_error = true;
  auto server = server::Server::Create(options);
  EXPECT_FALSE(server.ok());
}

TEST(InferenceServerStartupTest, MissingRepositoryIsAnError) {
  auto server = server::Server::Create(testing::LoopbackOptions("/nonexistent/repository"));
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
}

// Shutdown while requests are in flight: every request either completes correctly or is refused
// as UNAVAILABLE; nothing hangs or crashes, and readiness goes false.
TEST(InferenceServerShutdownTest, InFlightRequestsFinishDuringShutdown) {
  auto server = server::Server::Create(testing::LoopbackOptions(GRIDSERVE_TEST_MODELS_DIR));
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->grpc_port();
  constexpr int kClients = 16;
  std::vector<grpc::Status> statuses(kClients);
  std::vector<inference::ModelInferResponse> responses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto stub = testing::MakeStub(port);
      inference::ModelInferRequest req;
      req.set_model_name("linear4");
      AddInput(&req, "x", "FP32", {64, 1024}, std::string(64 * 1024 * 4, '\0'));
      statuses[i] = stub->ModelInfer(testing::Context().get(), req, &responses[i]);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*server)->Shutdown();
  for (auto& t : clients) t.join();
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i].ok()) {
      ++ok;
      EXPECT_EQ(responses[i].raw_output_contents(0).size(), 64u * 1024 * 4);
    } else {
      // Refused: arrived after shutdown began (UNAVAILABLE), or was still being received when
      // the listener closed (CANCELLED). Never a wrong answer, never a hang.
      EXPECT_THAT(statuses[i].error_code(),
                  ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED))
          << statuses[i].error_message();
    }
  }
  RecordProperty("completed", ok);
}

// A client that cancels while its request is queued: the request is answered CANCELLED on the
// server and never executed (ModelStatistics: one execution, one failure).
TEST_F(InferenceServerTest, ACancelledQueuedRequestNeverRuns) {
  auto model = server_->models().Get("spin", 0);
  ASSERT_TRUE(model.ok()) << model.status();
  scheduler::Scheduler& scheduler = (*model)->scheduler();
  auto spin = [](float rounds) {
    inference::ModelInferRequest req;
    req.set_model_name("spin");
    AddInput(&req, "x", "FP32", {1}, Raw(std::vector<float>{rounds}));
    return req;
  };
  auto wait_in_flight = [&](size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (scheduler.InFlight() != n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return scheduler.InFlight() == n;
  };

  // a occupies the only instance for a second or more; b queues behind it.
  inference::ModelInferResponse a_resp;
  grpc::Status a_status;
  std::thread a([&] { a_status = Infer(spin(2e6), &a_resp); });
  ASSERT_TRUE(wait_in_flight(1));
  grpc::ClientContext b_ctx;
  b_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  inference::ModelInferResponse b_resp;
  absl::Notification b_done;
  grpc::Status b_status;
  stub_->async()->ModelInfer(&b_ctx, new inference::ModelInferRequest(spin(1)), &b_resp,
                             [&](grpc::Status status) {
                               b_status = std::move(status);
                               b_done.Notify();
                             });
  ASSERT_TRUE(wait_in_flight(2));
  b_ctx.TryCancel();
  ASSERT_TRUE(b_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(b_status.error_code(), grpc::StatusCode::CANCELLED);
  a.join();
  ASSERT_OK(a_status);
  EXPECT_THAT(Values<float>(a_resp.raw_output_contents(0)), ElementsAre(2e6f));
  ASSERT_TRUE(wait_in_flight(0));

  inference::ModelStatisticsRequest req;
  req.set_name("spin");
  inference::ModelStatisticsResponse resp;
  ASSERT_OK(stub_->ModelStatistics(testing::Context().get(), req, &resp));
  ASSERT_EQ(resp.model_stats_size(), 1);
  const auto& stats = resp.model_stats(0);
  EXPECT_EQ(stats.inference_stats().success().count(), 1u);
  EXPECT_EQ(stats.inference_stats().fail().count(), 1u);
  EXPECT_EQ(stats.execution_count(), 1u);
}

}  // namespace
}  // namespace gridserve
