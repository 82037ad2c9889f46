#include "client/perf/perf_runner.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/grpc_client.h"
#include "client/perf/latency_summary.h"
#include "client/perf/load_generator.h"
#include "client/perf/request_builder.h"
#include "client/perf/server_stats.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client::perf {
namespace {

constexpr char kStatisticsUnavailable[] = "server has no ModelStatistics (UNIMPLEMENTED)";

std::shared_ptr<grpc::Channel> MakeChannel(const PerfOptions& options, int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // A distinct argument per channel and a local subchannel pool give each client thread its own
  // TCP connection instead of all multiplexing on one.
  args.SetInt("gridserve.perf.channel_index", index);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(options.url, grpc::InsecureChannelCredentials(), args);
}

// Reads ModelStatistics for the model; UNIMPLEMENTED (or any failure) becomes `reason`.
absl::StatusOr<ServerStatsSnapshot> ReadStats(inference::GRPCInferenceService::Stub* stub,
                                              const PerfOptions& options) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  inference::ModelStatisticsRequest request;
  request.set_name(options.model);
  request.set_version(options.model_version);
  inference::ModelStatisticsResponse response;
  const grpc::Status status = stub->ModelStatistics(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return SnapshotFromResponse(response, options.model);
}

StepResult Summarise(const PerfOptions& options, int64_t batch_size, LoadResult load) {
  StepResult step;
  step.batch_size = batch_size;
  step.window_s = absl::ToDoubleSeconds(load.window);
  step.ok = static_cast<int64_t>(load.ok_latencies_us.size());
  for (const auto& [code, count] : load.failures) {
    step.failures_by_code[StatusCodeName(code)] += count;
    if (code == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)) {
      step.refused += count;
    } else {
      step.errors += count;
    }
  }
  step.skipped = load.skipped;
  step.throughput_infer_per_s =
      step.window_s > 0 ? static_cast<double>(step.ok * batch_size) / step.window_s : 0;
  step.latency = Summarize(&load.ok_latencies_us);
  const double cpu_us = absl::ToDoubleMicroseconds(load.client_cpu);
  const int64_t answered = step.ok + step.refused + step.errors;
  step.client_cpu_us_per_request = answered > 0 ? cpu_us / static_cast<double>(answered) : 0;
  step.client_cpu_cores = step.window_s > 0 ? cpu_us / 1e6 / step.window_s : 0;
  return step;
}

}  // namespace

absl::StatusOr<RunReport> RunPerf(const PerfOptions& options, std::ostream& progress) {
  InferenceClient::Options client_options;
  client_options.max_message_bytes = options.max_message_bytes;
  client_options.timeout = absl::Seconds(30);
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceClient> client,
                   InferenceClient::Create(options.url, client_options));
  ASSIGN_OR_RETURN(const inference::ModelMetadataResponse metadata,
                   client->ModelMetadata(options.model, options.model_version));

  RequestSpec spec;
  spec.model = options.model;
  spec.model_version = options.model_version;
  spec.batch_size = options.batch_size;
  spec.shapes = options.shapes;
  spec.input_data = options.input_data;
  spec.input_file = options.input_file;
  spec.max_request_bytes = options.max_message_bytes;
  // The configuration says for sure whether dim 0 is a batch dimension; servers without the
  // ModelConfig RPC get the metadata heuristic.
  absl::StatusOr<inference::ModelConfigResponse> config =
      client->ModelConfig(options.model, options.model_version);
  spec.batching = config.ok() ? config->config().max_batch_size() > 0 : LooksBatching(metadata);
  ASSIGN_OR_RETURN(const inference::ModelInferRequest request, BuildRequest(metadata, spec));

  LoadOptions load;
  const std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  load.payload = grpc::ByteBuffer(&slice, 1);
  for (int i = 0; i < options.threads; ++i) load.channels.push_back(MakeChannel(options, i));
  load.warmup = absl::Milliseconds(options.warmup_ms);
  load.window = absl::Milliseconds(options.measurement_interval_ms);
  load.max_requests = options.max_requests;
  load.timeout = absl::Milliseconds(options.timeout_ms);
  load.max_outstanding = options.max_outstanding;
  load.refusal_backoff = absl::Milliseconds(options.refusal_backoff_ms);
  load.unreachable_timeout = absl::Milliseconds(options.unreachable_timeout_ms);

  auto stats_stub = inference::GRPCInferenceService::NewStub(MakeChannel(options, -1));
  absl::StatusOr<ServerStatsSnapshot> before = absl::UnknownError("not read");
  absl::StatusOr<ServerStatsSnapshot> after = absl::UnknownError("not read");
  load.before_window = [&] { before = ReadStats(stats_stub.get(), options); };
  load.after_window = [&] { after = ReadStats(stats_stub.get(), options); };

  RunReport report;
  report.model = options.model;
  report.url = options.url;
  report.batch_size = options.batch_size;
  report.measurement_interval_ms = options.measurement_interval_ms;

  progress << "*** Measurement Settings ***\n"
           << "  Model: " << options.model
           << (options.model_version.empty() ? "" : " version " + options.model_version) << " at "
           << options.url << "\n  Batch size: " << options.batch_size
           << (spec.batching ? "" : " (model does not batch)") << "\n  Request: " << bytes.size()
           << " bytes\n  Measurement window: " << options.measurement_interval_ms << " ms after "
           << options.warmup_ms << " ms warm-up"
           << (options.max_requests > 0
                   ? absl::StrCat(", or ", options.max_requests, " completed requests")
                   : "")
           << "\n  Client threads: " << options.threads << "\n"
           << (options.request_rate ? "  Open loop (request rate)\n"
                                    : "  Closed loop (concurrency)\n")
           << "\n";
  progress.flush();

  const std::vector<double> values =
      options.request_rate ? options.request_rate->Values() : options.concurrency.Values();
  for (double value : values) {
    if (options.request_rate) {
      load.request_rate = value;
      load.concurrency = 0;
    } else {
      load.concurrency = static_cast<int64_t>(value);
      load.request_rate = 0;
    }
    ASSIGN_OR_RETURN(LoadResult result, RunLoad(load));
    const bool unreachable = result.server_unreachable;
    const std::string unreachable_message = result.unreachable_message;
    StepResult step = Summarise(options, options.batch_size, std::move(result));
    step.concurrency = load.concurrency;
    step.request_rate = load.request_rate;
    if (before.ok() && after.ok()) {
      step.server = Diff(*before, *after);
    } else {
      const absl::Status& failed = before.ok() ? after.status() : before.status();
      step.server.unavailable_reason = absl::IsUnimplemented(failed)
                                           ? kStatisticsUnavailable
                                           : absl::StrCat("ModelStatistics: ", failed.ToString());
    }
    progress << FormatStep(step);
    progress.flush();
    report.steps.push_back(std::move(step));
    if (unreachable) {
      return absl::UnavailableError(
          absl::StrCat("server at ", options.url, " unreachable: every answer for more than ",
                       options.unreachable_timeout_ms, " ms was UNAVAILABLE (", unreachable_message,
                       "); stopped after ", report.steps.size(), " of ", values.size(), " steps"));
    }
  }
  return report;
}

int PerfMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<PerfOptions> options = ParsePerfArgs(args);
  if (!options.ok()) {
    if (absl::IsFailedPrecondition(options.status())) {
      out << kPerfUsage;
      return kExitOk;
    }
    err << "gridserve-perf: " << options.status().message() << "\n(see --help)\n";
    return kExitUsage;
  }
  std::ostream& progress = options->json ? err : out;
  absl::StatusOr<RunReport> report = RunPerf(*options, progress);
  if (!report.ok()) {
    err << "error: " << StatusCodeName(static_cast<int>(report.status().code())) << ": "
        << report.status().message() << "\n";
    return kExitError;
  }
  if (!options->csv_file.empty()) {
    std::ofstream csv(options->csv_file, std::ios::out | std::ios::trunc);
    csv << FormatCsv(*report);
    csv.close();
    if (!csv) {
      err << "error: cannot write " << options->csv_file << "\n";
      return kExitError;
    }
  }
  if (options->json) out << FormatJson(*report);
  return kExitOk;
}

}  // namespace gridserve::client::perf
