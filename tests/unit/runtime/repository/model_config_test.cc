#include "runtime/repository/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// A minimal valid config body (no name) to which tests append or substitute fields.
constexpr char kIo[] = R"pb(
  input
  [ {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }] output
  [ {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }]
)pb";

absl::StatusCode ParseCode(const std::string& text, const std::string& dir = "m") {
  return ParseModelConfig(text, dir).status().code();
}

// A fresh, empty directory under the test's temp dir; removed by the fixture.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            absl::StrCat("gridserve_model_config_test_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void WriteFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  fs::path root_;
};

// --- valid configs ---

TEST(ParseModelConfigTest, FullTritonConfigParses) {
  auto config = ParseModelConfig(R"pb(
                                   name: "resnet"
                                   platform: "pytorch_libtorch"
                                   max_batch_size: 16
                                   version_policy { specific { versions: [ 1, 3 ] } } input
                                   [ {
                                     name: "INPUT__0"
                                     data_type: TYPE_FP32
                                     dims: [ 3, -1, -1 ]
                                   }
                                     , {
                                       name: "INPUT__1"
                                       data_type: TYPE_STRING
                                       dims: [ 1 ]
                                       optional: true
                                     }] output
                                   [ {
                                     name: "OUTPUT__0"
                                     data_type: TYPE_INT64
                                     dims: [ 1000 ]
                                   }] instance_group
                                   [ { name: "cpus" count: 3 kind: KIND_CPU }]
                                   dynamic_batching {
                                     preferred_batch_size: [ 4, 16 ]
                                     max_queue_delay_microseconds: 500
                                   }
                                   parameters {
                                     key: "INTRA_OP_THREAD_COUNT"
                                     value: { string_value: "2" }
                                   }
                                 )pb",
                                 "resnet");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "resnet");
  EXPECT_EQ(config->max_batch_size(), 16);
  ASSERT_EQ(config->input_size(), 2);
  EXPECT_EQ(config->input(0).dims_size(), 3);
  EXPECT_EQ(config->input(0).dims(1), -1);
  EXPECT_TRUE(config->input(1).optional());
  EXPECT_EQ(config->input(1).data_type(), inference::TYPE_STRING);
  EXPECT_EQ(config->output(0).data_type(), inference::TYPE_INT64);
  ASSERT_TRUE(config->version_policy().has_specific());
  EXPECT_EQ(config->version_policy().specific().versions_size(), 2);
  ASSERT_EQ(config->instance_group_size(), 1);
  EXPECT_EQ(config->instance_group(0).count(), 3);
  EXPECT_EQ(config->instance_group(0).name(), "cpus");
  ASSERT_TRUE(config->has_dynamic_batching());
  EXPECT_EQ(config->dynamic_batching().preferred_batch_size_size(), 2);
  EXPECT_EQ(config->dynamic_batching().max_queue_delay_microseconds(), 500u);
  ASSERT_EQ(config->parameters().count("INTRA_OP_THREAD_COUNT"), 1u);
  EXPECT_EQ(config->parameters().at("INTRA_OP_THREAD_COUNT").string_value(), "2");
}

TEST(ParseModelConfigTest, DefaultsAreFilled) {
  auto config = ParseModelConfig(kIo, "plain");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "plain");
  EXPECT_EQ(config->platform(), "pytorch_libtorch");
  EXPECT_EQ(config->max_batch_size(), 0);
  ASSERT_TRUE(config->version_policy().has_latest());
  EXPECT_EQ(config->version_policy().latest().num_versions(), 1u);
  ASSERT_EQ(config->instance_group_size(), 1);
  EXPECT_EQ(config->instance_group(0).count(), 1);
  EXPECT_EQ(config->instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_FALSE(config->instance_group(0).name().empty());
  EXPECT_FALSE(config->has_dynamic_batching());
}

TEST(ParseModelConfigTest, BackendPytorchIsAccepted) {
  auto config = ParseModelConfig(absl::StrCat("backend: \"pytorch\"", kIo), "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend(), "pytorch");
  EXPECT_EQ(config->platform(), "pytorch_libtorch");
}

TEST(ParseModelConfigTest, LatestWithZeroVersionsMeansOne) {
  auto config = ParseModelConfig(absl::StrCat("version_policy { latest { } }", kIo), "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->version_policy().latest().num_versions(), 1u);
}

TEST(ParseModelConfigTest, AllVersionPolicyIsKept) {
  auto config = ParseModelConfig(absl::StrCat("version_policy { all { } }", kIo), "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->version_policy().has_all());
}

TEST(ParseModelConfigTest, LatestNumVersionsIsKept) {
  auto config =
      ParseModelConfig(absl::StrCat("version_policy { latest { num_versions: 3 } }", kIo), "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->version_policy().latest().num_versions(), 3u);
}

TEST(ParseModelConfigTest, InstanceCountZeroBecomesOne) {
  auto config = ParseModelConfig(
      absl::StrCat("instance_group [ { kind: KIND_CPU }, { count: 2 kind: KIND_CPU } ]", kIo), "m");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->instance_group_size(), 2);
  EXPECT_EQ(config->instance_group(0).count(), 1);
  EXPECT_EQ(config->instance_group(1).count(), 2);
  EXPECT_NE(config->instance_group(0).name(), config->instance_group(1).name());
}

TEST(ParseModelConfigTest, VariableAndScalarDimsAreAccepted) {
  auto config = ParseModelConfig(R"pb(
                                   input
                                   [ {
                                     name: "x"
                                     data_type: TYPE_INT8
                                     dims: [ -1 ]
                                   }] output
                                   [ {
                                     name: "y"
                                     data_type: TYPE_BOOL
                                     dims: [ 1 ]
                                   }]
                                 )pb",
                                 "m");
  EXPECT_TRUE(config.ok()) << config.status();
}

TEST(ParseModelConfigTest, PreferredBatchSizesAtTheBoundsAreAccepted) {
  auto config = ParseModelConfig(
      absl::StrCat("max_batch_size: 8 dynamic_batching { preferred_batch_size: [ 1, 8 ] }", kIo),
      "m");
  EXPECT_TRUE(config.ok()) << config.status();
}

// --- invalid configs ---

TEST(ParseModelConfigTest, NameMismatchIsInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat("name: \"other\"", kIo), "m"), kInvalid);
}

TEST(ParseModelConfigTest, UnsupportedPlatformIsInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat("platform: \"tensorflow_savedmodel\"", kIo)), kInvalid);
  EXPECT_EQ(ParseCode(absl::StrCat("backend: \"onnxruntime\"", kIo)), kInvalid);
}

TEST(ParseModelConfigTest, NoInputsIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(output
                           [ {
                             name: "y"
                             data_type: TYPE_FP32
                             dims: [ 1 ]
                           }])pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, NoOutputsIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(input
                           [ {
                             name: "x"
                             data_type: TYPE_FP32
                             dims: [ 1 ]
                           }])pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, DuplicateInputNamesAreInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }
                , {
                  name: "x"
                  data_type: TYPE_FP32
                  dims: [ 1 ]
                }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, DuplicateOutputNamesAreInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }
                , {
                  name: "y"
                  data_type: TYPE_INT64
                  dims: [ 1 ]
                }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, EmptyTensorNameIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                data_type: TYPE_FP32
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, TypeInvalidIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_INVALID
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
  // A missing data_type is TYPE_INVALID too.
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_INVALID
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, UnknownTypeNameDoesNotParse) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FLOAT99
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, EmptyDimsAreInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ { name: "x" data_type: TYPE_FP32 }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }] output
              [ { name: "y" data_type: TYPE_FP32 }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, ZeroDimIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 2, 0 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, DimBelowMinusOneIsInvalid) {
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ -2 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }]
            )pb"),
            kInvalid);
  EXPECT_EQ(ParseCode(R"pb(
              input
              [ {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 1 ]
              }] output
              [ {
                name: "y"
                data_type: TYPE_FP32
                dims: [ 3, -7 ]
              }]
            )pb"),
            kInvalid);
}

TEST(ParseModelConfigTest, NegativeMaxBatchSizeIsInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat("max_batch_size: -1", kIo)), kInvalid);
}

TEST(ParseModelConfigTest, PreferredBatchSizeOutOfRangeIsInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat(
                "max_batch_size: 8 dynamic_batching { preferred_batch_size: [ 9 ] }", kIo)),
            kInvalid);
  EXPECT_EQ(ParseCode(absl::StrCat(
                "max_batch_size: 8 dynamic_batching { preferred_batch_size: [ 0 ] }", kIo)),
            kInvalid);
  // Without batching no preferred size is in range.
  EXPECT_EQ(ParseCode(absl::StrCat("dynamic_batching { preferred_batch_size: [ 1 ] }", kIo)),
            kInvalid);
}

TEST(ParseModelConfigTest, BadInstanceGroupsAreInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat("instance_group [ { count: -1 kind: KIND_CPU } ]", kIo)),
            kInvalid);
  EXPECT_EQ(ParseCode(absl::StrCat("instance_group [ { count: 1 kind: KIND_MODEL } ]", kIo)),
            kInvalid);
}

TEST(ParseModelConfigTest, SpecificPolicyWithoutVersionsIsInvalid) {
  EXPECT_EQ(ParseCode(absl::StrCat("version_policy { specific { } }", kIo)), kInvalid);
}

TEST(ParseModelConfigTest, UnparsableTextIsInvalid) {
  EXPECT_EQ(ParseCode("this is { not a config"), kInvalid);
  EXPECT_EQ(ParseCode(absl::StrCat("no_such_field: 3", kIo)), kInvalid);
  EXPECT_EQ(ParseCode(absl::StrCat("max_batch_size: \"eight\"", kIo)), kInvalid);
}

TEST(ParseModelConfigTest, EmptyTextIsInvalid) { EXPECT_EQ(ParseCode(""), kInvalid); }

// --- LoadModelConfig ---

using LoadModelConfigTest = TempDirTest;

TEST_F(LoadModelConfigTest, ReadsConfigPbtxtAndTakesTheNameFromTheFolder) {
  WriteFile(root_ / "mymodel" / "config.pbtxt", kIo);
  auto config = LoadModelConfig((root_ / "mymodel").string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "mymodel");
}

TEST_F(LoadModelConfigTest, TrailingSlashStillNamesTheFolder) {
  WriteFile(root_ / "mymodel" / "config.pbtxt", kIo);
  auto config = LoadModelConfig((root_ / "mymodel").string() + "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "mymodel");
}

TEST_F(LoadModelConfigTest, MissingFileIsNotFound) {
  fs::create_directories(root_ / "empty");
  EXPECT_EQ(LoadModelConfig((root_ / "empty").string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadModelConfig((root_ / "no_such_dir").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LoadModelConfigTest, BadFileIsInvalid) {
  WriteFile(root_ / "bad" / "config.pbtxt", "input [ { name: ");
  EXPECT_EQ(LoadModelConfig((root_ / "bad").string()).status().code(), kInvalid);
}

// --- ListVersions ---

using ListVersionsTest = TempDirTest;

TEST_F(ListVersionsTest, NumericFoldersAscendingOthersIgnored) {
  for (const char* d : {"3", "1", "10", "2", ".5", "v4", "7a", "latest", "0", "-1", "+6", " 9",
                        "\xd9\xa3", "\xc3\xa9"}) {
    fs::create_directories(root_ / d);
  }
  WriteFile(root_ / "8", "a file, not a folder");
  WriteFile(root_ / "config.pbtxt", "");
  EXPECT_EQ(ListVersions(root_.string()), (std::vector<int64_t>{1, 2, 3, 10}));
}

TEST_F(ListVersionsTest, EmptyOrMissingFolderHasNoVersions) {
  EXPECT_TRUE(ListVersions(root_.string()).empty());
  EXPECT_TRUE(ListVersions((root_ / "missing").string()).empty());
}

TEST_F(ListVersionsTest, NumberTooLargeForInt64IsIgnored) {
  fs::create_directories(root_ / "99999999999999999999999");
  fs::create_directories(root_ / "4");
  EXPECT_EQ(ListVersions(root_.string()), (std::vector<int64_t>{4}));
}

// --- SelectVersions ---

inference::ModelConfig WithPolicy(const std::string& policy) {
  auto config = ParseModelConfig(absl::StrCat(policy, kIo), "m");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(inference::ModelConfig());
}

TEST(SelectVersionsTest, DefaultIsTheLatestOne) {
  auto versions = SelectVersions(WithPolicy(""), {1, 2, 5});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{5}));
}

TEST(SelectVersionsTest, LatestN) {
  auto versions =
      SelectVersions(WithPolicy("version_policy { latest { num_versions: 2 } }"), {1, 2, 5});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{2, 5}));
}

TEST(SelectVersionsTest, LatestMoreThanAvailableGivesAll) {
  auto versions =
      SelectVersions(WithPolicy("version_policy { latest { num_versions: 9 } }"), {1, 2});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{1, 2}));
}

TEST(SelectVersionsTest, All) {
  auto versions = SelectVersions(WithPolicy("version_policy { all { } }"), {1, 2, 5});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{1, 2, 5}));
}

TEST(SelectVersionsTest, SpecificSortedAndDeduplicated) {
  auto versions = SelectVersions(
      WithPolicy("version_policy { specific { versions: [ 5, 1, 5 ] } }"), {1, 2, 5});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{1, 5}));
}

TEST(SelectVersionsTest, SpecificMissingVersionIsNotFound) {
  EXPECT_EQ(
      SelectVersions(WithPolicy("version_policy { specific { versions: [ 1, 4 ] } }"), {1, 2, 5})
          .status()
          .code(),
      absl::StatusCode::kNotFound);
}

TEST(SelectVersionsTest, NothingAvailableIsNotFound) {
  EXPECT_EQ(SelectVersions(WithPolicy(""), {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SelectVersions(WithPolicy("version_policy { all { } }"), {}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gridserve::repository
