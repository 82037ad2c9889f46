#include "client/cli.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/grpc_client.h"
#include "client/tensor_io.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client {

const char kCliUsage[] =
    R"(usage: gridserve-cli [--url HOST:PORT] [--timeout-ms N] COMMAND [ARGS] [OPTIONS]

Commands:
  health [MODEL]        print {"live": .., "ready": ..} (and "model_ready" for MODEL);
                        exit 1 unless all are true; --verbose adds "server_info" (build,
                        BLAS library and kernels, malloc) from gridserve servers
  models                list the repository index: name, version, state, reason
  metadata [MODEL]      print the model's metadata (the server's without MODEL) as JSON
  config MODEL          print the model's configuration as JSON
  infer MODEL --input NAME=VALUE [--input ...] [--output NAME ...]
                        run one inference and print
                        {"model_name", "model_version", "id", "outputs": [...]} as JSON

Options:
  --url HOST:PORT         server address (default localhost:8001)
  --timeout-ms N          deadline of each call, milliseconds (default none)
  --max-message-bytes N   largest message sent or received (default 67108864)
  --model-version V       model version (default: the server's version policy)
  --input NAME=VALUE      infer: VALUE is FILE.npy, FILE.json or inline JSON such as
                          '[[1, 2], [3, 4]]'; JSON takes the input's datatype from the
                          model's metadata (strings for BYTES). Repeat for each input.
  --output NAME           infer: return only this output; repeatable (default all)
  --id ID                 infer: request id, echoed in the response
  --bytes-as-base64       infer: print BYTES elements as base64 (default: JSON strings,
                          bytes that are not UTF-8 as \u00XX)
  --ready-only            models: list only models ready for inference
  --verbose               health: also print the server's build and CPU kernels
  -h, --help              print this help

Errors print "error: <gRPC code>: <message>" to stderr and exit 1; usage errors exit 2.
)";

namespace {

struct CommandLine {
  std::string url = "localhost:8001";
  InferenceClient::Options client_options;
  std::string model_version;
  std::string id;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  bool bytes_as_base64 = false;
  bool ready_only = false;
  bool verbose = false;
  bool help = false;
  std::vector<std::string> positional;
};

// A usage error: the message goes to stderr with the usage text and the exit code is 2.
struct UsageError {
  std::string message;
};

std::optional<UsageError> Parse(const std::vector<std::string>& args, CommandLine* command) {
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      command->positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      command->help = true;
      continue;
    }
    if (arg == "--bytes-as-base64") {
      command->bytes_as_base64 = true;
      continue;
    }
    if (arg == "--ready-only") {
      command->ready_only = true;
      continue;
    }
    if (arg == "--verbose") {
      command->verbose = true;
      continue;
    }
    // Flags with a value: "--flag value" or "--flag=value".
    std::string name(arg);
    std::optional<std::string> value;
    if (const size_t equals = name.find('='); equals != std::string::npos) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    static const std::set<std::string> kValued = {
        "--url",    "--timeout-ms", "--max-message-bytes", "--model-version", "--input",
        "--output", "--id"};
    if (kValued.count(name) == 0) return UsageError{absl::StrCat("unknown option '", name, "'")};
    if (!value.has_value()) {
      if (i + 1 >= args.size()) return UsageError{absl::StrCat(name, " needs a value")};
      value = args[++i];
    }
    if (name == "--url") {
      if (value->empty()) return UsageError{"--url must not be empty"};
      command->url = *value;
    } else if (name == "--timeout-ms") {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(*value, &ms) || ms <= 0) {
        return UsageError{
            absl::StrCat("--timeout-ms must be a positive integer, got '", *value, "'")};
      }
      command->client_options.timeout = absl::Milliseconds(ms);
    } else if (name == "--max-message-bytes") {
      int bytes = 0;
      if (!absl::SimpleAtoi(*value, &bytes) || bytes <= 0) {
        return UsageError{absl::StrCat(
            "--max-message-bytes must be a positive integer below 2^31, got '", *value, "'")};
      }
      command->client_options.max_message_bytes = bytes;
    } else if (name == "--model-version") {
      command->model_version = *value;
    } else if (name == "--input") {
      command->inputs.push_back(*value);
    } else if (name == "--output") {
      if (value->empty()) return UsageError{"--output needs a tensor name"};
      command->outputs.push_back(*value);
    } else if (name == "--id") {
      command->id = *value;
    }
  }
  return std::nullopt;
}

// Checks the positional arguments and which options the command accepts.
std::optional<UsageError> Validate(const CommandLine& command) {
  if (command.positional.empty()) return UsageError{"missing COMMAND"};
  const std::string& verb = command.positional[0];
  const size_t operands = command.positional.size() - 1;
  size_t min_operands = 0, max_operands = 0;
  if (verb == "health" || verb == "metadata") {
    max_operands = 1;
  } else if (verb == "models") {
    max_operands = 0;
  } else if (verb == "config" || verb == "infer") {
    min_operands = max_operands = 1;
  } else {
    return UsageError{absl::StrCat("unknown command '", verb, "'")};
  }
  if (operands < min_operands) return UsageError{absl::StrCat(verb, " needs MODEL")};
  if (operands > max_operands) {
    return UsageError{absl::StrCat("unexpected argument '", command.positional[max_operands + 1],
                                   "' for ", verb)};
  }
  if (verb != "infer") {
    if (!command.inputs.empty() || !command.outputs.empty() || !command.id.empty() ||
        command.bytes_as_base64) {
      return UsageError{"--input, --output, --id and --bytes-as-base64 are for infer only"};
    }
  }
  if (verb != "models" && command.ready_only) return UsageError{"--ready-only is for models only"};
  if (verb != "health" && command.verbose) return UsageError{"--verbose is for health only"};
  if (verb == "models" && !command.model_version.empty()) {
    return UsageError{"--model-version does not apply to models"};
  }
  if ((verb == "health" || verb == "metadata") && operands == 0 && !command.model_version.empty()) {
    return UsageError{absl::StrCat("--model-version needs MODEL for ", verb)};
  }
  std::set<std::string> names;
  for (const std::string& spec : command.inputs) {
    absl::StatusOr<InputSpec> input = ParseInputSpec(spec);
    if (!input.ok()) return UsageError{std::string(input.status().message())};
    if (!names.insert(input->name).second) {
      return UsageError{absl::StrCat("input '", input->name, "' is given twice")};
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print as JSON: ", status.ToString()));
  }
  return json;
}

absl::Status Health(const InferenceClient& client, const CommandLine& command, std::ostream& out) {
  ASSIGN_OR_RETURN(const bool live, client.ServerLive());
  ASSIGN_OR_RETURN(const bool ready, client.ServerReady());
  std::optional<bool> model_ready;
  const bool has_model = command.positional.size() > 1;
  if (has_model) {
    ASSIGN_OR_RETURN(model_ready, client.ModelReady(command.positional[1], command.model_version));
  }
  out << "{\"live\": " << (live ? "true" : "false")
      << ", \"ready\": " << (ready ? "true" : "false");
  if (model_ready.has_value()) out << ", \"model_ready\": " << (*model_ready ? "true" : "false");
  if (command.verbose) {
    // A server that is not gridserve has no ServerInfoService: health still answers.
    absl::StatusOr<gridserve::v1::GetServerInfoResponse> info = client.ServerInfo();
    if (info.ok()) {
      ASSIGN_OR_RETURN(const std::string json, ProtoToJson(*info));
      out << ", \"server_info\": " << absl::StripTrailingAsciiWhitespace(json);
    } else if (!absl::IsUnimplemented(info.status())) {
      return info.status();
    }
  }
  out << "}\n";
  if (!live) return absl::UnavailableError("server is not live");
  if (!ready) return absl::UnavailableError("server is not ready");
  if (model_ready.has_value() && !*model_ready) {
    return absl::UnavailableError(absl::StrCat("model '", command.positional[1], "' is not ready"));
  }
  return absl::OkStatus();
}

absl::Status Models(const InferenceClient& client, const CommandLine& command, std::ostream& out) {
  ASSIGN_OR_RETURN(const inference::RepositoryIndexResponse index,
                   client.RepositoryIndex(command.ready_only));
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "STATE", "REASON"}};
  for (const auto& model : index.models()) {
    rows.push_back({model.name(), model.version(), model.state(), model.reason()});
  }
  std::vector<size_t> widths(4, 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  return absl::OkStatus();
}

absl::Status Metadata(const InferenceClient& client, const CommandLine& command,
                      std::ostream& out) {
  std::string json;
  if (command.positional.size() > 1) {
    ASSIGN_OR_RETURN(const inference::ModelMetadataResponse metadata,
                     client.ModelMetadata(command.positional[1], command.model_version));
    ASSIGN_OR_RETURN(json, ProtoToJson(metadata));
  } else {
    ASSIGN_OR_RETURN(const inference::ServerMetadataResponse metadata, client.ServerMetadata());
    ASSIGN_OR_RETURN(json, ProtoToJson(metadata));
  }
  out << json << "\n";
  return absl::OkStatus();
}

absl::Status Config(const InferenceClient& client, const CommandLine& command, std::ostream& out) {
  ASSIGN_OR_RETURN(const inference::ModelConfigResponse config,
                   client.ModelConfig(command.positional[1], command.model_version));
  ASSIGN_OR_RETURN(const std::string json, ProtoToJson(config));
  out << json << "\n";
  return absl::OkStatus();
}

absl::Status Infer(const InferenceClient& client, const CommandLine& command, std::ostream& out) {
  const std::string& model = command.positional[1];
  // The metadata supplies the datatype of JSON inputs and lets bad input names fail here with
  // the list of valid ones.
  ASSIGN_OR_RETURN(const inference::ModelMetadataResponse metadata,
                   client.ModelMetadata(model, command.model_version));
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_model_version(command.model_version);
  request.set_id(command.id);
  for (const std::string& spec : command.inputs) {
    ASSIGN_OR_RETURN(const InputSpec input_spec, ParseInputSpec(spec));
    ASSIGN_OR_RETURN(InputTensor input, LoadInput(input_spec, metadata));
    AddInput(std::move(input), &request);
  }
  for (const std::string& name : command.outputs) request.add_outputs()->set_name(name);
  ASSIGN_OR_RETURN(const inference::ModelInferResponse response, client.Infer(request));
  OutputJsonOptions options;
  options.bytes_as_base64 = command.bytes_as_base64;
  ASSIGN_OR_RETURN(const std::string json, ResponseToJson(response, options));
  out << json << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CommandLine command;
  std::optional<UsageError> usage = Parse(args, &command);
  if (command.help && !usage.has_value()) {
    out << kCliUsage;
    return kExitOk;
  }
  if (!usage.has_value()) usage = Validate(command);
  if (usage.has_value()) {
    const absl::string_view usage_line =
        absl::string_view(kCliUsage).substr(0, absl::string_view(kCliUsage).find('\n') + 1);
    err << "gridserve-cli: " << usage->message << "\n"
        << usage_line << "Run 'gridserve-cli --help' for the commands and options.\n";
    return kExitUsage;
  }

  absl::Status status;
  absl::StatusOr<std::unique_ptr<InferenceClient>> client =
      InferenceClient::Create(command.url, command.client_options);
  if (!client.ok()) {
    status = client.status();
  } else {
    const std::string& verb = command.positional[0];
    if (verb == "health") {
      status = Health(**client, command, out);
    } else if (verb == "models") {
      status = Models(**client, command, out);
    } else if (verb == "metadata") {
      status = Metadata(**client, command, out);
    } else if (verb == "config") {
      status = Config(**client, command, out);
    } else {
      status = Infer(**client, command, out);
    }
  }
  out.flush();
  if (!status.ok()) {
    err << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace gridserve::client
