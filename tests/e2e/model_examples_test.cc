// Every example command in models/README.md runs as written: the real `gridserve` serves the
// built zoo (models/repository), each command runs through /bin/sh from the repository root with
// the built gridserve-cli first on PATH and GRIDSERVE_URL naming the test's server, and its exit
// code and output must be the ones the README notes under it ("# exit N", "# output contains:
// ..."). The README's model sections are generated from models/<name>/model.json
// (models/summarize.py), so this also checks every model's documented contract: answers with
// their labels, and refusals (INVALID_ARGUMENT with the model's message) for nonsense input.

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/grpc_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;

const std::string kSource = GRIDSERVE_SOURCE_DIR;
const std::string kRepository = kSource + "/models/repository";

struct Example {
  std::string model;
  std::string command;
  int exit_code = -1;
  std::vector<std::string> expect;
};

void PrintTo(const Example& example, std::ostream* os) { *os << example.command; }

// The examples of the generated part of models/README.md: under "### <model>: ...", each
//   ```sh
//   <command>
//   # exit N
//   # output contains: <text>
//   ```
std::vector<Example> ReadmeExamples() {
  std::istringstream in(testing::ReadFile(kSource + "/models/README.md"));
  std::vector<Example> examples;
  std::string line, model;
  bool in_models = false, in_block = false;
  while (std::getline(in, line)) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text == "<!-- models:begin -->") in_models = true;
    if (text == "<!-- models:end -->") in_models = false;
    if (!in_models) continue;
    if (absl::StartsWith(text, "### ")) {
      model = std::string(text.substr(4, text.find(':') - 4));
      continue;
    }
    if (text == "```sh") {
      in_block = true;
      examples.push_back({model});
      continue;
    }
    if (text == "```") {
      in_block = false;
      continue;
    }
    if (!in_block) continue;
    Example& example = examples.back();
    if (absl::ConsumePrefix(&text, "# exit ")) {
      example.exit_code = std::stoi(std::string(text));
    } else if (absl::ConsumePrefix(&text, "# output contains: ")) {
      example.expect.emplace_back(text);
    } else if (example.command.empty()) {
      example.command = std::string(text);
    }
  }
  return examples;
}

class ModelExamplesTest : public ::testing::TestWithParam<Example> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::is_directory(kRepository)) << kRepository << " is missing: run `make models`";
    port_ = testing::FreeLoopbackPort();
    server_ =
        new testing::Subprocess({std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve",
                                 "--model-repository=" + kRepository, "--grpc-address=127.0.0.1",
                                 "--grpc-port=" + std::to_string(port_), "--allow-metrics=false",
                                 "--strict-readiness=false"},
                                ::testing::TempDir() + "/gridserve_examples.log");
    auto client = client::InferenceClient::Create("127.0.0.1:" + std::to_string(port_), {});
    ASSERT_TRUE(client.ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < deadline) {
      auto r = (*client)->ServerReady();
      ready = r.ok() && *r;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_TRUE(ready) << server_->Output();
  }
  static void TearDownTestSuite() {
    if (server_) {
      server_->Signal(SIGTERM);
      EXPECT_EQ(server_->Wait(std::chrono::seconds(60)), 0);
    }
    delete server_;
  }

  static testing::Subprocess* server_;
  static int port_;
};

testing::Subprocess* ModelExamplesTest::server_ = nullptr;
int ModelExamplesTest::port_ = 0;

TEST(ModelReadmeTest, EveryBuiltModelHasExamples) {
  const std::vector<Example> examples = ReadmeExamples();
  ASSERT_FALSE(examples.empty());
  for (const auto& entry : fs::directory_iterator(kRepository)) {
    if (!fs::exists(entry.path() / "config.pbtxt")) continue;
    const std::string name = entry.path().filename().string();
    bool found = false;
    for (const Example& e : examples) found = found || e.model == name;
    EXPECT_TRUE(found) << "models/README.md has no example for " << name;
  }
  for (const Example& e : examples) {
    EXPECT_FALSE(e.command.empty()) << e.model;
    EXPECT_GE(e.exit_code, 0) << e.model << ": " << e.command;
    EXPECT_FALSE(e.expect.empty()) << e.model << ": " << e.command;
  }
}

TEST_P(ModelExamplesTest, RunsAsWritten) {
  const Example& example = GetParam();
  if (!fs::exists(fs::path(kRepository) / example.model / "config.pbtxt")) {
    GTEST_SKIP() << example.model << " is not built here (see models/README.md)";
  }
  const std::string shell = absl::StrCat("cd '", kSource, "' && PATH='", GRIDSERVE_BINARY_DIR,
                                         "/client':\"$PATH\" ", "GRIDSERVE_URL=127.0.0.1:", port_,
                                         " && export GRIDSERVE_URL && ", example.command);
  auto [code, output] = testing::RunCommand(
      {"/bin/sh", "-c", shell},
      ::testing::TempDir() + "/gridserve_example_" + std::to_string(getpid()) + ".log",
      std::chrono::seconds(120));
  EXPECT_EQ(code, example.exit_code) << example.command << "\n" << output;
  for (const std::string& text : example.expect) {
    EXPECT_THAT(output, ::testing::HasSubstr(text)) << example.command;
  }
}

INSTANTIATE_TEST_SUITE_P(Readme, ModelExamplesTest, ::testing::ValuesIn(ReadmeExamples()),
                         [](const ::testing::TestParamInfo<Example>& info) {
                           return absl::StrCat(info.param.model, "_", info.index);
                         });

}  // namespace
}  // namespace gridserve
