// The ceiling for the serving-efficiency benchmark: a TorchScript model called in-process through
// LibTorch, no RPC, no queue, one batch after another.
//
// Usage: bench_inprocess_torchscript --model=PATH/model.pt --batch=B [--streams=S] [--threads=N]
//                                    [--input-dims=1024] [benchmark flags]
// Input: one FP32 tensor [B, input-dims...] of uniform random values (the model's single input).
// --streams: S threads call the model at once, each with its own copy of the module, like S
// gridserve instances (default 1). --threads: LibTorch intra-op threads of each stream (default:
// what gridserve gives each of S instances, max(1, cores / S)). Reports items_per_second summed
// over the streams (= S x B x calls/s per stream) and the time per call.

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <torch/script.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace {

struct Args {
  std::string model;
  int64_t batch = 1;
  int streams = 1;
  int threads = 0;
  std::vector<int64_t> input_dims = {1024};
};

// Takes our flags out of argv (the rest goes to Google Benchmark). False on a bad flag.
bool ParseArgs(int* argc, char** argv, Args* args) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return arg.compare(0, n, name) == 0 ? argv[i] + n : nullptr;
    };
    if (const char* v = value("--model=")) {
      args->model = v;
    } else if (const char* v = value("--batch=")) {
      if (!absl::SimpleAtoi(v, &args->batch) || args->batch < 1 || args->batch > 4096) return false;
    } else if (const char* v = value("--streams=")) {
      if (!absl::SimpleAtoi(v, &args->streams) || args->streams < 1 || args->streams > 256) {
        return false;
      }
    } else if (const char* v = value("--threads=")) {
      if (!absl::SimpleAtoi(v, &args->threads) || args->threads < 0) return false;
    } else if (const char* v = value("--input-dims=")) {
      args->input_dims.clear();
      for (absl::string_view d : absl::StrSplit(v, ',')) {
        int64_t dim;
        if (!absl::SimpleAtoi(d, &dim) || dim < 1) return false;
        args->input_dims.push_back(dim);
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  return !args->model.empty();
}

// User + system CPU time of the whole process so far.
absl::Duration ProcessCpuTime() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return absl::ZeroDuration();
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

// Runs in each of the --streams threads (Google Benchmark starts their loops together).
void BM_InProcessTorchScript(benchmark::State& state, const Args& args) {
  // Per thread, as gridserve's instance threads do (OpenMP's thread count is per thread).
  at::set_num_threads(args.threads);
  torch::jit::Module module = torch::jit::load(args.model);
  module.eval();
  std::vector<int64_t> shape = {args.batch};
  shape.insert(shape.end(), args.input_dims.begin(), args.input_dims.end());
  torch::manual_seed(0);
  const torch::Tensor input = torch::rand(shape);
  // The same mode as the TorchScript backend's instances.
  c10::InferenceMode guard;
  for (int i = 0; i < 3; ++i) module.forward({input});  // warm-up: the profiling executor
  // The streams' loops start together and run as long, so the first stream's window measures the
  // CPU time of the whole process (every stream and every BLAS/OpenMP worker) for all of them.
  const absl::Duration cpu_start = state.thread_index() == 0 ? ProcessCpuTime() : absl::Duration();
  for (auto _ : state) {
    torch::jit::IValue out = module.forward({input});
    benchmark::DoNotOptimize(out);
  }
  if (state.thread_index() == 0 && state.iterations() > 0) {
    const double items = static_cast<double>(state.iterations() * args.batch * args.streams);
    state.counters["process_cpu_us_per_item"] =
        absl::ToDoubleMicroseconds(ProcessCpuTime() - cpu_start) / items;
  }
  state.SetItemsProcessed(state.iterations() * args.batch);
  // Counters are summed over the streams unless averaged.
  using benchmark::Counter;
  state.counters["batch"] = Counter(static_cast<double>(args.batch), Counter::kAvgThreads);
  state.counters["streams"] = Counter(static_cast<double>(args.streams), Counter::kAvgThreads);
  state.counters["threads"] =
      Counter(static_cast<double>(at::get_num_threads()), Counter::kAvgThreads);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(&argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: %s --model=PATH --batch=B [--streams=S] [--threads=N] "
                 "[--input-dims=D1,D2] [benchmark flags]\n",
                 argv[0]);
    return 2;
  }
  if (args.threads == 0) {
    args.threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / args.streams);
  }
  benchmark::RegisterBenchmark(
      ("InProcessTorchScript/batch:" + std::to_string(args.batch) +
       "/streams:" + std::to_string(args.streams) + "/threads:" + std::to_string(args.threads))
          .c_str(),
      BM_InProcessTorchScript, args)
      ->Threads(args.streams)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
