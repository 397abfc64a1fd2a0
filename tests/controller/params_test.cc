// Validation tables for controller/params: StorageClass parameters, names, capacity ranges,
// volume capabilities and topology.
#include "controller/params.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controller/status_matchers.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::StatusIs;
using AccessMode = csi::v1::VolumeCapability::AccessMode;
using Code = absl::StatusCode;

csi::v1::VolumeCapability Cap(AccessMode::Mode mode, bool block, std::string fs_type = "") {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(mode);
  if (block) {
    capability.mutable_block();
  } else {
    capability.mutable_mount()->set_fs_type(fs_type);
  }
  return capability;
}

struct ParameterCase {
  std::string name;
  ParameterMap parameters;
  Code code;
  std::string fs_type;
  uint32_t block_size;
};

TEST(ParseVolumeParametersTest, AcceptsOurKeysAndProvisionerMetadataAndRefusesTheRest) {
  const std::vector<ParameterCase> cases = {
      {"empty", {}, Code::kOk, "", 0},
      {"ext4", {{"fsType", "ext4"}}, Code::kOk, "ext4", 0},
      {"xfs and 4k blocks", {{"fsType", "xfs"}, {"blockSize", "4096"}}, Code::kOk, "xfs", 4096},
      {"512 blocks", {{"blockSize", "512"}}, Code::kOk, "", 512},
      {"provisioner metadata",
       {{"csi.storage.k8s.io/pvc/name", "data"},
        {"csi.storage.k8s.io/pvc/namespace", "default"},
        {"csi.storage.k8s.io/pv/name", "pvc-1"}},
       Code::kOk,
       "",
       0},
      {"btrfs", {{"fsType", "btrfs"}}, Code::kInvalidArgument, "", 0},
      {"upper-case fs", {{"fsType", "EXT4"}}, Code::kInvalidArgument, "", 0},
      {"block size 1024", {{"blockSize", "1024"}}, Code::kInvalidArgument, "", 0},
      {"block size not a number", {{"blockSize", "4k"}}, Code::kInvalidArgument, "", 0},
      {"unknown key", {{"replicas", "3"}}, Code::kInvalidArgument, "", 0},
      {"other csi.storage.k8s.io key",
       {{"csi.storage.k8s.io/fstype", "ext4"}},
       Code::kInvalidArgument,
       "",
       0},
  };
  for (const ParameterCase& c : cases) {
    absl::StatusOr<VolumeParameters> parsed = ParseVolumeParameters(c.parameters);
    EXPECT_THAT(parsed, StatusIs(c.code)) << c.name;
    if (parsed.ok()) {
      EXPECT_EQ(parsed->fs_type, c.fs_type) << c.name;
      EXPECT_EQ(parsed->block_size, c.block_size) << c.name;
    }
  }
}

TEST(ParseVolumeParametersTest, NamesTheUnknownKeyInTheMessage) {
  absl::StatusOr<VolumeParameters> parsed = ParseVolumeParameters({{"replicas", "3"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), ::testing::HasSubstr("'replicas'"));
}

TEST(ParseSnapshotParametersTest, AcceptsOnlySnapshotterMetadata) {
  EXPECT_THAT(ParseSnapshotParameters({{"csi.storage.k8s.io/volumesnapshot/name", "s"},
                                       {"csi.storage.k8s.io/volumesnapshot/namespace", "n"},
                                       {"csi.storage.k8s.io/volumesnapshotcontent/name", "c"}}),
              IsOk());
  EXPECT_THAT(ParseSnapshotParameters({{"fsType", "ext4"}}), StatusIs(Code::kInvalidArgument));
}

TEST(WithoutMetadataTest, KeepsOnlyTheKeysThatDecideCompatibility) {
  EXPECT_EQ(WithoutMetadata({{"fsType", "xfs"}, {"csi.storage.k8s.io/pvc/name", "a"}}),
            (ParameterMap{{"fsType", "xfs"}}));
}

TEST(CheckNameTest, AppliesTheCsiNameRules) {
  struct Case {
    std::string name;
    std::string value;
    Code code;
  };
  const std::vector<Case> cases = {
      {"plain", "pvc-0b5e", Code::kOk},
      {"unicode and spaces", "volume für Daten", Code::kOk},
      {"tab and newline are common whitespace", "a\tb\nc", Code::kOk},
      {"exactly 128 bytes", std::string(128, 'x'), Code::kOk},
      {"empty", "", Code::kInvalidArgument},
      {"129 bytes", std::string(129, 'x'), Code::kInvalidArgument},
      {"NUL", std::string("a\0b", 3), Code::kInvalidArgument},
      {"escape", std::string{'a', '\x1b', 'b'}, Code::kInvalidArgument},
      {"DEL", "a\x7f", Code::kInvalidArgument},
      {"C1 control U+0085", "a\xc2\x85", Code::kInvalidArgument},
  };
  for (const Case& c : cases) EXPECT_THAT(CheckName(c.value, "name"), StatusIs(c.code)) << c.name;
}

struct CapacityCase {
  std::string name;
  std::optional<std::pair<int64_t, int64_t>> range;  // required, limit
  uint32_t block_size;
  uint64_t minimum;
  Code code;
  uint64_t expected;
};

TEST(ChooseCapacityTest, HonoursTheRangeRoundsUpToTheBlockSizeAndRefusesWhatCannotFit) {
  constexpr uint64_t kDefault = 1ull << 30;
  const std::vector<CapacityCase> cases = {
      {"no range: the default", std::nullopt, 512, 0, Code::kOk, kDefault},
      {"zero range: the default", std::make_pair(0, 0), 512, 0, Code::kOk, kDefault},
      {"exact multiple", std::make_pair(1 << 20, 0), 512, 0, Code::kOk, 1 << 20},
      {"rounded up to 512", std::make_pair(1000, 0), 512, 0, Code::kOk, 1024},
      {"rounded up to 4096", std::make_pair(1000, 0), 4096, 0, Code::kOk, 4096},
      {"required equals limit", std::make_pair(8192, 8192), 4096, 0, Code::kOk, 8192},
      {"rounding stays under the limit", std::make_pair(1000, 1024), 512, 0, Code::kOk, 1024},
      {"rounding crosses the limit", std::make_pair(1000, 1000), 512, 0, Code::kOutOfRange, 0},
      {"only a limit below the default", std::make_pair(0, 10000), 4096, 0, Code::kOk, 8192},
      {"only a limit above the default", std::make_pair(0, 1ll << 40), 512, 0, Code::kOk, kDefault},
      {"only a limit under one block", std::make_pair(0, 100), 512, 0, Code::kOutOfRange, 0},
      {"required above limit", std::make_pair(2048, 1024), 512, 0, Code::kInvalidArgument, 0},
      {"negative required", std::make_pair(-1, 0), 512, 0, Code::kInvalidArgument, 0},
      {"negative limit", std::make_pair(0, -1), 512, 0, Code::kInvalidArgument, 0},
      {"source larger than required", std::make_pair(4096, 0), 512, 8192, Code::kOk, 8192},
      {"source larger than the limit", std::make_pair(0, 4096), 512, 8192, Code::kOutOfRange, 0},
  };
  for (const CapacityCase& c : cases) {
    csi::v1::CapacityRange range;
    if (c.range) {
      range.set_required_bytes(c.range->first);
      range.set_limit_bytes(c.range->second);
    }
    absl::StatusOr<uint64_t> size =
        ChooseCapacity(c.range ? &range : nullptr, c.block_size, c.minimum, kDefault);
    EXPECT_THAT(size, StatusIs(c.code)) << c.name;
    if (size.ok()) {
      EXPECT_EQ(*size, c.expected) << c.name;
    }
  }
}

TEST(ChooseCapacityTest, UsesTheSourceSizeAsDefaultForClones) {
  EXPECT_EQ(*ChooseCapacity(nullptr, 512, 8192, 8192), 8192u);
}

TEST(CapacityFitsTest, ChecksBothEndsOfTheRange) {
  csi::v1::CapacityRange range;
  range.set_required_bytes(100);
  range.set_limit_bytes(200);
  EXPECT_TRUE(CapacityFits(nullptr, 5));
  EXPECT_TRUE(CapacityFits(&range, 150));
  EXPECT_FALSE(CapacityFits(&range, 99));
  EXPECT_FALSE(CapacityFits(&range, 201));
}

struct CapabilityCase {
  std::string name;
  csi::v1::VolumeCapability capability;
  Code code;
};

TEST(CheckCapabilitySupportedTest, ServesTheDocumentedAccessModes) {
  csi::v1::VolumeCapability no_mode = Cap(AccessMode::SINGLE_NODE_WRITER, false);
  no_mode.clear_access_mode();
  csi::v1::VolumeCapability no_type = Cap(AccessMode::SINGLE_NODE_WRITER, false);
  no_type.clear_mount();
  const std::vector<CapabilityCase> cases = {
      {"single writer mount", Cap(AccessMode::SINGLE_NODE_WRITER, false), Code::kOk},
      {"single writer block", Cap(AccessMode::SINGLE_NODE_WRITER, true), Code::kOk},
      {"single reader", Cap(AccessMode::SINGLE_NODE_READER_ONLY, false), Code::kOk},
      {"single node single writer", Cap(AccessMode::SINGLE_NODE_SINGLE_WRITER, false), Code::kOk},
      {"single node multi writer", Cap(AccessMode::SINGLE_NODE_MULTI_WRITER, false), Code::kOk},
      {"multi reader mount", Cap(AccessMode::MULTI_NODE_READER_ONLY, false), Code::kOk},
      {"multi writer block", Cap(AccessMode::MULTI_NODE_MULTI_WRITER, true), Code::kOk},
      {"ext4", Cap(AccessMode::SINGLE_NODE_WRITER, false, "ext4"), Code::kOk},
      {"xfs", Cap(AccessMode::SINGLE_NODE_WRITER, false, "xfs"), Code::kOk},
      {"multi writer mount", Cap(AccessMode::MULTI_NODE_MULTI_WRITER, false),
       Code::kInvalidArgument},
      {"multi node single writer", Cap(AccessMode::MULTI_NODE_SINGLE_WRITER, true),
       Code::kInvalidArgument},
      {"nfs", Cap(AccessMode::SINGLE_NODE_WRITER, false, "nfs"), Code::kInvalidArgument},
      {"unknown mode", Cap(AccessMode::UNKNOWN, false), Code::kInvalidArgument},
      {"no access mode", no_mode, Code::kInvalidArgument},
      {"no access type", no_type, Code::kInvalidArgument},
  };
  for (const CapabilityCase& c : cases) {
    EXPECT_THAT(CheckCapabilitySupported(c.capability, "volume_capability"), StatusIs(c.code))
        << c.name;
  }
}

TEST(SummarizeCapabilitiesTest, CollectsAccessTypesAndTheOneFsType) {
  google::protobuf::RepeatedPtrField<csi::v1::VolumeCapability> caps;
  *caps.Add() = Cap(AccessMode::SINGLE_NODE_WRITER, false, "xfs");
  *caps.Add() = Cap(AccessMode::MULTI_NODE_READER_ONLY, false);
  *caps.Add() = Cap(AccessMode::SINGLE_NODE_WRITER, true);
  absl::StatusOr<CapabilitySummary> summary = SummarizeCapabilities(caps, "volume_capabilities");
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->access_types, kAccessBlock | kAccessMount);
  EXPECT_EQ(summary->mount_fs_type, "xfs");
}

TEST(SummarizeCapabilitiesTest, RefusesAnEmptyListAndTwoFilesystems) {
  google::protobuf::RepeatedPtrField<csi::v1::VolumeCapability> caps;
  EXPECT_THAT(SummarizeCapabilities(caps, "volume_capabilities"), StatusIs(Code::kInvalidArgument));
  *caps.Add() = Cap(AccessMode::SINGLE_NODE_WRITER, false, "xfs");
  *caps.Add() = Cap(AccessMode::SINGLE_NODE_WRITER, false, "ext4");
  EXPECT_THAT(SummarizeCapabilities(caps, "volume_capabilities"), StatusIs(Code::kInvalidArgument));
}

TEST(AccessModeTest, ClassifiesSingleNodeAndReadOnlyModes) {
  EXPECT_TRUE(AccessModeIsSingleNode(AccessMode::SINGLE_NODE_MULTI_WRITER));
  EXPECT_FALSE(AccessModeIsSingleNode(AccessMode::MULTI_NODE_READER_ONLY));
  EXPECT_TRUE(AccessModeIsReadOnly(AccessMode::MULTI_NODE_READER_ONLY));
  EXPECT_TRUE(AccessModeIsReadOnly(AccessMode::SINGLE_NODE_READER_ONLY));
  EXPECT_FALSE(AccessModeIsReadOnly(AccessMode::MULTI_NODE_MULTI_WRITER));
}

TEST(ParseTopologyTest, AppliesTheCsiKeyAndValueRules) {
  struct Case {
    std::string name;
    std::vector<std::string> items;
    Code code;
  };
  const std::vector<Case> cases = {
      {"none", {}, Code::kOk},
      {"plain key", {"zone=z1"}, Code::kOk},
      {"prefixed key", {"topology.kubernetes.io/zone=eu-west-1a"}, Code::kOk},
      {"two keys", {"topology.iscsi-csi.io/rack=r3", "topology.iscsi-csi.io/zone=z1"}, Code::kOk},
      {"no equals sign", {"zone"}, Code::kInvalidArgument},
      {"empty value", {"zone="}, Code::kInvalidArgument},
      {"value ends with dash", {"zone=z1-"}, Code::kInvalidArgument},
      {"upper-case prefix", {"Topology.io/zone=z1"}, Code::kInvalidArgument},
      {"name too long", {std::string(64, 'k') + "=v"}, Code::kInvalidArgument},
      {"same key twice ignoring case", {"zone=a", "Zone=a"}, Code::kInvalidArgument},
  };
  for (const Case& c : cases) EXPECT_THAT(ParseTopology(c.items), StatusIs(c.code)) << c.name;
}

csi::v1::Topology Segments(std::map<std::string, std::string> segments) {
  csi::v1::Topology topology;
  for (const auto& [key, value] : segments) (*topology.mutable_segments())[key] = value;
  return topology;
}

TEST(TopologyCoversTest, MatchesKeysCaseInsensitivelyAndAllowsMoreSpecificSegments) {
  const Topology ours = {{"zone", "z1"}};
  EXPECT_TRUE(TopologyCovers(ours, Segments({{"zone", "z1"}})));
  EXPECT_TRUE(TopologyCovers(ours, Segments({{"Zone", "z1"}})));
  EXPECT_TRUE(TopologyCovers(ours, Segments({{"zone", "z1"}, {"rack", "r1"}})));
  EXPECT_FALSE(TopologyCovers(ours, Segments({{"zone", "z2"}})));
  EXPECT_FALSE(TopologyCovers(ours, Segments({{"rack", "r1"}})));
}

TEST(CheckAccessibilityTest, NeedsOneRequisiteInOurSegment) {
  const Topology ours = {{"zone", "z1"}};
  csi::v1::TopologyRequirement requirement;
  EXPECT_THAT(CheckAccessibility(ours, requirement), IsOk());
  *requirement.add_preferred() = Segments({{"zone", "z2"}});
  EXPECT_THAT(CheckAccessibility(ours, requirement), IsOk()) << "preferred only never fails";
  *requirement.add_requisite() = Segments({{"zone", "z2"}});
  EXPECT_THAT(CheckAccessibility(ours, requirement), StatusIs(Code::kResourceExhausted));
  *requirement.add_requisite() = Segments({{"zone", "z1"}});
  EXPECT_THAT(CheckAccessibility(ours, requirement), IsOk());
  EXPECT_THAT(CheckAccessibility({}, requirement), IsOk()) << "no topology: no constraint";
}

}  // namespace
}  // namespace iscsi_csi::controller
