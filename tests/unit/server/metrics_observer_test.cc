#include "server/metrics_observer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/inference_metrics.h"

namespace gridserve::server {
namespace {

using scheduler::BatchRecord;
using scheduler::RequestPath;
using scheduler::RequestRecord;

class MetricsObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics::InferenceMetrics::Options options;
    options.triton_names = true;
    auto created = metrics::InferenceMetrics::Create(&registry_, options);
    ASSERT_TRUE(created.ok());
    inference_ = *std::move(created);
    m_ = inference_->ForModelVersion("m", "1");
    observer_ = std::make_unique<MetricsObserver>(m_);
  }

  // One request through the observer: arrival, its batch when executed, then its finish.
  void Run(RequestPath path, absl::StatusCode code, int64_t items) {
    core::InferenceRequest request;
    request.batch_size = items;
    observer_->OnRequestArrived(request);
    RequestRecord record;
    record.request = &request;
    record.code = code;
    record.path = path;
    record.items = items;
    record.arrive_ns = 1'000'000;
    record.finish_ns = 5'000'000;  // 4000 us
    if (path == RequestPath::kExecuted) {
      BatchRecord batch;
      batch.requests = 1;
      batch.items = items;
      batch.start_ns = 2'000'000;
      observer_->OnBatchStarted(batch);
      batch.end_ns = 4'500'000;
      batch.compute_input_ns = 100'000;
      batch.compute_infer_ns = 2'000'000;
      batch.compute_output_ns = 400'000;
      observer_->OnBatchFinished(batch);
      record.timings.queue_ns = 1'000'000;
      record.timings.compute_input_ns = batch.compute_input_ns;
      record.timings.compute_infer_ns = batch.compute_infer_ns;
      record.timings.compute_output_ns = batch.compute_output_ns;
    } else if (path == RequestPath::kExpiredInQueue) {
      record.timings.queue_ns = 4'000'000;
    }
    observer_->OnRequestFinished(record);
  }

  prometheus::Registry registry_;
  std::unique_ptr<metrics::InferenceMetrics> inference_;
  metrics::ModelVersionMetrics m_;
  std::unique_ptr<MetricsObserver> observer_;
};

TEST_F(MetricsObserverTest, SuccessFeedsBothNameSets) {
  Run(RequestPath::kExecuted, absl::StatusCode::kOk, 4);
  Run(RequestPath::kExecuted, absl::StatusCode::kOk, 2);
  EXPECT_EQ(m_.requests_success->Value(), 2);
  EXPECT_EQ(m_.items->Value(), 6);
  EXPECT_EQ(m_.executions->Value(), 2);
  EXPECT_EQ(m_.pending_requests->Value(), 0);
  const auto& t = *m_.triton;
  EXPECT_EQ(t.request_success->Value(), 2);
  EXPECT_EQ(t.inference_count->Value(), 6);
  EXPECT_EQ(t.exec_count->Value(), 2);
  EXPECT_EQ(t.request_duration_us->Value(), 2 * 4000);
  EXPECT_EQ(t.queue_duration_us->Value(), 2 * 1000);
  EXPECT_EQ(t.compute_input_duration_us->Value(), 2 * 100);
  EXPECT_EQ(t.compute_infer_duration_us->Value(), 2 * 2000);
  EXPECT_EQ(t.compute_output_duration_us->Value(), 2 * 400);
  EXPECT_EQ(t.pending_request_count->Value(), 0);
}

TEST_F(MetricsObserverTest, FailuresGetTritonReasonsAndNoDurations) {
  Run(RequestPath::kRefused, absl::StatusCode::kResourceExhausted, 1);        // queue full
  Run(RequestPath::kExpiredInQueue, absl::StatusCode::kDeadlineExceeded, 1);  // timed out
  Run(RequestPath::kExpiredInQueue, absl::StatusCode::kCancelled, 1);         // client went away
  Run(RequestPath::kExecuted, absl::StatusCode::kInternal, 1);                // model threw
  Run(RequestPath::kRefused, absl::StatusCode::kInvalidArgument, 1);          // > max_batch_size
  const auto& t = *m_.triton;
  EXPECT_EQ(metrics::FailureCounter(t, metrics::FailureReason::kRejected)->Value(), 2);
  EXPECT_EQ(metrics::FailureCounter(t, metrics::FailureReason::kCanceled)->Value(), 1);
  EXPECT_EQ(metrics::FailureCounter(t, metrics::FailureReason::kBackend)->Value(), 1);
  EXPECT_EQ(metrics::FailureCounter(t, metrics::FailureReason::kOther)->Value(), 1);
  EXPECT_EQ(t.request_success->Value(), 0);
  EXPECT_EQ(t.request_duration_us->Value(), 0);  // Triton counts durations of successes only
  EXPECT_EQ(t.exec_count->Value(), 1);
  EXPECT_EQ(t.pending_request_count->Value(), 0);
  EXPECT_EQ(m_.requests_failure->Value(), 5);
  EXPECT_EQ(m_.pending_requests->Value(), 0);
}

TEST(MetricsObserverPlainTest, WithoutTritonNamesOnlyGridserveFamilies) {
  prometheus::Registry registry;
  auto inference = metrics::InferenceMetrics::Create(&registry);
  ASSERT_TRUE(inference.ok());
  metrics::ModelVersionMetrics m = (*inference)->ForModelVersion("m", "1");
  MetricsObserver observer(m);
  core::InferenceRequest request;
  observer.OnRequestArrived(request);
  RequestRecord record;
  record.request = &request;
  record.path = RequestPath::kRefused;
  record.code = absl::StatusCode::kResourceExhausted;
  observer.OnRequestFinished(record);  // must not touch the absent Triton handles
  EXPECT_EQ(m.requests_failure->Value(), 1);
  EXPECT_THAT(metrics::SerializeText({&registry}), ::testing::Not(::testing::HasSubstr("nv_")));
}

}  // namespace
}  // namespace gridserve::server
