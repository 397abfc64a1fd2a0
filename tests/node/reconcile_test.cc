// Start-up reconciliation: a restarted plugin meets leftovers (orphan sessions and node records
// of its iface, half-done stages, interrupted unstages, staged volumes whose session dropped) and
// must bring host and records together before it reports ready.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/node/node_test_env.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::testing {
namespace {

class ReconcileTest : public ::testing::Test {
 protected:
  FakeHost& host() { return env_.host(); }

  // Staged stages `volume_id` in a first plugin process and returns with that process "gone".
  void Staged(const std::string& volume_id, const std::string& wwn = kWwn1) {
    env_.AddVolume(volume_id, wwn);
    ASSERT_THAT(env_.Stage(env_.StageRequest(volume_id, wwn)), IsOk());
  }

  void SetUp() override { ASSERT_THAT(env_.Reconcile(), IsOk()); }

  NodeTestEnv env_;
};

TEST_F(ReconcileTest, EmptyHostIsReadyAtOnce) {
  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_EQ(host().LoginCalls(), 0);
}

TEST_F(ReconcileTest, OrphanSessionsAndRecordsOfOurIfaceAreRemovedOthersKept) {
  env_.AddVolume("orphan");
  host().AddIface("iscsi-csi", kInitiator);
  host().AddNodeRecord({IqnOf("orphan"), kPortal, "iscsi-csi", {}});
  host().AddSession(IqnOf("orphan"), kPortal, "iscsi-csi");
  host().AddNodeRecord({IqnOf("stale-record"), kPortal, "iscsi-csi", {}});
  // An administrator's own session and record on the default iface.
  host().AddNodeRecord({"iqn.2004-04.com.qnap:backup", "192.168.1.20:3260", "default", {}});
  host().AddSession("iqn.2004-04.com.qnap:backup", "192.168.1.20:3260", "default");

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());

  EXPECT_FALSE(host().SessionFor(IqnOf("orphan")).has_value());
  EXPECT_FALSE(host().NodeRecord(IqnOf("orphan"), kPortal).has_value());
  EXPECT_FALSE(host().NodeRecord(IqnOf("stale-record"), kPortal).has_value());
  EXPECT_TRUE(host().SessionFor("iqn.2004-04.com.qnap:backup").has_value());
  EXPECT_TRUE(host().NodeRecord("iqn.2004-04.com.qnap:backup", "192.168.1.20:3260").has_value());
}

TEST_F(ReconcileTest, OrphanSessionWhoseDiskIsStillMountedIsKept) {
  env_.AddVolume("orphan");
  host().AddNodeRecord({IqnOf("orphan"), kPortal, "iscsi-csi", {}});
  host().AddSession(IqnOf("orphan"), kPortal, "iscsi-csi");
  node::MountInfo mount;
  mount.device_number = host().DeviceNumber("sdb");
  mount.root = "/";
  mount.mount_point = env_.kubelet() + "/somewhere";
  mount.fs_type = "ext4";
  mount.source = host().dev_root() + "/sdb";
  host().mounter().AddMount(mount);

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_TRUE(host().SessionFor(IqnOf("orphan")).has_value());
  EXPECT_TRUE(host().NodeRecord(IqnOf("orphan"), kPortal).has_value());
}

TEST_F(ReconcileTest, HealthyStagedVolumesAreLeftAlone) {
  Staged("vol-1");
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  host().runner().ClearCalls();

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_EQ(host().LoginCalls(), 0);
  EXPECT_EQ(host().runner().Count({"iscsiadm", "--logout"}), 0);
  EXPECT_EQ(host().mounter().unmount_calls(), 0);
  EXPECT_EQ(env_.Record("vol-1")->state(), node::StagingRecord::STAGED);
  // And the restarted plugin serves the volume as before.
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_EQ(host().LoginCalls(), 0);
}

TEST_F(ReconcileTest, HalfDoneStageIsUndone) {
  // The previous process crashed after mkfs and mount, before writing STAGED.
  Staged("vol-1");
  std::optional<node::StagingRecord> record = env_.Record("vol-1");
  ASSERT_TRUE(record.has_value());
  record->set_state(node::StagingRecord::STAGING);
  ASSERT_THAT(env_.store().Write(*record), IsOk());

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_FALSE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
  EXPECT_FALSE(host().SessionFor(IqnOf("vol-1")).has_value());
  EXPECT_FALSE(host().NodeRecord(IqnOf("vol-1"), kPortal).has_value());
  EXPECT_FALSE(env_.Record("vol-1").has_value());
  // kubelet's retry stages it again, finding the filesystem made last time.
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 1);
}

TEST_F(ReconcileTest, HalfDoneStageBeforeTheDiskWasKnownIsUndone) {
  // Crash between login and disk discovery: record STAGING without a disk, a live session.
  env_.AddVolume("vol-1");
  host().AddIface("iscsi-csi", kInitiator);
  host().AddNodeRecord({IqnOf("vol-1"), kPortal, "iscsi-csi", {}});
  host().AddSession(IqnOf("vol-1"), kPortal, "iscsi-csi");
  node::StagingRecord record;
  record.set_volume_id("vol-1");
  record.set_state(node::StagingRecord::STAGING);
  record.set_staging_target_path(env_.StagingPath("vol-1"));
  record.set_target_iqn(IqnOf("vol-1"));
  record.add_portals(kPortal);
  record.set_logged_in_portal(kPortal);
  record.set_wwn(kWwn1);
  record.set_access_type(node::StagingRecord::MOUNT);
  record.set_fs_type("ext4");
  ASSERT_THAT(env_.store().Write(record), IsOk());

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_FALSE(host().SessionFor(IqnOf("vol-1")).has_value());
  EXPECT_FALSE(env_.Record("vol-1").has_value());
}

TEST_F(ReconcileTest, InterruptedUnstageIsFinished) {
  Staged("vol-1");
  // The previous process unmounted and wrote UNSTAGING, then died before logging out.
  ASSERT_THAT(host().mounter().Unmount(env_.StagingPath("vol-1")), IsOk());
  std::optional<node::StagingRecord> record = env_.Record("vol-1");
  record->set_state(node::StagingRecord::UNSTAGING);
  ASSERT_THAT(env_.store().Write(*record), IsOk());

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_EQ(host().runner().Count({"blockdev", "--flushbufs"}), 1);
  EXPECT_FALSE(host().SessionFor(IqnOf("vol-1")).has_value());
  EXPECT_FALSE(host().NodeRecord(IqnOf("vol-1"), kPortal).has_value());
  EXPECT_FALSE(env_.Record("vol-1").has_value());
}

TEST_F(ReconcileTest, StagedVolumeWhoseSessionDroppedIsLoggedInAndMountedAgain) {
  Staged("vol-1");
  // The session dropped and took the disk with it; the mount went too (a host reboot would do
  // this; the node record, with its CHAP settings, survives in /etc/iscsi).
  host().DropSession(host().SessionFor(IqnOf("vol-1"))->sid);
  host().mounter().Forget(env_.StagingPath("vol-1"));
  host().runner().ClearCalls();

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_EQ(host().LoginCalls(), 1);
  std::optional<node::StagingRecord> record = env_.Record("vol-1");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->state(), node::StagingRecord::STAGED);
  EXPECT_EQ(record->disk(), "sdc") << "the new login brought a new kernel name";
  std::optional<node::MountInfo> mount = host().mounter().At(env_.StagingPath("vol-1"));
  ASSERT_TRUE(mount.has_value());
  EXPECT_EQ(mount->device_number, host().DeviceNumber("sdc"));
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 0) << "reconcile never formats";
}

TEST_F(ReconcileTest, StagedVolumeThatCannotComeBackIsKeptAndReportedAbnormal) {
  Staged("vol-1");
  host().DropSession(host().SessionFor(IqnOf("vol-1"))->sid);
  host().UpdateTarget(IqnOf("vol-1"), [](FakeTarget& t) {
    t.unreachable_portals = {kPortal};
  });

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk()) << "one volume's trouble must not block start-up";
  EXPECT_EQ(env_.Record("vol-1")->state(), node::StagingRecord::STAGED);
  EXPECT_TRUE(host().NodeRecord(IqnOf("vol-1"), kPortal).has_value())
      << "its node record is the only place the CHAP settings live";
  csi::v1::NodeGetVolumeStatsResponse response;
  ASSERT_THAT(env_.Stats("vol-1", env_.StagingPath("vol-1"), &response), IsOk());
  EXPECT_TRUE(response.volume_condition().abnormal());
}

TEST_F(ReconcileTest, StagedVolumeWhoseLunNowHoldsAnotherWwnIsNotMounted) {
  Staged("vol-1");
  host().DropSession(host().SessionFor(IqnOf("vol-1"))->sid);
  host().mounter().Forget(env_.StagingPath("vol-1"));
  host().UpdateTarget(IqnOf("vol-1"), [](FakeTarget& t) { t.wwn = kWwn2; });

  env_.Start();
  ASSERT_THAT(env_.Reconcile(), IsOk());
  EXPECT_FALSE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
}

TEST_F(ReconcileTest, CorruptRecordFailsStartUp) {
  std::filesystem::create_directories(env_.state_dir());
  std::ofstream(env_.state_dir() + "/vol-1") << "\x01\x02 definitely not a record";
  env_.Start();
  EXPECT_THAT(env_.Reconcile(), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(ReconcileTest, MissingIscsiadmFailsStartUp) {
  env_.Start();
  host().runner().On({"iscsiadm"}, [](const std::vector<std::string>&)
                                       -> absl::StatusOr<node::CommandResult> {
    return absl::NotFoundError("iscsiadm is not installed");
  });
  EXPECT_THAT(env_.Reconcile(), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace iscsi_csi::testing
