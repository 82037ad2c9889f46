#include "server/flags.h"

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gridserve::server {
namespace {

struct Flag {
  std::string help;
  bool is_bool = false;
  std::function<bool(const std::string&, ServerOptions*)> set;  // false: bad value
};

bool ParseBool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes") return *out = true, true;
  if (v == "false" || v == "0" || v == "no") return *out = false, true;
  return false;
}

template <typename T>
std::function<bool(const std::string&, ServerOptions*)> Int(T ServerOptions::*field, T min, T max) {
  return [=](const std::string& v, ServerOptions* o) {
    int64_t n;
    if (!absl::SimpleAtoi(v, &n) || n < min || n > max) return false;
    o->*field = static_cast<T>(n);
    return true;
  };
}

std::function<bool(const std::string&, ServerOptions*)> Double(double ServerOptions::*field,
                                                               double min, double max) {
  return [=](const std::string& v, ServerOptions* o) {
    double d = 0;
    if (!absl::SimpleAtod(v, &d) || !(d >= min && d <= max)) return false;
    o->*field = d;
    return true;
  };
}

std::function<bool(const std::string&, ServerOptions*)> Str(std::string ServerOptions::*field) {
  return [=](const std::string& v, ServerOptions* o) {
    if (v.empty()) return false;
    o->*field = v;
    return true;
  };
}

std::function<bool(const std::string&, ServerOptions*)> Bool(bool ServerOptions::*field) {
  return [=](const std::string& v, ServerOptions* o) { return ParseBool(v, &(o->*field)); };
}

const std::map<std::string, Flag>& Flags() {
  static const auto* flags = new std::map<std::string, Flag>{
      {"model-repository",
       {"Path to a Triton-layout model repository; repeat for several (required)", false,
        [](const std::string& v, ServerOptions* o) {
          if (v.empty()) return false;
          o->model_repositories.push_back(v);
          return true;
        }}},
      {"grpc-address",
       {"Address the gRPC server binds (default 0.0.0.0)", false,
        Str(&ServerOptions::grpc_address)}},
      {"grpc-port",
       {"gRPC port (default 8001; 0 = any free port)", false,
        Int(&ServerOptions::grpc_port, 0, 65535)}},
      {"http-address",
       {"Address the HTTP server binds (default 0.0.0.0; reserved)", false,
        Str(&ServerOptions::http_address)}},
      {"http-port",
       {"HTTP port (default 8000; reserved)", false, Int(&ServerOptions::http_port, 0, 65535)}},
      {"allow-metrics",
       {"Serve Prometheus metrics (default true)", true, Bool(&ServerOptions::allow_metrics)}},
      {"metrics-address",
       {"Address the metrics server binds (default 0.0.0.0)", false,
        Str(&ServerOptions::metrics_address)}},
      {"metrics-port",
       {"Prometheus metrics port (default 8002; 0 = any free port)", false,
        Int(&ServerOptions::metrics_port, 0, 65535)}},
      {"metrics-triton-names",
       {"Also export Triton's nv_inference_* and nv_cpu_* metrics (default false)", true,
        Bool(&ServerOptions::metrics_triton_names)}},
      {"allow-cpu-metrics",
       {"With --metrics-triton-names, export nv_cpu_* host metrics (default true)", true,
        Bool(&ServerOptions::allow_cpu_metrics)}},
      {"log-verbose",
       {"Verbose logging level; >= 1 logs at debug (default 0)", false,
        Int(&ServerOptions::log_verbose, 0, 100)}},
      {"log-format",
       {"Log line format: default or json (default default)", false,
        Str(&ServerOptions::log_format)}},
      {"exit-on-error",
       {"Exit if any model fails to load at startup (default false)", true,
        Bool(&ServerOptions::exit_on_error)}},
      {"strict-readiness",
       {"Server is ready only when every model is ready (default true)", true,
        Bool(&ServerOptions::strict_readiness)}},
      {"exit-timeout-secs",
       {"At shutdown, how long in-flight requests may take to finish (default 30)", false,
        Int(&ServerOptions::exit_timeout_secs, 0, 86400)}},
      {"grpc-max-message-size",
       {"Largest gRPC message received or sent, in bytes (default 67108864)", false,
        Int<int64_t>(&ServerOptions::grpc_max_message_size, 1024, INT32_MAX)}},
      {"grpc-thread-nice",
       {"Nice increment of gRPC threads, so model instances keep the CPU under overload "
        "(default 10; 0 = off)",
        false, Int(&ServerOptions::grpc_thread_nice, 0, 19)}},
      {"model-control-mode",
       {"How models load: none (all at start, no changes), poll (follow the repository), "
        "explicit (--load-model and RepositoryModelLoad/Unload) (default none)",
        false,
        [](const std::string& v, ServerOptions* o) {
          if (v != "none" && v != "poll" && v != "explicit") return false;
          o->model_control_mode = v;
          return true;
        }}},
      {"repository-poll-secs",
       {"Poll mode: seconds between repository scans; a changed folder loads once it is the same "
        "at two scans (default 15)",
        false, Int(&ServerOptions::repository_poll_secs, 1, 86400)}},
      {"load-model",
       {"Explicit mode: a model to load at start; repeat for several, '*' for all", false,
        [](const std::string& v, ServerOptions* o) {
          if (v.empty()) return false;
          o->load_models.push_back(v);
          return true;
        }}},
      {"model-load-thread-count",
       {"Threads that load models (default 4)", false,
        Int(&ServerOptions::model_load_thread_count, 1, 256)}},
      {"max-upload-bytes",
       {"Largest model upload (RepositoryModelLoad file: parameters), bytes (default 67108864)",
        false, Int<int64_t>(&ServerOptions::max_upload_bytes, 1, int64_t{1} << 40)}},
      {"registry-path",
       {"The registry's SQLite file (default <first model repository>/.gridserve-registry.db)",
        false, Str(&ServerOptions::registry_path)}},
      {"cpu-cores",
       {"Cores shared by a model's instances for intra-op threads (default: all)", false,
        Int(&ServerOptions::cpu_cores, 0, 4096)}},
      {"cpu-watts-per-core",
       {"Watts one fully busy core draws, for the energy estimate (default 8; 0 = no estimate)",
        false, Double(&ServerOptions::cpu_watts_per_core, 0.0, 1000.0)}},
      {"blas-coretype",
       {"OpenBLAS kernels: auto (replace a generic fallback core with the best one this CPU "
        "runs), openblas (keep OpenBLAS's choice) or a core name such as SkylakeX (default auto; "
        "an OPENBLAS_CORETYPE set at start is kept under auto)",
        false,
        [](const std::string& v, ServerOptions* o) {
          if (!cpu::IsValidCoretypeRequest(v)) return false;
          o->blas_coretype = v;
          return true;
        }}},
  };
  return *flags;
}

}  // namespace

std::string Usage() {
  std::string text = "Usage: gridserve --model-repository=PATH [flags]\n\nFlags:\n";
  for (const auto& [name, flag] : Flags()) {
    absl::StrAppend(&text, "  --", name, flag.is_bool ? "[=true|false]" : "=VALUE", "\n      ",
                    flag.help, "\n");
  }
  return text;
}

absl::StatusOr<ServerOptions> ParseFlags(const std::vector<std::string>& args) {
  ServerOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return absl::FailedPreconditionError(Usage());
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = Flags().find(name);
    if (it == Flags().end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    const Flag& flag = it->second;
    if (!has_value) {
      bool unused;
      if (flag.is_bool) {
        // `--name true|false` (Triton's form) or a bare `--name`.
        value = i + 1 < args.size() && ParseBool(args[i + 1], &unused) ? args[++i] : "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (!flag.set(value, &options)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value '", value, "' for --", name));
    }
  }
  if (options.model_repositories.empty()) {
    return absl::InvalidArgumentError("--model-repository is required");
  }
  if (!options.load_models.empty() && options.model_control_mode != "explicit") {
    return absl::InvalidArgumentError("--load-model needs --model-control-mode=explicit");
  }
  return options;
}

}  // namespace gridserve::server
