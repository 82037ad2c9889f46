// End-to-end: every grid-analytics example in examples/ run as a user runs it, with
// /usr/bin/python3 and the build tree's Python client, against the real `gridserve` binary
// serving the demo model zoo (models/repository, built by `make models`). Each example's numbers
// are checked against the zoo's own measurements and its PNG for a real plot.

#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kSource = GRIDSERVE_SOURCE_DIR;
const std::string kRepository = kSource + "/models/repository";
const std::string kEval = kSource + "/models/eval";
const std::string kChecks = kSource + "/examples/tests/example_checks.py";

// "key value key value ..." -> value of `key` (NaN when absent).
double Field(const std::string& line, const std::string& key) {
  std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    double v = 0;
    if (words[i] == key && absl::SimpleAtod(words[i + 1], &v)) return v;
  }
  return std::nan("");
}

class ExamplesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::is_directory(kRepository)) << kRepository << " is missing: run `make models`";
    server_ = new testing::ServerProcess(kRepository, {"--allow-metrics=false"},
                                         ::testing::TempDir() + "/gridserve_examples.log");
    ASSERT_TRUE(server_->WaitReady(std::chrono::seconds(180))) << server_->Output();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0);
    }
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    dir_ = fs::path(::testing::TempDir()) /
           ("gridserve_examples_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // /usr/bin/python3 SCRIPT ARGS..., with the build tree's client importable.
  std::pair<int, std::string> Python(const std::string& script, std::vector<std::string> args) {
    args.insert(
        args.begin(),
        {"/usr/bin/env", "PYTHONPATH=" + std::string(GRIDSERVE_BINARY_DIR) + "/client/python",
         "PYTHONDONTWRITEBYTECODE=1", "MPLCONFIGDIR=" + (dir_ / "mpl").string(), "/usr/bin/python3",
         script});
    return testing::RunCommand(args, (dir_ / "python.log").string(), std::chrono::seconds(240));
  }
  std::pair<int, std::string> Example(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", server_->url()});
    return Python(kSource + "/examples/" + name, args);
  }

  // A picture a person would call a plot: PNG, at least 600x300, 15 KB, 4 colours that each
  // cover 0.05% of it.
  void ExpectPlot(const fs::path& png) {
    ASSERT_TRUE(fs::exists(png)) << png;
    auto [code, out] = Python(kChecks, {"png", png.string()});
    ASSERT_EQ(code, 0) << out;
    EXPECT_GE(Field(out, "width"), 600) << out;
    EXPECT_GE(Field(out, "height"), 300) << out;
    EXPECT_GE(Field(out, "bytes"), 15000) << out;
    EXPECT_GE(Field(out, "colours"), 4) << out;
  }

  static testing::ServerProcess* server_;
  fs::path dir_;
};

testing::ServerProcess* ExamplesTest::server_ = nullptr;

// The example's MAPE over the zoo's 14 held-out days equals the one train.py measured
// (models/repository/grid_load_forecast/metrics.json): same windows, same model, served.
TEST_F(ExamplesTest, ForecastDayAheadReproducesTheDocumentedMape) {
  const fs::path png = dir_ / "forecast.png";
  auto [code, out] =
      Example("forecast_day_ahead.py",
              {"--csv", kSource + "/models/.cache/grid_load_forecast/taylor.csv", "--days", "14",
               "--start", "2000-06-05T00:00", "--out", png.string()});
  ASSERT_EQ(code, 0) << out;
  const std::string marker = "MAPE over 14 day(s): ";
  const size_t at = out.find(marker);
  ASSERT_NE(at, std::string::npos) << out;
  double mape = 0;
  ASSERT_TRUE(absl::SimpleAtod(
      out.substr(at + marker.size(), out.find('%', at) - at - marker.size()), &mape))
      << out;
  const std::string metrics = testing::ReadFile(kRepository + "/grid_load_forecast/metrics.json");
  const size_t value_at = metrics.find("\"value\":");
  ASSERT_NE(value_at, std::string::npos) << metrics;
  const double documented = std::stod(metrics.substr(value_at + 8));
  EXPECT_NEAR(mape, documented, 0.005) << out;
  ExpectPlot(png);

  // A CSV the model cannot use is refused locally with exit 2.
  const fs::path short_csv = dir_ / "short.csv";
  std::ofstream(short_csv) << "mw\n100\n200\n";
  std::tie(code, out) =
      Example("forecast_day_ahead.py", {"--csv", short_csv.string(), "--out", png.string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("history"));
}

TEST_F(ExamplesTest, ForecastNextDayPlotsWithoutActuals) {
  const fs::path png = dir_ / "next.png";
  auto [code, out] = Example("forecast_day_ahead.py",
                             {"--csv", kSource + "/models/.cache/grid_load_forecast/taylor.csv",
                              "--next-day", "--out", png.string()});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("next-day forecast (MW)"));
  ExpectPlot(png);
}

// 64 held-out MNIST digits (as on meter dials) written as PNG files, classified through
// mnist_cnn: one CSV row each, labelled as accurately as the zoo measured (99.05% held out).
TEST_F(ExamplesTest, ClassifyMeterImagesWritesCsvAndPlot) {
  const fs::path images = dir_ / "images";
  auto [code, out] =
      Python(kChecks, {"images", kEval + "/mnist_cnn/image.npy", images.string(), "64"});
  ASSERT_EQ(code, 0) << out;
  std::ofstream(images / "notes.png") << "not an image";  // skipped, not fatal
  const fs::path csv = dir_ / "classes.csv";
  const fs::path png = dir_ / "classes.png";
  std::tie(code, out) = Example("classify_meter_images.py",
                                {"--images", images.string(), "--model", "mnist_cnn", "--batch",
                                 "16", "--out-csv", csv.string(), "--out-png", png.string()});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("classified 64 images (1 skipped)"));
  std::tie(code, out) =
      Python(kChecks, {"accuracy", csv.string(), "label", kEval + "/mnist_cnn/labels.npy"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Field(out, "rows"), 64) << out;
  EXPECT_GE(Field(out, "accuracy"), 0.95) << out;
  ExpectPlot(png);
}

// 100 held-out food reviews (real customer messages): a row each, sentiment as accurate as the
// zoo measured (0.814 on 1,000; floor 0.70 on these 100), a non-empty summary each.
TEST_F(ExamplesTest, TextAnalyticsScoresAndSummarizesMessages) {
  const fs::path messages = dir_ / "messages.txt";
  auto [code, out] =
      Python(kChecks, {"messages", kEval + "/sentiment/text.json", messages.string(), "100"});
  ASSERT_EQ(code, 0) << out;
  const fs::path csv = dir_ / "messages.csv";
  const fs::path png = dir_ / "messages.png";
  std::tie(code, out) = Example("text_analytics.py", {"--messages", messages.string(), "--out-csv",
                                                      csv.string(), "--out-png", png.string()});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("100 messages:"));
  std::tie(code, out) = Python(kChecks, {"accuracy", csv.string(), "sentiment",
                                         kEval + "/sentiment/labels.npy", "negative", "positive"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Field(out, "rows"), 100) << out;
  EXPECT_GE(Field(out, "accuracy"), 0.70) << out;
  std::tie(code, out) = Python(kChecks, {"nonempty", csv.string(), "summary"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Field(out, "empty"), 0) << out;
  ExpectPlot(png);
}

}  // namespace
}  // namespace gridserve
