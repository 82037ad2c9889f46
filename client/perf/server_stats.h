#pragma once

// The server-side view of a measurement window: ModelStatistics (Triton's statistics extension)
// read before and after, and the difference.

#include <cstdint>
#include <string>

#include "inference/grpc_service.pb.h"

namespace gridserve::client::perf {

// Cumulative counters of one model, summed over the versions in a ModelStatisticsResponse.
struct ServerStatsSnapshot {
  uint64_t success_count = 0;
  uint64_t fail_count = 0;
  uint64_t inference_count = 0;  // batch items executed
  uint64_t execution_count = 0;  // model executions (batches)
  uint64_t queue_count = 0;
  uint64_t queue_ns = 0;
  uint64_t compute_input_count = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_count = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_count = 0;
  uint64_t compute_output_ns = 0;
};

// Sums every entry of `response` named `model` (all its versions in the answer).
ServerStatsSnapshot SnapshotFromResponse(const inference::ModelStatisticsResponse& response,
                                         const std::string& model);

// What the server did during a window. `available` is false when either snapshot could not be
// read (the server answered UNIMPLEMENTED, or another error named in `unavailable_reason`); the
// other fields are then 0 and reports print n/a.
struct ServerStatsDelta {
  bool available = false;
  std::string unavailable_reason;
  uint64_t requests = 0;    // successful requests
  uint64_t failed = 0;      // failed requests the server counted
  uint64_t inferences = 0;  // batch items executed
  uint64_t executions = 0;  // batches executed
  // Mean per request, microseconds (Triton's per-request phase times: queue is the time from
  // arrival to the start of its batch, compute_* the batch's phases).
  double queue_us = 0;
  double compute_input_us = 0;
  double compute_infer_us = 0;
  double compute_output_us = 0;
  // inferences / executions: the batch size the server actually formed. 0 with no executions.
  double avg_batch = 0;
};

// after - before. Counters that went backwards (the model was reloaded during the window) give
// a delta of 0 rather than a huge unsigned wrap.
ServerStatsDelta Diff(const ServerStatsSnapshot& before, const ServerStatsSnapshot& after);

}  // namespace gridserve::client::perf
