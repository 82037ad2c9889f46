#include "client/perf/report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/tensor_io.h"

namespace gridserve::client::perf {

std::string StatusCodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  if (code >= 0 && code <= 16) return kNames[code];
  return absl::StrCat("CODE_", code);
}

namespace {

// Fixed-point with `digits` decimals; JSON and CSV need plain numbers (no inf/nan).
std::string Num(double v, int digits) {
  if (!std::isfinite(v)) return "0";
  return absl::StrFormat("%.*f", digits, v);
}

std::string CodesInline(const std::map<std::string, int64_t>& codes) {
  return absl::StrJoin(codes, ";", [](std::string* out, const auto& kv) {
    absl::StrAppend(out, kv.first, "=", kv.second);
  });
}

}  // namespace

std::string FormatStep(const StepResult& s) {
  std::string line;
  if (s.request_rate > 0) {
    absl::StrAppend(&line, "Request rate: ", Num(s.request_rate, 1), "/s");
  } else {
    absl::StrAppend(&line, "Concurrency: ", s.concurrency);
  }
  absl::StrAppend(&line, ", throughput: ", Num(s.throughput_infer_per_s, 1),
                  " infer/s, latency p50 ", s.latency.p50_us, " us, p90 ", s.latency.p90_us,
                  " us, p95 ", s.latency.p95_us, " us, p99 ", s.latency.p99_us, " us; ok ", s.ok,
                  ", refused (RESOURCE_EXHAUSTED) ", s.refused, ", errors ", s.errors);
  if (s.skipped > 0) absl::StrAppend(&line, ", skipped ", s.skipped);
  std::map<std::string, int64_t> others = s.failures_by_code;
  others.erase("RESOURCE_EXHAUSTED");
  if (!others.empty()) absl::StrAppend(&line, " (", CodesInline(others), ")");
  absl::StrAppend(&line, "\n  Server: ");
  if (s.server.available) {
    absl::StrAppend(&line, "queue ", Num(s.server.queue_us, 0), " us, compute input ",
                    Num(s.server.compute_input_us, 0), " us, infer ",
                    Num(s.server.compute_infer_us, 0), " us, output ",
                    Num(s.server.compute_output_us, 0), " us per request; avg batch ",
                    Num(s.server.avg_batch, 2), " (", s.server.executions, " executions)\n");
  } else {
    absl::StrAppend(&line, "queue n/a, compute n/a",
                    s.server.unavailable_reason.empty()
                        ? ""
                        : absl::StrCat(" (", s.server.unavailable_reason, ")"),
                    "\n");
  }
  absl::StrAppend(&line, "  Client: ", Num(s.client_cpu_us_per_request, 1), " us CPU per request (",
                  Num(s.client_cpu_cores, 2), " cores)\n");
  return line;
}

std::string FormatCsv(const RunReport& report) {
  std::string out =
      "concurrency,request_rate,batch_size,window_s,throughput_infer_per_s,ok,refused,errors,"
      "skipped,p50_us,p90_us,p95_us,p99_us,mean_us,min_us,max_us,server_queue_us,"
      "server_compute_input_us,server_compute_infer_us,server_compute_output_us,"
      "server_avg_batch,client_cpu_us_per_request,client_cpu_cores,failures_by_code\n";
  for (const StepResult& s : report.steps) {
    absl::StrAppend(&out, s.concurrency, ",", Num(s.request_rate, 3), ",", s.batch_size, ",",
                    Num(s.window_s, 3), ",", Num(s.throughput_infer_per_s, 1), ",", s.ok, ",",
                    s.refused, ",", s.errors, ",", s.skipped, ",", s.latency.p50_us, ",",
                    s.latency.p90_us, ",", s.latency.p95_us, ",", s.latency.p99_us, ",",
                    Num(s.latency.mean_us, 1), ",", s.latency.min_us, ",", s.latency.max_us, ",");
    if (s.server.available) {
      absl::StrAppend(&out, Num(s.server.queue_us, 1), ",", Num(s.server.compute_input_us, 1), ",",
                      Num(s.server.compute_infer_us, 1), ",", Num(s.server.compute_output_us, 1),
                      ",", Num(s.server.avg_batch, 3), ",");
    } else {
      absl::StrAppend(&out, ",,,,,");
    }
    absl::StrAppend(&out, Num(s.client_cpu_us_per_request, 1), ",", Num(s.client_cpu_cores, 3),
                    ",");
    absl::StrAppend(&out, CodesInline(s.failures_by_code), "\n");
  }
  return out;
}

std::string FormatJson(const RunReport& report) {
  std::string out =
      absl::StrCat("{\"model\":", JsonQuote(report.model), ",\"url\":", JsonQuote(report.url),
                   ",\"batch_size\":", report.batch_size,
                   ",\"measurement_interval_ms\":", report.measurement_interval_ms, ",\"steps\":[");
  for (size_t i = 0; i < report.steps.size(); ++i) {
    const StepResult& s = report.steps[i];
    if (i > 0) out += ",";
    absl::StrAppend(&out, "\n{\"concurrency\":", s.concurrency,
                    ",\"request_rate\":", Num(s.request_rate, 3), ",\"batch_size\":", s.batch_size,
                    ",\"window_s\":", Num(s.window_s, 3),
                    ",\"throughput_infer_per_s\":", Num(s.throughput_infer_per_s, 1),
                    ",\"ok\":", s.ok, ",\"refused\":", s.refused, ",\"errors\":", s.errors,
                    ",\"skipped\":", s.skipped, ",\"p50_us\":", s.latency.p50_us,
                    ",\"p90_us\":", s.latency.p90_us, ",\"p95_us\":", s.latency.p95_us,
                    ",\"p99_us\":", s.latency.p99_us, ",\"mean_us\":", Num(s.latency.mean_us, 1),
                    ",\"min_us\":", s.latency.min_us, ",\"max_us\":", s.latency.max_us);
    auto server = [&](const char* name, double v, int digits) {
      absl::StrAppend(&out, ",\"", name, "\":", s.server.available ? Num(v, digits) : "null");
    };
    server("server_queue_us", s.server.queue_us, 1);
    server("server_compute_input_us", s.server.compute_input_us, 1);
    server("server_compute_infer_us", s.server.compute_infer_us, 1);
    server("server_compute_output_us", s.server.compute_output_us, 1);
    server("server_avg_batch", s.server.avg_batch, 3);
    server("server_executions", static_cast<double>(s.server.executions), 0);
    absl::StrAppend(&out, ",\"client_cpu_us_per_request\":", Num(s.client_cpu_us_per_request, 1),
                    ",\"client_cpu_cores\":", Num(s.client_cpu_cores, 3));
    out += ",\"failures_by_code\":{";
    bool first = true;
    for (const auto& [code, n] : s.failures_by_code) {
      absl::StrAppend(&out, first ? "" : ",", JsonQuote(code), ":", n);
      first = false;
    }
    out += "}}";
  }
  out += "\n]}\n";
  return out;
}

}  // namespace gridserve::client::perf
