#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "inference/model_config.pb.h"

namespace gridserve::repository {

// Parses Triton's config.pbtxt text for the model in folder `model_dir_name`, fills defaults and
// validates it. Errors are INVALID_ARGUMENT and say what to fix:
//   - a name that differs from the folder, an unsupported platform/backend;
//   - no inputs or outputs, empty or duplicate tensor names, TYPE_INVALID types;
//   - dims that are empty, zero or below -1; negative max_batch_size;
//   - preferred batch sizes outside [1, max_batch_size]; bad instance groups.
// Defaults: name = folder, platform = "pytorch_libtorch", version_policy = latest { 1 },
// one KIND_CPU instance when no instance_group is given, instance count 1 when 0.
absl::StatusOr<inference::ModelConfig> ParseModelConfig(absl::string_view text,
                                                        absl::string_view model_dir_name);

// Reads `<model_dir>/config.pbtxt` and calls ParseModelConfig. NOT_FOUND when there is no file.
absl::StatusOr<inference::ModelConfig> LoadModelConfig(const std::string& model_dir);

// The numeric version folders present in `model_dir` (others, and names starting with '.', are
// ignored), ascending.
std::vector<int64_t> ListVersions(const std::string& model_dir);

// Applies the config's version policy to the available versions. NOT_FOUND when a `specific`
// version is missing or nothing is available.
absl::StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelConfig& config,
                                                    const std::vector<int64_t>& available);

}  // namespace gridserve::repository
