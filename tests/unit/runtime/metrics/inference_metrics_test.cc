#include "runtime/metrics/inference_metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string RenderText(const prometheus::Registry& registry) { return SerializeText({&registry}); }

TEST(InferenceMetricsTest, RegistersIssueFourNamesOnce) {
  prometheus::Registry registry(prometheus::Registry::InsertBehavior::Throw);
  auto metrics = InferenceMetrics::Create(&registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(InferenceMetrics::Create(&registry).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(InferenceMetrics::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);

  (*metrics)->ForModelVersion("mnist", "1");
  (*metrics)->SetBuildInfo("0.1.0", "1.13.1", "1.51.1");
  const std::string text = RenderText(registry);
  for (const char* type_line : {
           "# TYPE gridserve_inference_requests_total counter\n",
           "# TYPE gridserve_inference_items_total counter\n",
           "# TYPE gridserve_inference_executions_total counter\n",
           "# TYPE gridserve_inference_request_duration_seconds histogram\n",
           "# TYPE gridserve_inference_queue_duration_seconds histogram\n",
           "# TYPE gridserve_inference_compute_duration_seconds histogram\n",
           "# TYPE gridserve_inference_batch_size histogram\n",
           "# TYPE gridserve_inference_pending_requests gauge\n",
           "# TYPE gridserve_model_ready gauge\n",
           "# TYPE gridserve_model_load_duration_seconds gauge\n",
           "# TYPE gridserve_build_info gauge\n",
       }) {
    EXPECT_THAT(text, HasSubstr(type_line));
  }
  EXPECT_THAT(text,
              HasSubstr("gridserve_inference_requests_total{model=\"mnist\",outcome=\"failure\","
                        "version=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gridserve_inference_compute_duration_seconds_count{model=\"mnist\","
                              "phase=\"infer\",version=\"1\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("gridserve_build_info{grpc_version=\"1.51.1\",torch_version=\"1.13.1\","
                        "version=\"0.1.0\"} 1\n"));
}

TEST(InferenceMetricsTest, HandlesAreStableAndCountExactly) {
  prometheus::Registry registry;
  auto metrics = InferenceMetrics::Create(&registry);
  ASSERT_TRUE(metrics.ok());
  ModelVersionMetrics a = (*metrics)->ForModelVersion("m", "1");
  ModelVersionMetrics again = (*metrics)->ForModelVersion("m", "1");
  ModelVersionMetrics other = (*metrics)->ForModelVersion("m", "2");
  EXPECT_EQ(a.requests_success, again.requests_success);
  EXPECT_EQ(a.compute_output, again.compute_output);
  EXPECT_NE(a.requests_success, other.requests_success);
  EXPECT_NE(a.requests_success, a.requests_failure);
  EXPECT_NE(a.compute_input, a.compute_infer);

  constexpr int kSuccess = 5, kFailure = 2;
  for (int i = 0; i < kSuccess; ++i) a.requests_success->Increment();
  for (int i = 0; i < kFailure; ++i) a.requests_failure->Increment();
  for (int i = 0; i < kSuccess + kFailure; ++i) a.request_duration->Observe(0.001 * i);
  const std::string text = RenderText(registry);
  EXPECT_THAT(text, HasSubstr("gridserve_inference_requests_total{model=\"m\",outcome=\"success\","
                              "version=\"1\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("gridserve_inference_requests_total{model=\"m\",outcome=\"failure\","
                              "version=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gridserve_inference_request_duration_seconds_count{model=\"m\","
                              "version=\"1\"} 7\n"));
}

TEST(InferenceMetricsTest, RemoveModelVersionDropsOnlyThatVersion) {
  prometheus::Registry registry;
  auto metrics = InferenceMetrics::Create(&registry);
  ASSERT_TRUE(metrics.ok());
  (*metrics)->ForModelVersion("m", "1");
  (*metrics)->ForModelVersion("m", "2");
  (*metrics)->RemoveModelVersion("m", "1");
  const std::string text = RenderText(registry);
  EXPECT_THAT(text, Not(HasSubstr("version=\"1\"")));
  EXPECT_THAT(text, HasSubstr("gridserve_model_ready{model=\"m\",version=\"2\"} 0\n"));
}

TEST(InferenceMetricsTest, TritonNamesOnlyWhenAsked) {
  prometheus::Registry plain_registry;
  auto plain = InferenceMetrics::Create(&plain_registry);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->ForModelVersion("m", "1").triton, nullptr);
  EXPECT_THAT(RenderText(plain_registry), Not(HasSubstr("nv_inference")));

  prometheus::Registry registry;
  InferenceMetrics::Options options;
  options.triton_names = true;
  auto metrics = InferenceMetrics::Create(&registry, options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ModelVersionMetrics m = (*metrics)->ForModelVersion("m", "1");
  ASSERT_NE(m.triton, nullptr);
  EXPECT_EQ((*metrics)->ForModelVersion("m", "1").triton, m.triton);  // one handle per version
  EXPECT_NE((*metrics)->ForModelVersion("m", "2").triton, m.triton);

  m.triton->request_success->Increment(3);
  m.triton->inference_count->Increment(12);
  m.triton->queue_duration_us->Increment(250);
  FailureCounter(*m.triton, FailureReason::kRejected)->Increment();
  FailureCounter(*m.triton, FailureReason::kOther)->Increment(2);
  EXPECT_NE(FailureCounter(*m.triton, FailureReason::kBackend),
            FailureCounter(*m.triton, FailureReason::kCanceled));
  const std::string text = RenderText(registry);
  for (const char* line : {
           "# TYPE nv_inference_request_success counter\n",
           "nv_inference_request_success{model=\"m\",version=\"1\"} 3\n",
           "nv_inference_count{model=\"m\",version=\"1\"} 12\n",
           "nv_inference_exec_count{model=\"m\",version=\"1\"} 0\n",
           "nv_inference_queue_duration_us{model=\"m\",version=\"1\"} 250\n",
           "nv_inference_request_failure{model=\"m\",reason=\"REJECTED\",version=\"1\"} 1\n",
           "nv_inference_request_failure{model=\"m\",reason=\"OTHER\",version=\"1\"} 2\n",
           "nv_inference_request_failure{model=\"m\",reason=\"BACKEND\",version=\"1\"} 0\n",
           "nv_inference_request_duration_us{model=\"m\",version=\"1\"} 0\n",
           "nv_inference_compute_input_duration_us{model=\"m\",version=\"1\"} 0\n",
           "nv_inference_compute_infer_duration_us{model=\"m\",version=\"1\"} 0\n",
           "nv_inference_compute_output_duration_us{model=\"m\",version=\"1\"} 0\n",
           "# TYPE nv_inference_pending_request_count gauge\n",
       }) {
    EXPECT_THAT(text, HasSubstr(line));
  }
  // The gridserve_* families are still there.
  EXPECT_THAT(text, HasSubstr("# TYPE gridserve_inference_requests_total counter\n"));

  (*metrics)->RemoveModelVersion("m", "1");
  const std::string after = RenderText(registry);
  EXPECT_THAT(after, Not(HasSubstr("version=\"1\"")));
  EXPECT_THAT(after, HasSubstr("nv_inference_request_success{model=\"m\",version=\"2\"} 0\n"));
}

}  // namespace
}  // namespace gridserve::metrics
