#pragma once

// Results of a gridserve-perf run and their three printed forms: a human-readable report, CSV
// (one row per step) and JSON.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/perf/latency_summary.h"
#include "client/perf/server_stats.h"

namespace gridserve::client::perf {

// One step (one concurrency or request rate), measured over one window.
struct StepResult {
  // Exactly one of the two is set (> 0): closed loop (concurrency) or open loop (rate, per s).
  int64_t concurrency = 0;
  double request_rate = 0;
  int64_t batch_size = 1;
  double window_s = 0;  // length of the measurement window, seconds
  // Requests completed in the window, by outcome. Every request sent is answered or hits its
  // deadline, so sent == ok + refused + errors once the step has drained.
  int64_t ok = 0;
  int64_t refused = 0;  // RESOURCE_EXHAUSTED: the server's queue or size limit
  int64_t errors = 0;   // every other failure
  int64_t skipped = 0;  // open loop: due while --max-outstanding were in flight, not sent
  std::map<std::string, int64_t> failures_by_code;  // gRPC code name -> count, refusals included
  // ok * batch_size / window_s.
  double throughput_infer_per_s = 0;
  // Latency of successful requests: send to answer, as the client sees it.
  LatencySummary latency;
  ServerStatsDelta server;
  // This client's own CPU use in the window (user + system, all its threads): per request
  // answered (ok + refused + errors), and in cores (CPU seconds per second of window). When the
  // client shares the server's machine, this is CPU the server did not get.
  double client_cpu_us_per_request = 0;
  double client_cpu_cores = 0;
};

// Everything a run produced, with the settings needed to read it.
struct RunReport {
  std::string model;
  std::string url;
  int64_t batch_size = 1;
  int64_t measurement_interval_ms = 0;
  std::vector<StepResult> steps;
};

// The name of a gRPC status code number ("RESOURCE_EXHAUSTED"); "CODE_<n>" for unknown numbers.
std::string StatusCodeName(int code);

// "Concurrency: 8, throughput: 1234.5 infer/s, latency p50 ...", two lines per step, with n/a
// for a server that has no statistics.
std::string FormatStep(const StepResult& step);

// CSV: a header line, then one line per step. Columns:
//   concurrency,request_rate,batch_size,window_s,throughput_infer_per_s,ok,refused,errors,
//   skipped,p50_us,p90_us,p95_us,p99_us,mean_us,min_us,max_us,server_queue_us,
//   server_compute_input_us,server_compute_infer_us,server_compute_output_us,server_avg_batch,
//   failures_by_code
// Server columns are empty when the server had no statistics; failures_by_code is
// "CODE=n;CODE=n" (quoted only if needed, which it never is: code names are [A-Z_]).
std::string FormatCsv(const RunReport& report);

// {"model":..., "url":..., "batch_size":..., "measurement_interval_ms":..., "steps":[{...}]}
// Step fields are named as the CSV columns; server fields are null when unavailable and
// failures_by_code is an object.
std::string FormatJson(const RunReport& report);

}  // namespace gridserve::client::perf
