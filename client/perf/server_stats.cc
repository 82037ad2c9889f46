#include "client/perf/server_stats.h"

namespace gridserve::client::perf {

ServerStatsSnapshot SnapshotFromResponse(const inference::ModelStatisticsResponse& response,
                                         const std::string& model) {
  ServerStatsSnapshot s;
  for (const inference::ModelStatistics& m : response.model_stats()) {
    if (m.name() != model) continue;
    const inference::InferStatistics& st = m.inference_stats();
    s.success_count += st.success().count();
    s.fail_count += st.fail().count();
    s.inference_count += m.inference_count();
    s.execution_count += m.execution_count();
    s.queue_count += st.queue().count();
    s.queue_ns += st.queue().ns();
    s.compute_input_count += st.compute_input().count();
    s.compute_input_ns += st.compute_input().ns();
    s.compute_infer_count += st.compute_infer().count();
    s.compute_infer_ns += st.compute_infer().ns();
    s.compute_output_count += st.compute_output().count();
    s.compute_output_ns += st.compute_output().ns();
  }
  return s;
}

namespace {

uint64_t Minus(uint64_t after, uint64_t before) { return after >= before ? after - before : 0; }

// Mean microseconds per counted request.
double MeanUs(uint64_t ns_after, uint64_t ns_before, uint64_t n_after, uint64_t n_before) {
  const uint64_t n = Minus(n_after, n_before);
  if (n == 0) return 0;
  return static_cast<double>(Minus(ns_after, ns_before)) / 1000.0 / static_cast<double>(n);
}

}  // namespace

ServerStatsDelta Diff(const ServerStatsSnapshot& b, const ServerStatsSnapshot& a) {
  ServerStatsDelta d;
  d.available = true;
  d.requests = Minus(a.success_count, b.success_count);
  d.failed = Minus(a.fail_count, b.fail_count);
  d.inferences = Minus(a.inference_count, b.inference_count);
  d.executions = Minus(a.execution_count, b.execution_count);
  d.queue_us = MeanUs(a.queue_ns, b.queue_ns, a.queue_count, b.queue_count);
  d.compute_input_us =
      MeanUs(a.compute_input_ns, b.compute_input_ns, a.compute_input_count, b.compute_input_count);
  d.compute_infer_us =
      MeanUs(a.compute_infer_ns, b.compute_infer_ns, a.compute_infer_count, b.compute_infer_count);
  d.compute_output_us = MeanUs(a.compute_output_ns, b.compute_output_ns, a.compute_output_count,
                               b.compute_output_count);
  d.avg_batch =
      d.executions == 0 ? 0 : static_cast<double>(d.inferences) / static_cast<double>(d.executions);
  return d;
}

}  // namespace gridserve::client::perf
