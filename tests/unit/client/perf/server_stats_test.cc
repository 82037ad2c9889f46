#include "client/perf/server_stats.h"

#include "gtest/gtest.h"

namespace gridserve::client::perf {
namespace {

void Set(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
  d->set_count(count);
  d->set_ns(ns);
}

TEST(SnapshotFromResponseTest, SumsVersionsOfTheModelOnly) {
  inference::ModelStatisticsResponse response;
  for (const char* version : {"1", "2"}) {
    auto* m = response.add_model_stats();
    m->set_name("linear4");
    m->set_version(version);
    m->set_inference_count(10);
    m->set_execution_count(2);
    Set(m->mutable_inference_stats()->mutable_success(), 10, 0);
    Set(m->mutable_inference_stats()->mutable_queue(), 10, 5000);
    Set(m->mutable_inference_stats()->mutable_compute_infer(), 10, 20000);
  }
  auto* other = response.add_model_stats();
  other->set_name("other");
  other->set_inference_count(1000);
  ServerStatsSnapshot s = SnapshotFromResponse(response, "linear4");
  EXPECT_EQ(s.inference_count, 20u);
  EXPECT_EQ(s.execution_count, 4u);
  EXPECT_EQ(s.success_count, 20u);
  EXPECT_EQ(s.queue_count, 20u);
  EXPECT_EQ(s.queue_ns, 10000u);
  EXPECT_EQ(s.compute_infer_ns, 40000u);
}

TEST(DiffTest, PerRequestMeansAndBatchSize) {
  ServerStatsSnapshot before;
  before.success_count = 100;
  before.inference_count = 100;
  before.execution_count = 50;
  before.queue_count = 100;
  before.queue_ns = 1'000'000;
  ServerStatsSnapshot after = before;
  after.success_count = 164;
  after.inference_count = 164;
  after.execution_count = 52;  // two batches of 32
  after.queue_count = 164;
  after.queue_ns = 1'000'000 + 64 * 250'000;  // 250 us each
  after.compute_infer_count = 64;
  after.compute_infer_ns = 64 * 4'000'000;
  ServerStatsDelta d = Diff(before, after);
  EXPECT_TRUE(d.available);
  EXPECT_EQ(d.requests, 64u);
  EXPECT_EQ(d.executions, 2u);
  EXPECT_DOUBLE_EQ(d.avg_batch, 32);
  EXPECT_DOUBLE_EQ(d.queue_us, 250);
  EXPECT_DOUBLE_EQ(d.compute_infer_us, 4000);
  EXPECT_DOUBLE_EQ(d.compute_input_us, 0);  // nothing counted: 0, not NaN
}

TEST(DiffTest, CountersGoingBackwardsGiveZero) {
  ServerStatsSnapshot before;
  before.inference_count = 500;
  before.execution_count = 10;
  before.queue_count = 500;
  before.queue_ns = 1000;
  ServerStatsSnapshot after;  // the model was reloaded: counters restarted
  after.inference_count = 3;
  after.execution_count = 1;
  ServerStatsDelta d = Diff(before, after);
  EXPECT_EQ(d.inferences, 0u);
  EXPECT_EQ(d.executions, 0u);
  EXPECT_EQ(d.avg_batch, 0);
  EXPECT_EQ(d.queue_us, 0);
}

}  // namespace
}  // namespace gridserve::client::perf
