#pragma once

// Which BLAS this process runs and which of its kernels: found, chosen and checked once at
// start-up, before any model loads.
//
// Debian 12's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: at load time it reads the CPU model and
// picks a kernel set ("core"). A CPU model it does not know (a newer Xeon, say) gets its generic
// SSE3 kernels (Prescott), three times slower than the AVX-512 ones the CPU could run, and nothing
// says so. The choice is made once, when the library loads (before main), and can be changed only
// through OPENBLAS_CORETYPE in the environment of a new process image: so the decision is taken
// in one process and applied by exec'ing the same program again (PlanBlasKernel ->
// VerifyBlasKernel below; server/main.cc and gridserve-blas drive it).
//
// Nothing here links a BLAS: the functions look up the library the process already loaded (the
// one LibTorch calls, found through the address of `sgemm_`).

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gridserve::cpu {

// The BLAS that provides `sgemm_` in this process. Plain data.
struct BlasInfo {
  std::string library;  // "OpenBLAS", "MKL", "BLIS", "unknown" or "none" (no sgemm_ loaded)
  std::string version;  // e.g. "0.3.21"; empty when unknown
  std::string path;     // the shared object that provides sgemm_
  std::string config;   // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Cooperlake"
  std::string core;     // openblas_get_corename(), e.g. "Cooperlake"; empty when not OpenBLAS
  int threads = 0;      // openblas_get_num_threads(); 0 when unknown
};

// Looks up the loaded BLAS. Never fails; fields it cannot find stay empty.
BlasInfo ProbeBlas();

// The CPU's vector features that decide which OpenBLAS kernels it can run (cpuid, with the OS's
// support for the wider registers checked, as GCC's __builtin_cpu_supports does). Plain data.
struct CpuFeatures {
  std::string model_name;  // /proc/cpuinfo "model name"
  bool amd = false;        // vendor AuthenticAMD
  bool sse3 = false;
  bool ssse3 = false;
  bool sse4_2 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  // All of AVX-512 F, CD, BW, DQ and VL (OpenBLAS's SkylakeX kernels need these).
  bool avx512 = false;
  bool avx512_bf16 = false;

  static CpuFeatures Detect();
  // "AVX-512+BF16", "AVX-512", "AVX2+FMA", "AVX", "SSE4.2", "SSSE3", "SSE3" or "baseline".
  std::string Summary() const;
};

// True for OpenBLAS's pre-AVX cores, the ones it falls back to on a CPU model it does not know
// (Prescott, Core2, Nehalem, ...). A core OpenBLAS chose on purpose (Haswell, Zen, SkylakeX, ...)
// is never replaced.
bool IsGenericOpenBlasCore(absl::string_view core);

// OPENBLAS_CORETYPE names of the kernels `cpu` can run that are better than the generic ones,
// best first: Cooperlake, SkylakeX (AVX-512), Haswell (AVX2+FMA), Sandybridge (AVX). On AMD CPUs
// with AVX2+FMA, Zen comes first (see ReplacesDeliberateCore).
std::vector<std::string> BetterOpenBlasCores(const CpuFeatures& cpu);

// True when OpenBLAS's own choice `core` is known to be slower on `cpu` than a kernel set it also
// has, so "auto" replaces it too: OpenBLAS 0.3.21 gives AMD CPUs with AVX-512 (Zen 4) its Intel
// AVX-512 kernels (Cooperlake, SkylakeX), and its Zen kernels ran FP32 GEMM in 25-30% less CPU
// time on an AMD EPYC (family 25, model 17): docs/model-configuration.md, "CPU kernels".
bool ReplacesDeliberateCore(absl::string_view core, const CpuFeatures& cpu);

// How the kernel in use was chosen.
enum class BlasSelection {
  kLibrary,      // the library's own detection was kept ("openblas")
  kAuto,         // gridserve replaced a generic core with a better one ("auto")
  kEnvironment,  // OPENBLAS_CORETYPE was set by whoever started the process ("environment")
  kFlag,         // --blas-coretype=NAME ("flag")
  kFallback,  // gridserve's choice failed its check; the library's own choice is back ("fallback")
};
absl::string_view BlasSelectionName(BlasSelection selection);

// The environment variables the decision travels in across exec.
inline constexpr char kCoretypeEnv[] = "OPENBLAS_CORETYPE";
// Set by gridserve only, never by users: which step of the decision the new process image is in
// (see PlanBlasKernel). Kept in the environment afterwards, so `/proc/PID/environ` shows it.
inline constexpr char kSelectionEnv[] = "GRIDSERVE_BLAS_SELECTION";
// Testing and diagnosis: "1" makes an OPENBLAS_CORETYPE set at start stand for what OpenBLAS
// detected (instead of a user's explicit choice), so the replacement of a generic core can be
// exercised on a CPU that OpenBLAS knows: OPENBLAS_CORETYPE=Prescott with this set behaves as a
// CPU model OpenBLAS fell back on.
inline constexpr char kTreatCoretypeAsDetectedEnv[] = "GRIDSERVE_BLAS_TREAT_CORETYPE_AS_DETECTED";

// What the process environment looked like at start, as far as the decision is concerned.
struct BlasEnvironment {
  std::optional<std::string> coretype;   // OPENBLAS_CORETYPE
  std::optional<std::string> selection;  // GRIDSERVE_BLAS_SELECTION
  bool treat_coretype_as_detected = false;

  static BlasEnvironment FromProcess();
};

// A decision: either run with the kernel loaded now (`exec_with_coretype` empty; `selected_by`
// and `detail` say why), or exec again with these two variables set.
struct BlasPlan {
  std::optional<std::string> exec_with_coretype;  // OPENBLAS_CORETYPE for the next image
  std::string exec_with_selection;                // GRIDSERVE_BLAS_SELECTION for the next image
  BlasSelection selected_by = BlasSelection::kLibrary;
  std::string detail;  // one human sentence: why this kernel
};

// Whether `request` is a valid `--blas-coretype` value: "auto", "openblas" or
// a core name (letters, digits, '_', at most 32 characters).
bool IsValidCoretypeRequest(absl::string_view request);

// Step 1, in a process image whose GRIDSERVE_BLAS_SELECTION is unset. `request` is the
// --blas-coretype value: "auto" (default) replaces a generic core with the best one the CPU
// supports; "openblas" keeps the library's choice; a core name forces that core. An
// OPENBLAS_CORETYPE set by whoever started the process always wins over "auto". Pure function.
BlasPlan PlanBlasKernel(absl::string_view request, const BlasEnvironment& env,
                        const BlasInfo& loaded, const CpuFeatures& cpu);

// Step 2, in the image exec'ed by step 1 (GRIDSERVE_BLAS_SELECTION set): checks that the library
// really runs the core asked for and that `self_test_ok`. On success, selected_by is kAuto or
// kFlag. When the library lacks that core, the next better core is tried ("auto") by another
// exec; when the self-test failed or no core is left, the plan execs once more with the core the
// library detected (kFallback, with the reason in detail). In a "fallback" image it only reports.
// `self_test_error` is the self-test's message when it failed. Pure function.
//
// Worked sequence on a CPU with AVX-512 that OpenBLAS does not know:
//   image 1: core Prescott          -> exec OPENBLAS_CORETYPE=Cooperlake, selection auto:Prescott
//   image 2: core Cooperlake, ok    -> run (selected_by auto)
//   image 2': core Prescott (no Cooperlake in this build)
//                                   -> exec OPENBLAS_CORETYPE=SkylakeX, selection auto:Prescott
//   image 2": core SkylakeX, self-test failed
//                                   -> exec OPENBLAS_CORETYPE=Prescott, selection fallback:...
//   image 3: core Prescott          -> run (selected_by fallback, detail has the reason)
BlasPlan VerifyBlasKernel(const BlasEnvironment& env, const BlasInfo& loaded,
                          const CpuFeatures& cpu, bool self_test_ok,
                          absl::string_view self_test_error);

// Multiplies small matrices (several shapes, transposed and not, odd sizes that reach the
// kernels' edge code, sgemm_ and sgemv_) with the loaded BLAS and compares with a double-precision
// reference. Returns an empty string when every element agrees within 1e-5 of the sum of the
// products' magnitudes; otherwise what differed. Takes about a millisecond.
std::string BlasSelfTest();

// What a process ended up with, for the start-up log line, metrics and GetServerInfo.
struct BlasReport {
  BlasInfo info;
  BlasSelection selected_by = BlasSelection::kLibrary;
  std::string detail;
  std::string cpu;  // CpuFeatures::model_name and Summary()
  bool self_test_passed = false;
  std::string self_test_error;
  std::string exec_error;  // set when a needed re-exec failed (the process kept its kernel)

  // "BLAS: OpenBLAS 0.3.21, core SkylakeX (auto: ...), 2 threads, self-test passed, <path>".
  std::string LogLine() const;
};

// The whole start-up step, for a program's main() before anything else: probes, decides, and
// exec's `argv` again (same binary, same arguments, same pid) when the decision needs another
// kernel; returns only in the image that keeps its kernel. `extra_env` names variables to set
// for that exec as well (e.g. OMP_WAIT_POLICY), so one exec serves both; `request` as in
// PlanBlasKernel. When exec fails, the process carries on with the loaded kernel and the report
// says so.
BlasReport SelectBlasKernel(char** argv, absl::string_view request,
                            const std::vector<std::pair<std::string, std::string>>& extra_env);

// Re-executes the running binary with `argv` (same pid). Returns only on failure, with errno's
// message.
std::string ReExec(char** argv);

}  // namespace gridserve::cpu
