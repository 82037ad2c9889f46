// End-to-end quality check of the demo model zoo: the real `gridserve` binary serves
// models/repository (built by `make models`), and every model answers its held-out evaluation set
// (models/eval/<name>/spec.json, see models/CONVENTIONS.md) through gRPC with the quality its
// training script promised.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "client/grpc_client.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace gridserve {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;

const std::string kRepository = std::string(GRIDSERVE_SOURCE_DIR) + "/models/repository";
const std::string kEval = std::string(GRIDSERVE_SOURCE_DIR) + "/models/eval";

// Every model the zoo builds: each models/<name>/ with a train.py and a config.pbtxt.
// cifar10_resnet serves only when the user supplied the CIFAR-10 data (models/README.md), so it is
// checked only when its repository folder exists.
std::vector<std::string> ZooModels() {
  std::vector<std::string> names;
  const fs::path root = fs::path(GRIDSERVE_SOURCE_DIR) / "models";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!fs::exists(entry.path() / "train.py") || !fs::exists(entry.path() / "config.pbtxt"))
      continue;
    if (name == "cifar10_resnet" && !fs::exists(fs::path(kRepository) / name)) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Strict UTF-8: no overlong forms, surrogates or code points above U+10FFFF.
bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::vector<std::string> SplitFramed(const std::string& framed) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos + 4 <= framed.size()) {
    uint32_t len;
    std::memcpy(&len, framed.data() + pos, 4);
    pos += 4;
    out.push_back(framed.substr(pos, len));
    pos += len;
  }
  return out;
}

absl::StatusOr<Value> ReadJson(const std::string& path) {
  Value value;
  auto status = google::protobuf::util::JsonStringToMessage(testing::ReadFile(path), &value);
  if (!status.ok()) return absl::InvalidArgumentError(path + ": " + std::string(status.message()));
  return value;
}

// A column of the evaluation set: `count` rows of one input, in wire form.
struct Column {
  std::string datatype;
  std::vector<int64_t> row_shape;  // without the leading count dim
  std::vector<std::string> rows;   // raw bytes of each row (BYTES: framed)
};

absl::StatusOr<Column> LoadColumn(const std::string& path, int64_t count) {
  Column column;
  if (absl::EndsWith(path, ".npy")) {
    auto array = client::ReadNpyFile(path);
    if (!array.ok()) return array.status();
    if (array->shape.empty() || array->shape[0] < count) {
      return absl::InvalidArgumentError(path + " has fewer rows than count");
    }
    column.datatype = array->datatype;
    column.row_shape.assign(array->shape.begin() + 1, array->shape.end());
    if (column.datatype == "BYTES") {
      std::vector<std::string> elements = SplitFramed(array->data);
      size_t per_row = elements.size() / array->shape[0];
      for (int64_t r = 0; r < count; ++r) {
        std::string framed;
        for (size_t k = 0; k < per_row; ++k) {
          const std::string& e = elements[r * per_row + k];
          uint32_t len = e.size();
          framed.append(reinterpret_cast<const char*>(&len), 4).append(e);
        }
        column.rows.push_back(framed);
      }
    } else {
      size_t row_bytes = array->data.size() / array->shape[0];
      for (int64_t r = 0; r < count; ++r)
        column.rows.push_back(array->data.substr(r * row_bytes, row_bytes));
    }
    return column;
  }
  auto json = ReadJson(path);
  if (!json.ok()) return json.status();
  const auto& list = json->list_value();
  if (list.values_size() < count)
    return absl::InvalidArgumentError(path + " has fewer rows than count");
  column.datatype = "BYTES";
  for (int64_t r = 0; r < count; ++r) {
    const auto& row = list.values(r).list_value();
    if (r == 0) column.row_shape = {row.values_size()};
    std::string framed;
    for (const auto& v : row.values()) {
      uint32_t len = v.string_value().size();
      framed.append(reinterpret_cast<const char*>(&len), 4).append(v.string_value());
    }
    column.rows.push_back(framed);
  }
  return column;
}

class ModelZooTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::is_directory(kRepository)) << kRepository << " is missing: run `make models`";
    port_ = testing::FreeLoopbackPort();
    server_ =
        new testing::Subprocess({std::string(GRIDSERVE_BINARY_DIR) + "/server/gridserve",
                                 "--model-repository=" + kRepository, "--grpc-address=127.0.0.1",
                                 "--grpc-port=" + std::to_string(port_), "--allow-metrics=false",
                                 "--strict-readiness=false"},
                                ::testing::TempDir() + "/gridserve_zoo.log");
    auto client = client::InferenceClient::Create("127.0.0.1:" + std::to_string(port_), {});
    ASSERT_TRUE(client.ok());
    client_ = client->release();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < deadline) {
      auto r = client_->ServerReady();
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
    delete client_;
  }

  static testing::Subprocess* server_;
  static client::InferenceClient* client_;
  static int port_;
};

testing::Subprocess* ModelZooTest::server_ = nullptr;
client::InferenceClient* ModelZooTest::client_ = nullptr;
int ModelZooTest::port_ = 0;

TEST_P(ModelZooTest, ServesHeldOutDataWithPromisedQuality) {
  const std::string name = GetParam();
  auto ready = client_->ModelReady(name, "");
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_TRUE(*ready) << name << " is not ready";

  const std::string dir = kEval + "/" + name;
  auto spec_value = ReadJson(dir + "/spec.json");
  ASSERT_TRUE(spec_value.ok()) << spec_value.status();
  const Struct& spec = spec_value->struct_value();
  auto field = [&](const std::string& key) -> const Value& { return spec.fields().at(key); };
  const int64_t count = static_cast<int64_t>(field("count").number_value());
  const std::string metric = field("metric").string_value();
  const std::string output = field("output").string_value();
  ASSERT_GT(count, 0);

  auto config = client_->ModelConfig(name);
  ASSERT_TRUE(config.ok()) << config.status();
  const int64_t max_batch = config->config().max_batch_size();

  std::vector<std::pair<std::string, Column>> columns;
  for (const auto& [input, file] : field("inputs").struct_value().fields()) {
    auto column = LoadColumn(dir + "/" + file.string_value(), count);
    ASSERT_TRUE(column.ok()) << column.status();
    columns.emplace_back(input, *std::move(column));
  }

  // Send in chunks of max_batch_size rows (1 row, no batch dim, for max_batch_size 0).
  std::vector<std::string> out_rows;  // raw bytes per row (BYTES: framed)
  std::vector<int64_t> out_row_shape;
  std::string out_datatype;
  const int64_t chunk = std::max<int64_t>(1, max_batch);
  for (int64_t begin = 0; begin < count; begin += chunk) {
    int64_t rows = std::min(chunk, count - begin);
    inference::ModelInferRequest req;
    req.set_model_name(name);
    req.add_outputs()->set_name(output);
    for (const auto& [input, column] : columns) {
      auto* in = req.add_inputs();
      in->set_name(input);
      in->set_datatype(column.datatype);
      if (max_batch > 0) in->add_shape(rows);
      for (int64_t d : column.row_shape) in->add_shape(d);
      std::string* raw = req.add_raw_input_contents();
      for (int64_t r = begin; r < begin + rows; ++r) raw->append(column.rows[r]);
    }
    auto resp = client_->Infer(req);
    ASSERT_TRUE(resp.ok()) << name << ": " << resp.status();
    ASSERT_EQ(resp->outputs_size(), 1);
    out_datatype = resp->outputs(0).datatype();
    const std::string& raw = resp->raw_output_contents(0);
    if (out_datatype == "BYTES") {
      std::vector<std::string> elements = SplitFramed(raw);
      ASSERT_EQ(elements.size() % rows, 0u);
      size_t per_row = elements.size() / rows;
      for (int64_t r = 0; r < rows; ++r) {
        std::string framed;
        for (size_t k = 0; k < per_row; ++k) {
          const std::string& e = elements[r * per_row + k];
          uint32_t len = e.size();
          framed.append(reinterpret_cast<const char*>(&len), 4).append(e);
        }
        out_rows.push_back(framed);
      }
    } else {
      out_row_shape.assign(resp->outputs(0).shape().begin() + (max_batch > 0 ? 1 : 0),
                           resp->outputs(0).shape().end());
      ASSERT_EQ(raw.size() % rows, 0u);
      size_t row_bytes = raw.size() / rows;
      for (int64_t r = 0; r < rows; ++r) out_rows.push_back(raw.substr(r * row_bytes, row_bytes));
    }
  }
  ASSERT_EQ(static_cast<int64_t>(out_rows.size()), count);

  if (metric == "accuracy") {
    auto labels = client::ReadNpyFile(dir + "/" + field("labels").string_value());
    ASSERT_TRUE(labels.ok()) << labels.status();
    ASSERT_EQ(out_datatype, "FP32");
    int64_t correct = 0;
    for (int64_t r = 0; r < count; ++r) {
      std::vector<float> p(out_rows[r].size() / 4);
      std::memcpy(p.data(), out_rows[r].data(), out_rows[r].size());
      int64_t label;
      std::memcpy(&label, labels->data.data() + r * 8, 8);
      correct += (std::max_element(p.begin(), p.end()) - p.begin()) == label;
    }
    double accuracy = static_cast<double>(correct) / count;
    RecordProperty("accuracy", std::to_string(accuracy));
    EXPECT_GE(accuracy, field("min").number_value()) << name;
    std::printf("%s: accuracy %.4f on %ld held-out rows (min %.3f)\n", name.c_str(), accuracy,
                static_cast<long>(count), field("min").number_value());
  } else if (metric == "mape") {
    auto targets = client::ReadNpyFile(dir + "/" + field("targets").string_value());
    ASSERT_TRUE(targets.ok()) << targets.status();
    ASSERT_EQ(out_datatype, "FP32");
    size_t row_floats = out_rows[0].size() / 4;
    double sum = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < count; ++r) {
      std::vector<float> y(row_floats), t(row_floats);
      std::memcpy(y.data(), out_rows[r].data(), row_floats * 4);
      std::memcpy(t.data(), targets->data.data() + r * row_floats * 4, row_floats * 4);
      for (size_t k = 0; k < row_floats; ++k, ++n) sum += std::fabs(y[k] - t[k]) / std::fabs(t[k]);
    }
    double mape = 100.0 * sum / n;
    EXPECT_LE(mape, field("max").number_value()) << name;
    std::printf("%s: MAPE %.3f%% on %ld held-out windows (max %.3f%%)\n", name.c_str(), mape,
                static_cast<long>(count), field("max").number_value());
  } else if (metric == "nonempty_utf8") {
    ASSERT_EQ(out_datatype, "BYTES");
    for (int64_t r = 0; r < count; ++r) {
      for (const std::string& e : SplitFramed(out_rows[r])) {
        EXPECT_FALSE(e.empty()) << name << " row " << r;
        EXPECT_TRUE(ValidUtf8(e)) << name << " row " << r;
      }
    }
    std::printf("%s: %ld non-empty valid UTF-8 outputs\n", name.c_str(), static_cast<long>(count));
  } else if (metric == "exclude_rated") {
    ASSERT_EQ(out_datatype, "INT64");
    auto exclude = ReadJson(dir + "/" + field("exclude").string_value());
    ASSERT_TRUE(exclude.ok()) << exclude.status();
    const size_t k = static_cast<size_t>(field("k").number_value());
    for (int64_t r = 0; r < count; ++r) {
      std::vector<int64_t> ids(out_rows[r].size() / 8);
      std::memcpy(ids.data(), out_rows[r].data(), out_rows[r].size());
      EXPECT_EQ(ids.size(), k);
      EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size())
          << name << " row " << r;
      std::set<int64_t> banned;
      for (const auto& v : exclude->list_value().values(r).list_value().values()) {
        banned.insert(static_cast<int64_t>(v.number_value()));
      }
      for (int64_t id : ids)
        EXPECT_EQ(banned.count(id), 0u) << name << " row " << r << " id " << id;
    }
    std::printf("%s: %ld rows of %zu distinct ids, none excluded\n", name.c_str(),
                static_cast<long>(count), k);
  } else {
    FAIL() << "unknown metric " << metric;
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ModelZooTest, ::testing::ValuesIn(ZooModels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gridserve
