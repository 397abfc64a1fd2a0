// VolumeManager over a real catalogue and pool (temp dirs) with a fake export backend:
// provisioning decisions, idempotency, access rules, CHAP, rollback on failures, and crash
// recovery from every intermediate state the crash ordering (catalog.cc) can leave.
#include "controller/volume_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/volume_context.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "target/standalone/standalone.h"
#include "tests/controller/csi_requests.h"
#include "tests/controller/fake_export_backend.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::BlockCap;
using ::iscsi_csi::controller::testing::CloneRequest;
using ::iscsi_csi::controller::testing::CreateRequest;
using ::iscsi_csi::controller::testing::DeleteRequest;
using ::iscsi_csi::controller::testing::ExpandRequest;
using ::iscsi_csi::controller::testing::FakeExportBackend;
using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::kMiB;
using ::iscsi_csi::controller::testing::MountCap;
using ::iscsi_csi::controller::testing::PublishRequest;
using ::iscsi_csi::controller::testing::RestoreRequest;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::SnapshotRequest;
using ::iscsi_csi::controller::testing::StatusIs;
using ::iscsi_csi::controller::testing::UnpublishRequest;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using AccessMode = csi::v1::VolumeCapability::AccessMode;
using Code = absl::StatusCode;

std::string Initiator(const std::string& node) { return *InitiatorIqnForNode(node); }

std::map<std::string, std::string> AsMap(
    const google::protobuf::Map<std::string, std::string>& map) {
  return std::map<std::string, std::string>(map.begin(), map.end());
}

void WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(data.size()));
  close(fd);
}

std::string ReadAt(const std::string& path, uint64_t offset, size_t length) {
  int fd = open(path.c_str(), O_RDONLY);
  std::string out(length, '\0');
  const ssize_t n = pread(fd, out.data(), length, static_cast<off_t>(offset));
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

class VolumeManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    Start();
  }

  // Start (re)builds the manager over the same directory, as a restarted process would.
  void Start(VolumeManagerOptions options = {}) {
    manager_.reset();
    catalog_.reset();
    exports_ = std::make_unique<FakeExportBackend>();
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(dir_ + "/catalog.db");
    ASSERT_THAT(catalog, IsOk());
    catalog_ = *std::move(catalog);
    pool_ = std::make_unique<Pool>(dir_);
    if (options.portals.empty()) options.portals = {"192.0.2.10:3260"};
    options.default_volume_bytes = 8 * kMiB;
    manager_ =
        std::make_unique<VolumeManager>(options, catalog_.get(), pool_.get(), exports_.get());
    ASSERT_THAT(manager_->Recover(), IsOk());
  }

  csi::v1::Volume Create(const csi::v1::CreateVolumeRequest& request) {
    csi::v1::CreateVolumeResponse response;
    EXPECT_THAT(manager_->CreateVolume(request, &response), IsOk()) << request.name();
    return response.volume();
  }
  csi::v1::Volume Create(const std::string& name, int64_t bytes = 16 * kMiB) {
    return Create(CreateRequest(name, bytes));
  }
  absl::Status TryCreate(const csi::v1::CreateVolumeRequest& request) {
    csi::v1::CreateVolumeResponse response;
    return manager_->CreateVolume(request, &response);
  }
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> Publish(
      const csi::v1::ControllerPublishVolumeRequest& request) {
    csi::v1::ControllerPublishVolumeResponse response;
    absl::Status status = manager_->ControllerPublishVolume(request, &response);
    if (!status.ok()) return status;
    return response;
  }
  csi::v1::Snapshot Snapshot(const std::string& name, const std::string& volume_id) {
    csi::v1::CreateSnapshotResponse response;
    EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest(name, volume_id), &response), IsOk());
    return response.snapshot();
  }
  std::optional<FakeExportBackend::Exported> ExportOf(const std::string& volume_id) {
    return exports_->Get(TargetIqnForVolume(volume_id));
  }
  csi::v1::ControllerGetVolumeResponse Get(const std::string& volume_id) {
    csi::v1::ControllerGetVolumeRequest request;
    request.set_volume_id(volume_id);
    csi::v1::ControllerGetVolumeResponse response;
    EXPECT_THAT(manager_->ControllerGetVolume(request, &response), IsOk());
    return response;
  }

  std::string dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<FakeExportBackend> exports_;
  std::unique_ptr<VolumeManager> manager_;
};

// --- CreateVolume -----------------------------------------------------------------------------

TEST_F(VolumeManagerTest, CreateVolumeWritesTheFileExportsItLockedAndDescribesIt) {
  csi::v1::CreateVolumeRequest request = CreateRequest("pvc-a", 10 * kMiB + 1, MountCap());
  (*request.mutable_parameters())["blockSize"] = "4096";
  (*request.mutable_parameters())["fsType"] = "xfs";
  csi::v1::Volume volume = Create(request);
  EXPECT_TRUE(absl::StartsWith(volume.volume_id(), "vol-"));
  EXPECT_EQ(volume.capacity_bytes(), 10 * kMiB + 4096) << "rounded up to the block size";
  const auto& context = volume.volume_context();
  EXPECT_EQ(context.at(kCtxPortals), "192.0.2.10:3260");
  EXPECT_EQ(context.at(kCtxTargetIqn), TargetIqnForVolume(volume.volume_id()));
  EXPECT_EQ(context.at(kCtxLun), "0");
  EXPECT_EQ(context.at(kCtxBlockSize), "4096");
  EXPECT_EQ(context.at(kCtxFsType), "xfs");
  const std::array<uint8_t, 16> wwn = target::DeriveNaaWwn(volume.volume_id());
  EXPECT_EQ(context.at(kCtxWwn), absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<const char*>(wwn.data()), 16)));
  EXPECT_EQ(**pool_->FileSize(pool_->VolumePath(volume.volume_id())),
            static_cast<uint64_t>(volume.capacity_bytes()));
  std::optional<FakeExportBackend::Exported> exported = ExportOf(volume.volume_id());
  ASSERT_TRUE(exported.has_value());
  EXPECT_THAT(exported->config.initiators, IsEmpty()) << "nobody may log in before a publish";
  EXPECT_EQ(exported->config.block_size, 4096u);
  EXPECT_FALSE(exported->config.read_only);
  EXPECT_EQ(exported->config.naa_wwn, wwn);
  EXPECT_EQ(exported->config.chap.secret.size(), 32u);
  EXPECT_TRUE(volume.accessible_topology().empty());
}

TEST_F(VolumeManagerTest, CreateVolumeWithoutCapacityRangeUsesTheDefaultSize) {
  EXPECT_EQ(Create(CreateRequest("pvc-default", 0)).capacity_bytes(), 8 * kMiB);
}

TEST_F(VolumeManagerTest, CreateVolumeIsIdempotentByName) {
  csi::v1::Volume first = Create("pvc-a");
  csi::v1::Volume second = Create("pvc-a");
  EXPECT_EQ(first.volume_id(), second.volume_id());
  EXPECT_EQ(AsMap(first.volume_context()), AsMap(second.volume_context()));
  csi::v1::ListVolumesResponse list;
  ASSERT_THAT(manager_->ListVolumes({}, &list), IsOk());
  EXPECT_EQ(list.entries_size(), 1);
}

TEST_F(VolumeManagerTest, CreateVolumeWithTheSameNameButIncompatibleRequestIsAlreadyExists) {
  csi::v1::CreateVolumeRequest base = CreateRequest("pvc-a", 16 * kMiB);
  (*base.mutable_parameters())["fsType"] = "ext4";
  (*base.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = "a";
  Create(base);
  csi::v1::Volume source = Create("pvc-source");
  struct Case {
    std::string name;
    csi::v1::CreateVolumeRequest request;
    Code code;
  };
  std::vector<Case> cases;
  {
    Case c{"same request, other metadata", base, Code::kOk};
    (*c.request.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = "b";
    cases.push_back(c);
  }
  {
    Case c{"range the volume fits", base, Code::kOk};
    c.request.mutable_capacity_range()->set_required_bytes(kMiB);
    c.request.mutable_capacity_range()->set_limit_bytes(32 * kMiB);
    cases.push_back(c);
  }
  {
    Case c{"larger capacity", base, Code::kAlreadyExists};
    c.request.mutable_capacity_range()->set_required_bytes(32 * kMiB);
    cases.push_back(c);
  }
  {
    Case c{"limit below the capacity", base, Code::kAlreadyExists};
    c.request.mutable_capacity_range()->set_required_bytes(kMiB);
    c.request.mutable_capacity_range()->set_limit_bytes(8 * kMiB);
    cases.push_back(c);
  }
  {
    Case c{"block instead of mount", base, Code::kAlreadyExists};
    *c.request.mutable_volume_capabilities(0) = BlockCap();
    cases.push_back(c);
  }
  {
    Case c{"other fsType", base, Code::kAlreadyExists};
    (*c.request.mutable_parameters())["fsType"] = "xfs";
    cases.push_back(c);
  }
  {
    Case c{"extra blockSize", base, Code::kAlreadyExists};
    (*c.request.mutable_parameters())["blockSize"] = "512";
    cases.push_back(c);
  }
  {
    Case c{"with a content source", base, Code::kAlreadyExists};
    c.request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
    cases.push_back(c);
  }
  for (const Case& c : cases) EXPECT_THAT(TryCreate(c.request), StatusIs(c.code)) << c.name;
}

TEST_F(VolumeManagerTest, CreateVolumeRefusesMalformedRequestsNamingTheField) {
  struct Case {
    std::string name;
    csi::v1::CreateVolumeRequest request;
    Code code;
  };
  std::vector<Case> cases;
  cases.push_back({"no name", CreateRequest(""), Code::kInvalidArgument});
  {
    Case c{"no capabilities", CreateRequest("a"), Code::kInvalidArgument};
    c.request.clear_volume_capabilities();
    cases.push_back(c);
  }
  {
    Case c{"capability without access mode", CreateRequest("a"), Code::kInvalidArgument};
    c.request.mutable_volume_capabilities(0)->clear_access_mode();
    cases.push_back(c);
  }
  cases.push_back({"multi-node writer on a filesystem",
                   CreateRequest("a", kMiB, MountCap(AccessMode::MULTI_NODE_MULTI_WRITER)),
                   Code::kInvalidArgument});
  cases.push_back({"multi-node writer on a block volume",
                   CreateRequest("mnmw", kMiB, BlockCap(AccessMode::MULTI_NODE_MULTI_WRITER)),
                   Code::kOk});
  {
    Case c{"unknown parameter", CreateRequest("a"), Code::kInvalidArgument};
    (*c.request.mutable_parameters())["replicas"] = "3";
    cases.push_back(c);
  }
  {
    Case c{"fsType disagrees with the capability",
           CreateRequest("a", kMiB, MountCap(AccessMode::SINGLE_NODE_WRITER, "xfs")),
           Code::kInvalidArgument};
    (*c.request.mutable_parameters())["fsType"] = "ext4";
    cases.push_back(c);
  }
  {
    Case c{"mutable parameters", CreateRequest("a"), Code::kInvalidArgument};
    (*c.request.mutable_mutable_parameters())["iops"] = "100";
    cases.push_back(c);
  }
  {
    Case c{"required above limit", CreateRequest("a", 2 * kMiB), Code::kInvalidArgument};
    c.request.mutable_capacity_range()->set_limit_bytes(kMiB);
    cases.push_back(c);
  }
  {
    Case c{"negative required", CreateRequest("a"), Code::kInvalidArgument};
    c.request.mutable_capacity_range()->set_required_bytes(-1);
    cases.push_back(c);
  }
  {
    Case c{"rounding crosses the limit", CreateRequest("a", 1000), Code::kOutOfRange};
    c.request.mutable_capacity_range()->set_limit_bytes(1000);
    cases.push_back(c);
  }
  {
    Case c{"empty content source", CreateRequest("a"), Code::kInvalidArgument};
    c.request.mutable_volume_content_source();
    cases.push_back(c);
  }
  cases.push_back({"source snapshot without id", RestoreRequest("a", ""), Code::kInvalidArgument});
  cases.push_back(
      {"unknown source volume", CloneRequest("a", "vol-0123456789abcdef"), Code::kNotFound});
  cases.push_back({"foreign source volume id", CloneRequest("a", "pvc-1"), Code::kNotFound});
  cases.push_back(
      {"unknown source snapshot", RestoreRequest("a", "snap-0123456789abcdef"), Code::kNotFound});
  cases.push_back(
      {"more than the pool holds", CreateRequest("huge", 1ll << 60), Code::kResourceExhausted});
  for (const Case& c : cases) EXPECT_THAT(TryCreate(c.request), StatusIs(c.code)) << c.name;
  // Nothing but the valid one was left behind.
  EXPECT_EQ(catalog_->ListVolumes("", 0, false)->size(), 1u);
  EXPECT_EQ(pool_->ListFiles(pool_->volumes_dir())->size(), 1u);
}

TEST_F(VolumeManagerTest, CapacityFlagCountsProvisionedBytes) {
  VolumeManagerOptions options;
  options.capacity_bytes = 40 * kMiB;
  Start(options);
  csi::v1::Volume a = Create("a", 16 * kMiB);
  Create("b", 16 * kMiB);
  EXPECT_THAT(TryCreate(CreateRequest("c", 16 * kMiB)), StatusIs(Code::kResourceExhausted));
  csi::v1::GetCapacityResponse capacity;
  ASSERT_THAT(manager_->GetCapacity({}, &capacity), IsOk());
  EXPECT_EQ(capacity.available_capacity(), 8 * kMiB);
  EXPECT_EQ(capacity.maximum_volume_size().value(), 8 * kMiB);
  // A snapshot is an independent copy and counts too.
  csi::v1::CreateSnapshotResponse snapshot;
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("s", a.volume_id()), &snapshot),
              StatusIs(Code::kResourceExhausted));
  ASSERT_THAT(manager_->DeleteVolume(DeleteRequest(a.volume_id())), IsOk());
  Create("c", 16 * kMiB);
}

TEST_F(VolumeManagerTest, AFailedExportLeavesNoVolumeBehind) {
  exports_->FailNext("export", absl::InternalError("target refused"));
  EXPECT_THAT(TryCreate(CreateRequest("a")), StatusIs(Code::kInternal));
  EXPECT_TRUE(catalog_->ListVolumes("", 0, false)->empty());
  EXPECT_TRUE(pool_->ListFiles(pool_->volumes_dir())->empty());
  Create("a");  // a retry succeeds
}

TEST_F(VolumeManagerTest, AFailureAfterTheFileIsWrittenIsUndone) {
  manager_->SetStepHookForTest([](absl::string_view step) {
    return step == "create:file" ? absl::UnavailableError("injected") : absl::OkStatus();
  });
  EXPECT_THAT(TryCreate(CreateRequest("a")), StatusIs(Code::kUnavailable));
  EXPECT_TRUE(catalog_->ListVolumes("", 0, false)->empty());
  EXPECT_TRUE(pool_->ListFiles(pool_->volumes_dir())->empty());
  EXPECT_EQ(exports_->exported_count(), 0u);
}

TEST_F(VolumeManagerTest, TopologyIsReportedAndRequisitesOutsideItAreRefused) {
  VolumeManagerOptions options;
  options.topology = {{"topology.iscsi-csi.io/zone", "z1"}};
  Start(options);
  csi::v1::CreateVolumeRequest request = CreateRequest("a");
  (*request.mutable_accessibility_requirements()
        ->add_requisite()
        ->mutable_segments())["topology.iscsi-csi.io/zone"] = "z2";
  EXPECT_THAT(TryCreate(request), StatusIs(Code::kResourceExhausted));
  (*request.mutable_accessibility_requirements()
        ->add_requisite()
        ->mutable_segments())["topology.iscsi-csi.io/zone"] = "z1";
  csi::v1::Volume volume = Create(request);
  ASSERT_EQ(volume.accessible_topology_size(), 1);
  EXPECT_EQ(volume.accessible_topology(0).segments().at("topology.iscsi-csi.io/zone"), "z1");

  csi::v1::GetCapacityRequest elsewhere;
  (*elsewhere.mutable_accessible_topology()->mutable_segments())["topology.iscsi-csi.io/zone"] =
      "z2";
  csi::v1::GetCapacityResponse capacity;
  ASSERT_THAT(manager_->GetCapacity(elsewhere, &capacity), IsOk());
  EXPECT_EQ(capacity.available_capacity(), 0);
  csi::v1::GetCapacityRequest here = elsewhere;
  (*here.mutable_accessible_topology()->mutable_segments())["topology.iscsi-csi.io/zone"] = "z1";
  ASSERT_THAT(manager_->GetCapacity(here, &capacity), IsOk());
  EXPECT_GT(capacity.available_capacity(), 0);
}

// --- Clones and snapshots ---------------------------------------------------------------------

TEST_F(VolumeManagerTest, ClonesAndRestoresCarryTheDataAndGrowToTheRequestedSize) {
  csi::v1::Volume source = Create("source", 8 * kMiB);
  const std::string source_path = pool_->VolumePath(source.volume_id());
  WriteAt(source_path, 4096, "before the snapshot");
  csi::v1::Snapshot snapshot = Snapshot("snap", source.volume_id());
  EXPECT_TRUE(snapshot.ready_to_use());
  EXPECT_EQ(snapshot.size_bytes(), 8 * kMiB);
  EXPECT_EQ(snapshot.source_volume_id(), source.volume_id());
  EXPECT_GT(snapshot.creation_time().seconds(), 0);
  WriteAt(source_path, 4096, "after  the snapshot");

  csi::v1::Volume clone = Create(CloneRequest("clone", source.volume_id()));
  EXPECT_EQ(clone.capacity_bytes(), 8 * kMiB) << "a clone defaults to its source's size";
  EXPECT_EQ(clone.content_source().volume().volume_id(), source.volume_id());
  EXPECT_EQ(ReadAt(pool_->VolumePath(clone.volume_id()), 4096, 19), "after  the snapshot");

  csi::v1::Volume restored = Create(RestoreRequest("restored", snapshot.snapshot_id(), 12 * kMiB));
  EXPECT_EQ(restored.capacity_bytes(), 12 * kMiB);
  EXPECT_EQ(restored.content_source().snapshot().snapshot_id(), snapshot.snapshot_id());
  EXPECT_EQ(ReadAt(pool_->VolumePath(restored.volume_id()), 4096, 19), "before the snapshot");
  EXPECT_EQ(**pool_->FileSize(pool_->VolumePath(restored.volume_id())), 12 * kMiB);
}

TEST_F(VolumeManagerTest, ClonesInheritBlockSizeAndFsTypeAndRefuseContradictions) {
  csi::v1::CreateVolumeRequest request = CreateRequest("source", 8 * kMiB);
  (*request.mutable_parameters())["blockSize"] = "4096";
  (*request.mutable_parameters())["fsType"] = "xfs";
  csi::v1::Volume source = Create(request);
  csi::v1::Volume clone = Create(CloneRequest("clone", source.volume_id()));
  EXPECT_EQ(clone.volume_context().at(kCtxBlockSize), "4096");
  EXPECT_EQ(clone.volume_context().at(kCtxFsType), "xfs");
  csi::v1::CreateVolumeRequest other_block = CloneRequest("c2", source.volume_id());
  (*other_block.mutable_parameters())["blockSize"] = "512";
  EXPECT_THAT(TryCreate(other_block), StatusIs(Code::kInvalidArgument));
  csi::v1::CreateVolumeRequest other_fs = CloneRequest("c3", source.volume_id());
  (*other_fs.mutable_parameters())["fsType"] = "ext4";
  EXPECT_THAT(TryCreate(other_fs), StatusIs(Code::kInvalidArgument));
  csi::v1::CreateVolumeRequest too_small = CloneRequest("c4", source.volume_id(), kMiB);
  too_small.mutable_capacity_range()->set_limit_bytes(kMiB);
  EXPECT_THAT(TryCreate(too_small), StatusIs(Code::kOutOfRange));
}

TEST_F(VolumeManagerTest, CreateSnapshotIsIdempotentByNameAndChecksItsSource) {
  csi::v1::Volume a = Create("a");
  csi::v1::Volume b = Create("b");
  csi::v1::Snapshot first = Snapshot("snap", a.volume_id());
  csi::v1::Snapshot again = Snapshot("snap", a.volume_id());
  EXPECT_EQ(first.snapshot_id(), again.snapshot_id());
  EXPECT_EQ(first.creation_time().seconds(), again.creation_time().seconds());
  csi::v1::CreateSnapshotResponse response;
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("snap", b.volume_id()), &response),
              StatusIs(Code::kAlreadyExists));
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("s2", "vol-0123456789abcdef"), &response),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("", a.volume_id()), &response),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("s3", ""), &response),
              StatusIs(Code::kInvalidArgument));
  csi::v1::CreateSnapshotRequest with_parameter = SnapshotRequest("s4", a.volume_id());
  (*with_parameter.mutable_parameters())["retention"] = "7d";
  EXPECT_THAT(manager_->CreateSnapshot(with_parameter, &response),
              StatusIs(Code::kInvalidArgument));
}

TEST_F(VolumeManagerTest, SnapshotsAreIndependentOfTheirSourceVolume) {
  csi::v1::Volume source = Create("source", 4 * kMiB);
  WriteAt(pool_->VolumePath(source.volume_id()), 0, "keep me");
  csi::v1::Snapshot snapshot = Snapshot("snap", source.volume_id());
  ASSERT_THAT(manager_->DeleteVolume(DeleteRequest(source.volume_id())), IsOk());
  csi::v1::ListSnapshotsRequest list_request;
  list_request.set_snapshot_id(snapshot.snapshot_id());
  csi::v1::ListSnapshotsResponse list;
  ASSERT_THAT(manager_->ListSnapshots(list_request, &list), IsOk());
  ASSERT_EQ(list.entries_size(), 1);
  csi::v1::Volume restored = Create(RestoreRequest("restored", snapshot.snapshot_id()));
  EXPECT_EQ(ReadAt(pool_->VolumePath(restored.volume_id()), 0, 7), "keep me");
}

TEST_F(VolumeManagerTest, DeleteSnapshotIsIdempotent) {
  csi::v1::Snapshot snapshot = Snapshot("snap", Create("a").volume_id());
  csi::v1::DeleteSnapshotRequest request;
  request.set_snapshot_id(snapshot.snapshot_id());
  ASSERT_THAT(manager_->DeleteSnapshot(request), IsOk());
  ASSERT_THAT(manager_->DeleteSnapshot(request), IsOk());
  request.set_snapshot_id("not-ours");
  ASSERT_THAT(manager_->DeleteSnapshot(request), IsOk());
  request.set_snapshot_id("");
  EXPECT_THAT(manager_->DeleteSnapshot(request), StatusIs(Code::kInvalidArgument));
  EXPECT_TRUE(pool_->ListFiles(pool_->snapshots_dir())->empty());
}

TEST_F(VolumeManagerTest, ListSnapshotsPagesAndFilters) {
  csi::v1::Volume a = Create("a", kMiB);
  csi::v1::Volume b = Create("b", kMiB);
  std::set<std::string> of_a;
  for (int i = 0; i < 5; ++i)
    of_a.insert(Snapshot(absl::StrCat("a", i), a.volume_id()).snapshot_id());
  Snapshot("b0", b.volume_id());
  std::set<std::string> seen;
  csi::v1::ListSnapshotsRequest request;
  request.set_max_entries(2);
  request.set_source_volume_id(a.volume_id());
  int pages = 0;
  do {
    csi::v1::ListSnapshotsResponse page;
    ASSERT_THAT(manager_->ListSnapshots(request, &page), IsOk());
    EXPECT_LE(page.entries_size(), 2);
    for (const auto& entry : page.entries()) seen.insert(entry.snapshot().snapshot_id());
    request.set_starting_token(page.next_token());
    ++pages;
  } while (!request.starting_token().empty());
  EXPECT_EQ(seen, of_a);
  EXPECT_EQ(pages, 3);
  request.set_starting_token("garbage");
  csi::v1::ListSnapshotsResponse page;
  EXPECT_THAT(manager_->ListSnapshots(request, &page), StatusIs(Code::kAborted));
  request.Clear();
  request.set_snapshot_id("snap-0123456789abcdef");
  ASSERT_THAT(manager_->ListSnapshots(request, &page), IsOk());
  EXPECT_EQ(page.entries_size(), 0) << "an unknown id lists nothing";
}

// --- Publish / Unpublish ------------------------------------------------------------------------

TEST_F(VolumeManagerTest, PublishAdmitsExactlyThatNodeAndHandsOutTheVolumesChap) {
  csi::v1::Volume volume = Create("a");
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> published =
      Publish(PublishRequest(volume.volume_id(), "Node-1"));
  ASSERT_THAT(published, IsOk());
  std::optional<FakeExportBackend::Exported> exported = ExportOf(volume.volume_id());
  ASSERT_TRUE(exported.has_value());
  EXPECT_THAT(exported->config.initiators, ElementsAre("iqn.2026-11.io.iscsi-csi:node.node-1"));
  const auto& context = published->publish_context();
  EXPECT_EQ(context.at(kPubChapUser), exported->config.chap.user);
  EXPECT_EQ(context.at(kPubChapSecret), exported->config.chap.secret);
  EXPECT_EQ(context.at(kPubChapTargetUser), exported->config.chap.target_user);
  EXPECT_EQ(context.at(kPubChapTargetSecret), exported->config.chap.target_secret);
  // Publishing again to the same node is OK with the same context.
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> again =
      Publish(PublishRequest(volume.volume_id(), "Node-1"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(AsMap(again->publish_context()), AsMap(published->publish_context()));
  EXPECT_THAT(Get(volume.volume_id()).status().published_node_ids(), ElementsAre("Node-1"));
}

TEST_F(VolumeManagerTest, PublishFollowsTheAccessModeRules) {
  const std::string id = Create("a").volume_id();
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  struct Case {
    std::string name;
    csi::v1::ControllerPublishVolumeRequest request;
    Code code;
  };
  const std::vector<Case> cases = {
      {"single-node volume on a second node", PublishRequest(id, "node-2"),
       Code::kFailedPrecondition},
      {"same node, read-only now", PublishRequest(id, "node-1", MountCap(), true),
       Code::kAlreadyExists},
      {"same node, block now", PublishRequest(id, "node-1", BlockCap()), Code::kAlreadyExists},
      {"same node, other mode",
       PublishRequest(id, "node-1", MountCap(AccessMode::SINGLE_NODE_MULTI_WRITER)),
       Code::kAlreadyExists},
      {"unknown volume", PublishRequest("vol-0123456789abcdef", "node-1"), Code::kNotFound},
      {"foreign volume id", PublishRequest("pvc-1", "node-1"), Code::kNotFound},
      {"no volume id", PublishRequest("", "node-1"), Code::kInvalidArgument},
      {"no node id", PublishRequest(id, ""), Code::kInvalidArgument},
      {"node id an IQN cannot carry", PublishRequest(id, "node_1"), Code::kInvalidArgument},
      {"multi-node writer on a filesystem",
       PublishRequest(id, "node-1", MountCap(AccessMode::MULTI_NODE_MULTI_WRITER)),
       Code::kInvalidArgument},
  };
  for (const Case& c : cases) EXPECT_THAT(Publish(c.request), StatusIs(c.code)) << c.name;
  csi::v1::ControllerPublishVolumeRequest no_capability = PublishRequest(id, "node-1");
  no_capability.clear_volume_capability();
  EXPECT_THAT(Publish(no_capability), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(Get(id).status().published_node_ids(), ElementsAre("node-1"));
}

TEST_F(VolumeManagerTest, ReadOnlyPublicationsExportTheLunReadOnlyForEveryNode) {
  const std::string id = Create("a").volume_id();
  const csi::v1::VolumeCapability rox = MountCap(AccessMode::MULTI_NODE_READER_ONLY);
  ASSERT_THAT(Publish(PublishRequest(id, "node-1", rox, true)), IsOk());
  ASSERT_THAT(Publish(PublishRequest(id, "node-2", rox, false)), IsOk())
      << "a reader-only mode is read-only even without the flag";
  std::optional<FakeExportBackend::Exported> exported = ExportOf(id);
  ASSERT_TRUE(exported.has_value());
  EXPECT_TRUE(exported->config.read_only);
  EXPECT_THAT(exported->config.initiators,
              UnorderedElementsAre(Initiator("node-1"), Initiator("node-2")));
  // A writer cannot join: the target cannot make one node read-write and the others not.
  EXPECT_THAT(Publish(PublishRequest(id, "node-3", BlockCap(AccessMode::MULTI_NODE_MULTI_WRITER))),
              StatusIs(Code::kFailedPrecondition));
  // Once every reader is gone a writer may publish, and the LUN turns read-write.
  ASSERT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "")), IsOk());
  ASSERT_THAT(Publish(PublishRequest(id, "node-3", MountCap())), IsOk());
  exported = ExportOf(id);
  EXPECT_FALSE(exported->config.read_only);
  EXPECT_EQ(exported->lun_exports, 3) << "created, flipped to read-only, flipped back";
}

TEST_F(VolumeManagerTest, MultiNodeWritersShareABlockVolume) {
  const std::string id = Create(CreateRequest("a", kMiB, BlockCap())).volume_id();
  const csi::v1::VolumeCapability rwx = BlockCap(AccessMode::MULTI_NODE_MULTI_WRITER);
  ASSERT_THAT(Publish(PublishRequest(id, "node-1", rwx)), IsOk());
  ASSERT_THAT(Publish(PublishRequest(id, "node-2", rwx)), IsOk());
  EXPECT_THAT(Publish(PublishRequest(id, "node-3", BlockCap())),
              StatusIs(Code::kFailedPrecondition))
      << "a single-node mode cannot join a shared volume";
  EXPECT_FALSE(ExportOf(id)->config.read_only);
}

TEST_F(VolumeManagerTest, PublishSecretsReplaceTheGeneratedChapCredentials) {
  const std::string id = Create(CreateRequest("a", kMiB, BlockCap())).volume_id();
  csi::v1::ControllerPublishVolumeRequest request =
      PublishRequest(id, "node-1", BlockCap(AccessMode::MULTI_NODE_MULTI_WRITER));
  (*request.mutable_secrets())[kPubChapUser] = "site-user";
  (*request.mutable_secrets())[kPubChapSecret] = "site-secret-0001";
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> published = Publish(request);
  ASSERT_THAT(published, IsOk());
  EXPECT_EQ(published->publish_context().at(kPubChapUser), "site-user");
  EXPECT_FALSE(published->publish_context().contains(kPubChapTargetUser));
  EXPECT_EQ(ExportOf(id)->config.chap.secret, "site-secret-0001");
  // A second node with other secrets would lock the first one out.
  csi::v1::ControllerPublishVolumeRequest other = request;
  other.set_node_id("node-2");
  (*other.mutable_secrets())[kPubChapSecret] = "site-secret-0002";
  EXPECT_THAT(Publish(other), StatusIs(Code::kFailedPrecondition));
  // Without secrets the volume keeps the ones it has.
  csi::v1::ControllerPublishVolumeRequest plain = request;
  plain.set_node_id("node-2");
  plain.clear_secrets();
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> second = Publish(plain);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->publish_context().at(kPubChapSecret), "site-secret-0001");
  // Half a pair is refused.
  csi::v1::ControllerPublishVolumeRequest half = request;
  half.mutable_secrets()->erase(kPubChapSecret);
  EXPECT_THAT(Publish(half), StatusIs(Code::kInvalidArgument));
}

TEST_F(VolumeManagerTest, AFailedAclChangeLeavesThePublicationUnrecorded) {
  const std::string id = Create("a").volume_id();
  exports_->FailNext("export", absl::InternalError("acl"));
  EXPECT_THAT(Publish(PublishRequest(id, "node-1")), StatusIs(Code::kInternal));
  EXPECT_TRUE(catalog_->Publications(id)->empty());
  ASSERT_THAT(Publish(PublishRequest(id, "node-2")), IsOk()) << "node-1 did not stick";
}

TEST_F(VolumeManagerTest, UnpublishRevokesClosesSessionsAndIsIdempotent) {
  const std::string id = Create("a").volume_id();
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  ASSERT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "node-1")), IsOk());
  EXPECT_THAT(ExportOf(id)->config.initiators, IsEmpty());
  EXPECT_THAT(exports_->calls(), Contains(absl::StrCat("close-sessions ", TargetIqnForVolume(id),
                                                       " ", Initiator("node-1"))));
  EXPECT_TRUE(catalog_->Publications(id)->empty());
  EXPECT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "node-1")), IsOk());
  EXPECT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "never-published")), IsOk());
  EXPECT_THAT(
      manager_->ControllerUnpublishVolume(UnpublishRequest("vol-0123456789abcdef", "node-1")),
      IsOk());
  EXPECT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest("", "node-1")),
              StatusIs(Code::kInvalidArgument));
  // Now node-2 may have it.
  ASSERT_THAT(Publish(PublishRequest(id, "node-2")), IsOk());
}

TEST_F(VolumeManagerTest, AFailedRevocationKeepsThePublicationForARetry) {
  const std::string id = Create("a").volume_id();
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  exports_->FailNext("set-initiators", absl::InternalError("acl"));
  EXPECT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "node-1")),
              StatusIs(Code::kInternal));
  EXPECT_EQ(catalog_->Publications(id)->size(), 1u);
  ASSERT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "node-1")), IsOk());
  EXPECT_THAT(ExportOf(id)->config.initiators, IsEmpty());
}

// --- Delete / Expand / List / Validate --------------------------------------------------------

TEST_F(VolumeManagerTest, DeleteVolumeIsIdempotentAndRefusesPublishedVolumes) {
  const std::string id = Create("a").volume_id();
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest(id)), StatusIs(Code::kFailedPrecondition));
  ASSERT_THAT(manager_->ControllerUnpublishVolume(UnpublishRequest(id, "node-1")), IsOk());
  ASSERT_THAT(manager_->DeleteVolume(DeleteRequest(id)), IsOk());
  EXPECT_FALSE(ExportOf(id).has_value());
  EXPECT_FALSE(pool_->FileSize(pool_->VolumePath(id))->has_value());
  EXPECT_FALSE(catalog_->GetVolume(id)->has_value());
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest(id)), IsOk());
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest("anything")), IsOk());
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest("")), StatusIs(Code::kInvalidArgument));
  Create("a");  // the name is free again
}

TEST_F(VolumeManagerTest, AnInterruptedDeleteIsFinishedByTheNextCall) {
  const std::string id = Create("a").volume_id();
  exports_->FailNext("unexport", absl::InternalError("busy"));
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest(id)), StatusIs(Code::kInternal));
  EXPECT_EQ((*catalog_->GetVolume(id))->state, RecordState::kDeleting);
  EXPECT_THAT(TryCreate(CreateRequest("a")), StatusIs(Code::kAborted))
      << "the name is still taken by the half-deleted volume";
  ASSERT_THAT(manager_->DeleteVolume(DeleteRequest(id)), IsOk());
  EXPECT_FALSE(catalog_->GetVolume(id)->has_value());
}

TEST_F(VolumeManagerTest, ExpandGrowsFileAndLunAndIsIdempotent) {
  const std::string id = Create("a", 8 * kMiB).volume_id();
  csi::v1::ControllerExpandVolumeResponse response;
  ASSERT_THAT(manager_->ControllerExpandVolume(ExpandRequest(id, 12 * kMiB + 1), &response),
              IsOk());
  EXPECT_EQ(response.capacity_bytes(), 12 * kMiB + 512);
  EXPECT_TRUE(response.node_expansion_required()) << "a mount volume needs resize2fs/xfs_growfs";
  EXPECT_EQ(**pool_->FileSize(pool_->VolumePath(id)), 12 * kMiB + 512);
  EXPECT_EQ(ExportOf(id)->size_bytes, 12 * kMiB + 512);
  EXPECT_EQ((*catalog_->GetVolume(id))->capacity_bytes, 12 * kMiB + 512);
  // Smaller or equal: OK with the current size.
  ASSERT_THAT(manager_->ControllerExpandVolume(ExpandRequest(id, 4 * kMiB), &response), IsOk());
  EXPECT_EQ(response.capacity_bytes(), 12 * kMiB + 512);
  // A block capability needs no node step.
  csi::v1::ControllerExpandVolumeRequest block = ExpandRequest(id, 16 * kMiB);
  *block.mutable_volume_capability() = BlockCap();
  ASSERT_THAT(manager_->ControllerExpandVolume(block, &response), IsOk());
  EXPECT_FALSE(response.node_expansion_required());
}

TEST_F(VolumeManagerTest, ExpandRefusesBadRanges) {
  const std::string id = Create("a", 8 * kMiB).volume_id();
  struct Case {
    std::string name;
    csi::v1::ControllerExpandVolumeRequest request;
    Code code;
  };
  std::vector<Case> cases;
  cases.push_back({"unknown volume", ExpandRequest("vol-0123456789abcdef", kMiB), Code::kNotFound});
  cases.push_back({"no volume id", ExpandRequest("", kMiB), Code::kInvalidArgument});
  {
    Case c{"no capacity range", ExpandRequest(id, kMiB), Code::kInvalidArgument};
    c.request.clear_capacity_range();
    cases.push_back(c);
  }
  {
    Case c{"limit below the current size", ExpandRequest(id, 0), Code::kOutOfRange};
    c.request.mutable_capacity_range()->set_limit_bytes(4 * kMiB);
    cases.push_back(c);
  }
  {
    Case c{"rounding crosses the limit", ExpandRequest(id, 9 * kMiB + 1), Code::kOutOfRange};
    c.request.mutable_capacity_range()->set_limit_bytes(9 * kMiB + 1);
    cases.push_back(c);
  }
  cases.push_back({"beyond the pool", ExpandRequest(id, 1ll << 60), Code::kResourceExhausted});
  for (const Case& c : cases) {
    csi::v1::ControllerExpandVolumeResponse response;
    EXPECT_THAT(manager_->ControllerExpandVolume(c.request, &response), StatusIs(c.code)) << c.name;
  }
  EXPECT_EQ((*catalog_->GetVolume(id))->capacity_bytes, 8u * kMiB);
}

TEST_F(VolumeManagerTest, AnExpansionInterruptedAfterTheRecordIsFinishedOnRetry) {
  const std::string id = Create("a", 8 * kMiB).volume_id();
  exports_->FailNext("resize", absl::InternalError("target busy"));
  csi::v1::ControllerExpandVolumeResponse response;
  EXPECT_THAT(manager_->ControllerExpandVolume(ExpandRequest(id, 16 * kMiB), &response),
              StatusIs(Code::kInternal));
  ASSERT_THAT(manager_->ControllerExpandVolume(ExpandRequest(id, 16 * kMiB), &response), IsOk());
  EXPECT_EQ(ExportOf(id)->size_bytes, 16u * kMiB) << "the retry resized the LUN";
}

TEST_F(VolumeManagerTest, ListVolumesPagesByIdWithPublishedNodesAndConditions) {
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.insert(Create(absl::StrCat("v", i), kMiB).volume_id());
  ASSERT_THAT(Publish(PublishRequest(*ids.begin(), "node-1")), IsOk());
  std::set<std::string> seen;
  csi::v1::ListVolumesRequest request;
  request.set_max_entries(3);
  std::vector<int> sizes;
  do {
    csi::v1::ListVolumesResponse page;
    ASSERT_THAT(manager_->ListVolumes(request, &page), IsOk());
    sizes.push_back(page.entries_size());
    for (const auto& entry : page.entries()) {
      seen.insert(entry.volume().volume_id());
      EXPECT_FALSE(entry.status().volume_condition().abnormal());
      if (entry.volume().volume_id() == *ids.begin()) {
        EXPECT_THAT(entry.status().published_node_ids(), ElementsAre("node-1"));
      } else {
        EXPECT_THAT(entry.status().published_node_ids(), IsEmpty());
      }
    }
    request.set_starting_token(page.next_token());
  } while (!request.starting_token().empty());
  EXPECT_EQ(seen, ids);
  EXPECT_THAT(sizes, ElementsAre(3, 3, 1));
  request.set_starting_token("page-2");
  csi::v1::ListVolumesResponse page;
  EXPECT_THAT(manager_->ListVolumes(request, &page), StatusIs(Code::kAborted));
  request.set_starting_token("");
  request.set_max_entries(-1);
  EXPECT_THAT(manager_->ListVolumes(request, &page), StatusIs(Code::kInvalidArgument));
}

TEST_F(VolumeManagerTest, ValidateVolumeCapabilitiesConfirmsOnlyWhatTheVolumeSupports) {
  csi::v1::CreateVolumeRequest create =
      CreateRequest("a", kMiB, MountCap(AccessMode::SINGLE_NODE_WRITER, "xfs"));
  csi::v1::Volume volume = Create(create);
  auto validate = [&](std::vector<csi::v1::VolumeCapability> caps,
                      std::map<std::string, std::string> parameters = {})
      -> absl::StatusOr<csi::v1::ValidateVolumeCapabilitiesResponse> {
    csi::v1::ValidateVolumeCapabilitiesRequest request;
    request.set_volume_id(volume.volume_id());
    for (auto& cap : caps) *request.add_volume_capabilities() = cap;
    for (auto& [k, v] : parameters) (*request.mutable_parameters())[k] = v;
    csi::v1::ValidateVolumeCapabilitiesResponse response;
    absl::Status status = manager_->ValidateVolumeCapabilities(request, &response);
    if (!status.ok()) return status;
    return response;
  };
  EXPECT_TRUE(
      validate({MountCap(), BlockCap(AccessMode::MULTI_NODE_MULTI_WRITER)})->has_confirmed());
  EXPECT_TRUE(validate({MountCap(AccessMode::MULTI_NODE_READER_ONLY, "xfs")})->has_confirmed());
  EXPECT_FALSE(validate({MountCap(AccessMode::SINGLE_NODE_WRITER, "ext4")})->has_confirmed());
  EXPECT_FALSE(validate({MountCap(AccessMode::MULTI_NODE_MULTI_WRITER)})->has_confirmed());
  EXPECT_FALSE(validate({MountCap(AccessMode::MULTI_NODE_SINGLE_WRITER)})->has_confirmed());
  EXPECT_FALSE(validate({MountCap()}, {{"fsType", "ext4"}})->has_confirmed());
  EXPECT_FALSE(validate({MountCap()}, {{"colour", "blue"}})->has_confirmed());
  EXPECT_FALSE(validate({MountCap()}, {{"colour", "blue"}})->message().empty());
  EXPECT_THAT(validate({}), StatusIs(Code::kInvalidArgument));
  csi::v1::VolumeCapability no_mode = MountCap();
  no_mode.clear_access_mode();
  EXPECT_THAT(validate({no_mode}), StatusIs(Code::kInvalidArgument));
  csi::v1::ValidateVolumeCapabilitiesRequest unknown;
  unknown.set_volume_id("vol-0123456789abcdef");
  *unknown.add_volume_capabilities() = MountCap();
  csi::v1::ValidateVolumeCapabilitiesResponse response;
  EXPECT_THAT(manager_->ValidateVolumeCapabilities(unknown, &response), StatusIs(Code::kNotFound));
}

// --- Concurrency
// ----------------------------------------------------------------------------------

TEST_F(VolumeManagerTest, ASecondCallOnABusyVolumeOrNameIsAbortedAndOthersProceed) {
  csi::v1::Volume busy = Create("busy");
  absl::Notification parked;
  absl::Notification release;
  manager_->SetStepHookForTest([&](absl::string_view step) {
    if (step == "publish:recorded") {
      parked.Notify();
      release.WaitForNotification();
    }
    return absl::OkStatus();
  });
  std::thread publisher(
      [&] { EXPECT_THAT(Publish(PublishRequest(busy.volume_id(), "node-1")), IsOk()); });
  parked.WaitForNotification();
  EXPECT_THAT(Publish(PublishRequest(busy.volume_id(), "node-1")), StatusIs(Code::kAborted));
  EXPECT_THAT(manager_->DeleteVolume(DeleteRequest(busy.volume_id())), StatusIs(Code::kAborted));
  csi::v1::ControllerExpandVolumeResponse expanded;
  EXPECT_THAT(
      manager_->ControllerExpandVolume(ExpandRequest(busy.volume_id(), 32 * kMiB), &expanded),
      StatusIs(Code::kAborted));
  EXPECT_THAT(TryCreate(CreateRequest("busy")), StatusIs(Code::kAborted))
      << "the name's volume is busy";
  EXPECT_THAT(TryCreate(CloneRequest("clone", busy.volume_id())), StatusIs(Code::kAborted));
  csi::v1::CreateSnapshotResponse snapshot;
  EXPECT_THAT(manager_->CreateSnapshot(SnapshotRequest("s", busy.volume_id()), &snapshot),
              StatusIs(Code::kAborted));
  // Reads and other volumes are not blocked.
  Get(busy.volume_id());
  Create("other");
  release.Notify();
  publisher.join();
  EXPECT_THAT(Get(busy.volume_id()).status().published_node_ids(), ElementsAre("node-1"));
}

TEST_F(VolumeManagerTest, ASecondCreateWithANameInProgressIsAborted) {
  absl::Notification parked;
  absl::Notification release;
  manager_->SetStepHookForTest([&](absl::string_view step) {
    if (step == "create:recorded") {
      parked.Notify();
      release.WaitForNotification();
    }
    return absl::OkStatus();
  });
  std::thread creator([&] { Create("slow"); });
  parked.WaitForNotification();
  EXPECT_THAT(TryCreate(CreateRequest("slow")), StatusIs(Code::kAborted));
  csi::v1::ListVolumesResponse list;
  ASSERT_THAT(manager_->ListVolumes({}, &list), IsOk());
  EXPECT_EQ(list.entries_size(), 0) << "a volume being created is not listed";
  release.Notify();
  creator.join();
  manager_->SetStepHookForTest(nullptr);
  Create("slow");
}

// --- Recovery ---------------------------------------------------------------------------------

TEST_F(VolumeManagerTest, RestartReexportsVolumesWithTheirPublicationsAndChap) {
  const std::string id = Create("a").volume_id();
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> published =
      Publish(PublishRequest(id, "node-1", MountCap(AccessMode::MULTI_NODE_READER_ONLY), true));
  ASSERT_THAT(published, IsOk());
  Start();  // a new process: empty target
  std::optional<FakeExportBackend::Exported> exported = ExportOf(id);
  ASSERT_TRUE(exported.has_value());
  EXPECT_THAT(exported->config.initiators, ElementsAre(Initiator("node-1")));
  EXPECT_TRUE(exported->config.read_only);
  EXPECT_EQ(exported->config.chap.secret, published->publish_context().at(kPubChapSecret));
  absl::StatusOr<csi::v1::ControllerPublishVolumeResponse> again =
      Publish(PublishRequest(id, "node-1", MountCap(AccessMode::MULTI_NODE_READER_ONLY), true));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(AsMap(again->publish_context()), AsMap(published->publish_context()));
}

TEST_F(VolumeManagerTest, RecoveryFinishesOrUndoesEveryInterruptedState) {
  // Build each state a crash can leave, directly in the catalogue and the pool.
  const std::string ready = Create("ready").volume_id();
  const std::string short_file = Create("short", 8 * kMiB).volume_id();
  const std::string missing_file = Create("missing").volume_id();
  ASSERT_THAT(catalog_->SetVolumeCapacity(short_file, 12 * kMiB, std::nullopt), IsOk());
  ASSERT_THAT(pool_->Remove(pool_->VolumePath(missing_file)), IsOk());

  auto record = [&](const std::string& id, const std::string& name, RecordState state) {
    VolumeRecord volume;
    volume.id = id;
    volume.name = name;
    volume.capacity_bytes = kMiB;
    volume.access_types = kAccessMount;
    volume.state = state;
    ASSERT_THAT(catalog_->InsertVolume(volume, *GenerateChapCredentials(id), std::nullopt), IsOk());
  };
  const std::string creating_no_file = "vol-00000000000000a1";
  record(creating_no_file, "c1", RecordState::kCreating);
  ASSERT_THAT(pool_->CreateSparse(Pool::TempPath(pool_->VolumePath(creating_no_file)), kMiB),
              IsOk());  // a half-written .tmp
  const std::string creating_with_file = "vol-00000000000000a2";
  record(creating_with_file, "c2", RecordState::kCreating);
  ASSERT_THAT(pool_->CreateSparse(pool_->VolumePath(creating_with_file), kMiB), IsOk());
  const std::string deleting = "vol-00000000000000a3";
  record(deleting, "d1", RecordState::kDeleting);
  ASSERT_THAT(pool_->CreateSparse(pool_->VolumePath(deleting), kMiB), IsOk());
  const std::string orphan = pool_->VolumePath("vol-00000000000000a4");
  ASSERT_THAT(pool_->CreateSparse(orphan, kMiB), IsOk());
  const std::string foreign = pool_->volumes_dir() + "/README";
  ASSERT_THAT(pool_->CreateSparse(foreign, 10), IsOk());
  SnapshotRecord half_snapshot{"snap-00000000000000b1", "hs",       ready, kMiB, 512, "",
                               RecordState::kCreating,  absl::Now()};
  ASSERT_THAT(catalog_->InsertSnapshot(half_snapshot, std::nullopt), IsOk());
  SnapshotRecord cut_snapshot{"snap-00000000000000b2", "cs",       ready, kMiB, 512, "",
                              RecordState::kCreating,  absl::Now()};
  ASSERT_THAT(catalog_->InsertSnapshot(cut_snapshot, std::nullopt), IsOk());
  ASSERT_THAT(pool_->CreateSparse(pool_->SnapshotPath(cut_snapshot.id), kMiB), IsOk());

  Start();

  EXPECT_FALSE(catalog_->GetVolume(creating_no_file)->has_value());
  EXPECT_FALSE(pool_->FileSize(Pool::TempPath(pool_->VolumePath(creating_no_file)))->has_value());
  EXPECT_EQ((*catalog_->GetVolume(creating_with_file))->state, RecordState::kReady);
  EXPECT_TRUE(ExportOf(creating_with_file).has_value());
  EXPECT_FALSE(catalog_->GetVolume(deleting)->has_value());
  EXPECT_FALSE(pool_->FileSize(pool_->VolumePath(deleting))->has_value());
  EXPECT_FALSE(ExportOf(deleting).has_value());
  EXPECT_FALSE(pool_->FileSize(orphan)->has_value());
  EXPECT_TRUE(pool_->FileSize(foreign)->has_value()) << "files that are not ours stay";
  EXPECT_FALSE(catalog_->GetSnapshot(half_snapshot.id)->has_value());
  EXPECT_EQ((*catalog_->GetSnapshot(cut_snapshot.id))->state, RecordState::kReady);
  EXPECT_TRUE(ExportOf(ready).has_value());
  EXPECT_EQ(**pool_->FileSize(pool_->VolumePath(short_file)), 12 * kMiB)
      << "the interrupted expansion was finished";
  EXPECT_FALSE(ExportOf(missing_file).has_value());
  csi::v1::ControllerGetVolumeResponse broken = Get(missing_file);
  EXPECT_TRUE(broken.status().volume_condition().abnormal());
  EXPECT_FALSE(Get(ready).status().volume_condition().abnormal());
}

TEST_F(VolumeManagerTest, AVolumeWhoseExportFailedIsReportedAbnormal) {
  const std::string id = Create("a").volume_id();
  // Restart with a target that refuses the first export.
  manager_.reset();
  catalog_.reset();
  exports_ = std::make_unique<FakeExportBackend>();
  exports_->FailNext("export", absl::InternalError("lun table full"));
  catalog_ = *Catalog::Open(dir_ + "/catalog.db");
  VolumeManagerOptions options;
  options.portals = {"192.0.2.10:3260"};
  manager_ = std::make_unique<VolumeManager>(options, catalog_.get(), pool_.get(), exports_.get());
  ASSERT_THAT(manager_->Recover(), IsOk()) << "one bad volume does not stop the controller";
  csi::v1::ControllerGetVolumeResponse response = Get(id);
  EXPECT_TRUE(response.status().volume_condition().abnormal());
  EXPECT_THAT(response.status().volume_condition().message(), ::testing::HasSubstr("lun table"));
  // The next publish re-exports it and the condition clears.
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  EXPECT_FALSE(Get(id).status().volume_condition().abnormal());
}

// --- Metrics
// --------------------------------------------------------------------------------------

// Value returns the value of the metric `name` with label `label_value` (any label when empty).
double Value(prometheus::Registry& registry, const std::string& name,
             const std::string& label_value = "") {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      if (!label_value.empty() && (metric.label.empty() || metric.label[0].value != label_value)) {
        continue;
      }
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

TEST_F(VolumeManagerTest, MetricsFollowTheInventoryCopiesAndRecovery) {
  prometheus::Registry registry;
  ControllerMetrics metrics(registry);
  VolumeManagerOptions options;
  options.metrics = &metrics;
  ASSERT_THAT(pool_->CreateSparse(pool_->VolumePath("vol-00000000000000d1"), kMiB), IsOk());
  Start(options);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_recovery_actions_total", "orphan_removed"), 1);
  const std::string id = Create("a", 4 * kMiB).volume_id();
  Create(CloneRequest("b", id));
  ASSERT_THAT(Publish(PublishRequest(id, "node-1")), IsOk());
  Snapshot("s", id);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_volumes"), 2);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_snapshots"), 1);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_publications"), 1);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_provisioned_bytes"), 12 * kMiB);
  EXPECT_GT(Value(registry, "iscsi_csi_controller_pool_free_bytes"), 0);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_abnormal_volumes"), 0);
  EXPECT_EQ(Value(registry, "iscsi_csi_controller_copies_total", "sparse_copy") +
                std::max(0.0, Value(registry, "iscsi_csi_controller_copies_total", "reflink")),
            2);
}

}  // namespace
}  // namespace iscsi_csi::controller
