#include "client/grpc_client.h"

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_inference_service.h"

namespace gridserve::client {
namespace {

using ::testing::HasSubstr;

class InferenceClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.started()); }

  std::unique_ptr<InferenceClient> Connect(InferenceClient::Options options = {}) {
    absl::StatusOr<std::unique_ptr<InferenceClient>> client =
        InferenceClient::Create(server_.url(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  testing::FakeServer server_;
};

TEST(FromGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status =
        FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), "why"));
    EXPECT_EQ(static_cast<int>(status.code()), code);
    EXPECT_EQ(status.message(), "why");
  }
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "x")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "x")).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(InferenceClientCreateTest, ValidatesOptions) {
  EXPECT_EQ(InferenceClient::Create("").status().code(), absl::StatusCode::kInvalidArgument);
  InferenceClient::Options options;
  options.max_message_bytes = 0;
  EXPECT_EQ(InferenceClient::Create("localhost:1", options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.timeout = absl::ZeroDuration();
  EXPECT_EQ(InferenceClient::Create("localhost:1", options).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Creating makes no connection, so an unused address is fine until the first call.
  EXPECT_TRUE(InferenceClient::Create("localhost:1").ok());
}

TEST_F(InferenceClientTest, HealthAndMetadata) {
  std::unique_ptr<InferenceClient> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->url(), server_.url());
  EXPECT_EQ(*client->ServerLive(), true);
  EXPECT_EQ(*client->ServerReady(), true);
  server_.service().ready = false;
  EXPECT_EQ(*client->ServerReady(), false);
  EXPECT_EQ(*client->ModelReady("echo"), true);
  EXPECT_EQ(*client->ModelReady("sleepy", "1"), false);

  absl::StatusOr<inference::ServerMetadataResponse> server = client->ServerMetadata();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->name(), "fake");

  absl::StatusOr<inference::ModelMetadataResponse> model = client->ModelMetadata("echo");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->inputs_size(), 3);

  absl::StatusOr<inference::ModelConfigResponse> config = client->ModelConfig("echo");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->config().max_batch_size(), 8);

  absl::StatusOr<inference::RepositoryIndexResponse> index = client->RepositoryIndex();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->models_size(), 4);
  EXPECT_EQ(client->RepositoryIndex(/*ready_only=*/true)->models_size(), 2);
}

TEST_F(InferenceClientTest, PassesServerErrorsThroughWithTheirCode) {
  std::unique_ptr<InferenceClient> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<bool> ready = client->ModelReady("nope");
  EXPECT_EQ(ready.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ready.status().message()), HasSubstr("unknown model 'nope'"));
  EXPECT_EQ(client->ModelMetadata("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->ModelConfig("nope").status().code(), absl::StatusCode::kNotFound);
  inference::ModelInferRequest request;
  request.set_model_name("nope");
  EXPECT_EQ(client->Infer(request).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(InferenceClientTest, InfersLargeTensorsWithinTheMessageLimit) {
  std::unique_ptr<InferenceClient> client = Connect();
  ASSERT_NE(client, nullptr);
  inference::ModelInferRequest request;
  request.set_model_name("echo");
  request.set_id("big");
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(1 << 20);
  input->add_shape(2);
  // 8 MiB: above gRPC's default 4 MiB receive limit, below the client's 64 MiB default.
  request.add_raw_input_contents(std::string(8 << 20, '\x01'));
  absl::StatusOr<inference::ModelInferResponse> response = client->Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->id(), "big");
  ASSERT_EQ(response->raw_output_contents_size(), 1);
  EXPECT_EQ(response->raw_output_contents(0).size(), 8u << 20);

  InferenceClient::Options small;
  small.max_message_bytes = 1 << 20;
  std::unique_ptr<InferenceClient> limited = Connect(small);
  ASSERT_NE(limited, nullptr);
  EXPECT_EQ(limited->Infer(request).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(InferenceClientTest, TimeoutBecomesDeadlineExceeded) {
  InferenceClient::Options options;
  options.timeout = absl::Milliseconds(200);
  std::unique_ptr<InferenceClient> client = Connect(options);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->ServerLive().ok());  // Fast calls are unaffected.
  inference::ModelInferRequest request;
  request.set_model_name("slow");
  const absl::Time start = absl::Now();
  EXPECT_EQ(client->Infer(request).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(InferenceClientUnreachableTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  absl::StatusOr<std::unique_ptr<InferenceClient>> client = InferenceClient::Create("127.0.0.1:1");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->ServerLive().status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace gridserve::client
