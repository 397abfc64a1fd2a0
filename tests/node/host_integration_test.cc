// Integration (label integration): the real host layer on a loop device. PosixCommandRunner runs
// the real blkid, mkfs.ext4, mkfs.xfs, fsck.ext4, resize2fs, xfs_growfs and losetup; LinuxMounter
// and CommandMounter mount, bind, remount read-only and unmount for real; Sysfs reads the real
// /sys/block. (The iSCSI login itself needs a kernel initiator: the e2e VM test covers it.)
// Needs root and e2fsprogs, xfsprogs, util-linux; otherwise every test is skipped.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/host/clock.h"
#include "node/host/command_runner_posix.h"
#include "node/host/device_waiter.h"
#include "node/host/formatter.h"
#include "node/host/mounter_linux.h"
#include "node/host/sysfs.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::node {
namespace {

namespace fs = std::filesystem;
using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::StatusIs;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// HaveCapability reads the effective capability set (online ext4 growth needs
// CAP_SYS_RESOURCE, 24, which unprivileged containers lack).
bool HaveCapability(int bit) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> bit & 1) != 0;
    }
  }
  return false;
}

bool HaveTool(PosixCommandRunner& runner, const std::string& tool) {
  Command command;
  command.argv = {"sh", "-c", "command -v " + tool};
  absl::StatusOr<CommandResult> result = runner.Run(command);
  return result.ok() && result->exit_code == 0;
}

class LoopDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (losetup, mount)";
    for (const char* tool : {"losetup", "blkid", "mkfs.ext4", "mkfs.xfs", "fsck.ext4",
                             "resize2fs", "xfs_growfs", "blockdev", "mount", "umount"}) {
      if (!HaveTool(runner_, tool)) GTEST_SKIP() << tool << " is not installed";
    }
    // Normalized: it is compared with mountinfo's mount points in TearDown.
    dir_ = NormalizePath(::testing::TempDir() + "/node_integration_" + std::to_string(getpid()) +
                         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    image_ = dir_ + "/disk.img";
    Resize(512 * kMiB);  // xfs wants at least 300 MB
    absl::StatusOr<CommandResult> attached = Run({"losetup", "--find", "--show", image_});
    if (!attached.ok() || attached->exit_code != 0) {
      GTEST_SKIP() << "no loop device available: "
                   << (attached.ok() ? attached->stderr_text : attached.status().ToString());
    }
    device_ = std::string(absl::StripAsciiWhitespace(attached->stdout_text));
    disk_ = fs::path(device_).filename().string();
  }

  void TearDown() override {
    if (dir_.empty()) return;
    // Unmount whatever a failed test left under our directory, topmost first.
    for (int i = 0; i < 8; ++i) {
      absl::StatusOr<std::vector<MountInfo>> mounts = ReadMountTable("/proc/self/mountinfo");
      if (!mounts.ok()) break;
      bool any = false;
      for (auto it = mounts->rbegin(); it != mounts->rend(); ++it) {
        if (it->mount_point.rfind(dir_, 0) == 0) {
          umount2(it->mount_point.c_str(), MNT_DETACH);
          any = true;
        }
      }
      if (!any) break;
    }
    if (!device_.empty()) (void)Run({"losetup", "-d", device_});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  absl::StatusOr<CommandResult> Run(std::vector<Arg> argv) {
    Command command;
    command.argv = std::move(argv);
    command.timeout = absl::Minutes(2);
    return runner_.Run(command);
  }

  void Resize(uint64_t bytes) {
    std::error_code ec;
    if (!fs::exists(image_)) std::ofstream(image_).close();
    fs::resize_file(image_, bytes, ec);
    ASSERT_FALSE(ec) << ec.message();
  }

  std::string MakeDir(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    fs::create_directories(path);
    return path;
  }

  static uint64_t FsBytes(const std::string& path) {
    struct statvfs st {};
    EXPECT_EQ(statvfs(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  }

  PosixCommandRunner runner_;
  Formatter formatter_{runner_, absl::Minutes(5)};
  Sysfs sysfs_{"/sys"};
  std::string dir_, image_, device_, disk_;
};

TEST_F(LoopDeviceTest, Ext4FromBlankToMountedBindReadOnlyAndBack) {
  absl::StatusOr<DeviceContent> content = formatter_.Probe(device_);
  ASSERT_THAT(content, IsOk());
  EXPECT_TRUE(content->blank);
  ASSERT_THAT(formatter_.Mkfs(device_, "ext4"), IsOk());
  content = formatter_.Probe(device_);
  ASSERT_THAT(content, IsOk());
  EXPECT_FALSE(content->blank);
  EXPECT_EQ(content->type, "ext4");
  ASSERT_THAT(formatter_.Check(device_, "ext4"), IsOk());

  LinuxMounter mounter;
  const std::string staging = MakeDir("staging");
  ASSERT_THAT(mounter.Mount(device_, staging, "ext4", {"noatime"}), IsOk());
  absl::StatusOr<std::vector<MountInfo>> table = mounter.List();
  ASSERT_THAT(table, IsOk());
  std::optional<MountInfo> staged = FindMount(*table, staging);
  ASSERT_TRUE(staged.has_value());
  EXPECT_EQ(staged->fs_type, "ext4");
  EXPECT_EQ(staged->device_number, sysfs_.DiskDeviceNumber(disk_).value());
  EXPECT_TRUE(HasOption(staged->mount_options, "noatime"));
  EXPECT_GT(FsBytes(staging), 400 * kMiB);

  const std::string target = MakeDir("target");
  ASSERT_THAT(mounter.BindMount(staging, target, /*read_only=*/true), IsOk());
  table = mounter.List();
  std::optional<MountInfo> bound = FindMount(*table, target);
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(bound->device_number, staged->device_number);
  EXPECT_TRUE(bound->ReadOnly());
  EXPECT_FALSE(std::ofstream(target + "/file").good()) << "read-only bind accepted a write";
  EXPECT_TRUE(std::ofstream(staging + "/file").good());

  // Busy: a process (this one) has its working directory... use an open file instead.
  int fd = open((staging + "/file").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_THAT(mounter.Unmount(target), IsOk());  // the bind is not busy
  EXPECT_THAT(mounter.Unmount(staging), StatusIs(absl::StatusCode::kFailedPrecondition));
  close(fd);
  ASSERT_THAT(mounter.Unmount(staging), IsOk());
  ASSERT_THAT(mounter.Unmount(staging), IsOk()) << "unmounting twice is fine";
  ASSERT_THAT(mounter.Unmount(dir_ + "/does-not-exist"), IsOk());
  ASSERT_THAT(formatter_.FlushBuffers(device_), IsOk());
}

TEST_F(LoopDeviceTest, Ext4GrowsOnlineAfterTheDeviceGrows) {
  ASSERT_THAT(formatter_.Mkfs(device_, "ext4"), IsOk());
  LinuxMounter mounter;
  const std::string staging = MakeDir("staging");
  ASSERT_THAT(mounter.Mount(device_, staging, "ext4", {}), IsOk());
  const uint64_t before = FsBytes(staging);

  Resize(1024 * kMiB);
  absl::StatusOr<CommandResult> refreshed = Run({"losetup", "-c", device_});
  ASSERT_THAT(refreshed, IsOk());
  ASSERT_EQ(refreshed->exit_code, 0) << refreshed->stderr_text;
  DeviceWaiter waiter(sysfs_, RealClock(), "/dev", absl::Milliseconds(50));
  absl::StatusOr<uint64_t> size = waiter.WaitForSize(disk_, 1024 * kMiB, absl::Seconds(10));
  ASSERT_THAT(size, IsOk());
  EXPECT_EQ(*size, 1024 * kMiB);

  if (!HaveCapability(24)) {
    // The ioctl is refused; the message must say what the operator has to change.
    EXPECT_THAT(formatter_.Grow(device_, "ext4", staging),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    GTEST_SKIP() << "no CAP_SYS_RESOURCE here: online ext4 growth cannot run (the refusal was "
                    "checked; the privileged node plugin has the capability)";
  }
  ASSERT_THAT(formatter_.Grow(device_, "ext4", staging), IsOk());
  EXPECT_GT(FsBytes(staging), before + 400 * kMiB);
  ASSERT_THAT(mounter.Unmount(staging), IsOk());
}

TEST_F(LoopDeviceTest, XfsWithNouuidGrowsOnTheMountPoint) {
  ASSERT_THAT(formatter_.Mkfs(device_, "xfs"), IsOk());
  absl::StatusOr<DeviceContent> content = formatter_.Probe(device_);
  ASSERT_THAT(content, IsOk());
  EXPECT_EQ(content->type, "xfs");
  ASSERT_THAT(formatter_.Check(device_, "xfs"), IsOk());

  LinuxMounter mounter;
  const std::string staging = MakeDir("staging");
  ASSERT_THAT(mounter.Mount(device_, staging, "xfs", {"nouuid"}), IsOk());
  const uint64_t before = FsBytes(staging);
  Resize(1024 * kMiB);
  ASSERT_EQ(Run({"losetup", "-c", device_})->exit_code, 0);
  ASSERT_THAT(formatter_.Grow(device_, "xfs", staging), IsOk());
  EXPECT_GT(FsBytes(staging), before + 400 * kMiB);
  ASSERT_THAT(mounter.Unmount(staging), IsOk());
}

TEST_F(LoopDeviceTest, MkfsXfsNeverOverwritesAnExistingFilesystem) {
  ASSERT_THAT(formatter_.Mkfs(device_, "ext4"), IsOk());
  EXPECT_THAT(formatter_.Mkfs(device_, "xfs"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(formatter_.Probe(device_)->type, "ext4");
}

TEST_F(LoopDeviceTest, CommandMounterMountsThroughMountAndUmount) {
  ASSERT_THAT(formatter_.Mkfs(device_, "ext4"), IsOk());
  CommandMounter mounter(runner_, "/proc/self/mountinfo");
  const std::string staging = MakeDir("staging");
  ASSERT_THAT(mounter.Mount(device_, staging, "ext4", {"noatime"}), IsOk());
  const std::string target = MakeDir("target");
  ASSERT_THAT(mounter.BindMount(staging, target, /*read_only=*/true), IsOk());
  absl::StatusOr<std::vector<MountInfo>> table = mounter.List();
  ASSERT_THAT(table, IsOk());
  ASSERT_TRUE(FindMount(*table, target).has_value());
  EXPECT_TRUE(FindMount(*table, target)->ReadOnly());
  int fd = open((staging + "/lost+found").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_THAT(mounter.Unmount(target), IsOk());
  EXPECT_THAT(mounter.Unmount(staging), StatusIs(absl::StatusCode::kFailedPrecondition));
  close(fd);
  ASSERT_THAT(mounter.Unmount(staging), IsOk());
  ASSERT_THAT(mounter.Unmount(staging), IsOk());
}

TEST_F(LoopDeviceTest, RawBlockBindOfTheDeviceNodeShowsItsNameAsRoot) {
  LinuxMounter mounter;
  const std::string file = dir_ + "/publish/pod-1";
  fs::create_directories(fs::path(file).parent_path());
  std::ofstream(file).close();
  ASSERT_THAT(mounter.BindMount(device_, file, /*read_only=*/false), IsOk());
  absl::StatusOr<std::vector<MountInfo>> table = mounter.List();
  ASSERT_THAT(table, IsOk());
  std::optional<MountInfo> bound = FindMount(*table, file);
  ASSERT_TRUE(bound.has_value());
  // What the stager's "still published?" check relies on.
  EXPECT_EQ(bound->root, "/" + disk_);
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  ASSERT_THAT(mounter.Unmount(file), IsOk());
}

TEST_F(LoopDeviceTest, SysfsReportsTheLoopDevice) {
  EXPECT_TRUE(sysfs_.DiskExists(disk_));
  EXPECT_EQ(sysfs_.DiskSizeBytes(disk_).value(), 512 * kMiB);
  EXPECT_THAT(sysfs_.DiskDeviceNumber(disk_), IsOk());
}

}  // namespace
}  // namespace iscsi_csi::node
