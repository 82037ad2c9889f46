#include "runtime/registry/sqlite_metadata_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gridserve::registry {
namespace {

namespace fs = std::filesystem;

class SqliteMetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("gridserve_registry_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "registry.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteMetadataStore> Open(bool* recreated = nullptr) {
    auto store = SqliteMetadataStore::Open({path_}, recreated);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static VersionRecord Record(const std::string& model, int64_t version) {
    VersionRecord r;
    r.model = model;
    r.version = version;
    r.created_at_ms = 1700000000000 + version;
    r.sha256 = std::string(64, 'a');
    r.size_bytes = 100 * version;
    r.file_mtime_ns = 42;
    r.source = "training-job:job-7";
    r.parent_version = version - 1;
    r.labels = {{"owner", "grid-team"}};
    r.metrics = {{"val_accuracy", 0.99}};
    return r;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteMetadataStoreTest, VersionsRoundTripAndSurviveReopen) {
  {
    auto store = Open();
    ASSERT_TRUE(store->PutVersion(Record("m", 1)).ok());
    ASSERT_TRUE(store->PutVersion(Record("m", 2)).ok());
    ASSERT_TRUE(store->PutVersion(Record("other", 1)).ok());
  }
  auto store = Open();
  auto got = store->GetVersion("m", 2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Record("m", 2));
  auto m = store->ListVersions("m");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].version, 1);
  auto all = store->ListVersions("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(store->GetVersion("m", 9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteMetadataStoreTest, PutReplacesLabelsAndMetrics) {
  auto store = Open();
  VersionRecord r = Record("m", 1);
  ASSERT_TRUE(store->PutVersion(r).ok());
  r.labels = {{"stage", "canary"}};
  r.metrics.clear();
  ASSERT_TRUE(store->PutVersion(r).ok());
  EXPECT_EQ(*store->GetVersion("m", 1), r);
}

TEST_F(SqliteMetadataStoreTest, AliasesAndSplitsAndDeleteCascades) {
  auto store = Open();
  ASSERT_TRUE(store->PutVersion(Record("m", 1)).ok());
  ASSERT_TRUE(store->PutVersion(Record("m", 2)).ok());
  ASSERT_TRUE(store->SetAlias("m", "production", 1).ok());
  ASSERT_TRUE(store->SetAlias("m", "staging", 2).ok());
  ASSERT_TRUE(store->SetAlias("m", "production", 2).ok());  // moves
  ASSERT_TRUE(store->SetTrafficSplit("m", {{1, 90}, {2, 10}}).ok());
  EXPECT_EQ((*store->ListAliases("m"))["m"]["production"], 2);
  EXPECT_EQ((*store->ListTrafficSplits(""))["m"], (TrafficSplit{{1, 90}, {2, 10}}));

  ASSERT_TRUE(store->DeleteVersion("m", 2).ok());
  EXPECT_TRUE((*store->ListAliases("m")).empty());
  EXPECT_EQ((*store->ListTrafficSplits("m"))["m"], (TrafficSplit{{1, 90}}));
  EXPECT_EQ(store->DeleteAlias("m", "production").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->SetTrafficSplit("m", {}).ok());
  EXPECT_TRUE(store->ListTrafficSplits("m")->empty());
}

TEST_F(SqliteMetadataStoreTest, CorruptFileIsMovedAsideAndANewStoreCreated) {
  std::ofstream(path_) << std::string(8192, 'x');
  bool recreated = false;
  auto store = Open(&recreated);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(recreated);
  EXPECT_TRUE(store->ListVersions("")->empty());
  ASSERT_TRUE(store->PutVersion(Record("m", 1)).ok());
  int aside = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    aside += e.path().filename().string().find(".corrupt-") != std::string::npos;
  }
  EXPECT_GE(aside, 1) << "the damaged file is kept for inspection";
}

TEST_F(SqliteMetadataStoreTest, DeletedFileIsRecreatedEmpty) {
  { ASSERT_TRUE(Open()->PutVersion(Record("m", 1)).ok()); }
  fs::remove(path_);
  fs::remove(path_ + "-wal");
  fs::remove(path_ + "-shm");
  bool recreated = true;
  auto store = Open(&recreated);
  EXPECT_FALSE(recreated);
  EXPECT_TRUE(store->ListVersions("")->empty());
}

TEST_F(SqliteMetadataStoreTest, MissingFolderIsAnError) {
  EXPECT_FALSE(SqliteMetadataStore::Open({(dir_ / "no" / "such" / "r.db").string()}).ok());
}

}  // namespace
}  // namespace gridserve::registry
