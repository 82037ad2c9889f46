#include "client/perf/perf_options.h"

#include <cmath>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gridserve::client::perf {

const char kPerfUsage[] = R"(Usage: gridserve-perf -m MODEL [options]

Load generator for KServe v2 / Triton gRPC servers (gridserve, Triton). For each step it prints
throughput (infer/s), latency p50/p90/p95/p99 (us) of successful requests, refusals
(RESOURCE_EXHAUSTED) and other errors by code, and the server's queue/compute split per request
from ModelStatistics over the same window (n/a if the server does not implement it).

  -m MODEL                      model name (required)
  -x VERSION                    model version (default: the server's policy)
  -u HOST:PORT                  server gRPC address (default localhost:8001)
  --concurrency-range S[:E[:P]] closed loop: S, S+P, ... E requests in flight (default 1)
  --request-rate-range S[:E[:P]] open loop: requests/s per step, sent evenly spaced, whatever
                                the answers (replaces --concurrency-range)
  --measurement-interval MS     measurement window per step (default 5000)
  --warmup-ms MS                unmeasured load before each window (default 500)
  --max-requests N              also end a window once N requests completed in it (default:
                                no bound; the interval alone ends it)
  -b BATCH                      batch size: dim 0 of every input of a batching model (default 1)
  --shape NAME:D1,D2            dims (without the batch dim) of an input with -1 dims; repeatable
  --input-data random|zero|FILE.json
                                input values (default random; fixed seed). FILE.json holds
                                {"NAME": nested array, ...}, shapes from the nesting
  --threads N                   client threads, one completion queue + channel each (default 2)
  --timeout-ms MS               per-request deadline (default 30000)
  --max-outstanding N           open loop: most requests in flight; more are skipped (4096)
  --refusal-backoff-ms MS       closed loop: wait this long before resending after a
                                RESOURCE_EXHAUSTED answer (default 0: at once)
  --unreachable-timeout-ms MS   stop the run once every answer for this long was UNAVAILABLE
                                (server gone); sends back off meanwhile (default 2000; 0 never)
  --max-message-bytes N         largest gRPC message (default 67108864)
  -f FILE.csv                   write one CSV row per step
  --json                        print results as JSON on stdout (report goes to stderr)
  -h, --help                    this text

Exit status: 0 all steps ran; 1 the server or model could not be used, or the server became
unreachable during the run (the steps measured so far are printed); 2 bad command line.
)";

std::vector<double> Range::Values() const {
  std::vector<double> values;
  // Index-based so that accumulated rounding cannot drop END (0.1 steps).
  for (int i = 0; i < kMaxRangeSteps; ++i) {
    const double v = start + i * step;
    if (v > end + step * 1e-9) break;
    values.push_back(v);
  }
  return values;
}

absl::StatusOr<Range> ParseRange(absl::string_view text, double min, bool integral) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.empty() || parts.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat("range '", text, "' is not START[:END[:STEP]]"));
  }
  double v[3];
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!absl::SimpleAtod(parts[i], &v[i]) || !std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("range '", text, "': '", parts[i], "' is not a number"));
    }
    if (integral && v[i] != std::floor(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("range '", text, "': '", parts[i], "' is not a whole number"));
    }
  }
  Range range;
  range.start = v[0];
  range.end = parts.size() > 1 ? v[1] : v[0];
  range.step = parts.size() > 2 ? v[2] : 1;
  if (range.start < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("range '", text, "': START must be at least ", min));
  }
  if (range.end < range.start) {
    return absl::InvalidArgumentError(absl::StrCat("range '", text, "': END is below START"));
  }
  if (range.step <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("range '", text, "': STEP must be positive"));
  }
  if ((range.end - range.start) / range.step >= kMaxRangeSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("range '", text, "' has more than ", kMaxRangeSteps, " steps"));
  }
  return range;
}

absl::StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeSpec(
    absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--shape '", text, "' is not NAME:D1,D2,..."));
  }
  std::pair<std::string, std::vector<int64_t>> spec;
  spec.first = std::string(text.substr(0, colon));
  for (absl::string_view d : absl::StrSplit(text.substr(colon + 1), ',')) {
    int64_t dim;
    if (!absl::SimpleAtoi(d, &dim) || dim <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape '", text, "': '", d, "' is not a positive integer"));
    }
    spec.second.push_back(dim);
  }
  if (spec.second.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat("--shape '", text, "': more than 64 dims"));
  }
  return spec;
}

namespace {

using Setter = std::function<absl::Status(absl::string_view, PerfOptions*)>;

template <typename T>
Setter Int(T PerfOptions::*field, int64_t min, int64_t max) {
  return [=](absl::string_view v, PerfOptions* o) {
    int64_t n;
    if (!absl::SimpleAtoi(v, &n) || n < min || n > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", v, "' is not an integer in [", min, ", ", max, "]"));
    }
    o->*field = static_cast<T>(n);
    return absl::OkStatus();
  };
}

Setter Str(std::string PerfOptions::*field) {
  return [=](absl::string_view v, PerfOptions* o) {
    if (v.empty()) return absl::InvalidArgumentError("empty value");
    o->*field = std::string(v);
    return absl::OkStatus();
  };
}

const std::map<std::string, Setter>& ValueFlags() {
  static const auto* flags = new std::map<std::string, Setter>{
      {"-m", Str(&PerfOptions::model)},
      {"-x", Str(&PerfOptions::model_version)},
      {"-u", Str(&PerfOptions::url)},
      {"-f", Str(&PerfOptions::csv_file)},
      {"-b", Int(&PerfOptions::batch_size, 1, 1 << 20)},
      {"--concurrency-range",
       [](absl::string_view v, PerfOptions* o) -> absl::Status {
         absl::StatusOr<Range> r = ParseRange(v, 1, /*integral=*/true);
         if (!r.ok()) return r.status();
         if (r->end > 65536) return absl::InvalidArgumentError("concurrency above 65536");
         o->concurrency = *r;
         return absl::OkStatus();
       }},
      {"--request-rate-range",
       [](absl::string_view v, PerfOptions* o) -> absl::Status {
         absl::StatusOr<Range> r = ParseRange(v, 0.001, /*integral=*/false);
         if (!r.ok()) return r.status();
         if (r->end > 1e7) return absl::InvalidArgumentError("request rate above 1e7/s");
         o->request_rate = *r;
         return absl::OkStatus();
       }},
      {"--measurement-interval", Int(&PerfOptions::measurement_interval_ms, 1, 3600 * 1000)},
      {"--warmup-ms", Int(&PerfOptions::warmup_ms, 0, 3600 * 1000)},
      {"--max-requests", Int(&PerfOptions::max_requests, 0, int64_t{1} << 40)},
      {"--threads", Int(&PerfOptions::threads, 1, 64)},
      {"--timeout-ms", Int(&PerfOptions::timeout_ms, 1, 3600 * 1000)},
      {"--refusal-backoff-ms", Int(&PerfOptions::refusal_backoff_ms, 0, 3600 * 1000)},
      {"--unreachable-timeout-ms", Int(&PerfOptions::unreachable_timeout_ms, 0, 3600 * 1000)},
      {"--max-outstanding", Int(&PerfOptions::max_outstanding, 1, 1 << 20)},
      {"--max-message-bytes", Int(&PerfOptions::max_message_bytes, 1024, INT32_MAX)},
      {"--shape",
       [](absl::string_view v, PerfOptions* o) -> absl::Status {
         absl::StatusOr<std::pair<std::string, std::vector<int64_t>>> s = ParseShapeSpec(v);
         if (!s.ok()) return s.status();
         o->shapes[s->first] = s->second;
         return absl::OkStatus();
       }},
      {"--input-data",
       [](absl::string_view v, PerfOptions* o) -> absl::Status {
         if (v == "random") {
           o->input_data = InputData::kRandom;
         } else if (v == "zero") {
           o->input_data = InputData::kZero;
         } else if (absl::EndsWith(v, ".json")) {
           o->input_data = InputData::kFile;
           o->input_file = std::string(v);
         } else {
           return absl::InvalidArgumentError("expected random, zero or a .json file");
         }
         return absl::OkStatus();
       }},
  };
  return *flags;
}

}  // namespace

absl::StatusOr<PerfOptions> ParsePerfArgs(const std::vector<std::string>& args) {
  PerfOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    if (name == "-h" || name == "--help") return absl::FailedPreconditionError(kPerfUsage);
    if (name == "--json") {
      options.json = true;
      continue;
    }
    std::string value;
    bool has_value = false;
    if (absl::StartsWith(name, "--")) {
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    }
    auto it = ValueFlags().find(name);
    if (it == ValueFlags().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(absl::StartsWith(name, "-") ? "unknown flag " : "unexpected argument ", name,
                       " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag ", name, " needs a value"));
      }
      value = args[++i];
    }
    if (absl::Status s = it->second(value, &options); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", s.message()));
    }
  }
  if (options.model.empty()) return absl::InvalidArgumentError("-m MODEL is required");
  return options;
}

}  // namespace gridserve::client::perf
