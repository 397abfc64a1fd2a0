// Host-layer pieces on fakes: Sysfs on a fake tree, DeviceWaiter (sysfs, by-path fallback,
// timeout on a fake clock), Formatter exit-code handling, MeasuredCommandRunner metrics.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/host/device_waiter.h"
#include "node/host/formatter.h"
#include "node/host/sysfs.h"
#include "node/node_metrics.h"
#include "prometheus/registry.h"
#include "tests/fakes/fake_host.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::FakeCommandRunner;
using ::iscsi_csi::testing::FakeHost;
using ::iscsi_csi::testing::FakeTarget;
using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::StatusIs;

constexpr char kIqn[] = "iqn.2026-11.io.iscsi-csi:vol-1";
constexpr char kWwn[] = "6001405f3a2c1e9b4d7e8a1c2b3d4e5f";

DiskLocation Location() { return DiskLocation{kIqn, Portal{"10.0.0.5", 3260}, "iscsi-csi", 0}; }

TEST(SysfsTest, SessionsDisksAndDeviceFiles) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn, .size_bytes = 2u << 30});
  const int sid = host.AddSession(kIqn, "10.0.0.5:3260", "iscsi-csi");
  std::vector<SysfsSession> sessions = host.sysfs().IscsiSessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].sid, sid);
  EXPECT_EQ(sessions[0].target_iqn, kIqn);
  EXPECT_EQ(sessions[0].iface, "iscsi-csi");
  EXPECT_EQ(sessions[0].state, "LOGGED_IN");
  EXPECT_EQ(sessions[0].address, "10.0.0.5");
  EXPECT_EQ(sessions[0].port, 3260);
  absl::StatusOr<std::string> disk = host.sysfs().SessionDisk(sid, 0);
  ASSERT_THAT(disk, IsOk());
  EXPECT_EQ(*disk, "sdb");
  EXPECT_THAT(host.sysfs().SessionDisk(sid, 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(host.sysfs().DiskSizeBytes("sdb").value(), 2u << 30);
  EXPECT_EQ(host.sysfs().DiskDeviceNumber("sdb").value(), "8:16");
  EXPECT_EQ(host.sysfs().DiskState("sdb").value(), "running");
  ASSERT_THAT(host.sysfs().DeleteDisk("sdb"), IsOk());
  EXPECT_EQ(host.sysfs().Read("block/sdb/device/delete").value(), "1");
  EXPECT_THAT(host.sysfs().DiskSizeBytes("../etc"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DeviceWaiterTest, WaitsForALateDiskOnTheFakeClock) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn, .disk_after_sleeps = 3});
  host.AddSession(kIqn, "10.0.0.5:3260", "iscsi-csi");
  DeviceWaiter waiter(host.sysfs(), host.clock(), host.dev_root(), absl::Milliseconds(100));
  EXPECT_THAT(waiter.FindDisk(Location()), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<std::string> disk = waiter.WaitForDisk(Location(), absl::Seconds(5));
  ASSERT_THAT(disk, IsOk());
  EXPECT_EQ(*disk, "sdb");
  EXPECT_EQ(host.clock().sleeps(), 3);
}

TEST(DeviceWaiterTest, GivesUpAtTheDeadline) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn, .never_attach = true});
  host.AddSession(kIqn, "10.0.0.5:3260", "iscsi-csi");
  DeviceWaiter waiter(host.sysfs(), host.clock(), host.dev_root(), absl::Milliseconds(500));
  const absl::Time start = host.clock().Now();
  EXPECT_THAT(waiter.WaitForDisk(Location(), absl::Seconds(3)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(host.clock().Now() - start, absl::Seconds(3));
  EXPECT_LE(host.clock().Now() - start, absl::Seconds(4));
}

TEST(DeviceWaiterTest, SessionOfAnotherIfaceOrPortalDoesNotCount) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn});
  host.AddSession(kIqn, "10.0.0.5:3260", "default");
  host.AddSession(kIqn, "10.0.0.6:3260", "iscsi-csi");
  DeviceWaiter waiter(host.sysfs(), host.clock(), host.dev_root());
  EXPECT_FALSE(waiter.FindSession(Location()).has_value());
  EXPECT_THAT(waiter.FindDisk(Location()), StatusIs(absl::StatusCode::kNotFound));
}

TEST(DeviceWaiterTest, FallsBackToTheByPathLink) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn});
  // A session on another iface owns the disk; only udev's link names it for our location.
  host.AddSession(kIqn, "10.0.0.5:3260", "default");
  std::filesystem::create_symlink(
      "../../sdb", host.dev_root() + "/disk/by-path/" + ByPathName(Location()));
  DeviceWaiter waiter(host.sysfs(), host.clock(), host.dev_root());
  absl::StatusOr<std::string> disk = waiter.FindDisk(Location());
  ASSERT_THAT(disk, IsOk());
  EXPECT_EQ(*disk, "sdb");
  EXPECT_EQ(ByPathName(Location()), "ip-10.0.0.5:3260-iscsi-iqn.2026-11.io.iscsi-csi:vol-1-lun-0");
}

TEST(DeviceWaiterTest, WaitForSizeSeesTheRescan) {
  FakeHost host;
  host.AddTarget(FakeTarget{.iqn = kIqn, .wwn = kWwn});
  host.AddSession(kIqn, "10.0.0.5:3260", "iscsi-csi");
  DeviceWaiter waiter(host.sysfs(), host.clock(), host.dev_root());
  EXPECT_THAT(waiter.WaitForSize("sdb", 2u << 30, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  std::ofstream(host.sys_root() + "/block/sdb/size") << (4u << 21) << "\n";
  absl::StatusOr<uint64_t> size = waiter.WaitForSize("sdb", 2u << 30, absl::Seconds(1));
  ASSERT_THAT(size, IsOk());
  EXPECT_EQ(*size, uint64_t{4} << 30);
}

TEST(FormatterTest, BlkidExitCodes) {
  struct Row {
    const char* name;
    int exit_code;
    const char* out;
    absl::StatusCode code;
    bool blank;
    const char* type;
  };
  const Row rows[] = {
      {"blank", 2, "", absl::StatusCode::kOk, true, ""},
      {"ext4", 0, "DEVNAME=/dev/sdb\nTYPE=ext4\nUSAGE=filesystem\n", absl::StatusCode::kOk, false,
       "ext4"},
      {"partition table", 0, "DEVNAME=/dev/sdb\nPTTYPE=gpt\n", absl::StatusCode::kOk, false, ""},
      {"ambivalent", 8, "", absl::StatusCode::kFailedPrecondition, false, ""},
      {"usage error", 4, "", absl::StatusCode::kInternal, false, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    FakeCommandRunner runner;
    runner.OnResult({"blkid"}, row.exit_code, row.out);
    Formatter formatter(runner, absl::Seconds(5));
    absl::StatusOr<DeviceContent> content = formatter.Probe("/dev/sdb");
    ASSERT_THAT(content, StatusIs(row.code));
    if (!content.ok()) continue;
    EXPECT_EQ(content->blank, row.blank);
    EXPECT_EQ(content->type, row.type);
  }
  EXPECT_EQ((DeviceContent{false, "", "", "gpt"}.Describe()), "gpt partition table");
}

TEST(FormatterTest, FsckPolicy) {
  struct Row {
    const char* name;
    int exit_code;
    absl::StatusCode code;
  };
  const Row rows[] = {
      {"clean", 0, absl::StatusCode::kOk},
      {"corrected", 1, absl::StatusCode::kOk},
      {"corrected, reboot advised", 2, absl::StatusCode::kOk},
      {"errors left", 4, absl::StatusCode::kFailedPrecondition},
      {"operational error", 8, absl::StatusCode::kInternal},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    FakeCommandRunner runner;
    runner.OnResult({"fsck.ext4", "-p"}, row.exit_code);
    Formatter formatter(runner, absl::Seconds(5));
    EXPECT_THAT(formatter.Check("/dev/sdb", "ext4"), StatusIs(row.code));
  }
  FakeCommandRunner runner;
  Formatter formatter(runner, absl::Seconds(5));
  EXPECT_THAT(formatter.Check("/dev/sdb", "xfs"), IsOk());  // xfs: no pre-mount check
  EXPECT_TRUE(runner.calls().empty());
}

TEST(FormatterTest, ToolsAndArguments) {
  FakeCommandRunner runner;
  runner.OnResult({}, 0);
  Formatter formatter(runner, absl::Minutes(10));
  ASSERT_THAT(formatter.Mkfs("/dev/sdb", "ext4"), IsOk());
  ASSERT_THAT(formatter.Mkfs("/dev/sdb", "xfs"), IsOk());
  ASSERT_THAT(formatter.Grow("/dev/sdb", "ext4", "/mnt"), IsOk());
  ASSERT_THAT(formatter.Grow("/dev/sdb", "xfs", "/mnt"), IsOk());
  ASSERT_THAT(formatter.FlushBuffers("/dev/sdb"), IsOk());
  EXPECT_THAT(formatter.Mkfs("/dev/sdb", "btrfs"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(runner.CallLines(),
              ::testing::ElementsAre("mkfs.ext4 -F -q /dev/sdb", "mkfs.xfs -q /dev/sdb",
                                     "resize2fs /dev/sdb", "xfs_growfs /mnt",
                                     "blockdev --flushbufs /dev/sdb"));
  EXPECT_EQ(runner.calls()[0].timeout, absl::Minutes(10));
}

TEST(NodeMetricsTest, CountsStagesAndTimesTools) {
  prometheus::Registry registry;
  NodeMetrics metrics(registry);
  FakeCommandRunner inner;
  inner.OnResult({}, 0);
  MeasuredCommandRunner runner(inner, metrics);
  Command command;
  command.argv = {"iscsiadm", "-m", "session"};
  ASSERT_THAT(runner.Run(command), IsOk());
  metrics.StageResult(absl::OkStatus());
  metrics.StageResult(absl::UnauthenticatedError("x"));
  std::map<std::string, double> stages;
  uint64_t iscsiadm_samples = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      if (family.name == "iscsi_csi_node_stage_total") {
        stages[metric.label[0].value] = metric.counter.value;
      }
      if (family.name == "iscsi_csi_node_command_duration_seconds" &&
          metric.label[0].value == "iscsiadm") {
        iscsiadm_samples = metric.histogram.sample_count;
      }
    }
  }
  EXPECT_EQ(stages["ok"], 1);
  EXPECT_EQ(stages["unauthenticated"], 1);
  EXPECT_EQ(iscsiadm_samples, 1u);
}

}  // namespace
}  // namespace iscsi_csi::node
