#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cpu/blas_kernels.h"

namespace gridserve::server {

// Everything the process is configured with. Flag names follow Triton's where Triton has the
// flag (see flags.h and docs/configuration.md).
struct ServerOptions {
  std::vector<std::string> model_repositories;  // --model-repository (repeatable)
  std::string grpc_address = "0.0.0.0";         // --grpc-address
  int grpc_port = 8001;                         // --grpc-port; 0 picks a free port
  std::string http_address = "0.0.0.0";         // --http-address (reserved)
  int http_port = 8000;                         // --http-port (reserved)
  bool allow_metrics = true;                    // --allow-metrics
  std::string metrics_address = "0.0.0.0";      // --metrics-address
  int metrics_port = 8002;                      // --metrics-port; 0 picks a free port
  bool metrics_triton_names = false;            // --metrics-triton-names: also nv_inference_*
  bool allow_cpu_metrics = true;                // --allow-cpu-metrics (with Triton names)
  int log_verbose = 0;                          // --log-verbose: 0 info, >= 1 debug
  std::string log_format = "default";           // --log-format: default | json
  bool exit_on_error = false;                   // --exit-on-error: exit if a model fails to load
  bool strict_readiness = true;                 // --strict-readiness
  int exit_timeout_secs = 30;                   // --exit-timeout-secs: drain bound at shutdown
  int64_t grpc_max_message_size = 64 << 20;     // --grpc-max-message-size (bytes)
  int grpc_thread_nice = 10;                    // --grpc-thread-nice: gRPC threads' nice increment
  int cpu_cores = 0;                            // --cpu-cores: cores shared by instances; 0 = all
  double cpu_watts_per_core = 8.0;     // --cpu-watts-per-core: energy estimate (W per busy core)
  std::string blas_coretype = "auto";  // --blas-coretype: auto | openblas | an OpenBLAS core name

  // Not flags: what main() found and chose at start-up, before the server exists (reported by
  // GetServerInfo, the log and gridserve_blas_info).
  struct Process {
    cpu::BlasReport blas;
    std::string malloc;
  };
  Process process;
  // Model lifecycle and registry (docs/model-management.md).
  std::string model_control_mode = "none";  // --model-control-mode: none | poll | explicit
  int repository_poll_secs = 15;            // --repository-poll-secs (poll mode)
  std::vector<std::string> load_models;     // --load-model (explicit mode; repeatable, "*")
  int model_load_thread_count = 4;          // --model-load-thread-count
  int64_t max_upload_bytes = 64 << 20;      // --max-upload-bytes (RepositoryModelLoad files)
  std::string registry_path;  // --registry-path; "" = <first repo>/.gridserve-registry.db
};

}  // namespace gridserve::server
