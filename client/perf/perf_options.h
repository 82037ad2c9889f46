#pragma once

// Command line of gridserve-perf: what to load, how hard, for how long, and where results go.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridserve::client::perf {

// An inclusive arithmetic range "START[:END[:STEP]]" (perf_analyzer's form): START, START+STEP,
// ... up to and including END. END defaults to START and STEP to 1.
struct Range {
  double start = 1;
  double end = 1;
  double step = 1;

  // The values of the range, in order. At most kMaxRangeSteps of them (ParseRange checks).
  std::vector<double> Values() const;
};

// A range expands to at most this many steps, so that a typo cannot start hours of load.
inline constexpr int kMaxRangeSteps = 1000;

// Parses "START[:END[:STEP]]". INVALID_ARGUMENT unless every part is a number, START >= `min`,
// END >= START, STEP > 0, the range has at most kMaxRangeSteps values, and, with `integral`,
// every part is a whole number.
absl::StatusOr<Range> ParseRange(absl::string_view text, double min, bool integral);

// Where request inputs come from.
enum class InputData {
  kRandom,  // uniform random values (fixed seed); BYTES: random lowercase strings of 1-16 bytes
  kZero,    // zeros; BYTES: empty strings
  kFile,    // a JSON file: {"INPUT_NAME": nested array, ...} (see client/tensor_io.h)
};

struct PerfOptions {
  // -m: the model to load. Required.
  std::string model;
  // -x: model version; empty lets the server's version policy choose.
  std::string model_version;
  // -u: gRPC target "host:port". Default localhost:8001 (Triton's and gridserve's gRPC port).
  std::string url = "localhost:8001";
  // --concurrency-range: closed loop, that many requests in flight at each step. Used unless
  // request_rate is set. Default 1.
  Range concurrency;
  // --request-rate-range: open loop, requests started per second at each step (evenly spaced),
  // whatever the server's answers. Unset: closed loop.
  std::optional<Range> request_rate;
  // --measurement-interval: length of each step's measurement window, milliseconds. Default 5000.
  int64_t measurement_interval_ms = 5000;
  // --warmup-ms: load applied before each window, not measured, milliseconds. Default 500; lets
  // batches and connections settle after a concurrency change.
  int64_t warmup_ms = 500;
  // --max-requests: a step's window also ends once this many requests have completed in it
  // (0: no bound; only the interval ends it). Bounds the load in count as well as time.
  int64_t max_requests = 0;
  // -b: batch size, the first dimension of every input of a batching model. Default 1.
  int64_t batch_size = 1;
  // --shape NAME:D1,D2: dimensions (without the batch dimension) for an input whose metadata
  // has -1 dims.
  std::map<std::string, std::vector<int64_t>> shapes;
  // --input-data random|zero|FILE.json. Default random.
  InputData input_data = InputData::kRandom;
  std::string input_file;
  // --threads: client threads driving the completion queues (each with its own channel).
  // Default 2; one thread keeps hundreds of requests in flight, two help tiny models.
  int threads = 2;
  // --timeout-ms: deadline of each inference request, milliseconds. Default 30000. Also bounds
  // how long a step waits for its last requests.
  int64_t timeout_ms = 30000;
  // --max-outstanding: open loop only: a request due while this many are in flight is not sent
  // and counted as "skipped" (the server cannot keep up). Default 4096.
  int64_t max_outstanding = 4096;
  // --refusal-backoff-ms: closed loop: after a RESOURCE_EXHAUSTED answer the slot waits this
  // long before sending again, like a client retrying with backoff. Default 0: at once
  // (perf_analyzer's behaviour).
  int64_t refusal_backoff_ms = 0;
  // --unreachable-timeout-ms: the run stops (exit 1, steps so far reported) once every answer
  // for this long was UNAVAILABLE; meanwhile sends back off. Default 2000; 0 = never stop.
  int64_t unreachable_timeout_ms = 2000;
  // --max-message-bytes: largest gRPC message sent or received. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // -f: CSV file written after the last step (empty: none).
  std::string csv_file;
  // --json: print the results as one JSON document on stdout (the human-readable report goes
  // to stderr instead).
  bool json = false;
};

// The --help text.
extern const char kPerfUsage[];

// Parses argv (without the program name). INVALID_ARGUMENT names the offending flag;
// FAILED_PRECONDITION means --help was asked for (print kPerfUsage, exit 0).
absl::StatusOr<PerfOptions> ParsePerfArgs(const std::vector<std::string>& args);

// "NAME:D1,D2" -> {NAME, {D1, D2}}. INVALID_ARGUMENT unless NAME is non-empty and every Di is a
// positive integer (at most 64 dims).
absl::StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeSpec(absl::string_view text);

}  // namespace gridserve::client::perf
