// Pure parsers of the host layer: mountinfo (with the kernel's octal escapes), VPD page 0x83,
// WWN normalization, blkid export output and mount(8) options -> mount(2) flags.
#include <sys/mount.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/host/formatter.h"
#include "node/host/mounter.h"
#include "node/host/mounter_linux.h"
#include "node/host/mountinfo.h"
#include "node/host/vpd.h"
#include "tests/node/status_matchers.h"
#include "tests/node/testdata.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::ReadHexTestdata;
using ::iscsi_csi::testing::ReadTestdata;
using ::iscsi_csi::testing::StatusIs;

TEST(ParseMountInfoTest, CapturedTable) {
  absl::StatusOr<std::vector<MountInfo>> mounts = ParseMountInfo(ReadTestdata("mountinfo.txt"));
  ASSERT_THAT(mounts, IsOk());
  ASSERT_EQ(mounts->size(), 12u);

  const MountInfo& staging = (*mounts)[5];
  EXPECT_EQ(staging.mount_id, 412);
  EXPECT_EQ(staging.parent_id, 22);
  EXPECT_EQ(staging.device_number, "8:16");
  EXPECT_EQ(staging.root, "/");
  EXPECT_EQ(staging.fs_type, "ext4");
  EXPECT_EQ(staging.source, "/dev/sdb");
  EXPECT_EQ(staging.mount_options, "rw,relatime");
  EXPECT_FALSE(staging.ReadOnly());

  const MountInfo& block = (*mounts)[7];
  EXPECT_EQ(block.root, "/sdc");
  EXPECT_EQ(block.fs_type, "devtmpfs");

  // Two optional fields (master:4 shared:310) and escaped space and tab.
  const MountInfo& spaced = (*mounts)[8];
  EXPECT_EQ(spaced.mount_point, "/mnt/data with space/and\ttab");
  EXPECT_EQ(spaced.fs_type, "xfs");
  EXPECT_EQ(spaced.source, "/dev/sdd");

  // errors=remount-ro fired: the superblock is read-only while the mount says rw.
  const MountInfo& remounted = (*mounts)[9];
  EXPECT_EQ(remounted.mount_options, "rw,relatime");
  EXPECT_TRUE(remounted.ReadOnly());
  EXPECT_TRUE(HasOption(remounted.super_options, "ro"));

  EXPECT_EQ((*mounts)[11].mount_point, "/mnt/back\\slash");
}

TEST(ParseMountInfoTest, MalformedLinesAreRejected) {
  EXPECT_THAT(ParseMountInfo("22 1 259:2 / / rw\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMountInfo("x 1 259:2 / / rw shared:1 - ext4 /dev/a rw\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMountInfo("22 1 259:2 / / rw shared:1 shared:2 shared:3\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(UnescapeMountPathTest, OnlyCompleteOctalEscapes) {
  EXPECT_EQ(UnescapeMountPath("a\\040b"), "a b");
  EXPECT_EQ(UnescapeMountPath("a\\012b"), "a\nb");
  EXPECT_EQ(UnescapeMountPath("trailing\\04"), "trailing\\04");
  EXPECT_EQ(UnescapeMountPath("not\\999octal"), "not\\999octal");
}

TEST(FindMountTest, TopmostOfStackedMountsWins) {
  absl::StatusOr<std::vector<MountInfo>> mounts = ParseMountInfo(ReadTestdata("mountinfo.txt"));
  ASSERT_THAT(mounts, IsOk());
  std::optional<MountInfo> top = FindMount(
      *mounts,
      "/var/lib/kubelet/plugins/kubernetes.io/csi/iscsi-csi.io/9a8b7c6d5e4f30211f2e3d4c5b6a7980/"
      "globalmount/");
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->mount_id, 481);
  EXPECT_FALSE(FindMount(*mounts, "/var/lib/kubelet").has_value());
}

TEST(NormalizePathTest, DropsDotsAndSlashes) {
  EXPECT_EQ(NormalizePath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("/a/b/../c"), "/a/c");
}

TEST(VpdTest, CapturedLioPageYieldsTheLogicalUnitNaa) {
  const std::string page = ReadHexTestdata("vpd_pg83_lio.hex");
  absl::StatusOr<std::vector<Designator>> designators = ParseVpdPage83(page);
  ASSERT_THAT(designators, IsOk());
  ASSERT_EQ(designators->size(), 7u);
  EXPECT_EQ((*designators)[0].designator_type, kDesignatorNaa);
  EXPECT_EQ((*designators)[0].association, kAssociationLogicalUnit);
  EXPECT_EQ((*designators)[2].association, 1);  // relative target port
  EXPECT_TRUE((*designators)[2].piv);
  EXPECT_EQ((*designators)[6].association, 2);  // target device name
  EXPECT_EQ((*designators)[6].designator_type, 8);

  absl::StatusOr<std::string> naa = LogicalUnitNaa(page);
  ASSERT_THAT(naa, IsOk());
  EXPECT_EQ(*naa, "6001405f3a2c1e9b4d7e8a1c2b3d4e5f");
}

TEST(VpdTest, NaaOfTheTargetPortDoesNotCount) {
  EXPECT_THAT(LogicalUnitNaa(ReadHexTestdata("vpd_pg83_no_lu_naa.hex")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(VpdTest, MalformedPagesAreRejected) {
  struct Row {
    const char* name;
    const char* hex;
  };
  const Row rows[] = {
      {"shorter than header", "00 83 00"},
      {"wrong page code", "00 80 00 00"},
      {"length past end", "00 83 00 10 01 03 00 10"},
      {"descriptor past end", "00 83 00 06 01 03 00 10 60 01"},
      {"truncated descriptor header", "00 83 00 02 01 03"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    absl::StatusOr<std::string> page = HexDecode(row.hex);
    ASSERT_THAT(page, IsOk());
    EXPECT_THAT(ParseVpdPage83(*page), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(NormalizeWwnTest, Table) {
  struct Row {
    const char* name;
    const char* text;
    const char* want;  // nullptr: InvalidArgument
  };
  const Row rows[] = {
      {"plain", "6001405f3a2c1e9b4d7e8a1c2b3d4e5f", "6001405f3a2c1e9b4d7e8a1c2b3d4e5f"},
      {"upper case", "6001405F3A2C1E9B4D7E8A1C2B3D4E5F", "6001405f3a2c1e9b4d7e8a1c2b3d4e5f"},
      {"naa prefix", "naa.6001405f3a2c1e9b4d7e8a1c2b3d4e5f", "6001405f3a2c1e9b4d7e8a1c2b3d4e5f"},
      {"0x prefix", "0x6001405f3a2c1e9b", "6001405f3a2c1e9b"},
      {"too short", "6001405f", nullptr},
      {"not hex", "6001405f3a2c1e9b4d7e8a1c2b3d4e5g", nullptr},
      {"empty", "", nullptr},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    absl::StatusOr<std::string> wwn = NormalizeWwn(row.text);
    if (row.want == nullptr) {
      EXPECT_THAT(wwn, StatusIs(absl::StatusCode::kInvalidArgument));
    } else {
      ASSERT_THAT(wwn, IsOk());
      EXPECT_EQ(*wwn, row.want);
    }
  }
}

TEST(ParseBlkidExportTest, KeyValueLines) {
  std::map<std::string, std::string> values = ParseBlkidExport(
      "DEVNAME=/dev/sdb\nUUID=75a797bb-29da-433e-bf8e-bebdeda1942b\nVERSION=1.0\n"
      "BLOCK_SIZE=1024\nTYPE=ext4\nUSAGE=filesystem\n");
  EXPECT_EQ(values["TYPE"], "ext4");
  EXPECT_EQ(values["USAGE"], "filesystem");
  EXPECT_EQ(values["UUID"], "75a797bb-29da-433e-bf8e-bebdeda1942b");
}

TEST(ParseMountOptionsTest, FlagsAndData) {
  MountFlags f = ParseMountOptions({"ro", "noatime", "nouuid", "nosuid", "discard"});
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOATIME | MS_NOSUID));
  EXPECT_EQ(f.data, "nouuid,discard");
  EXPECT_EQ(ParseMountOptions({"ro", "rw"}).flags, 0u);
  EXPECT_EQ(ParseMountOptions({"defaults"}).data, "");
  EXPECT_EQ(ParseMountOptions({"errors=remount-ro", "data=ordered"}).data,
            "errors=remount-ro,data=ordered");
}

}  // namespace
}  // namespace iscsi_csi::node
