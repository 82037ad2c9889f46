#include "runtime/scheduler/direct_scheduler.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/scheduler/inference_statistics.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_cpu_meter.h"
#include "tests/testing/fake_executor.h"

namespace gridserve::scheduler {
namespace {

using ::gridserve::testing::FakeClock;
using ::gridserve::testing::FakeExecutor;
using ::gridserve::testing::MakeRequest;
using ::gridserve::testing::ResultCollector;
using ::testing::ElementsAre;
using Ids = std::vector<std::string>;

class DirectSchedulerTest : public ::testing::Test {
 protected:
  void Start(DirectScheduler::Options options, size_t instances = 1) {
    options.clock = &clock_;
    auto scheduler = DirectScheduler::Create(std::move(options), executor_.Instances(instances));
    ASSERT_TRUE(scheduler.ok()) << scheduler.status();
    scheduler_ = *std::move(scheduler);
  }
  void Enqueue(const std::string& id) {
    absl::Status status = scheduler_->Enqueue(MakeRequest(id, 1, &results_));
    ASSERT_TRUE(status.ok()) << status;
  }

  FakeClock clock_;
  FakeExecutor executor_;
  ResultCollector results_;
  std::unique_ptr<DirectScheduler> scheduler_;
};

TEST_F(DirectSchedulerTest, RunsEachRequestAloneInArrivalOrder) {
  Start({});
  executor_.Hold("a");
  Enqueue("a");
  ASSERT_TRUE(executor_.AwaitStartedId("a"));
  Enqueue("b");
  Enqueue("c");
  EXPECT_EQ(scheduler_->InFlight(), 3u);
  executor_.Release("a");
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"a"}, Ids{"b"}, Ids{"c"}));
  EXPECT_THAT(results_.order(), ElementsAre("a", "b", "c"));
}

TEST_F(DirectSchedulerTest, IdleInstancesRunConcurrently) {
  Start({}, 2);
  executor_.Hold("a");
  executor_.Hold("b");
  Enqueue("a");
  Enqueue("b");
  ASSERT_TRUE(executor_.AwaitExecuting(2));
  executor_.Release("a");
  executor_.Release("b");
  ASSERT_TRUE(results_.AwaitCount(2));
}

TEST_F(DirectSchedulerTest, APassedDeadlineIsRejectedWithoutExecuting) {
  Start({});
  executor_.Hold("x");
  Enqueue("x");
  ASSERT_TRUE(executor_.AwaitStartedId("x"));
  auto late = MakeRequest("late", 1, &results_);
  late->deadline_ns = clock_.NowNanos() + 1000;
  ASSERT_TRUE(scheduler_->Enqueue(std::move(late)).ok());
  clock_.Advance(absl::Microseconds(1));
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_EQ(results_.code("late"), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}));
}

TEST_F(DirectSchedulerTest, ACancelledRequestIsAnsweredWithoutExecuting) {
  auto statistics = std::make_shared<InferenceStatistics>([] { return uint64_t{0}; });
  DirectScheduler::Options options;
  options.observers = {statistics};
  Start(options);
  executor_.Hold("x");
  Enqueue("x");
  ASSERT_TRUE(executor_.AwaitStartedId("x"));
  auto gone = MakeRequest("gone", 1, &results_);
  gone->is_cancelled = [] { return true; };
  ASSERT_TRUE(scheduler_->Enqueue(std::move(gone)).ok());
  Enqueue("y");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_EQ(results_.code("gone"), absl::StatusCode::kCancelled);
  EXPECT_EQ(results_.code("y"), absl::StatusCode::kOk);
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"y"}));
  // Counted as a failed request that never executed.
  scheduler_->Shutdown();
  StatisticsSnapshot s = statistics->Snapshot();
  EXPECT_EQ(s.success.count, 2u);
  EXPECT_EQ(s.fail.count, 1u);
  EXPECT_EQ(s.execution_count, 2u);
}

TEST_F(DirectSchedulerTest, ChargesEachExecutionItsCpuTime) {
  // Per execution: two thread-clock reads 1000 ns apart, plus 50 ns of helper threads.
  testing::FakeCpuMeter cpu(1000, 50);
  auto statistics = std::make_shared<InferenceStatistics>([] { return uint64_t{0}; });
  DirectScheduler::Options options;
  options.observers = {statistics};
  options.cpu_meter = &cpu;
  Start(options, 2);
  Enqueue("a");
  Enqueue("b");
  Enqueue("c");
  ASSERT_TRUE(results_.AwaitCount(3));
  scheduler_->Shutdown();
  EXPECT_EQ(statistics->Snapshot().cpu_ns, 3u * 1050u);
  EXPECT_EQ(cpu.registered(), 2);  // each instance thread said it is not a helper
}

TEST_F(DirectSchedulerTest, AFullQueueRefusesAtOnce) {
  DirectScheduler::Options options;
  options.max_queue_size = 1;
  Start(options);
  executor_.Hold("x");
  Enqueue("x");
  ASSERT_TRUE(executor_.AwaitStartedId("x"));
  Enqueue("a");
  EXPECT_EQ(scheduler_->Enqueue(MakeRequest("b", 1, &results_)).code(),
            absl::StatusCode::kResourceExhausted);
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_EQ(results_.code("b"), absl::StatusCode::kUnknown);
}

TEST_F(DirectSchedulerTest, ShutdownDrainsThenRefuses) {
  Start({}, 2);
  for (const char* id : {"a", "b", "c", "d"}) Enqueue(id);
  scheduler_->Shutdown();
  EXPECT_EQ(results_.count(), 4u);
  EXPECT_EQ(scheduler_->InFlight(), 0u);
  EXPECT_EQ(scheduler_->Enqueue(MakeRequest("late", 1, &results_)).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(DirectSchedulerTest, FeedsStatistics) {
  auto stats = std::make_shared<InferenceStatistics>([] { return uint64_t{7}; });
  DirectScheduler::Options options;
  options.observers = {stats};
  Start(options);
  executor_.SimulateCompute(&clock_, absl::Microseconds(5));
  executor_.Fail("b", absl::InternalError("boom"));
  Enqueue("a");
  Enqueue("b");
  ASSERT_TRUE(results_.AwaitCount(2));
  scheduler_->Shutdown();

  StatisticsSnapshot s = stats->Snapshot();
  EXPECT_EQ(s.success.count, 1u);
  EXPECT_EQ(s.fail.count, 1u);
  EXPECT_EQ(s.execution_count, 1u);
  EXPECT_EQ(s.inference_count, 1u);
  EXPECT_EQ(s.compute_infer.ns, 5'000u);
  EXPECT_EQ(s.last_inference_ms, 7u);
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(results_.response("a")->timings.executed_batch_size, 1);
}

}  // namespace
}  // namespace gridserve::scheduler
