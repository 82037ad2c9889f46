// Checks rendered output with the real Prometheus linter (`promtool check metrics`, from Debian's
// `prometheus` package). Skips when promtool is not installed.

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/metrics/inference_metrics.h"
#include "runtime/metrics/metrics.h"
#include "runtime/metrics/process_collector.h"

namespace gridserve::metrics {
namespace {

bool HavePromtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

// Runs `promtool check metrics` on `text`; returns its exit status and puts its output in `output`.
int PromtoolCheckMetrics(const std::string& text, std::string* output) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("promtool_input_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path, std::ios::binary) << text;
  FILE* pipe = popen(("promtool check metrics < '" + path.string() + "' 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output->append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PromtoolTest, AcceptsEverythingTheServerExports) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed (Debian package: prometheus)";
  prometheus::Registry registry(prometheus::Registry::InsertBehavior::Throw);
  auto process = ProcessCollector::Create({});
  ASSERT_TRUE(process.ok());
  auto inference = InferenceMetrics::Create(&registry);
  ASSERT_TRUE(inference.ok()) << inference.status();
  (*inference)->SetBuildInfo("0.1.0", "1.13.1", "1.51.1");
  // A hostile model name exercises every escape.
  for (const char* model : {"mnist_cnn", "we\"ird\\name\nx"}) {
    ModelVersionMetrics m = (*inference)->ForModelVersion(model, "1");
    m.requests_success->Increment(3);
    m.requests_failure->Increment();
    m.items->Increment(12);
    m.executions->Increment(2);
    for (double seconds : {0.0004, 0.002, 0.07, 3.0}) m.request_duration->Observe(seconds);
    m.queue_duration->Observe(0.0001);
    m.compute_infer->Observe(0.01);
    m.batch_size->Observe(8);
    m.batch_size->Observe(4);
    m.pending_requests->Set(2);
    m.ready->Set(1);
    m.load_duration_seconds->Set(1.25);
  }
  // prometheus-cpp 1.0 writes HELP verbatim (no escaping): help texts are plain constants.
  prometheus::Family<prometheus::Gauge>* special =
      *Register<prometheus::Gauge>(&registry, "gridserve_test_special_values", "Edge values.");
  special->Add({{"kind", "nan"}}).Set(std::nan(""));
  special->Add({{"kind", "inf"}}).Set(std::numeric_limits<double>::infinity());
  special->Add({{"kind", "tiny"}}).Set(1e-300);

  const std::string text = SerializeText({&registry, process->get()});
  std::string output;
  EXPECT_EQ(PromtoolCheckMetrics(text, &output), 0) << output << "\n--- input ---\n" << text;
  EXPECT_EQ(output, "") << "\n--- input ---\n" << text;
}

TEST(PromtoolTest, DetectsBrokenInput) {
  // Guards the check above: promtool must really be judging what we give it.
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed (Debian package: prometheus)";
  std::string output;
  EXPECT_NE(PromtoolCheckMetrics("# TYPE x counter\nx{a=\"unterminated} 1\n", &output), 0);
  output.clear();
  EXPECT_NE(
      PromtoolCheckMetrics("# HELP requests R.\n# TYPE requests counter\nrequests 1\n", &output), 0)
      << "counter without _total should be linted";
}

}  // namespace
}  // namespace gridserve::metrics
