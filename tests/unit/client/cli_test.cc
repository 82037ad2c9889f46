#include "client/cli.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/file.h"
#include "client/model_commands.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_inference_service.h"

namespace gridserve::client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCommand(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = RunCli(args, out, err);
  return {code, out.str(), err.str()};
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.started()); }

  Result RunAgainstServer(std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", server_.url()});
    return RunCommand(std::move(args));
  }

  testing::FakeServer server_;
};

TEST(CliUsageTest, HelpAndUsageErrors) {
  Result help = RunCommand({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, StartsWith("usage: gridserve-cli"));

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"infer"},
           {"config"},
           {"models", "extra"},
           {"health", "a", "b"},
           {"--bogus", "health"},
           {"health", "--url"},
           {"--timeout-ms", "abc", "health"},
           {"--timeout-ms", "0", "health"},
           {"--max-message-bytes", "-5", "health"},
           {"--url=", "health"},
           {"models", "--input", "x=[1]"},
           {"health", "--id", "7"},
           {"infer", "m", "--ready-only"},
           {"models", "--model-version", "2"},
           {"metadata", "--model-version", "2"},
           {"infer", "m", "--input", "x"},
           {"infer", "m", "--input", "=[1]"},
           {"infer", "m", "--input", "x=[1]", "--input", "x=[2]"},
           {"infer", "m", "--output"},
       }) {
    Result result = RunCommand(args);
    EXPECT_EQ(result.code, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(result.err, HasSubstr("usage:")) << ::testing::PrintToString(args);
    EXPECT_EQ(result.out, "");
  }
}

TEST(CliUnreachableTest, ConnectionFailureIsAnError) {
  Result result = RunCommand({"--url", "127.0.0.1:1", "health"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, StartsWith("error: UNAVAILABLE: "));
}

TEST_F(CliTest, Health) {
  Result result = RunAgainstServer({"health"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out, "{\"live\": true, \"ready\": true}\n");

  result = RunAgainstServer({"health", "echo"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out, "{\"live\": true, \"ready\": true, \"model_ready\": true}\n");

  result = RunAgainstServer({"health", "sleepy", "--model-version", "1"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.out, "{\"live\": true, \"ready\": true, \"model_ready\": false}\n");
  EXPECT_EQ(result.err, "error: UNAVAILABLE: model 'sleepy' is not ready\n");

  result = RunAgainstServer({"health", "nope"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "error: NOT_FOUND: unknown model 'nope'\n");

  server_.service().ready = false;
  result = RunAgainstServer({"health"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.out, "{\"live\": true, \"ready\": false}\n");
  EXPECT_THAT(result.err, StartsWith("error: UNAVAILABLE: "));
}

TEST_F(CliTest, Models) {
  Result result = RunAgainstServer({"models"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out,
            "NAME    VERSION  STATE        REASON\n"
            "echo    1        READY\n"
            "slow    1        READY\n"
            "sleepy  1        LOADING\n"
            "broken  2        UNAVAILABLE  load failed: bad file\n");
  result = RunAgainstServer({"models", "--ready-only"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("broken")));
}

TEST_F(CliTest, MetadataAndConfig) {
  Result result = RunAgainstServer({"metadata", "echo"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"name\": \"echo\""));
  EXPECT_THAT(result.out, HasSubstr("\"datatype\": \"BYTES\""));

  result = RunAgainstServer({"metadata"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"name\": \"fake\""));

  result = RunAgainstServer({"config", "echo"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"max_batch_size\": 8"));

  result = RunAgainstServer({"config", "nope"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "error: NOT_FOUND: unknown model 'nope'\n");
}

TEST_F(CliTest, InferWithInlineJsonAndFiles) {
  const std::string npy = absl::StrCat(::testing::TempDir(), "/cli_test_h.npy");
  std::string halves;
  for (uint16_t h : {0x3c00, 0xc000}) halves.append(reinterpret_cast<const char*>(&h), 2);
  ASSERT_TRUE(WriteNpyFile(npy, {"FP16", {2}, halves}).ok());
  const std::string json = absl::StrCat(::testing::TempDir(), "/cli_test_s.json");
  ASSERT_TRUE(WriteStringToFile(json, "[\"caf\\u00e9\", \"\"]").ok());

  Result result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2.5], [3, 4]]", "--input",
                                    absl::StrCat("s=", json), "--input=h=" + npy, "--id", "req-7"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out,
            "{\"model_name\": \"echo\", \"model_version\": \"1\", \"id\": \"req-7\", "
            "\"outputs\": [\n"
            "  {\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2, 2], \"data\": "
            "[[1, 2.5], [3, 4]]},\n"
            "  {\"name\": \"s\", \"datatype\": \"BYTES\", \"shape\": [2], \"data\": "
            "[\"caf\xc3\xa9\", \"\"]},\n"
            "  {\"name\": \"h\", \"datatype\": \"FP16\", \"shape\": [2], \"data\": [1, -2]}\n"
            "]}\n");
  EXPECT_EQ(result.err, "");

  // --output selects outputs; --bytes-as-base64 changes how BYTES print.
  result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2]]", "--input", "s=[\"hi\"]",
                             "--output", "s", "--bytes-as-base64"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"data\": [\"aGk=\"]"));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("\"name\": \"x\"")));
}

TEST_F(CliTest, InferErrors) {
  // Inputs that cannot be built locally are the CLI's own errors: exit 2, no gRPC code.
  Result result = RunAgainstServer({"infer", "echo", "--input", "y=[1]"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, StartsWith("gridserve-cli: model 'echo' has no input 'y'"));

  result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2], [3]]"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, StartsWith("gridserve-cli: input 'x': ragged"));

  result = RunAgainstServer({"infer", "echo", "--input", "x=/nonexistent/x.npy"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, StartsWith("gridserve-cli: input 'x': cannot open '/nonexistent/x.npy'"));
  EXPECT_THAT(result.err, ::testing::Not(HasSubstr("NOT_FOUND")));

  // Strict JSON: single quotes are not JSON.
  result = RunAgainstServer({"infer", "echo", "--input", "s=[['x']]"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("double quotes"));

  result = RunAgainstServer({"infer", "nope", "--input", "x=[1]"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "error: NOT_FOUND: unknown model 'nope'\n");

  result = RunAgainstServer({"--timeout-ms", "100", "infer", "slow", "--input", "x=[[1, 2]]"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, StartsWith("error: DEADLINE_EXCEEDED: "));
}

TEST(CliLocalErrorTest, AMissingFileIsReportedWithoutAskingTheServer) {
  // Nothing listens on port 1: the file is checked first, so the error is the file's.
  Result result =
      RunCommand({"--url", "127.0.0.1:1", "infer", "m", "--input", "x=/nonexistent.npy"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, StartsWith("gridserve-cli: input 'x': cannot open '/nonexistent.npy'"));
}

TEST(CliUsageTest, RowsAndClassesAreChecked) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"infer", "m", "--rows", "3:1"},
           {"infer", "m", "--rows", "2:2"},
           {"infer", "m", "--rows", "abc"},
           {"infer", "m", "--rows", "-1:2"},
           {"infer", "m", "--rows", "5"},
           {"infer", "m", "--classes", "0"},
           {"infer", "m", "--classes", "-3"},
           {"infer", "m", "--classes", "x"},
           {"models", "--classes", "2"},
           {"health", "--rows", "0:1"},
       }) {
    Result result = RunCommand(args);
    EXPECT_EQ(result.code, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(result.err, HasSubstr("usage:")) << ::testing::PrintToString(args);
  }
}

TEST_F(CliTest, RowsSendsASliceOfEveryInput) {
  Result result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2], [3, 4], [5, 6]]",
                                    "--input", "s=[\"a\", \"b\", \"c\"]", "--rows", "1:3"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"shape\": [2, 2], \"data\": [[3, 4], [5, 6]]"));
  EXPECT_THAT(result.out, HasSubstr("\"shape\": [2], \"data\": [\"b\", \"c\"]"));

  result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2], [3, 4]]", "--rows", "1:"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"shape\": [1, 2], \"data\": [[3, 4]]"));

  result = RunAgainstServer({"infer", "echo", "--input", "x=[[1, 2], [3, 4]]", "--rows", "0:5"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("input 'x' has 2 rows"));
}

TEST(CliEnvTest, GridserveUrlIsTheDefaultAddress) {
  testing::FakeServer server;
  ASSERT_TRUE(server.started());
  setenv("GRIDSERVE_URL", server.url().c_str(), 1);
  Result result = RunCommand({"health"});
  unsetenv("GRIDSERVE_URL");
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"live\": true"));
}

}  // namespace
}  // namespace gridserve::client

namespace gridserve::client {
namespace {

TEST(CliModelCommandsTest, DispatchAndUsageErrors) {
  EXPECT_TRUE(IsModelCommand({"models", "list"}));
  EXPECT_TRUE(IsModelCommand({"--url", "h:1", "models", "versions", "m"}));
  EXPECT_TRUE(IsModelCommand({"alias", "set", "m", "prod", "1"}));
  EXPECT_TRUE(IsModelCommand({"--output", "json", "split", "get", "m"}));
  EXPECT_FALSE(IsModelCommand({"models"})) << "plain `models` stays the repository index";
  EXPECT_FALSE(IsModelCommand({"models", "extra"}));
  EXPECT_FALSE(IsModelCommand({"infer", "models"}));

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"models", "versions"},
           {"models", "load"},
           {"models", "upload"},
           {"alias", "set", "m", "prod"},
           {"alias", "rm", "m"},
           {"alias", "frob", "m"},
           {"split", "set"},
           {"split", "get"},
           {"models", "list", "--output", "yaml"},
           {"models", "list", "--config", "{}"},
           {"models", "load", "m", "--parent", "1"},
           {"models", "upload", "d", "--parent", "0"},
       }) {
    Result r = RunCommand(args);
    EXPECT_EQ(r.code, kExitUsage) << absl::StrJoin(args, " ") << ": " << r.err;
  }
  Result help = RunCommand({"--help"});
  EXPECT_THAT(help.out, HasSubstr("models upload DIR"));
}

TEST(CliModelCommandsTest, LocalInputErrorsExitOne) {
  Result missing = RunCommand({"--url", "127.0.0.1:1", "models", "upload", "/no/such/folder"});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));
  Result split = RunCommand({"--url", "127.0.0.1:1", "split", "set", "m", "1:90"});
  EXPECT_EQ(split.code, kExitError);
  EXPECT_THAT(split.err, HasSubstr("INVALID_ARGUMENT"));
}

}  // namespace
}  // namespace gridserve::client
