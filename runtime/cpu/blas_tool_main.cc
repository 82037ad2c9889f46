// gridserve-blas: the BLAS kernel selection of the gridserve server (runtime/cpu/blas_kernels.h)
// for programs that are not gridserve: the model zoo's training scripts (models/build.py) and any
// Python or shell job that runs LibTorch on this machine. It loads the BLAS LibTorch links
// (libblas.so.3), makes the same decision the server makes at start-up, checks it with the same
// self-test, and prints the result.
//
// Usage: gridserve-blas [--blas-coretype=auto|openblas|NAME] [--format=text|env|json]
//   text  one line: library, version, core, how it was chosen, threads, self-test (default)
//   env   NAME=VALUE lines to export for LibTorch processes (OPENBLAS_CORETYPE and
//         GRIDSERVE_BLAS_SELECTION when set); the text line goes to stderr
//   json  one JSON object with the same fields
// Exit status: 0, 1 when the kernel in use fails the self-test, 2 on bad usage.

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/cpu/blas_kernels.h"

namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

int Usage() {
  std::fputs(
      "usage: gridserve-blas [--blas-coretype=auto|openblas|NAME] [--format=text|env|json]\n",
      stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string request = "auto", format = "text";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--blas-coretype=")) {
      request = arg.substr(16);
    } else if (absl::StartsWith(arg, "--format=")) {
      format = arg.substr(9);
    } else {
      return Usage();
    }
  }
  if (!gridserve::cpu::IsValidCoretypeRequest(request) ||
      (format != "text" && format != "env" && format != "json")) {
    return Usage();
  }
  // The library LibTorch is linked against; loaded here, after the environment is final, so its
  // kernel choice reads this image's OPENBLAS_CORETYPE.
  if (dlopen("libblas.so.3", RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    std::fprintf(stderr, "gridserve-blas: cannot load libblas.so.3: %s\n", dlerror());
  }
  gridserve::cpu::BlasReport report = gridserve::cpu::SelectBlasKernel(argv, request, {});
  if (!report.exec_error.empty()) {
    std::fprintf(stderr, "gridserve-blas: %s\n", report.exec_error.c_str());
  }
  const std::string line = report.LogLine();
  if (format == "text") {
    std::printf("%s\n", line.c_str());
  } else if (format == "env") {
    std::fprintf(stderr, "%s\n", line.c_str());
    for (const char* name : {gridserve::cpu::kCoretypeEnv, gridserve::cpu::kSelectionEnv}) {
      if (const char* value = std::getenv(name)) std::printf("%s=%s\n", name, value);
    }
  } else {
    const auto& info = report.info;
    std::printf(
        "{\"library\": %s, \"version\": %s, \"core\": %s, \"selected_by\": %s, \"detail\": %s, "
        "\"threads\": %d, \"self_test_passed\": %s, \"self_test_error\": %s, \"cpu\": %s, "
        "\"path\": %s}\n",
        JsonString(info.library).c_str(), JsonString(info.version).c_str(),
        JsonString(info.core).c_str(),
        JsonString(std::string(gridserve::cpu::BlasSelectionName(report.selected_by))).c_str(),
        JsonString(report.detail).c_str(), info.threads, report.self_test_passed ? "true" : "false",
        JsonString(report.self_test_error).c_str(), JsonString(report.cpu).c_str(),
        JsonString(info.path).c_str());
  }
  return report.self_test_passed ? 0 : 1;
}
