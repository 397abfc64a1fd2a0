// Copies on a pool that supports reflinks: an xfs filesystem (reflink=1) in a loop-mounted
// image file. Needs root, loop devices and mkfs.xfs; skipped otherwise. Snapshots and clones
// there are FICLONE copies, and a volume restored from one reads back byte for byte through
// the target.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/controller/controller_harness.h"
#include "tests/controller/csi_requests.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/process.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::BlockCap;
using ::iscsi_csi::controller::testing::ControllerHarness;
using ::iscsi_csi::controller::testing::CreateRequest;
using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::kMiB;
using ::iscsi_csi::controller::testing::PublishRequest;
using ::iscsi_csi::controller::testing::RestoreRequest;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::SnapshotRequest;
using ::iscsi_csi::controller::testing::SocketPath;
using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::RunProcess;

// RunTool runs a host tool found on PATH (RunProcess execs a path, not a name).
int RunTool(std::vector<std::string> argv) {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/sbin:/usr/bin", ':')) {
    const std::string candidate = absl::StrCat(dir, "/", argv[0]);
    if (access(candidate.c_str(), X_OK) == 0) {
      argv[0] = candidate;
      return RunProcess(argv).exit_code;
    }
  }
  return 127;
}

class ReflinkPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    image_ = dir_ + "/pool.img";
    mount_point_ = dir_ + "/pool";
    if (geteuid() != 0) GTEST_SKIP() << "needs root to loop-mount an xfs image";
    if (RunTool({"truncate", "-s", "400M", image_}) != 0 ||
        RunTool({"mkfs.xfs", "-q", "-m", "reflink=1", image_}) != 0) {
      GTEST_SKIP() << "cannot make an xfs image (mkfs.xfs missing?)";
    }
    RunTool({"mkdir", "-p", mount_point_});
    if (RunTool({"mount", "-o", "loop", image_, mount_point_}) != 0) {
      GTEST_SKIP() << "cannot loop-mount an xfs image here";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) RunTool({"umount", mount_point_});
  }

  std::string dir_;
  std::string image_;
  std::string mount_point_;
  bool mounted_ = false;
};

TEST_F(ReflinkPoolTest, CopiesAreReflinksOnXfs) {
  Pool pool(mount_point_);
  ASSERT_THAT(pool.Init(), IsOk());
  const std::string from = pool.VolumePath("vol-00000000000000c1");
  ASSERT_THAT(pool.CreateSparse(from, 64 * kMiB), IsOk());
  absl::StatusOr<CopyMethod> method =
      pool.Copy(from, pool.SnapshotPath("snap-00000000000000c1"), 0);
  ASSERT_THAT(method, IsOk());
  EXPECT_EQ(*method, CopyMethod::kReflink);
  absl::StatusOr<CopyMethod> grown =
      pool.Copy(from, pool.VolumePath("vol-00000000000000c2"), 96 * kMiB);
  ASSERT_THAT(grown, IsOk());
  EXPECT_EQ(*grown, CopyMethod::kReflink);
  EXPECT_EQ(**pool.FileSize(pool.VolumePath("vol-00000000000000c2")), 96u * kMiB);
}

TEST_F(ReflinkPoolTest, ARestoreFromAReflinkSnapshotReadsBackTheSnapshotThroughTheTarget) {
  ControllerHarness harness;
  ControllerOptions options = ControllerHarness::Options(dir_);
  options.data_dir = mount_point_;
  harness.Start(options, SocketPath());
  grpc::ClientContext c1;
  csi::v1::CreateVolumeResponse created;
  ASSERT_THAT(
      harness.stub().CreateVolume(&c1, CreateRequest("src", 4 * kMiB, BlockCap()), &created),
      IsOk());
  grpc::ClientContext c2;
  csi::v1::ControllerPublishVolumeResponse published;
  ASSERT_THAT(harness.stub().ControllerPublishVolume(
                  &c2, PublishRequest(created.volume().volume_id(), "n1", BlockCap()), &published),
              IsOk());
  absl::StatusOr<std::unique_ptr<IscsiSession>> writer =
      ControllerHarness::LoginAsNode(created.volume(), "n1", published.publish_context());
  ASSERT_THAT(writer, IsOk());
  const std::string data(64 * 1024, 'r');
  ASSERT_THAT((*writer)->Write(16, data).ToStatus(), IsOk());
  grpc::ClientContext c3;
  csi::v1::CreateSnapshotResponse snapshot;
  ASSERT_THAT(harness.stub().CreateSnapshot(
                  &c3, SnapshotRequest("snap", created.volume().volume_id()), &snapshot),
              IsOk());
  ASSERT_THAT((*writer)->Write(16, std::string(64 * 1024, 'w')).ToStatus(), IsOk());
  csi::v1::CreateVolumeRequest restore =
      RestoreRequest("restored", snapshot.snapshot().snapshot_id());
  *restore.mutable_volume_capabilities(0) = BlockCap();
  grpc::ClientContext c4;
  csi::v1::CreateVolumeResponse restored;
  ASSERT_THAT(harness.stub().CreateVolume(&c4, restore, &restored), IsOk());
  grpc::ClientContext c5;
  csi::v1::ControllerPublishVolumeResponse published2;
  ASSERT_THAT(
      harness.stub().ControllerPublishVolume(
          &c5, PublishRequest(restored.volume().volume_id(), "n1", BlockCap()), &published2),
      IsOk());
  absl::StatusOr<std::unique_ptr<IscsiSession>> reader =
      ControllerHarness::LoginAsNode(restored.volume(), "n1", published2.publish_context());
  ASSERT_THAT(reader, IsOk());
  const CommandResult read = (*reader)->Read(16, 128);
  EXPECT_THAT(read.ToStatus(), IsOk());
  EXPECT_TRUE(read.data == data);
  writer->reset();
  reader->reset();
  harness.Stop();
}

}  // namespace
}  // namespace iscsi_csi::controller
