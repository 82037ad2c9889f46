// The cost of the metrics path per request: everything MetricsObserver does for one request of a
// batch (arrival, its batch's start and finish, its completion), with gridserve's own families
// and with Triton's names added, from 1 and 2 threads at once (the same model version's atomics,
// as two instances of one model would update them).
//
// Usage: bench_metrics_observer [benchmark flags]
// docs/benchmarks.md relates the ns per request to the server's CPU time per request.

#include <benchmark/benchmark.h>

#include <memory>

#include "runtime/metrics/inference_metrics.h"
#include "server/metrics_observer.h"

namespace {

using gridserve::scheduler::BatchRecord;
using gridserve::scheduler::RequestPath;
using gridserve::scheduler::RequestRecord;

struct Fixture {
  explicit Fixture(bool triton_names) {
    gridserve::metrics::InferenceMetrics::Options options;
    options.triton_names = triton_names;
    metrics = *gridserve::metrics::InferenceMetrics::Create(&registry, options);
    observer = std::make_unique<gridserve::server::MetricsObserver>(
        metrics->ForModelVersion("linear4", "1"));
  }
  prometheus::Registry registry;
  std::unique_ptr<gridserve::metrics::InferenceMetrics> metrics;
  std::unique_ptr<gridserve::server::MetricsObserver> observer;
};

// One per name set, shared by the benchmark's threads (thread-safe static initialization).
Fixture& Shared(bool triton_names) {
  static Fixture* plain = new Fixture(false);
  static Fixture* triton = new Fixture(true);
  return triton_names ? *triton : *plain;
}

void BM_MetricsPerRequest(benchmark::State& state) {
  gridserve::server::MetricsObserver& observer = *Shared(state.range(0) != 0).observer;
  gridserve::core::InferenceRequest request;
  BatchRecord batch;
  batch.requests = 1;
  batch.items = 1;
  RequestRecord record;
  record.request = &request;
  record.items = 1;
  record.path = RequestPath::kExecuted;
  int64_t t = 0;
  for (auto _ : state) {
    t += 1000;
    observer.OnRequestArrived(request);
    batch.start_ns = t;
    observer.OnBatchStarted(batch);
    batch.end_ns = t + 2'500'000;
    batch.compute_infer_ns = 2'400'000;
    observer.OnBatchFinished(batch);
    record.arrive_ns = t - 800'000;
    record.finish_ns = t + 2'600'000;
    record.timings.queue_ns = 800'000 + (t % 7) * 1000;
    record.timings.compute_infer_ns = 2'400'000;
    observer.OnRequestFinished(record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPerRequest)
    ->ArgName("triton_names")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
