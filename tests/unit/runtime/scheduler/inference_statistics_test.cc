#include "runtime/scheduler/inference_statistics.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gridserve::scheduler {
namespace {

RequestRecord Finished(absl::StatusCode code, int64_t items, int64_t arrive_ns, int64_t finish_ns,
                       RequestPath path = RequestPath::kExecuted) {
  static const core::InferenceRequest request;
  RequestRecord record;
  record.request = &request;
  record.code = code;
  record.path = path;
  record.items = items;
  record.arrive_ns = arrive_ns;
  record.finish_ns = finish_ns;
  if (path == RequestPath::kExecuted) {
    record.timings.queue_ns = 10;
    record.timings.compute_input_ns = 1;
    record.timings.compute_infer_ns = 2;
    record.timings.compute_output_ns = 3;
    record.timings.executed_batch_size = items;
  }
  return record;
}

BatchRecord Batch(int64_t items, size_t succeeded) {
  BatchRecord batch;
  batch.requests = 1;
  batch.items = items;
  batch.succeeded = succeeded;
  batch.compute_input_ns = 100;
  batch.compute_infer_ns = 200;
  batch.compute_output_ns = 300;
  return batch;
}

TEST(InferenceStatisticsTest, StartsEmpty) {
  InferenceStatistics stats([] { return uint64_t{1}; });
  StatisticsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.last_inference_ms, 0u);
  EXPECT_EQ(s.inference_count, 0u);
  EXPECT_EQ(s.execution_count, 0u);
  EXPECT_EQ(s.success.count, 0u);
  EXPECT_TRUE(s.batch_stats.empty());
}

TEST(InferenceStatisticsTest, SplitsSuccessAndFailureLikeTriton) {
  uint64_t wall_ms = 1000;
  InferenceStatistics stats([&wall_ms] { return wall_ms; });
  stats.OnBatchFinished(Batch(4, 1));
  stats.OnRequestFinished(Finished(absl::StatusCode::kOk, 4, 100, 150));
  wall_ms = 2000;
  stats.OnRequestFinished(
      Finished(absl::StatusCode::kDeadlineExceeded, 2, 100, 180, RequestPath::kExpiredInQueue));
  stats.OnRequestFinished(
      Finished(absl::StatusCode::kResourceExhausted, 1, 200, 200, RequestPath::kRefused));
  stats.OnBatchFinished(Batch(8, 0));  // nothing succeeded: not an execution
  stats.OnRequestFinished(Finished(absl::StatusCode::kInternal, 8, 300, 400));

  StatisticsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.last_inference_ms, 2000u);
  EXPECT_EQ(s.inference_count, 4u);
  EXPECT_EQ(s.execution_count, 1u);
  EXPECT_EQ(s.success.count, 1u);
  EXPECT_EQ(s.success.ns, 50u);
  EXPECT_EQ(s.fail.count, 3u);
  EXPECT_EQ(s.fail.ns, 80u + 0u + 100u);
  EXPECT_EQ(s.queue.count, 1u);
  EXPECT_EQ(s.queue.ns, 10u);
  EXPECT_EQ(s.compute_input.ns, 1u);
  EXPECT_EQ(s.compute_infer.ns, 2u);
  EXPECT_EQ(s.compute_output.ns, 3u);
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 4u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.count, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.ns, 200u);
}

TEST(InferenceStatisticsTest, SumsCpuTimeOfEveryExecutionFailedOnesToo) {
  InferenceStatistics stats([] { return uint64_t{1}; });
  BatchRecord ok = Batch(4, 1);
  ok.cpu_ns = 700;
  BatchRecord failed = Batch(2, 0);
  failed.cpu_ns = 300;
  stats.OnBatchFinished(ok);
  stats.OnBatchFinished(failed);
  StatisticsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.cpu_ns, 1000u);
  EXPECT_EQ(s.execution_count, 1u);  // Triton counts executions with a success only
}

TEST(InferenceStatisticsTest, BatchStatsAreSortedBySize) {
  InferenceStatistics stats([] { return uint64_t{1}; });
  for (int64_t size : {8, 1, 4, 1, 8, 8}) stats.OnBatchFinished(Batch(size, 1));
  StatisticsSnapshot s = stats.Snapshot();
  ASSERT_EQ(s.batch_stats.size(), 3u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_input.count, 2u);
  EXPECT_EQ(s.batch_stats[1].batch_size, 4u);
  EXPECT_EQ(s.batch_stats[2].batch_size, 8u);
  EXPECT_EQ(s.batch_stats[2].compute_output.count, 3u);
  EXPECT_EQ(s.batch_stats[2].compute_output.ns, 900u);
  EXPECT_EQ(s.execution_count, 6u);
}

TEST(InferenceStatisticsTest, CountsExactlyUnderConcurrentUpdates) {
  InferenceStatistics stats([] { return uint64_t{1}; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&stats] {
      for (int i = 0; i < 10000; ++i) {
        stats.OnBatchFinished(Batch(2, 1));
        stats.OnRequestFinished(Finished(absl::StatusCode::kOk, 2, 0, 1));
        if (i % 100 == 0) stats.Snapshot();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  StatisticsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.execution_count, 40000u);
  EXPECT_EQ(s.inference_count, 80000u);
  EXPECT_EQ(s.success.ns, 40000u);
}

}  // namespace
}  // namespace gridserve::scheduler
