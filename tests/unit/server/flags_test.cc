#include "server/flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gridserve::server {
namespace {

using Args = std::vector<std::string>;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

absl::StatusCode Code(const Args& args) { return ParseFlags(args).status().code(); }

TEST(ParseFlagsTest, DefaultsMatchTriton) {
  auto options = ParseFlags({"--model-repository=/models"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->model_repositories, (Args{"/models"}));
  EXPECT_EQ(options->grpc_address, "0.0.0.0");
  EXPECT_EQ(options->grpc_port, 8001);
  EXPECT_EQ(options->http_address, "0.0.0.0");
  EXPECT_EQ(options->http_port, 8000);
  EXPECT_EQ(options->metrics_address, "0.0.0.0");
  EXPECT_EQ(options->metrics_port, 8002);
  EXPECT_TRUE(options->allow_metrics);
  EXPECT_EQ(options->log_verbose, 0);
  EXPECT_FALSE(options->exit_on_error);
  EXPECT_TRUE(options->strict_readiness);
  EXPECT_EQ(options->exit_timeout_secs, 30);
  EXPECT_EQ(options->grpc_max_message_size, int64_t{64} << 20);
  EXPECT_EQ(options->cpu_cores, 0);
  EXPECT_FALSE(options->metrics_triton_names);
  EXPECT_TRUE(options->allow_cpu_metrics);
  EXPECT_EQ(options->grpc_thread_nice, 10);
}

TEST(ParseFlagsTest, EqualsAndSpaceFormsAreEquivalent) {
  auto eq = ParseFlags({"--model-repository=/m", "--grpc-port=9001", "--grpc-address=127.0.0.1",
                        "--log-verbose=1", "--exit-timeout-secs=5"});
  auto space = ParseFlags({"--model-repository", "/m", "--grpc-port", "9001", "--grpc-address",
                           "127.0.0.1", "--log-verbose", "1", "--exit-timeout-secs", "5"});
  ASSERT_TRUE(eq.ok()) << eq.status();
  ASSERT_TRUE(space.ok()) << space.status();
  for (const ServerOptions* o : {&*eq, &*space}) {
    EXPECT_EQ(o->model_repositories, (Args{"/m"}));
    EXPECT_EQ(o->grpc_port, 9001);
    EXPECT_EQ(o->grpc_address, "127.0.0.1");
    EXPECT_EQ(o->log_verbose, 1);
    EXPECT_EQ(o->exit_timeout_secs, 5);
  }
}

TEST(ParseFlagsTest, EveryValueFlagIsParsed) {
  auto options =
      ParseFlags({"--model-repository=/m", "--http-address=10.0.0.1", "--http-port=8080",
                  "--metrics-address=127.0.0.2", "--metrics-port=0",
                  "--grpc-max-message-size=1048576", "--cpu-cores=6", "--grpc-port=0",
                  "--grpc-thread-nice=0", "--metrics-triton-names", "--allow-cpu-metrics=false"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->http_address, "10.0.0.1");
  EXPECT_EQ(options->http_port, 8080);
  EXPECT_EQ(options->metrics_address, "127.0.0.2");
  EXPECT_EQ(options->metrics_port, 0);
  EXPECT_EQ(options->grpc_max_message_size, 1048576);
  EXPECT_EQ(options->cpu_cores, 6);
  EXPECT_EQ(options->grpc_port, 0);
  EXPECT_EQ(options->grpc_thread_nice, 0);
  EXPECT_TRUE(options->metrics_triton_names);
  EXPECT_FALSE(options->allow_cpu_metrics);
}

TEST(ParseFlagsTest, BareBooleansAreTrue) {
  auto options = ParseFlags({"--exit-on-error", "--model-repository=/m", "--strict-readiness"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->exit_on_error);
  EXPECT_TRUE(options->strict_readiness);
}

TEST(ParseFlagsTest, BareBooleanDoesNotSwallowTheNextFlag) {
  auto options = ParseFlags({"--exit-on-error", "--grpc-port", "7000", "--model-repository=/m"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->exit_on_error);
  EXPECT_EQ(options->grpc_port, 7000);
}

TEST(ParseFlagsTest, BooleanValues) {
  auto options = ParseFlags({"--model-repository=/m", "--strict-readiness=false",
                             "--allow-metrics=0", "--exit-on-error=yes"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->strict_readiness);
  EXPECT_FALSE(options->allow_metrics);
  EXPECT_TRUE(options->exit_on_error);
}

TEST(ParseFlagsTest, BooleanValueAfterASpace) {
  // Triton's own form: `--strict-readiness false`.
  auto options = ParseFlags({"--model-repository=/m", "--strict-readiness", "false",
                             "--exit-on-error", "true", "--allow-metrics", "no"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->strict_readiness);
  EXPECT_TRUE(options->exit_on_error);
  EXPECT_FALSE(options->allow_metrics);
}

TEST(ParseFlagsTest, RepeatedModelRepositoryKeepsEveryPathInOrder) {
  auto options =
      ParseFlags({"--model-repository=/a", "--model-repository", "/b", "--model-repository=/c"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->model_repositories, (Args{"/a", "/b", "/c"}));
}

TEST(ParseFlagsTest, LaterValueWins) {
  auto options = ParseFlags({"--model-repository=/m", "--grpc-port=1", "--grpc-port=2"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->grpc_port, 2);
}

TEST(ParseFlagsTest, UnknownFlagIsInvalid) {
  EXPECT_EQ(Code({"--model-repository=/m", "--no-such-flag=1"}), kInvalid);
  EXPECT_EQ(Code({"--model-repository=/m", "--grpc_port=1"}), kInvalid);
  EXPECT_EQ(Code({"--model-repository=/m", "--"}), kInvalid);
}

TEST(ParseFlagsTest, PositionalArgumentIsInvalid) {
  EXPECT_EQ(Code({"--model-repository=/m", "extra"}), kInvalid);
  EXPECT_EQ(Code({"-model-repository=/m"}), kInvalid);
}

TEST(ParseFlagsTest, BadValuesAreInvalid) {
  for (const Args& args : std::vector<Args>{
           {"--grpc-port=abc"},
           {"--grpc-port=70000"},
           {"--grpc-port=-1"},
           {"--grpc-port="},
           {"--http-port=65536"},
           {"--metrics-port=1.5"},
           {"--log-verbose=-1"},
           {"--exit-timeout-secs=forever"},
           {"--grpc-max-message-size=10"},
           {"--grpc-max-message-size=4294967296"},
           {"--cpu-cores=-2"},
           {"--grpc-thread-nice=20"},
           {"--grpc-thread-nice=-1"},
           {"--exit-on-error=maybe"},
           {"--strict-readiness=TRUE2"},
           {"--grpc-address="},
           {"--model-repository="},
       }) {
    SCOPED_TRACE(args[0]);
    Args with_repo = args;
    with_repo.push_back("--model-repository=/m");
    EXPECT_EQ(Code(with_repo), kInvalid);
  }
}

TEST(ParseFlagsTest, MissingValueIsInvalid) {
  EXPECT_EQ(Code({"--model-repository=/m", "--grpc-port"}), kInvalid);
  EXPECT_EQ(Code({"--model-repository"}), kInvalid);
}

TEST(ParseFlagsTest, MissingRepositoryIsInvalid) {
  EXPECT_EQ(Code({}), kInvalid);
  EXPECT_EQ(Code({"--grpc-port=9000"}), kInvalid);
}

TEST(ParseFlagsTest, HelpIsFailedPreconditionCarryingTheUsage) {
  for (const Args& args : std::vector<Args>{
           {"--help"}, {"-h"}, {"--model-repository=/m", "--help"}, {"--help", "--no-such-flag"}}) {
    SCOPED_TRACE(args[0]);
    auto options = ParseFlags(args);
    EXPECT_EQ(options.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(options.status().message(), Usage());
  }
}

TEST(UsageTest, ListsEveryFlag) {
  const std::string usage = Usage();
  for (const char* flag :
       {"--model-repository", "--grpc-address", "--grpc-port", "--http-address", "--http-port",
        "--allow-metrics", "--metrics-address", "--metrics-port", "--log-verbose",
        "--exit-on-error", "--strict-readiness", "--exit-timeout-secs", "--grpc-max-message-size",
        "--cpu-cores", "--grpc-thread-nice", "--metrics-triton-names", "--allow-cpu-metrics"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace gridserve::server
