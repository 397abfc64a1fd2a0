// StagingStore: atomic replace, escaping of any volume id, leftovers of an interrupted write,
// corrupt records.
#include "node/staging_store.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::StatusIs;

class StagingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/staging_store_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    store_ = std::make_unique<StagingStore>(dir_);
    ASSERT_THAT(store_->Init(), IsOk());
  }
  StagingRecord Record(const std::string& volume_id) {
    StagingRecord record;
    record.set_volume_id(volume_id);
    record.set_state(StagingRecord::STAGED);
    record.set_staging_target_path("/var/lib/kubelet/staging/" + volume_id);
    record.set_target_iqn("iqn.2026-11.io.iscsi-csi:" + volume_id);
    record.add_portals("10.0.0.5:3260");
    record.set_wwn("6001405f3a2c1e9b4d7e8a1c2b3d4e5f");
    record.set_disk("sdb");
    return record;
  }
  std::string dir_;
  std::unique_ptr<StagingStore> store_;
};

TEST_F(StagingStoreTest, WriteReadReplaceDelete) {
  ASSERT_THAT(store_->Write(Record("vol-1")), IsOk());
  absl::StatusOr<std::optional<StagingRecord>> read = store_->Read("vol-1");
  ASSERT_THAT(read, IsOk());
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->disk(), "sdb");
  EXPECT_EQ((*read)->version(), 1u);
  EXPECT_GT((*read)->updated_unix_seconds(), 0);

  StagingRecord changed = Record("vol-1");
  changed.set_disk("sdc");
  ASSERT_THAT(store_->Write(changed), IsOk());
  EXPECT_EQ(store_->Read("vol-1")->value().disk(), "sdc");

  ASSERT_THAT(store_->Delete("vol-1"), IsOk());
  EXPECT_FALSE(store_->Read("vol-1")->has_value());
  EXPECT_THAT(store_->Delete("vol-1"), IsOk());
  // No temporaries remain after successful writes.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

TEST_F(StagingStoreTest, AnyVolumeIdMakesASafeFileName) {
  const std::vector<std::string> ids = {"../../etc/passwd", ".hidden", "a/b", "pvc 1%", "ü"};
  for (const std::string& id : ids) ASSERT_THAT(store_->Write(Record(id)), IsOk()) << id;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find('/'), std::string::npos);
    EXPECT_NE(name[0], '.') << name;
  }
  absl::StatusOr<std::vector<StagingRecord>> all = store_->List();
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), ids.size());
  EXPECT_FALSE(std::filesystem::exists("/etc/passwd.tmp"));
  for (const std::string& id : ids) {
    EXPECT_EQ(UnescapeVolumeId(EscapeVolumeId(id)).value(), id);
  }
}

TEST_F(StagingStoreTest, InitRemovesTemporariesOfAnInterruptedWrite) {
  ASSERT_THAT(store_->Write(Record("vol-1")), IsOk());
  std::ofstream(dir_ + "/.vol-2.tmp") << "half";
  ASSERT_THAT(store_->Init(), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/.vol-2.tmp"));
  absl::StatusOr<std::vector<StagingRecord>> all = store_->List();
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].volume_id(), "vol-1");
}

TEST_F(StagingStoreTest, CorruptRecordIsInternal) {
  std::ofstream(dir_ + "/vol-9") << "\xff\xff\xff not a protobuf";
  EXPECT_THAT(store_->Read("vol-9"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(store_->List(), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(StagingStoreTest, RecordOfAnotherVolumeUnderThisNameIsInternal) {
  StagingRecord other = Record("vol-a");
  std::string bytes;
  other.SerializeToString(&bytes);
  std::ofstream(dir_ + "/vol-b") << bytes;
  EXPECT_THAT(store_->Read("vol-b"), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(StagingStoreTest, UncreatableDirectoryFailsInit) {
  StagingStore store("/dev/null/staging");  // under a file: even root cannot create it
  EXPECT_THAT(store.Init(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace iscsi_csi::node
