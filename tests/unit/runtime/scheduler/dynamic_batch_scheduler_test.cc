#include "runtime/scheduler/dynamic_batch_scheduler.h"

#include <pthread.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/scheduler/inference_statistics.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_executor.h"

namespace gridserve::scheduler {
namespace {

using ::gridserve::testing::FakeClock;
using ::gridserve::testing::FakeExecutor;
using ::gridserve::testing::kTestTimeout;
using ::gridserve::testing::MakeRequest;
using ::gridserve::testing::ResultCollector;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Ids = std::vector<std::string>;
using Options = DynamicBatchScheduler::Options;
using TimeoutAction = DynamicBatchScheduler::TimeoutAction;

class DynamicBatchSchedulerTest : public ::testing::Test {
 protected:
  void Start(Options options, size_t instances = 1) {
    options.clock = &clock_;
    max_batch_size_ = options.max_batch_size;
    auto scheduler =
        DynamicBatchScheduler::Create(std::move(options), executor_.Instances(instances));
    ASSERT_TRUE(scheduler.ok()) << scheduler.status();
    scheduler_ = *std::move(scheduler);
  }

  std::unique_ptr<core::InferenceRequest> Request(const std::string& id, int64_t items = 1,
                                                  core::Shape dims = {4}) {
    return MakeRequest(id, items, &results_, std::move(dims));
  }
  void Enqueue(std::unique_ptr<core::InferenceRequest> request) {
    absl::Status status = scheduler_->Enqueue(std::move(request));
    ASSERT_TRUE(status.ok()) << status;
  }
  void Enqueue(const std::string& id, int64_t items = 1) { Enqueue(Request(id, items)); }
  // Runs `id` as a full batch (so it starts at once) and keeps its instance busy until
  // executor_.Release(id).
  void Occupy(const std::string& id) {
    executor_.Hold(id);
    Enqueue(id, max_batch_size_);
    ASSERT_TRUE(executor_.AwaitStartedId(id));
  }
  // Waits until the scheduler has reacted to everything so far.
  void Settle() { ASSERT_TRUE(scheduler_->WaitUntilIdle(kTestTimeout)); }
  void Advance(absl::Duration by) {
    clock_.Advance(by);
    scheduler_->Wake();
  }

  int64_t max_batch_size_ = 1;
  FakeClock clock_;
  FakeExecutor executor_;
  ResultCollector results_;
  std::unique_ptr<DynamicBatchScheduler> scheduler_;  // last: stopped before the fakes go
};

// ---- Options ---------------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, CreateRejectsInconsistentOptions) {
  auto make = [this](Options options, size_t instances = 1) {
    options.clock = &clock_;
    return DynamicBatchScheduler::Create(std::move(options), executor_.Instances(instances))
        .status()
        .code();
  };
  Options ok;
  ok.max_batch_size = 4;
  EXPECT_EQ(make(ok), absl::StatusCode::kOk);
  EXPECT_EQ(make(ok, 0), absl::StatusCode::kInvalidArgument);

  Options zero_max;
  zero_max.max_batch_size = 0;
  EXPECT_EQ(make(zero_max), absl::StatusCode::kInvalidArgument);

  Options big_preferred = ok;
  big_preferred.preferred_batch_sizes = {2, 5};
  EXPECT_EQ(make(big_preferred), absl::StatusCode::kInvalidArgument);

  Options bad_default = ok;
  bad_default.priority_levels = 2;
  bad_default.default_priority_level = 3;
  EXPECT_EQ(make(bad_default), absl::StatusCode::kInvalidArgument);
  bad_default.default_priority_level = 0;
  EXPECT_EQ(make(bad_default), absl::StatusCode::kInvalidArgument);

  Options bad_level = ok;
  bad_level.priority_levels = 2;
  bad_level.default_priority_level = 1;
  bad_level.priority_queue_policy[3] = {};
  EXPECT_EQ(make(bad_level), absl::StatusCode::kInvalidArgument);

  Options null_observer = ok;
  null_observer.observers.push_back(nullptr);
  EXPECT_EQ(make(null_observer), absl::StatusCode::kInvalidArgument);
}

// ---- Batch formation -------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, ClosesAtMaxBatchSizeWithoutWaitingForTheDelay) {
  Options options;
  options.max_batch_size = 4;
  options.max_queue_delay_us = 1'000'000;
  Start(options);

  Enqueue("a");
  Enqueue("b");
  Enqueue("c");
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());

  Enqueue("d");  // the clock never moves: the batch closes because it is full
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"a", "b", "c", "d"}));
  EXPECT_EQ(results_.response("a")->timings.executed_batch_size, 4);
}

TEST_F(DynamicBatchSchedulerTest, SendsWhatIsQueuedWhenTheOldestRequestHasWaitedTheDelay) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 100;
  Start(options);

  Enqueue("a");
  Advance(absl::Microseconds(40));
  Enqueue("b");
  Advance(absl::Microseconds(59));  // a has waited 99 us
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());

  Advance(absl::Microseconds(1));  // a has waited 100 us
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"a", "b"}));
  EXPECT_EQ(results_.response("a")->timings.queue_ns, 100'000);
  EXPECT_EQ(results_.response("b")->timings.queue_ns, 60'000);
}

TEST_F(DynamicBatchSchedulerTest, ZeroDelayRunsWhateverIsQueuedAtOnce) {
  Options options;
  options.max_batch_size = 8;
  Start(options);

  Occupy("x");
  Enqueue("a");
  Enqueue("b");
  Enqueue("c");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"a", "b", "c"}));
}

TEST_F(DynamicBatchSchedulerTest, ClosesAtAPreferredSizeWhenNothingMoreFits) {
  Options options;
  options.max_batch_size = 8;
  options.preferred_batch_sizes = {4, 2};  // order does not matter
  options.max_queue_delay_us = 1'000'000;
  Start(options);

  Enqueue("a");
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());
  Enqueue("b");  // 2 is preferred and nothing more is queued
  ASSERT_TRUE(executor_.AwaitFinished(1));

  // Three queued at once pass 2 without stopping there (the third fits too); 3 is not
  // preferred, so the batch waits, and closes when a fourth makes it 4.
  Occupy("x");
  Enqueue("c");
  Enqueue("d");
  Enqueue("e");
  executor_.Release("x");
  Settle();
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"a", "b"}, Ids{"x"}));
  Enqueue("f");
  ASSERT_TRUE(results_.AwaitCount(7));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"a", "b"}, Ids{"x"}, Ids{"c", "d", "e", "f"}));
}

TEST_F(DynamicBatchSchedulerTest, CombinesMultiItemRequestsWithoutSplittingOne) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1'000'000;
  Start(options);

  Occupy("x");
  Enqueue("a", 3);
  Enqueue("b", 3);
  Enqueue("c", 3);  // 3 + 3 + 3 > 8: c cannot join, so waiting cannot grow {a, b}
  executor_.Release("x");
  ASSERT_TRUE(executor_.AwaitFinished(2));
  Settle();
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"a", "b"}));
  EXPECT_EQ(executor_.batches()[1].items, 6);

  Advance(absl::Seconds(1));  // c alone after the delay
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"a", "b"}, Ids{"c"}));
  EXPECT_EQ(results_.response("c")->timings.executed_batch_size, 3);

  Enqueue("full", 8);  // a request of max_batch_size items is a full batch on its own
  ASSERT_TRUE(results_.AwaitCount(5));
  EXPECT_EQ(executor_.batches().back().items, 8);
}

TEST_F(DynamicBatchSchedulerTest, RefusesARequestLargerThanMaxBatchSize) {
  Options options;
  options.max_batch_size = 4;
  Start(options);
  EXPECT_EQ(scheduler_->Enqueue(Request("big", 5)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->Enqueue(Request("none", 0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(results_.count(), 0u);  // a refused request's on_complete never runs
}

TEST_F(DynamicBatchSchedulerTest, BatchesOnlyRequestsWithTheSameNonBatchShapes) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1'000'000;
  Start(options);

  Occupy("x");
  Enqueue(Request("a", 1, {4}));
  Enqueue(Request("b", 2, {4}));  // dim 0 may differ
  Enqueue(Request("c", 1, {5}));
  Enqueue(Request("d", 1, {4}));
  auto other_name = MakeRequest("e", 1, &results_, {4}, "y");
  Enqueue(std::move(other_name));
  executor_.Release("x");
  ASSERT_TRUE(executor_.AwaitFinished(4));
  Settle();
  // c blocks {a, b}; d blocks {c}; e (another input name) blocks {d}; e waits for company.
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"a", "b"}, Ids{"c"}, Ids{"d"}));
  Advance(absl::Seconds(1));
  ASSERT_TRUE(results_.AwaitCount(6));
  EXPECT_THAT(executor_.batch_ids().back(), ElementsAre("e"));
}

// ---- Priorities ------------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, ServesHigherPriorityLevelsFirst) {
  Options options;
  options.max_batch_size = 1;
  options.priority_levels = 3;
  options.default_priority_level = 2;
  Start(options);

  Occupy("x");
  auto request = [this](const std::string& id, uint32_t priority) {
    auto r = Request(id);
    r->priority = priority;
    Enqueue(std::move(r));
  };
  request("low", 3);
  request("default", 0);  // -> level 2
  request("high", 1);
  request("out_of_range", 7);  // -> level 2, after "default"
  request("high2", 1);
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(6));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"high"}, Ids{"high2"},
                                                 Ids{"default"}, Ids{"out_of_range"}, Ids{"low"}));
}

TEST_F(DynamicBatchSchedulerTest, ABatchTakesRequestsAcrossLevelsInServiceOrder) {
  Options options;
  options.max_batch_size = 3;
  options.priority_levels = 2;
  options.default_priority_level = 2;
  Start(options);

  Occupy("x");
  Enqueue("l2a");
  Enqueue("l2b");
  auto high = Request("l1");
  high->priority = 1;
  Enqueue(std::move(high));
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"l1", "l2a", "l2b"}));
}

// ---- Timeouts --------------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, RejectTimesOutAWaitingRequestWithoutExecutingIt) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1'000'000;
  options.default_queue_policy.default_timeout_us = 100;
  options.default_queue_policy.timeout_action = TimeoutAction::kReject;
  Start(options);

  Enqueue("a");
  Advance(absl::Microseconds(50));
  Enqueue("b");
  Advance(absl::Microseconds(50));  // a's timeout passes; b has 50 us left
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kDeadlineExceeded);
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());
  EXPECT_EQ(scheduler_->InFlight(), 1u);

  Advance(absl::Microseconds(50));
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_EQ(results_.code("b"), absl::StatusCode::kDeadlineExceeded);
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());
  EXPECT_EQ(scheduler_->InFlight(), 0u);
}

TEST_F(DynamicBatchSchedulerTest, RejectsRequestsThatTimedOutWhileEveryInstanceWasBusy) {
  Options options;
  options.max_batch_size = 8;
  options.default_queue_policy.default_timeout_us = 100;
  Start(options);

  Occupy("x");
  Enqueue("a");
  Advance(absl::Microseconds(100));
  Enqueue("b");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(results_.code("b"), absl::StatusCode::kOk);
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"b"}));
}

TEST_F(DynamicBatchSchedulerTest, CancelledRequestsAreAnsweredAndLeftOutOfTheBatch) {
  Options options;
  options.max_batch_size = 8;
  Start(options);

  Occupy("x");
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto a = Request("a");
  a->is_cancelled = [cancelled] { return cancelled->load(); };
  Enqueue(std::move(a));
  Enqueue("b");
  auto c = Request("c");
  c->is_cancelled = [] { return true; };  // gone before anything ran
  Enqueue(std::move(c));
  cancelled->store(true);  // the client of a cancels while a is queued
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(4));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kCancelled);
  EXPECT_EQ(results_.code("c"), absl::StatusCode::kCancelled);
  EXPECT_EQ(results_.code("b"), absl::StatusCode::kOk);
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"b"}));
  Settle();
  EXPECT_EQ(scheduler_->InFlight(), 0u);

  // A batch of only cancelled requests runs nothing, and the instance serves on.
  auto d = Request("d");
  d->is_cancelled = [] { return true; };
  Enqueue(std::move(d));
  ASSERT_TRUE(results_.AwaitCount(5));
  EXPECT_EQ(results_.code("d"), absl::StatusCode::kCancelled);
  Enqueue("e", 8);
  ASSERT_TRUE(results_.AwaitCount(6));
  EXPECT_EQ(results_.code("e"), absl::StatusCode::kOk);
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"b"}, Ids{"e"}));
}

TEST_F(DynamicBatchSchedulerTest, DelayMovesATimedOutRequestBehindTheOthers) {
  Options options;
  options.max_batch_size = 1;
  options.default_queue_policy.allow_timeout_override = true;
  options.default_queue_policy.timeout_action = TimeoutAction::kDelay;
  Start(options);

  Occupy("x");
  auto a = Request("a");
  a->timeout_us = 100;
  Enqueue(std::move(a));
  Enqueue("b");  // no timeout
  Advance(absl::Microseconds(150));
  Enqueue("c");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(4));
  // a is delayed, not rejected: it runs after the requests still within their timeout.
  EXPECT_THAT(executor_.batch_ids(), ElementsAre(Ids{"x"}, Ids{"b"}, Ids{"c"}, Ids{"a"}));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kOk);
}

TEST_F(DynamicBatchSchedulerTest, RequestTimeoutCountsOnlyWhenThePolicyAllowsTheOverride) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1000;
  Start(options);

  auto a = Request("a");
  a->timeout_us = 10;  // ignored: allow_timeout_override is false
  Enqueue(std::move(a));
  Advance(absl::Microseconds(500));
  Settle();
  EXPECT_EQ(results_.count(), 0u);
  Advance(absl::Microseconds(500));
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kOk);
}

TEST_F(DynamicBatchSchedulerTest, RequestTimeoutMayOnlyShortenTheDefault) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1'000'000;
  options.default_queue_policy.default_timeout_us = 100;
  options.default_queue_policy.allow_timeout_override = true;
  Start(options);

  auto shorter = Request("shorter");
  shorter->timeout_us = 30;
  Enqueue(std::move(shorter));
  auto longer = Request("longer");
  longer->timeout_us = 500;  // capped at the default 100
  Enqueue(std::move(longer));
  Advance(absl::Microseconds(30));
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(results_.code("shorter"), absl::StatusCode::kDeadlineExceeded);
  Advance(absl::Microseconds(70));
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_EQ(results_.code("longer"), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(executor_.batches(), IsEmpty());
}

TEST_F(DynamicBatchSchedulerTest, APassedDeadlineRejectsEvenUnderDelay) {
  Options options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 1'000'000;
  options.default_queue_policy.timeout_action = TimeoutAction::kDelay;
  Start(options);

  auto a = Request("a");
  a->deadline_ns = clock_.NowNanos() + 200'000;  // e.g. the gRPC deadline
  Enqueue(std::move(a));
  Advance(absl::Microseconds(199));
  Settle();
  EXPECT_EQ(results_.count(), 0u);
  Advance(absl::Microseconds(1));
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kDeadlineExceeded);
  Settle();
  EXPECT_THAT(executor_.batches(), IsEmpty());
}

// ---- Queue limits ----------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, AFullQueueRefusesAtOnce) {
  Options options;
  options.max_batch_size = 1;
  options.default_queue_policy.max_queue_size = 2;
  Start(options);

  Occupy("x");  // executing: no longer queued
  Enqueue("a");
  Enqueue("b");
  EXPECT_EQ(scheduler_->Enqueue(Request("c")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(scheduler_->InFlight(), 3u);
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_EQ(results_.code("c"), absl::StatusCode::kUnknown);  // never completed: still ours
  Enqueue("d");                                               // room again
  ASSERT_TRUE(results_.AwaitCount(4));
}

TEST_F(DynamicBatchSchedulerTest, QueueLimitsArePerPriorityLevel) {
  Options options;
  options.max_batch_size = 1;
  options.priority_levels = 2;
  options.default_priority_level = 2;
  options.priority_queue_policy[1].max_queue_size = 1;
  Start(options);

  Occupy("x");
  auto high = [this](const std::string& id) {
    auto r = Request(id);
    r->priority = 1;
    return r;
  };
  Enqueue(high("h1"));
  EXPECT_EQ(scheduler_->Enqueue(high("h2")).code(), absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 10; ++i) Enqueue("low" + std::to_string(i));  // level 2 has no limit
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(12));
}

// ---- Ordering --------------------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, PreserveOrderingHoldsLaterResponses) {
  Options options;
  options.max_batch_size = 1;
  options.preserve_ordering = true;
  options.default_queue_policy.default_timeout_us = 100;
  Start(options, 2);

  Occupy("a");
  Enqueue("b");  // runs on the other instance and finishes first
  ASSERT_TRUE(executor_.AwaitFinished(1));
  Settle();
  EXPECT_EQ(results_.count(), 0u);

  Occupy("c");
  Enqueue("d");  // times out in the queue: its error waits its turn too
  Advance(absl::Microseconds(100));
  executor_.Release("a");
  ASSERT_TRUE(results_.AwaitCount(2));
  Settle();
  EXPECT_THAT(results_.order(), ElementsAre("a", "b"));
  executor_.Release("c");
  ASSERT_TRUE(results_.AwaitCount(4));
  Settle();
  EXPECT_THAT(results_.order(), ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(results_.code("d"), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(scheduler_->InFlight(), 0u);
}

TEST_F(DynamicBatchSchedulerTest, WithoutPreserveOrderingResponsesGoAsBatchesFinish) {
  Options options;
  options.max_batch_size = 1;
  Start(options, 2);

  Occupy("a");
  Enqueue("b");
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_THAT(results_.order(), ElementsAre("b"));
  executor_.Release("a");
  ASSERT_TRUE(results_.AwaitCount(2));
  EXPECT_THAT(results_.order(), ElementsAre("b", "a"));
}

// ---- Instances and shutdown ------------------------------------------------------------------

TEST_F(DynamicBatchSchedulerTest, IdleInstancesRunBatchesConcurrently) {
  Options options;
  options.max_batch_size = 1;
  Start(options, 3);

  for (const char* id : {"a", "b", "c"}) executor_.Hold(id);
  Enqueue("a");
  Enqueue("b");
  Enqueue("c");
  ASSERT_TRUE(executor_.AwaitExecuting(3));
  std::set<size_t> instances;
  for (const auto& batch : executor_.batches()) instances.insert(batch.instance);
  EXPECT_EQ(instances.size(), 3u);
  for (const char* id : {"a", "b", "c"}) executor_.Release(id);
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_EQ(executor_.max_executing(), 3u);
}

TEST_F(DynamicBatchSchedulerTest, ShutdownDrainsEveryAcceptedRequestWithoutWaitingForTheDelay) {
  Options options;
  options.max_batch_size = 2;
  options.max_queue_delay_us = 1'000'000'000;
  Start(options, 2);

  for (const char* id : {"a", "b", "c", "d", "e"}) Enqueue(id);
  scheduler_->Shutdown();  // the clock never moves
  EXPECT_EQ(results_.count(), 5u);
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    EXPECT_EQ(results_.code(id), absl::StatusCode::kOk) << id;
  }
  EXPECT_EQ(scheduler_->InFlight(), 0u);
  EXPECT_EQ(scheduler_->Enqueue(Request("late")).code(), absl::StatusCode::kUnavailable);
  scheduler_->Shutdown();  // idempotent
}

// Responses go out on the delivery thread while the instance runs the next batch; when delivery
// falls a batch per instance behind, the instance delivers its own; Shutdown and WaitUntilIdle
// wait for everything handed off.
TEST_F(DynamicBatchSchedulerTest, DeliveryDoesNotHoldTheInstance) {
  Options options;
  options.max_batch_size = 1;  // every request is a full batch: no delay involved
  Start(options);

  absl::Notification entered, release;
  std::string slow_thread;
  auto slow = Request("slow");
  slow->on_complete = [&](absl::StatusOr<core::InferenceResponse>) {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    slow_thread = name;
    entered.Notify();
    release.WaitForNotification();
  };
  Enqueue(std::move(slow));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_EQ(slow_thread, "gs-deliver");

  // "slow" is still being delivered: the instance runs b (queued for delivery behind it) and c
  // (delivery is a batch behind, so the instance answers c itself).
  Enqueue("b");
  ASSERT_TRUE(executor_.AwaitFinished(2));
  EXPECT_FALSE(scheduler_->WaitUntilIdle(absl::Milliseconds(50)));  // b is handed off, undelivered
  Enqueue("c");
  ASSERT_TRUE(results_.AwaitCount(1));
  EXPECT_EQ(results_.order(), (Ids{"c"}));
  EXPECT_EQ(results_.count(), 1u);

  release.Notify();
  Settle();
  EXPECT_EQ(results_.order(), (Ids{"c", "b"}));
  EXPECT_EQ(scheduler_->InFlight(), 0u);
  scheduler_->Shutdown();
}

TEST_F(DynamicBatchSchedulerTest, ExecutorErrorsReachOnlyTheirRequests) {
  Options options;
  options.max_batch_size = 4;
  Start(options);

  executor_.Fail("b", absl::InternalError("boom"));
  Occupy("x");
  Enqueue("a");
  Enqueue("b");
  executor_.Release("x");
  ASSERT_TRUE(results_.AwaitCount(3));
  EXPECT_EQ(results_.code("a"), absl::StatusCode::kOk);
  EXPECT_EQ(results_.code("b"), absl::StatusCode::kInternal);
}

// ---- Observers -------------------------------------------------------------------------------

// Records every event as a string, and whether a request's on_complete had run when its
// OnRequestFinished came.
class RecordingObserver : public ExecutionObserver {
 public:
  explicit RecordingObserver(const ResultCollector* results) : results_(results) {}

  void OnRequestArrived(const core::InferenceRequest& request) override {
    Add("arrived " + request.id);
  }
  void OnBatchStarted(const BatchRecord& batch) override {
    Add("started " + std::to_string(batch.requests) + "/" + std::to_string(batch.items));
  }
  void OnBatchFinished(const BatchRecord& batch) override {
    Add("finished " + std::to_string(batch.succeeded) + " ok");
  }
  void OnRequestFinished(const RequestRecord& record) override {
    static constexpr const char* kPath[] = {"refused", "expired", "executed"};
    Add("done " + record.request->id + " " + kPath[static_cast<int>(record.path)] + " " +
        absl::StatusCodeToString(record.code) +
        (results_->code(record.request->id) == absl::StatusCode::kUnknown ? "" : " LATE"));
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  const ResultCollector* const results_;
  mutable absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

TEST_F(DynamicBatchSchedulerTest, ObserversHearEveryRequestBeforeItsCallback) {
  auto observer = std::make_shared<RecordingObserver>(&results_);
  Options options;
  options.max_batch_size = 2;
  options.max_queue_delay_us = 1000;
  options.default_queue_policy.max_queue_size = 2;
  options.default_queue_policy.default_timeout_us = 500;
  options.observers = {observer};
  Start(options);

  Enqueue("a");
  Advance(absl::Microseconds(500));  // a times out
  ASSERT_TRUE(results_.AwaitCount(1));
  Enqueue("b");
  Enqueue("c");  // full batch
  ASSERT_TRUE(results_.AwaitCount(3));
  executor_.Hold("d");
  Enqueue("d", 2);  // a full batch on its own
  ASSERT_TRUE(executor_.AwaitStartedId("d"));
  Enqueue("e");
  Enqueue("f");
  EXPECT_FALSE(scheduler_->Enqueue(Request("g")).ok());  // queue full
  executor_.Release("d");
  ASSERT_TRUE(results_.AwaitCount(6));
  Settle();
  EXPECT_THAT(
      observer->events(),
      ElementsAre("arrived a", "done a expired DEADLINE_EXCEEDED",  //
                  "arrived b", "arrived c", "started 2/2", "finished 2 ok", "done b executed OK",
                  "done c executed OK",  //
                  "arrived d", "started 1/2", "arrived e", "arrived f", "arrived g",
                  "done g refused RESOURCE_EXHAUSTED", "finished 1 ok", "done d executed OK",
                  "started 2/2", "finished 2 ok", "done e executed OK", "done f executed OK"));
}

TEST_F(DynamicBatchSchedulerTest, FeedsTritonStatistics) {
  auto stats = std::make_shared<InferenceStatistics>([] { return uint64_t{1234}; });
  Options options;
  options.max_batch_size = 4;
  options.max_queue_delay_us = 100;
  options.observers = {stats};
  Start(options);
  executor_.SimulateCompute(&clock_, absl::Microseconds(10));

  Enqueue("a", 2);
  Advance(absl::Microseconds(100));  // {a} after 100 us in the queue, 10 us compute
  ASSERT_TRUE(results_.AwaitCount(1));
  executor_.ReportTimings(1, 2, 3);
  Enqueue("b");
  Enqueue("c", 3);  // {b, c} full at once
  ASSERT_TRUE(results_.AwaitCount(3));
  executor_.Fail("d", absl::InternalError("boom"));
  Enqueue("d", 4);
  ASSERT_TRUE(results_.AwaitCount(4));
  Settle();

  StatisticsSnapshot s = stats->Snapshot();
  EXPECT_EQ(s.last_inference_ms, 1234u);
  EXPECT_EQ(s.inference_count, 6u);  // 2 + 1 + 3 items; d failed
  EXPECT_EQ(s.execution_count, 2u);  // d's batch had no success
  EXPECT_EQ(s.success.count, 3u);
  EXPECT_EQ(s.success.ns, 110'000u + 10'000u + 10'000u);
  EXPECT_EQ(s.fail.count, 1u);
  EXPECT_EQ(s.fail.ns, 10'000u);
  EXPECT_EQ(s.queue.count, 3u);
  EXPECT_EQ(s.queue.ns, 100'000u);
  EXPECT_EQ(s.compute_infer.ns, 10'000u + 2u + 2u);  // a: unreported split = whole execution
  EXPECT_EQ(s.compute_input.ns, 2u);
  EXPECT_EQ(s.compute_output.ns, 6u);
  ASSERT_EQ(s.batch_stats.size(), 2u);  // sizes 2 ({a}) and 4 ({b, c}); {d} failed
  EXPECT_EQ(s.batch_stats[0].batch_size, 2u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.count, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.ns, 10'000u);
  EXPECT_EQ(s.batch_stats[1].batch_size, 4u);
  EXPECT_EQ(s.batch_stats[1].compute_input.ns, 1u);
  EXPECT_EQ(s.batch_stats[1].compute_infer.ns, 2u);
  EXPECT_EQ(s.batch_stats[1].compute_output.count, 1u);
  EXPECT_EQ(s.batch_stats[1].compute_output.ns, 3u);
}

}  // namespace
}  // namespace gridserve::scheduler
