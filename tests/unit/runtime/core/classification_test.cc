#include "runtime/core/classification.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gridserve::core {
namespace {

template <typename T>
Tensor Typed(DataType type, Shape shape, const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return Tensor::Owned(type, std::move(shape), std::move(bytes));
}

std::vector<std::string> Elements(const Tensor& t) {
  auto split = SplitBytesElements(t.bytes(), -1);
  EXPECT_TRUE(split.ok()) << split.status();
  std::vector<std::string> out;
  if (split.ok()) {
    for (absl::string_view e : *split) out.emplace_back(e);
  }
  return out;
}

TEST(ClassifyTest, BatchedFp32TopKWithLabelsAndTies) {
  const ClassLabels labels = {"low", "mid", "high"};
  auto out = Classify(Typed<float>(DataType::kFp32, {2, 3}, {0.2f, 0.5f, 0.3f, 1.f, 1.f, 0.f}),
                      /*batching=*/true, 2, &labels);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->dtype(), DataType::kBytes);
  EXPECT_EQ(out->shape(), (Shape{2, 2}));
  EXPECT_EQ(Elements(*out), (std::vector<std::string>{"0.500000:1:mid", "0.300000:2:high",
                                                      "1.000000:0:low", "1.000000:1:mid"}));
}

TEST(ClassifyTest, NonBatchingFlattensAndCapsKAtTheClassCount) {
  auto out = Classify(Typed<int64_t>(DataType::kInt64, {2, 2}, {4, -1, 9, 4}), false, 7, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape(), (Shape{4}));
  EXPECT_EQ(Elements(*out), (std::vector<std::string>{"9:2", "4:0", "4:3", "-1:1"}));
}

TEST(ClassifyTest, NanRanksLastAndHalfPrecisionIsWidened) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto out = Classify(Typed<float>(DataType::kFp32, {1, 3}, {nan, -1.f, 2.f}), true, 3, nullptr);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Elements(*out), (std::vector<std::string>{"2.000000:2", "-1.000000:1", "nan:0"}));
  // FP16 0x3c00 = 1.0, 0xc000 = -2.0, 0x3800 = 0.5.
  auto half = Classify(Typed<uint16_t>(DataType::kFp16, {1, 3}, {0x3c00, 0xc000, 0x3800}), true, 1,
                       nullptr);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(Elements(*half), (std::vector<std::string>{"1.000000:0"}));
}

TEST(ClassifyTest, RefusesBytesZeroCountAndShortBuffers) {
  std::string framed;
  AppendBytesElement("a", &framed);
  EXPECT_EQ(
      Classify(Tensor::Owned(DataType::kBytes, {1, 1}, framed), true, 1, nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Classify(Typed<float>(DataType::kFp32, {1, 2}, {1.f, 2.f}), true, 0, nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Classify(Tensor::Owned(DataType::kFp32, {1, 4}, std::string(8, '\0')), true, 1, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadClassLabelsTest, ReadsOneLabelPerLineRelativeToTheModelFolder) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("gridserve_labels_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "labels.txt") << "cat\r\n\ndog\n";
  inference::ModelConfig config;
  config.set_name("m");
  auto* out = config.add_output();
  out->set_name("probs");
  out->set_label_filename("labels.txt");
  config.add_output()->set_name("raw");
  auto labels = LoadClassLabels(config, dir.string());
  ASSERT_TRUE(labels.ok()) << labels.status();
  ASSERT_EQ(labels->size(), 1u);
  EXPECT_EQ((*labels)[0].first, "probs");
  EXPECT_EQ(*(*labels)[0].second, (ClassLabels{"cat", "", "dog"}));
  out->set_label_filename("/etc/passwd");
  EXPECT_EQ(LoadClassLabels(config, dir.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  out->set_label_filename("missing.txt");
  EXPECT_EQ(LoadClassLabels(config, dir.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gridserve::core
