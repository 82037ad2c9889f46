// End-to-end: the Python client package (client/python, assembled in the build tree) against the
// real `gridserve` binary serving the test models; the Python side is unittest
// (client/python/tests/test_client.py), run with /usr/bin/python3 and Debian's grpcio.

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

const std::string kPythonPath = std::string(GRIDSERVE_BINARY_DIR) +
                                "/client/python:" + GRIDSERVE_SOURCE_DIR + "/client/python/tests";

std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/gridserve_pyclient_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name + ".log";
}

// Runs /usr/bin/python3 with `args`, the build tree's package on the path and GRIDSERVE_URL set.
std::pair<int, std::string> Python(const std::string& url, std::vector<std::string> args,
                                   std::chrono::seconds timeout = std::chrono::seconds(240)) {
  args.insert(args.begin(), {"/usr/bin/env", "PYTHONPATH=" + kPythonPath, "GRIDSERVE_URL=" + url,
                             "PYTHONDONTWRITEBYTECODE=1", "/usr/bin/python3"});
  return testing::RunCommand(args, LogPath("python"), timeout);
}

TEST(PythonClientPackageTest, ImportsFromTheBuildTree) {
  auto [code, out] = Python("", {"-c", "import gridserve, gridserve.aio; print(gridserve.Client)"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("gridserve._client.Client"));
}

// `pip install client/python` into a venv that sees Debian's grpcio, protobuf and numpy; nothing
// is fetched (--no-index). The installed package then works from outside the source tree.
TEST(PythonClientPackageTest, PipInstallsIntoAVenv) {
  const std::string venv = (std::filesystem::path(::testing::TempDir()) /
                            ("gridserve_pyclient_venv_" + std::to_string(getpid())))
                               .lexically_normal()
                               .string();
  std::filesystem::remove_all(venv);
  auto [code, out] = testing::RunCommand(
      {"/usr/bin/python3", "-m", "venv", "--system-site-packages", venv}, LogPath("venv"));
  ASSERT_EQ(code, 0) << out;
  // A copy, so pip's in-tree build leaves nothing behind in the source folder.
  const std::string src = venv + "/src";
  std::filesystem::create_directories(src + "/client");
  std::filesystem::copy(std::string(GRIDSERVE_SOURCE_DIR) + "/client/python",
                        src + "/client/python", std::filesystem::copy_options::recursive);
  std::filesystem::copy(std::string(GRIDSERVE_SOURCE_DIR) + "/proto", src + "/proto",
                        std::filesystem::copy_options::recursive);
  std::tie(code, out) = testing::RunCommand(
      {venv + "/bin/pip", "install", "--no-index", "--quiet", src + "/client/python"},
      LogPath("pip"), std::chrono::seconds(240));
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) =
      testing::RunCommand({"/usr/bin/env", "-C", "/", venv + "/bin/python", "-c",
                           "import gridserve, gridserve.aio; print(gridserve.__file__)"},
                          LogPath("import"));
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr(venv + "/lib/"));
  std::filesystem::remove_all(venv);
}

class PythonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<testing::ServerProcess>(
        GRIDSERVE_TEST_MODELS_DIR, std::vector<std::string>{}, LogPath("server"));
    ASSERT_TRUE(server_->WaitReady(std::chrono::seconds(90))) << server_->Output();
  }
  void TearDown() override { EXPECT_EQ(server_->Stop(), 0) << server_->Output(); }

  std::unique_ptr<testing::ServerProcess> server_;
};

// Numeric and BYTES tensors, casting, metadata, statistics, errors with their gRPC codes, the
// asyncio client, and the client's side of streaming against a stand-in speaking Triton's stream.
TEST_F(PythonClientTest, UnitTestsPass) {
  auto [code, out] =
      Python(server_->url(), {"-m", "unittest", "-v", "test_client.SyncClientTest",
                              "test_client.AsyncClientTest", "test_client.StreamProtocolTest"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("OK"));
}

// ModelStreamInfer on the real server: disabled until the server implements it (issue #15; it
// answers UNIMPLEMENTED today). Run it with --gtest_also_run_disabled_tests.
TEST_F(PythonClientTest, DISABLED_StreamingOnTheServer) {
  auto [code, out] = Python(server_->url(), {"-m", "unittest", "-v", "test_client.StreamingTest"});
  EXPECT_EQ(code, 0) << out;
}

}  // namespace
}  // namespace gridserve
