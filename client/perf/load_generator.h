#pragma once

// Drives one step of load: keeps N requests in flight (closed loop) or starts R requests per
// second (open loop) over gRPC's asynchronous API, and measures a window.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gridserve::client::perf {

struct LoadOptions {
  // One client thread per channel, each with its own completion queue. Requests are spread
  // evenly. At least one.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  // Full method name and the serialized request sent on every call (never parsed again: the
  // client spends its CPU on gRPC, not on protobuf, which matters when it shares cores with the
  // server).
  std::string method = "/inference.GRPCInferenceService/ModelInfer";
  grpc::ByteBuffer payload;
  // Closed loop when concurrency > 0: each answer starts the next request. Open loop when
  // request_rate > 0 (per second): requests start evenly spaced whatever the answers, from a
  // separate pacing thread. Exactly one must be positive.
  int64_t concurrency = 0;
  double request_rate = 0;
  // Open loop: a request due while this many are in flight is skipped (counted).
  int64_t max_outstanding = 4096;
  // Closed loop: after a RESOURCE_EXHAUSTED answer, the slot waits this long before sending
  // again (a client retrying with backoff). Zero (default): at once, as perf_analyzer does; on a
  // machine where client and server share cores, instant retries of refused requests take CPU
  // from the requests being served.
  absl::Duration refusal_backoff = absl::ZeroDuration();
  // The server counts as unreachable once every answer for this long was UNAVAILABLE (it died,
  // refuses connections): the step then ends at once and LoadResult::server_unreachable says so.
  // While answers are UNAVAILABLE, a closed-loop slot waits before it sends again (10 ms,
  // doubling per consecutive UNAVAILABLE up to 640 ms) and the open loop sends one probe per
  // 100 ms instead of its rate (the others count as skipped), so a dead server costs the client
  // next to no CPU. Zero: never give up (the backoff still applies).
  absl::Duration unreachable_timeout = absl::Seconds(2);
  // Unmeasured load first, then the window.
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration window = absl::Seconds(5);
  // > 0: the window also ends once this many requests completed in it.
  int64_t max_requests = 0;
  // Deadline of each call; also bounds the drain after the window.
  absl::Duration timeout = absl::Seconds(30);
  // Called on the calling thread just before the window opens and just after it closes, while
  // the load is running (ModelStatistics snapshots).
  std::function<void()> before_window;
  std::function<void()> after_window;
};

// What happened in the window. Requests completing outside it (warm-up, drain) are not counted.
struct LoadResult {
  absl::Duration window;
  std::vector<int64_t> ok_latencies_us;  // successful requests, unsorted
  std::map<int, int64_t> failures;       // gRPC status code -> count
  int64_t skipped = 0;                   // open loop only
  // CPU time this process (every client thread) used during the window, user + system: what the
  // load itself costs, which on a machine shared with the server comes out of the server's share.
  absl::Duration client_cpu;
  // True when the step ended early because the server was unreachable (see unreachable_timeout).
  bool server_unreachable = false;
  // Why, e.g. the last UNAVAILABLE message ("failed to connect to all addresses").
  std::string unreachable_message;
};

// Runs one step and returns when every request it started has finished (or hit its deadline).
// INVALID_ARGUMENT for inconsistent options. Uses channels.size() threads (+1 for open loop)
// for the duration of the call.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options);

}  // namespace gridserve::client::perf
