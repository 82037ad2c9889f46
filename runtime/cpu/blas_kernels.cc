#include "runtime/cpu/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gridserve::cpu {
namespace {

// Fortran BLAS entry points, as LibTorch calls them.
using SgemmFn = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                         const int* k, const float* alpha, const float* a, const int* lda,
                         const float* b, const int* ldb, const float* beta, float* c,
                         const int* ldc);
using SgemvFn = void (*)(const char* trans, const int* m, const int* n, const float* alpha,
                         const float* a, const int* lda, const float* x, const int* incx,
                         const float* beta, float* y, const int* incy);
using CharFn = char* (*)();
using IntFn = int (*)();

// The shared object that provides `sgemm_`, opened without loading anything new (so symbols are
// looked up in that library, not whichever copy comes first: Debian's OpenBLAS ships libblas.so.3,
// liblapack.so.3 and libopenblas.so.0, each a whole OpenBLAS). Null when no BLAS is loaded.
void* BlasHandle(std::string* path) {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  if (sgemm == nullptr) return nullptr;
  Dl_info info{};
  if (dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return RTLD_DEFAULT;
  char resolved[4096];
  *path = realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname;
  void* handle = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  return handle != nullptr ? handle : RTLD_DEFAULT;
}

template <typename Fn>
Fn Lookup(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

// "auto:Prescott" -> {"auto", "Prescott"}; "fallback:Prescott:why" -> {"fallback", "Prescott",
// "why"}.
std::vector<std::string> SplitSelection(absl::string_view selection) {
  return absl::StrSplit(selection, absl::MaxSplits(':', 2));
}

std::string ReadModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

// The next better core after `tried` in `cpu`'s list, or empty when none is left.
std::string NextBetterCore(const CpuFeatures& cpu, absl::string_view tried) {
  std::vector<std::string> cores = BetterOpenBlasCores(cpu);
  for (size_t i = 0; i < cores.size(); ++i) {
    if (absl::EqualsIgnoreCase(cores[i], tried)) return i + 1 < cores.size() ? cores[i + 1] : "";
  }
  return "";
}

// The `detail` of an "auto" choice, by what it replaced.
std::string GenericCoreReplaced(absl::string_view detected, const CpuFeatures& cpu) {
  return absl::StrCat("OpenBLAS fell back to its generic ", detected, " kernels on a CPU with ",
                      cpu.Summary());
}
std::string DeliberateCoreReplaced(absl::string_view detected) {
  return absl::StrCat("OpenBLAS chose its Intel ", detected,
                      " kernels for an AMD CPU; its Zen kernels are faster there");
}

BlasPlan Keep(BlasSelection selected_by, std::string detail) {
  BlasPlan plan;
  plan.selected_by = selected_by;
  plan.detail = std::move(detail);
  return plan;
}

BlasPlan Exec(std::string coretype, std::string selection, BlasSelection selected_by,
              std::string detail) {
  BlasPlan plan;
  plan.exec_with_coretype = std::move(coretype);
  plan.exec_with_selection = std::move(selection);
  plan.selected_by = selected_by;
  plan.detail = std::move(detail);
  return plan;
}

}  // namespace

BlasInfo ProbeBlas() {
  BlasInfo info;
  void* handle = BlasHandle(&info.path);
  if (handle == nullptr) {
    info.library = "none";
    return info;
  }
  if (auto config = Lookup<CharFn>(handle, "openblas_get_config")) {
    info.library = "OpenBLAS";
    info.config = config();
    // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." -> "0.3.21"
    std::vector<std::string> words = absl::StrSplit(info.config, ' ', absl::SkipEmpty());
    if (words.size() > 1) info.version = words[1];
    if (auto core = Lookup<CharFn>(handle, "openblas_get_corename")) info.core = core();
    if (auto threads = Lookup<IntFn>(handle, "openblas_get_num_threads")) {
      info.threads = threads();
    }
  } else if (dlsym(handle, "mkl_get_max_threads") != nullptr) {
    info.library = "MKL";
    if (auto threads = Lookup<IntFn>(handle, "mkl_get_max_threads")) info.threads = threads();
  } else if (dlsym(handle, "bli_info_get_version_str") != nullptr) {
    info.library = "BLIS";
    if (auto version = Lookup<CharFn>(handle, "bli_info_get_version_str")) {
      info.version = version();
    }
  } else {
    info.library = "unknown";
  }
  return info;
}

CpuFeatures CpuFeatures::Detect() {
  CpuFeatures cpu;
  cpu.model_name = ReadModelName();
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  cpu.amd = __builtin_cpu_is("amd");
  cpu.sse3 = __builtin_cpu_supports("sse3");
  cpu.ssse3 = __builtin_cpu_supports("ssse3");
  cpu.sse4_2 = __builtin_cpu_supports("sse4.2");
  cpu.avx = __builtin_cpu_supports("avx");
  cpu.avx2 = __builtin_cpu_supports("avx2");
  cpu.fma = __builtin_cpu_supports("fma");
  cpu.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
  cpu.avx512_bf16 = cpu.avx512 && __builtin_cpu_supports("avx512bf16");
#endif
  return cpu;
}

std::string CpuFeatures::Summary() const {
  if (avx512_bf16) return "AVX-512+BF16";
  if (avx512) return "AVX-512";
  if (avx2 && fma) return "AVX2+FMA";
  if (avx) return "AVX";
  if (sse4_2) return "SSE4.2";
  if (ssse3) return "SSSE3";
  if (sse3) return "SSE3";
  return "baseline";
}

bool IsGenericOpenBlasCore(absl::string_view core) {
  // OpenBLAS 0.3.21's x86 core names without AVX kernels (driver/others/dynamic.c).
  static constexpr absl::string_view kGeneric[] = {
      "Unknown", "Katmai",       "Coppermine", "Northwood",  "Prescott", "Banias",
      "Atom",    "Core2",        "Penryn",     "Dunnington", "Nehalem",  "Athlon",
      "Opteron", "Opteron_SSE3", "Barcelona",  "Nano"};
  for (absl::string_view generic : kGeneric) {
    if (absl::EqualsIgnoreCase(core, generic)) return true;
  }
  return false;
}

std::vector<std::string> BetterOpenBlasCores(const CpuFeatures& cpu) {
  std::vector<std::string> cores;
  if (cpu.amd && cpu.avx2 && cpu.fma) cores.push_back("Zen");
  if (cpu.avx512_bf16) cores.push_back("Cooperlake");
  if (cpu.avx512) cores.push_back("SkylakeX");
  if (cpu.avx2 && cpu.fma) cores.push_back("Haswell");
  if (cpu.avx) cores.push_back("Sandybridge");
  return cores;
}

bool ReplacesDeliberateCore(absl::string_view core, const CpuFeatures& cpu) {
  return cpu.amd && cpu.avx2 && cpu.fma &&
         (absl::EqualsIgnoreCase(core, "Cooperlake") || absl::EqualsIgnoreCase(core, "SkylakeX"));
}

absl::string_view BlasSelectionName(BlasSelection selection) {
  switch (selection) {
    case BlasSelection::kLibrary:
      return "openblas";
    case BlasSelection::kAuto:
      return "auto";
    case BlasSelection::kEnvironment:
      return "environment";
    case BlasSelection::kFlag:
      return "flag";
    case BlasSelection::kFallback:
      return "fallback";
  }
  return "unknown";
}

BlasEnvironment BlasEnvironment::FromProcess() {
  BlasEnvironment env;
  if (const char* v = std::getenv(kCoretypeEnv)) env.coretype = v;
  if (const char* v = std::getenv(kSelectionEnv)) env.selection = v;
  const char* treat = std::getenv(kTreatCoretypeAsDetectedEnv);
  env.treat_coretype_as_detected = treat != nullptr && std::strcmp(treat, "1") == 0;
  return env;
}

bool IsValidCoretypeRequest(absl::string_view request) {
  if (request.empty() || request.size() > 32) return false;
  for (char c : request) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

BlasPlan PlanBlasKernel(absl::string_view request, const BlasEnvironment& env,
                        const BlasInfo& loaded, const CpuFeatures& cpu) {
  if (loaded.library != "OpenBLAS") {
    return Keep(BlasSelection::kLibrary,
                absl::StrCat(loaded.library, " chooses its own kernels; nothing to select"));
  }
  const bool user_coretype = env.coretype.has_value() && !env.treat_coretype_as_detected;
  if (absl::EqualsIgnoreCase(request, "openblas")) {
    return Keep(user_coretype ? BlasSelection::kEnvironment : BlasSelection::kLibrary,
                user_coretype ? absl::StrCat("OPENBLAS_CORETYPE=", *env.coretype, " kept")
                              : "OpenBLAS's own detection kept (--blas-coretype=openblas)");
  }
  if (!absl::EqualsIgnoreCase(request, "auto")) {
    if (absl::EqualsIgnoreCase(loaded.core, request)) {
      return Keep(BlasSelection::kFlag, absl::StrCat("--blas-coretype=", request));
    }
    return Exec(std::string(request), absl::StrCat("flag:", loaded.core), BlasSelection::kFlag,
                absl::StrCat("--blas-coretype=", request));
  }
  if (user_coretype) {
    return Keep(BlasSelection::kEnvironment,
                absl::StrCat("OPENBLAS_CORETYPE=", *env.coretype, " set at start, kept"));
  }
  if (ReplacesDeliberateCore(loaded.core, cpu)) {
    return Exec("Zen", absl::StrCat("auto:", loaded.core), BlasSelection::kAuto,
                DeliberateCoreReplaced(loaded.core));
  }
  if (!IsGenericOpenBlasCore(loaded.core)) {
    return Keep(BlasSelection::kLibrary, absl::StrCat("OpenBLAS detected ", loaded.core,
                                                      " for this CPU (", cpu.Summary(), ")"));
  }
  std::vector<std::string> better = BetterOpenBlasCores(cpu);
  if (better.empty()) {
    return Keep(BlasSelection::kLibrary,
                absl::StrCat("OpenBLAS detected ", loaded.core, "; this CPU (", cpu.Summary(),
                             ") supports no better kernel"));
  }
  return Exec(better.front(), absl::StrCat("auto:", loaded.core), BlasSelection::kAuto,
              GenericCoreReplaced(loaded.core, cpu));
}

BlasPlan VerifyBlasKernel(const BlasEnvironment& env, const BlasInfo& loaded,
                          const CpuFeatures& cpu, bool self_test_ok,
                          absl::string_view self_test_error) {
  std::vector<std::string> parts = SplitSelection(env.selection.value_or(""));
  const std::string step = parts.empty() ? "" : parts[0];
  const std::string detected = parts.size() > 1 ? parts[1] : "";
  const std::string requested = env.coretype.value_or("");
  if (step == "fallback") {
    const std::string why = parts.size() > 2 ? parts[2] : "";
    return Keep(BlasSelection::kFallback,
                absl::StrCat("back to OpenBLAS's ", loaded.core, ": ", why));
  }
  const BlasSelection selected_by = step == "flag" ? BlasSelection::kFlag : BlasSelection::kAuto;
  std::string origin;
  if (selected_by == BlasSelection::kFlag) {
    origin = absl::StrCat("--blas-coretype=", requested);
  } else if (ReplacesDeliberateCore(detected, cpu)) {
    origin = DeliberateCoreReplaced(detected);
  } else {
    origin = GenericCoreReplaced(detected, cpu);
  }
  std::string why;
  if (!absl::EqualsIgnoreCase(loaded.core, requested)) {
    // This OpenBLAS build has no such core (it ran `loaded.core` instead): try the next one.
    if (selected_by == BlasSelection::kAuto && !ReplacesDeliberateCore(detected, cpu)) {
      std::string next = NextBetterCore(cpu, requested);
      if (!next.empty()) {
        return Exec(next, env.selection.value_or(""), BlasSelection::kAuto,
                    absl::StrCat(origin, "; this OpenBLAS has no ", requested, " kernels"));
      }
    }
    why =
        absl::StrCat("this OpenBLAS has no ", requested, " kernels (it loaded ", loaded.core, ")");
  } else if (!self_test_ok) {
    why = absl::StrCat(requested, " kernels failed the GEMM self-test: ", self_test_error);
  } else {
    return Keep(selected_by, origin);
  }
  if (detected.empty() || absl::EqualsIgnoreCase(detected, loaded.core)) {
    // Already running what OpenBLAS chose itself: nothing to go back to.
    return Keep(BlasSelection::kFallback, why);
  }
  // ':' separates the fields of the marker; the reason keeps its words.
  std::string reason = why;
  for (char& c : reason) {
    if (c == ':') c = ';';
  }
  return Exec(detected, absl::StrCat("fallback:", detected, ":", reason), BlasSelection::kFallback,
              why);
}

std::string BlasSelfTest() {
  std::string unused_path;
  void* handle = BlasHandle(&unused_path);
  if (handle == nullptr) return "no BLAS loaded";
  auto sgemm = Lookup<SgemmFn>(handle, "sgemm_");
  auto sgemv = Lookup<SgemvFn>(handle, "sgemv_");
  if (sgemm == nullptr) return "no sgemm_ in the BLAS";
  // Deterministic values in [-1, 1).
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1 << 23) - 1.0f;
  };
  // Shapes that exercise full tiles and the edge code of 16-, 8- and 4-wide kernels.
  struct Shape {
    int m, n, k;
    char ta, tb;
  };
  static constexpr Shape kShapes[] = {{67, 45, 83, 'N', 'N'},
                                      {64, 64, 64, 'N', 'T'},
                                      {33, 130, 17, 'T', 'N'},
                                      {5, 7, 300, 'T', 'T'},
                                      {129, 1, 63, 'N', 'N'}};
  for (const Shape& s : kShapes) {
    const int rows_a = s.ta == 'N' ? s.m : s.k, cols_a = s.ta == 'N' ? s.k : s.m;
    const int rows_b = s.tb == 'N' ? s.k : s.n, cols_b = s.tb == 'N' ? s.n : s.k;
    // Column-major, as Fortran BLAS.
    std::vector<float> a(static_cast<size_t>(rows_a) * cols_a),
        b(static_cast<size_t>(rows_b) * cols_b);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    for (float& v : a) v = next();
    for (float& v : b) v = next();
    for (float& v : c) v = next();
    const std::vector<float> c0 = c;
    const float alpha = 0.75f, beta = -0.5f;
    sgemm(&s.ta, &s.tb, &s.m, &s.n, &s.k, &alpha, a.data(), &rows_a, b.data(), &rows_b, &beta,
          c.data(), &s.m);
    for (int i = 0; i < s.m; ++i) {
      for (int j = 0; j < s.n; ++j) {
        double sum = 0, magnitude = 0;
        for (int p = 0; p < s.k; ++p) {
          double x = s.ta == 'N' ? a[i + static_cast<size_t>(p) * rows_a]
                                 : a[p + static_cast<size_t>(i) * rows_a];
          double y = s.tb == 'N' ? b[p + static_cast<size_t>(j) * rows_b]
                                 : b[j + static_cast<size_t>(p) * rows_b];
          sum += x * y;
          magnitude += std::fabs(x * y);
        }
        const size_t at = i + static_cast<size_t>(j) * s.m;
        double expected = alpha * sum + beta * c0[at];
        double bound = 1e-5 * (std::fabs(alpha) * magnitude + std::fabs(beta * c0[at]) + 1.0);
        if (!(std::fabs(c[at] - expected) <= bound)) {  // also catches NaN
          return absl::StrCat("sgemm ", std::string(1, s.ta), std::string(1, s.tb), " ", s.m, "x",
                              s.n, "x", s.k, " element (", i, ",", j, ") is ", c[at], ", expected ",
                              expected);
        }
      }
    }
  }
  if (sgemv != nullptr) {
    const int m = 77, n = 51, one = 1;
    std::vector<float> a(static_cast<size_t>(m) * n), x(n), y(m);
    for (float& v : a) v = next();
    for (float& v : x) v = next();
    const float alpha = 1.0f, beta = 0.0f;
    sgemv("N", &m, &n, &alpha, a.data(), &m, x.data(), &one, &beta, y.data(), &one);
    for (int i = 0; i < m; ++i) {
      double sum = 0, magnitude = 0;
      for (int j = 0; j < n; ++j) {
        sum += static_cast<double>(a[i + static_cast<size_t>(j) * m]) * x[j];
        magnitude += std::fabs(static_cast<double>(a[i + static_cast<size_t>(j) * m]) * x[j]);
      }
      if (!(std::fabs(y[i] - sum) <= 1e-5 * (magnitude + 1.0))) {
        return absl::StrCat("sgemv N ", m, "x", n, " element ", i, " is ", y[i], ", expected ",
                            sum);
      }
    }
  }
  return "";
}

std::string BlasReport::LogLine() const {
  std::string line = absl::StrCat("BLAS: ", info.library);
  if (!info.version.empty()) absl::StrAppend(&line, " ", info.version);
  if (!info.core.empty()) absl::StrAppend(&line, ", core ", info.core);
  absl::StrAppend(&line, " (", BlasSelectionName(selected_by), ": ", detail, ")");
  if (info.threads > 0) absl::StrAppend(&line, ", ", info.threads, " threads");
  absl::StrAppend(&line, self_test_passed ? ", self-test passed"
                                          : absl::StrCat(", SELF-TEST FAILED: ", self_test_error));
  absl::StrAppend(&line, ", CPU ", cpu);
  if (!info.path.empty()) absl::StrAppend(&line, ", ", info.path);
  return line;
}

std::string ReExec(char** argv) {
  // The binary's own path, not /proc/self/exe, so the process keeps its name (ps, pgrep).
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof(path) - 1)) {
    return "cannot read /proc/self/exe";
  }
  path[n] = '\0';
  execv(path, argv);
  return absl::StrCat("cannot re-execute ", path, ": ", std::strerror(errno));
}

BlasReport SelectBlasKernel(char** argv, absl::string_view request,
                            const std::vector<std::pair<std::string, std::string>>& extra_env) {
  const BlasEnvironment env = BlasEnvironment::FromProcess();
  const CpuFeatures cpu = CpuFeatures::Detect();
  BlasReport report;
  report.info = ProbeBlas();
  report.cpu = absl::StrCat(cpu.model_name, ", ", cpu.Summary());
  report.self_test_error = BlasSelfTest();
  report.self_test_passed = report.self_test_error.empty();

  const BlasPlan plan =
      env.selection.has_value()
          ? VerifyBlasKernel(env, report.info, cpu, report.self_test_passed, report.self_test_error)
          : PlanBlasKernel(request, env, report.info, cpu);
  report.selected_by = plan.selected_by;
  report.detail = plan.detail;
  if (!plan.exec_with_coretype.has_value() && extra_env.empty()) return report;

  if (plan.exec_with_coretype.has_value()) {
    setenv(kCoretypeEnv, plan.exec_with_coretype->c_str(), 1);
    setenv(kSelectionEnv, plan.exec_with_selection.c_str(), 1);
  }
  for (const auto& [name, value] : extra_env) setenv(name.c_str(), value.c_str(), 1);
  std::string error = ReExec(argv);
  report.exec_error = error;
  // Still this image: undo what did not take effect, and say so.
  if (plan.exec_with_coretype.has_value()) {
    if (env.coretype.has_value()) {
      setenv(kCoretypeEnv, env.coretype->c_str(), 1);
    } else {
      unsetenv(kCoretypeEnv);
    }
    if (env.selection.has_value()) {
      setenv(kSelectionEnv, env.selection->c_str(), 1);
    } else {
      unsetenv(kSelectionEnv);
    }
    report.selected_by = BlasSelection::kFallback;
    report.detail = absl::StrCat(plan.detail, "; not applied: ", error);
  }
  for (const auto& [name, value] : extra_env) unsetenv(name.c_str());
  return report;
}

}  // namespace gridserve::cpu
