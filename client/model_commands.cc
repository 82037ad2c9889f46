#include "client/model_commands.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/file.h"
#include "client/grpc_client.h"
#include "client/table.h"
#include "gridserve/v1/registry.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"
#include "runtime/core/status_macros.h"

namespace gridserve::client {

const char kModelCommandsUsage[] =
    R"(Model management (gridserve; load/unload/index also work against Triton):
  models index          the repository index: name, version, state, reason (as `models`)
  models list           every model with its versions, aliases and traffic split
  models versions MODEL every version of MODEL: state, source, parent, sha256, size,
                        created, aliases, metrics, labels
  models load MODEL [--config JSON|FILE.json]
                        load or reload MODEL (explicit mode); --config overrides config.pbtxt
  models unload MODEL   unload MODEL (explicit mode)
  models upload DIR [--name MODEL] [--parent VERSION]
                        send a model folder (DIR/config.pbtxt, DIR/<version>/...) with
                        RepositoryModelLoad file: parameters; the server stores and loads it
  alias set MODEL ALIAS VERSION | alias rm MODEL ALIAS
  split set MODEL VERSION=WEIGHT [VERSION=WEIGHT ...] | split get MODEL
                        weights over versions for requests that name no version
  --output table|json   how results print (default table)
)";

namespace {

namespace fs = std::filesystem;

struct ModelCommand {
  std::string url = "localhost:8001";
  absl::Duration timeout = absl::InfiniteDuration();
  int max_message_bytes = 64 << 20;
  bool json = false;
  std::string config;  // --config
  std::string name;    // --name
  int64_t parent = 0;  // --parent
  std::vector<std::string> positional;
};

const std::set<std::string>& ValuedGlobalFlags() {
  static const auto* flags =
      new std::set<std::string>{"--url", "--timeout-ms", "--max-message-bytes"};
  return *flags;
}

absl::StatusOr<ModelCommand> Parse(const std::vector<std::string>& args) {
  ModelCommand command;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      command.positional.push_back(arg);
      continue;
    }
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    static const std::set<std::string> kValued = {"--url",    "--timeout-ms", "--max-message-bytes",
                                                  "--output", "--config",     "--name",
                                                  "--parent"};
    if (!kValued.count(arg))
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
    if (!value) {
      if (i + 1 >= args.size())
        return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      value = args[++i];
    }
    if (arg == "--url") {
      command.url = *value;
    } else if (arg == "--timeout-ms") {
      int64_t ms;
      if (!absl::SimpleAtoi(*value, &ms) || ms <= 0) {
        return absl::InvalidArgumentError("--timeout-ms must be a positive integer");
      }
      command.timeout = absl::Milliseconds(ms);
    } else if (arg == "--max-message-bytes") {
      if (!absl::SimpleAtoi(*value, &command.max_message_bytes) || command.max_message_bytes <= 0) {
        return absl::InvalidArgumentError("--max-message-bytes must be a positive integer");
      }
    } else if (arg == "--output") {
      if (*value != "json" && *value != "table") {
        return absl::InvalidArgumentError("--output must be table or json");
      }
      command.json = *value == "json";
    } else if (arg == "--config") {
      command.config = *value;
    } else if (arg == "--name") {
      command.name = *value;
    } else if (arg == "--parent") {
      if (!absl::SimpleAtoi(*value, &command.parent) || command.parent <= 0) {
        return absl::InvalidArgumentError("--parent must be a positive version");
      }
    }
  }
  const std::vector<std::string>& p = command.positional;
  const std::string verb = p.size() >= 2 ? absl::StrCat(p[0], " ", p[1]) : "";
  static const std::map<std::string, std::pair<size_t, size_t>> kOperands = {
      {"models index", {0, 0}}, {"models list", {0, 0}},   {"models versions", {1, 1}},
      {"models load", {1, 1}},  {"models unload", {1, 1}}, {"models upload", {1, 1}},
      {"alias set", {3, 3}},    {"alias rm", {2, 2}},      {"split set", {1, 1000}},
      {"split get", {1, 1}}};
  auto it = kOperands.find(verb);
  if (it == kOperands.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command '", absl::StrJoin(p, " "), "'"));
  }
  const size_t operands = p.size() - 2;
  if (operands < it->second.first || operands > it->second.second) {
    return absl::InvalidArgumentError(absl::StrCat("wrong number of arguments for '", verb, "'"));
  }
  if (!command.config.empty() && verb != "models load") {
    return absl::InvalidArgumentError("--config is for models load only");
  }
  if ((!command.name.empty() || command.parent != 0) && verb != "models upload") {
    return absl::InvalidArgumentError("--name and --parent are for models upload only");
  }
  return command;
}

class Clients {
 public:
  explicit Clients(const ModelCommand& command) : timeout_(command.timeout) {
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(command.max_message_bytes);
    arguments.SetMaxSendMessageSize(command.max_message_bytes);
    auto channel =
        grpc::CreateCustomChannel(command.url, grpc::InsecureChannelCredentials(), arguments);
    inference_ = inference::GRPCInferenceService::NewStub(channel);
    registry_ = gridserve::v1::RegistryService::NewStub(channel);
  }
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub* stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) const {
    grpc::ClientContext context;
    if (timeout_ != absl::InfiniteDuration()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    }
    Response response;
    grpc::Status status = (stub->*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }
  inference::GRPCInferenceService::Stub* inference() const { return inference_.get(); }
  gridserve::v1::RegistryService::Stub* registry() const { return registry_.get(); }

 private:
  absl::Duration timeout_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> inference_;
  std::unique_ptr<gridserve::v1::RegistryService::Stub> registry_;
};

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok())
    return absl::InternalError(absl::StrCat("cannot print JSON: ", status.ToString()));
  return json;
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

absl::Status PrintDone(const ModelCommand& command, absl::string_view what, std::ostream& out) {
  if (command.json) {
    out << "{\"result\": \"" << what << "\"}\n";
  } else {
    out << what << "\n";
  }
  return absl::OkStatus();
}

absl::Status Index(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  ASSIGN_OR_RETURN(auto index, clients.Call(clients.inference(),
                                            &inference::GRPCInferenceService::Stub::RepositoryIndex,
                                            inference::RepositoryIndexRequest()));
  if (command.json) {
    ASSIGN_OR_RETURN(std::string json, ToJson(index));
    out << json << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "STATE", "REASON"}};
  for (const auto& m : index.models())
    rows.push_back({m.name(), m.version(), m.state(), m.reason()});
  PrintTable(rows, out);
  return absl::OkStatus();
}

absl::StatusOr<gridserve::v1::ListModelsResponse> List(const Clients& clients,
                                                       const std::string& name) {
  gridserve::v1::ListModelsRequest request;
  request.set_name(name);
  return clients.Call(clients.registry(), &gridserve::v1::RegistryService::Stub::ListModels,
                      request);
}

std::string SplitText(const gridserve::v1::RegisteredModel& model) {
  std::vector<std::string> parts;
  for (const auto& e : model.traffic_split())
    parts.push_back(absl::StrCat(e.version(), "=", e.weight()));
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

absl::Status ListModels(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  ASSIGN_OR_RETURN(auto list, List(clients, ""));
  if (command.json) {
    ASSIGN_OR_RETURN(std::string json, ToJson(list));
    out << json << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSIONS", "READY", "ALIASES", "SPLIT"}};
  for (const auto& m : list.models()) {
    std::vector<std::string> versions, ready, aliases;
    for (const auto& v : m.versions()) {
      versions.push_back(std::to_string(v.version()));
      if (v.state() == "READY") ready.push_back(std::to_string(v.version()));
    }
    for (const auto& [alias, version] : m.aliases())
      aliases.push_back(absl::StrCat(alias, "=", version));
    std::sort(aliases.begin(), aliases.end());
    rows.push_back({m.name(), versions.empty() ? "-" : absl::StrJoin(versions, ","),
                    ready.empty() ? "-" : absl::StrJoin(ready, ","),
                    aliases.empty() ? "-" : absl::StrJoin(aliases, ","), SplitText(m)});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

absl::Status Versions(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  ASSIGN_OR_RETURN(auto list, List(clients, command.positional[2]));
  if (command.json) {
    ASSIGN_OR_RETURN(std::string json, ToJson(list.models(0)));
    out << json << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"VERSION", "STATE", "SOURCE", "PARENT", "SHA256",
                                                 "SIZE", "CREATED", "ALIASES", "METRICS",
                                                 "LABELS"}};
  for (const auto& v : list.models(0).versions()) {
    std::map<std::string, double> metrics(v.metrics().begin(), v.metrics().end());
    std::map<std::string, std::string> labels(v.labels().begin(), v.labels().end());
    std::vector<std::string> m, l;
    for (const auto& [k, x] : metrics) m.push_back(absl::StrCat(k, "=", x));
    for (const auto& [k, x] : labels) l.push_back(absl::StrCat(k, "=", x));
    rows.push_back({std::to_string(v.version()), v.state(), v.source(),
                    v.parent_version() > 0 ? std::to_string(v.parent_version()) : "-", v.sha256(),
                    std::to_string(v.size_bytes()), FormatTime(v.created_at_unix_ms()),
                    v.aliases().empty() ? "-" : absl::StrJoin(v.aliases(), ","),
                    m.empty() ? "-" : absl::StrJoin(m, ","),
                    l.empty() ? "-" : absl::StrJoin(l, ",")});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

absl::Status Load(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  inference::RepositoryModelLoadRequest request;
  request.set_model_name(command.positional[2]);
  if (!command.config.empty()) {
    std::string json = command.config;
    if (json[0] != '{') {
      ASSIGN_OR_RETURN(json, ReadFileToString(command.config, 16 << 20));
    }
    (*request.mutable_parameters())["config"].set_string_param(json);
  }
  RETURN_IF_ERROR(clients
                      .Call(clients.inference(),
                            &inference::GRPCInferenceService::Stub::RepositoryModelLoad, request)
                      .status());
  return PrintDone(command, absl::StrCat("loaded model '", command.positional[2], "'"), out);
}

absl::Status Unload(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  inference::RepositoryModelUnloadRequest request;
  request.set_model_name(command.positional[2]);
  RETURN_IF_ERROR(clients
                      .Call(clients.inference(),
                            &inference::GRPCInferenceService::Stub::RepositoryModelUnload, request)
                      .status());
  return PrintDone(command, absl::StrCat("unloaded model '", command.positional[2], "'"), out);
}

absl::Status Upload(const Clients& clients, const ModelCommand& command, std::ostream& out,
                    int max_message_bytes) {
  const fs::path dir = fs::path(command.positional[2]).lexically_normal();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), " is not a folder"));
  }
  std::string name = command.name.empty() ? fs::absolute(dir).lexically_normal().filename().string()
                                          : command.name;
  if (name.empty()) name = fs::absolute(dir).parent_path().filename().string();
  inference::RepositoryModelLoadRequest request;
  request.set_model_name(name);
  // The config travels as JSON (Triton's `config` parameter).
  ASSIGN_OR_RETURN(std::string text, ReadFileToString((dir / "config.pbtxt").string(), 16 << 20));
  inference::ModelConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat((dir / "config.pbtxt").string(), " is not a valid ModelConfig"));
  }
  if (config.name().empty()) config.set_name(name);
  std::string json;
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(config, &json, json_options).ok()) {
    return absl::InternalError("cannot convert config.pbtxt to JSON");
  }
  (*request.mutable_parameters())["config"].set_string_param(json);
  if (command.parent > 0)
    (*request.mutable_parameters())["parent_version"].set_int64_param(command.parent);
  int64_t total = 0;
  int files = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    int64_t version;
    if (!it->is_directory() || !absl::SimpleAtoi(it->path().filename().string(), &version))
      continue;
    for (fs::recursive_directory_iterator f(it->path(), ec), fend; !ec && f != fend;
         f.increment(ec)) {
      if (!f->is_regular_file()) continue;
      const std::string rel = fs::relative(f->path(), dir).generic_string();
      ASSIGN_OR_RETURN(
          std::string bytes,
          ReadFileToString(f->path().string(), static_cast<uint64_t>(max_message_bytes)));
      total += static_cast<int64_t>(bytes.size());
      ++files;
      (*request.mutable_parameters())[absl::StrCat("file:", rel)].set_bytes_param(std::move(bytes));
    }
  }
  if (files == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), " has no version folder with files (<version>/model.pt)"));
  }
  if (total > max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the upload is ", total, " bytes, more than --max-message-bytes=", max_message_bytes));
  }
  RETURN_IF_ERROR(clients
                      .Call(clients.inference(),
                            &inference::GRPCInferenceService::Stub::RepositoryModelLoad, request)
                      .status());
  return PrintDone(command,
                   absl::StrCat("uploaded and loaded model '", name, "' (", files, " file(s), ",
                                total, " bytes)"),
                   out);
}

absl::Status Alias(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  const auto& p = command.positional;
  if (p[1] == "set") {
    gridserve::v1::SetAliasRequest request;
    request.set_model(p[2]);
    request.set_alias(p[3]);
    int64_t version;
    if (!absl::SimpleAtoi(p[4], &version) || version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("version '", p[4], "' is not a positive integer"));
    }
    request.set_version(version);
    RETURN_IF_ERROR(
        clients.Call(clients.registry(), &gridserve::v1::RegistryService::Stub::SetAlias, request)
            .status());
    return PrintDone(command, absl::StrCat(p[2], ":", p[3], " -> version ", version), out);
  }
  gridserve::v1::DeleteAliasRequest request;
  request.set_model(p[2]);
  request.set_alias(p[3]);
  RETURN_IF_ERROR(
      clients.Call(clients.registry(), &gridserve::v1::RegistryService::Stub::DeleteAlias, request)
          .status());
  return PrintDone(command, absl::StrCat("removed alias ", p[2], ":", p[3]), out);
}

absl::Status Split(const Clients& clients, const ModelCommand& command, std::ostream& out) {
  const auto& p = command.positional;
  if (p[1] == "set") {
    gridserve::v1::SetTrafficSplitRequest request;
    request.set_model(p[2]);
    for (size_t i = 3; i < p.size(); ++i) {
      std::vector<std::string> kv = absl::StrSplit(p[i], absl::MaxSplits('=', 1));
      int64_t version;
      double weight;
      if (kv.size() != 2 || !absl::SimpleAtoi(kv[0], &version) ||
          !absl::SimpleAtod(kv[1], &weight)) {
        return absl::InvalidArgumentError(
            absl::StrCat("split entry '", p[i], "' is not VERSION=WEIGHT (e.g. 1=90)"));
      }
      auto* entry = request.add_split();
      entry->set_version(version);
      entry->set_weight(weight);
    }
    RETURN_IF_ERROR(clients
                        .Call(clients.registry(),
                              &gridserve::v1::RegistryService::Stub::SetTrafficSplit, request)
                        .status());
    return PrintDone(command, absl::StrCat("split of ", p[2], " set"), out);
  }
  gridserve::v1::GetTrafficSplitRequest request;
  request.set_model(p[2]);
  ASSIGN_OR_RETURN(auto split,
                   clients.Call(clients.registry(),
                                &gridserve::v1::RegistryService::Stub::GetTrafficSplit, request));
  if (command.json) {
    ASSIGN_OR_RETURN(std::string json, ToJson(split));
    out << json << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"VERSION", "WEIGHT", "SHARE"}};
  double total = 0;
  for (const auto& e : split.split()) total += e.weight();
  for (const auto& e : split.split()) {
    rows.push_back({std::to_string(e.version()), absl::StrCat(e.weight()),
                    absl::StrCat(total > 0 ? 100 * e.weight() / total : 0, "%")});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

}  // namespace

bool IsModelCommand(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size() && positional.size() < 2; ++i) {
    const std::string& arg = args[i];
    if (arg.size() >= 2 && arg[0] == '-') {
      if (ValuedGlobalFlags().count(arg) || arg == "--output") ++i;  // skip its value
      continue;
    }
    positional.push_back(arg);
  }
  if (positional.empty()) return false;
  if (positional[0] == "alias" || positional[0] == "split") return true;
  static const std::set<std::string> kModelVerbs = {"index", "list",   "versions",
                                                    "load",  "unload", "upload"};
  return positional[0] == "models" && positional.size() == 2 && kModelVerbs.count(positional[1]);
}

int RunModelCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ModelCommand> command = Parse(args);
  if (!command.ok()) {
    err << "gridserve-cli: " << command.status().message()
        << "\nRun 'gridserve-cli --help' for the commands and options.\n";
    return kExitUsage;
  }
  Clients clients(*command);
  const auto& p = command->positional;
  absl::Status status;
  if (p[0] == "alias") {
    status = Alias(clients, *command, out);
  } else if (p[0] == "split") {
    status = Split(clients, *command, out);
  } else if (p[1] == "index") {
    status = Index(clients, *command, out);
  } else if (p[1] == "list") {
    status = ListModels(clients, *command, out);
  } else if (p[1] == "versions") {
    status = Versions(clients, *command, out);
  } else if (p[1] == "load") {
    status = Load(clients, *command, out);
  } else if (p[1] == "unload") {
    status = Unload(clients, *command, out);
  } else {
    status = Upload(clients, *command, out, command->max_message_bytes);
  }
  out.flush();
  if (!status.ok()) {
    err << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace gridserve::client
