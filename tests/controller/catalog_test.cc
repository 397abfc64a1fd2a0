// The SQLite catalogue: schema and pragmas, file mode, records of every kind, the capacity
// limit, paging, and durability across reopening.
#include "controller/catalog.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using Code = absl::StatusCode;

VolumeRecord Volume(const std::string& id, const std::string& name, uint64_t capacity = 1 << 20) {
  VolumeRecord volume;
  volume.id = id;
  volume.name = name;
  volume.capacity_bytes = capacity;
  volume.block_size = 4096;
  volume.fs_type = "xfs";
  volume.access_types = kAccessMount;
  volume.state = RecordState::kCreating;
  volume.parameters = {{"fsType", "xfs"}, {"csi.storage.k8s.io/pvc/name", "data"}};
  volume.created = absl::FromUnixSeconds(1700000000);
  return volume;
}

ChapCredentials Chap() {
  return ChapCredentials{"u", "0123456789abcdef", "t", "fedcba9876543210", ChapOrigin::kGenerated};
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ScratchDir() + "/catalog.db";
    Reopen();
  }
  void Reopen() {
    catalog_.reset();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(path_);
    ASSERT_THAT(catalog, IsOk());
    catalog_ = *std::move(catalog);
  }
  std::string Pragma(const std::string& name) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, ("PRAGMA " + name).c_str(), -1, &stmt, nullptr);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, IsCreatedOwnerOnlyInWalModeWithASchemaVersion) {
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Pragma("journal_mode"), "wal");
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat side {};
    ASSERT_EQ(stat((path_ + suffix).c_str(), &side), 0) << suffix;
    EXPECT_EQ(side.st_mode & 0777, 0600u) << suffix << " holds secrets too";
  }
  sqlite3* db = nullptr;
  sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kCatalogSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(CatalogTest, TightensAnExistingFileReadableByOthers) {
  catalog_.reset();
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  Reopen();
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CatalogTest, RefusesASchemaNewerThanOurs) {
  catalog_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(Catalog::Open(path_), StatusIs(Code::kFailedPrecondition));
}

TEST_F(CatalogTest, VolumesRoundTripWithParametersAndSurviveReopening) {
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  ASSERT_THAT(catalog_->SetVolumeState("vol-1", RecordState::kReady), IsOk());
  Reopen();
  absl::StatusOr<std::optional<VolumeRecord>> found = catalog_->FindVolumeByName("a");
  ASSERT_THAT(found, IsOk());
  ASSERT_TRUE(found->has_value());
  const VolumeRecord& v = **found;
  EXPECT_EQ(v.id, "vol-1");
  EXPECT_EQ(v.capacity_bytes, 1u << 20);
  EXPECT_EQ(v.block_size, 4096u);
  EXPECT_EQ(v.fs_type, "xfs");
  EXPECT_EQ(v.access_types, kAccessMount);
  EXPECT_EQ(v.state, RecordState::kReady);
  EXPECT_EQ(v.parameters.at("csi.storage.k8s.io/pvc/name"), "data");
  EXPECT_EQ(v.created, absl::FromUnixSeconds(1700000000));
  absl::StatusOr<ChapCredentials> chap = catalog_->GetChap("vol-1");
  ASSERT_THAT(chap, IsOk());
  EXPECT_TRUE(chap->SameSecretsAs(Chap()));
}

TEST_F(CatalogTest, NamesAndIdsAreUnique) {
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  EXPECT_THAT(catalog_->InsertVolume(Volume("vol-2", "a"), Chap(), std::nullopt),
              StatusIs(Code::kAlreadyExists));
  EXPECT_THAT(catalog_->InsertVolume(Volume("vol-1", "b"), Chap(), std::nullopt),
              StatusIs(Code::kAlreadyExists));
  // The failed transactions left nothing behind.
  EXPECT_FALSE(catalog_->FindVolumeByName("b")->has_value());
}

TEST_F(CatalogTest, CapacityLimitCountsVolumesAndSnapshots) {
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a", 600), Chap(), 1000), IsOk());
  EXPECT_THAT(catalog_->InsertVolume(Volume("vol-2", "b", 500), Chap(), 1000),
              StatusIs(Code::kResourceExhausted));
  SnapshotRecord snapshot{"snap-1", "s", "vol-1", 300, 512, "", RecordState::kCreating, {}};
  ASSERT_THAT(catalog_->InsertSnapshot(snapshot, 1000), IsOk());
  EXPECT_EQ(*catalog_->ProvisionedBytes(), 900u);
  EXPECT_THAT(catalog_->SetVolumeCapacity("vol-1", 800, 1000), StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(catalog_->SetVolumeCapacity("vol-1", 700, 1000), IsOk());
  EXPECT_THAT(catalog_->SetVolumeCapacity("vol-9", 700, 1000), StatusIs(Code::kNotFound));
}

TEST_F(CatalogTest, ListingPagesInIdOrderAndFiltersByState) {
  for (const char* id : {"vol-3", "vol-1", "vol-2", "vol-4"}) {
    ASSERT_THAT(catalog_->InsertVolume(Volume(id, absl::StrCat("n", id)), Chap(), std::nullopt),
                IsOk());
  }
  for (const char* id : {"vol-1", "vol-2", "vol-4"}) {
    ASSERT_THAT(catalog_->SetVolumeState(id, RecordState::kReady), IsOk());
  }
  EXPECT_THAT(*catalog_->ListVolumes("", 2, true),
              ElementsAre(Field(&VolumeRecord::id, "vol-1"), Field(&VolumeRecord::id, "vol-2")));
  EXPECT_THAT(*catalog_->ListVolumes("vol-2", 2, true),
              ElementsAre(Field(&VolumeRecord::id, "vol-4")));
  EXPECT_EQ(catalog_->ListVolumes("", 0, false)->size(), 4u);
}

TEST_F(CatalogTest, DeletingAVolumeDeletesItsPublicationsAndSecretsButNotItsSnapshots) {
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  ASSERT_THAT(catalog_->AddPublication({"vol-1", "node-a", true, 3, kAccessMount}), IsOk());
  SnapshotRecord snapshot{"snap-1", "s", "vol-1", 300, 512, "", RecordState::kReady, {}};
  ASSERT_THAT(catalog_->InsertSnapshot(snapshot, std::nullopt), IsOk());
  ASSERT_THAT(catalog_->DeleteVolume("vol-1"), IsOk());
  EXPECT_TRUE(catalog_->Publications("vol-1")->empty());
  EXPECT_THAT(catalog_->GetChap("vol-1"), StatusIs(Code::kNotFound));
  EXPECT_TRUE(catalog_->GetSnapshot("snap-1")->has_value());
  EXPECT_THAT(catalog_->DeleteVolume("vol-1"), IsOk()) << "deleting twice is fine";
}

TEST_F(CatalogTest, PublicationsNeedTheirVolumeAndAreReplacedPerNode) {
  EXPECT_THAT(catalog_->AddPublication({"vol-9", "node-a", false, 1, kAccessMount}),
              StatusIs(Code::kNotFound));
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  ASSERT_THAT(catalog_->AddPublication({"vol-1", "node-b", false, 1, kAccessMount}), IsOk());
  ASSERT_THAT(catalog_->AddPublication({"vol-1", "node-a", false, 1, kAccessMount}), IsOk());
  ASSERT_THAT(catalog_->AddPublication({"vol-1", "node-a", true, 2, kAccessBlock}), IsOk());
  absl::StatusOr<std::vector<PublicationRecord>> publications = catalog_->Publications("vol-1");
  ASSERT_THAT(publications, IsOk());
  ASSERT_EQ(publications->size(), 2u);
  EXPECT_EQ((*publications)[0].node_id, "node-a");
  EXPECT_TRUE((*publications)[0].readonly);
  EXPECT_EQ((*publications)[0].access_mode, 2);
  EXPECT_EQ((*publications)[0].access_type, kAccessBlock);
  ASSERT_THAT(catalog_->RemovePublication("vol-1", "node-a"), IsOk());
  EXPECT_EQ(catalog_->Publications("vol-1")->size(), 1u);
}

TEST_F(CatalogTest, ChapSecretsCanBeReplacedByPublishSecrets) {
  ASSERT_THAT(catalog_->InsertVolume(Volume("vol-1", "a"), Chap(), std::nullopt), IsOk());
  ChapCredentials given{"admin", "secretsecret12", "", "", ChapOrigin::kPublishSecrets};
  ASSERT_THAT(catalog_->SetChap("vol-1", given), IsOk());
  Reopen();
  absl::StatusOr<ChapCredentials> chap = catalog_->GetChap("vol-1");
  ASSERT_THAT(chap, IsOk());
  EXPECT_TRUE(chap->SameSecretsAs(given));
  EXPECT_EQ(chap->origin, ChapOrigin::kPublishSecrets);
}

TEST_F(CatalogTest, SnapshotsFilterBySourceAndRecordTheCutTime) {
  for (const char* id : {"snap-1", "snap-2", "snap-3"}) {
    SnapshotRecord s{id,
                     absl::StrCat("n", id),
                     id == std::string("snap-2") ? "vol-b" : "vol-a",
                     4096,
                     512,
                     "ext4",
                     RecordState::kCreating,
                     {}};
    ASSERT_THAT(catalog_->InsertSnapshot(s, std::nullopt), IsOk());
  }
  const absl::Time cut = absl::FromUnixMillis(1700000000123);
  ASSERT_THAT(catalog_->MarkSnapshotReady("snap-1", cut), IsOk());
  ASSERT_THAT(catalog_->MarkSnapshotReady("snap-2", cut), IsOk());
  EXPECT_THAT(*catalog_->ListSnapshots("", 0, "vol-a", true),
              ElementsAre(Field(&SnapshotRecord::id, "snap-1")));
  EXPECT_EQ(catalog_->ListSnapshots("", 0, "", false)->size(), 3u);
  EXPECT_EQ((*catalog_->GetSnapshot("snap-1"))->created, cut);
  EXPECT_THAT(catalog_->MarkSnapshotReady("snap-9", cut), StatusIs(Code::kNotFound));
  ASSERT_THAT(catalog_->DeleteSnapshot("snap-1"), IsOk());
  EXPECT_FALSE(catalog_->GetSnapshot("snap-1")->has_value());
}

TEST_F(CatalogTest, StateChangesOfUnknownRecordsAreNotFound) {
  EXPECT_THAT(catalog_->SetVolumeState("vol-9", RecordState::kReady), StatusIs(Code::kNotFound));
  EXPECT_THAT(catalog_->SetSnapshotState("snap-9", RecordState::kReady), StatusIs(Code::kNotFound));
  EXPECT_THAT(catalog_->Ping(), IsOk());
}

}  // namespace
}  // namespace iscsi_csi::controller
