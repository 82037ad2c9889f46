#include "runtime/repository/model_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "runtime/core/status_macros.h"

namespace gridserve::repository {
namespace {

namespace fs = std::filesystem;

// Collects protobuf text-format parse errors into one message instead of stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

template <typename T>
absl::Status CheckTensors(const google::protobuf::RepeatedPtrField<T>& tensors,
                          absl::string_view kind) {
  if (tensors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config must declare at least one ", kind));
  }
  std::set<std::string> names;
  for (const T& t : tensors) {
    if (t.name().empty())
      return absl::InvalidArgumentError(absl::StrCat("an ", kind, " has no name"));
    if (!names.insert(t.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate ", kind, " name '", t.name(), "'"));
    }
    if (t.data_type() == inference::TYPE_INVALID || !inference::DataType_IsValid(t.data_type())) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " '", t.name(), "' has no valid data_type (e.g. TYPE_FP32)"));
    }
    if (t.dims().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " '", t.name(), "' has no dims (use dims: [ 1 ] for a scalar)"));
    }
    for (int64_t d : t.dims()) {
      if (d == 0 || d < -1) {
        return absl::InvalidArgumentError(absl::StrCat(kind, " '", t.name(), "' has dims [",
                                                       absl::StrJoin(t.dims(), ", "),
                                                       "]: each must be positive or -1"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const inference::ModelConfig& config) {
  if (config.platform() != "pytorch_libtorch" && config.backend() != "pytorch") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported platform '", config.platform(), "' / backend '", config.backend(),
                     "': gridserve serves TorchScript (platform: \"pytorch_libtorch\" or backend: "
                     "\"pytorch\")"));
  }
  if (config.max_batch_size() < 0) {
    return absl::InvalidArgumentError("max_batch_size must not be negative");
  }
  RETURN_IF_ERROR(CheckTensors(config.input(), "input"));
  RETURN_IF_ERROR(CheckTensors(config.output(), "output"));
  if (config.has_dynamic_batching()) {
    for (int size : config.dynamic_batching().preferred_batch_size()) {
      if (size < 1 || size > config.max_batch_size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("preferred_batch_size ", size,
                         " is outside [1, max_batch_size=", config.max_batch_size(), "]"));
      }
    }
  }
  for (const auto& group : config.instance_group()) {
    if (group.count() < 0) return absl::InvalidArgumentError("instance_group count must be >= 0");
    if (group.kind() != inference::ModelInstanceGroup::KIND_CPU &&
        group.kind() != inference::ModelInstanceGroup::KIND_GPU &&
        group.kind() != inference::ModelInstanceGroup::KIND_AUTO) {
      return absl::InvalidArgumentError(
          "instance_group kind must be KIND_CPU, KIND_GPU or KIND_AUTO");
    }
  }
  if (config.version_policy().has_specific() &&
      config.version_policy().specific().versions().empty()) {
    return absl::InvalidArgumentError("version_policy specific lists no versions");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<inference::ModelConfig> ParseModelConfig(absl::string_view text,
                                                        absl::string_view model_dir_name) {
  inference::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(absl::StrCat("config.pbtxt of model '", model_dir_name,
                                                   "' does not parse: ", errors.Text()));
  }
  if (config.name().empty()) config.set_name(std::string(model_dir_name));
  if (config.name() != model_dir_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config name '", config.name(), "' does not match its folder '", model_dir_name, "'"));
  }
  if (config.platform().empty() && config.backend().empty())
    config.set_platform("pytorch_libtorch");
  if (config.backend() == "pytorch" && config.platform().empty())
    config.set_platform("pytorch_libtorch");
  if (!config.has_version_policy())
    config.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  if (config.version_policy().has_latest() &&
      config.version_policy().latest().num_versions() == 0) {
    config.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  }
  if (config.instance_group().empty()) {
    auto* group = config.add_instance_group();
    group->set_count(1);
    group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  }
  for (int i = 0; i < config.instance_group_size(); ++i) {
    auto* group = config.mutable_instance_group(i);
    if (group->count() == 0) group->set_count(1);
    if (group->name().empty()) group->set_name(absl::StrCat(config.name(), "_", i));
  }
  absl::Status valid = Validate(config);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config of model '", model_dir_name, "' is invalid: ", valid.message()));
  }
  return config;
}

absl::StatusOr<inference::ModelConfig> LoadModelConfig(const std::string& model_dir) {
  fs::path dir(model_dir);
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();
  std::ifstream in(dir / "config.pbtxt");
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' has no config.pbtxt in ", model_dir));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), name);
}

std::vector<int64_t> ListVersions(const std::string& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    std::string name = entry.path().filename().string();
    int64_t v;
    if (entry.is_directory(ec) && !name.empty() && name[0] != '.' &&
        std::all_of(name.begin(), name.end(), absl::ascii_isdigit) && absl::SimpleAtoi(name, &v) &&
        v > 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelConfig& config,
                                                    const std::vector<int64_t>& available) {
  if (available.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", config.name(), "' has no version folders"));
  }
  const auto& policy = config.version_policy();
  if (policy.has_all()) return available;
  if (policy.has_specific()) {
    std::vector<int64_t> chosen;
    for (int64_t v : policy.specific().versions()) {
      if (!std::binary_search(available.begin(), available.end(), v)) {
        return absl::NotFoundError(absl::StrCat("model '", config.name(), "' version ", v,
                                                " is in version_policy but has no folder"));
      }
      chosen.push_back(v);
    }
    std::sort(chosen.begin(), chosen.end());
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    return chosen;
  }
  size_t n = std::max<uint32_t>(1, policy.latest().num_versions());
  n = std::min(n, available.size());
  return std::vector<int64_t>(available.end() - n, available.end());
}

}  // namespace gridserve::repository
