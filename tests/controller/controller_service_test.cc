// The CSI Controller service end to end: every RPC over real gRPC on a unix socket, against
// the embedded iSCSI target on 127.0.0.1, with data and access checked through libiscsi as a
// node would see them.
#include "controller/controller_service.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/volume_context.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controller/controller_harness.h"
#include "tests/controller/csi_requests.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::BlockCap;
using ::iscsi_csi::controller::testing::CloneRequest;
using ::iscsi_csi::controller::testing::ControllerHarness;
using ::iscsi_csi::controller::testing::CreateRequest;
using ::iscsi_csi::controller::testing::DeleteRequest;
using ::iscsi_csi::controller::testing::ExpandRequest;
using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::kMiB;
using ::iscsi_csi::controller::testing::MountCap;
using ::iscsi_csi::controller::testing::PublishRequest;
using ::iscsi_csi::controller::testing::RestoreRequest;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::SnapshotRequest;
using ::iscsi_csi::controller::testing::StatusIs;
using ::iscsi_csi::controller::testing::UnpublishRequest;
using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using AccessMode = csi::v1::VolumeCapability::AccessMode;
using Code = absl::StatusCode;
using Stub = csi::v1::Controller::Stub;

std::string Pattern(size_t length, uint8_t seed) {
  std::string data(length, '\0');
  for (size_t i = 0; i < length; ++i) data[i] = static_cast<char>(seed + i * 7 + (i >> 9));
  return data;
}

class ControllerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    harness_.Start(ControllerHarness::Options(dir_), testing::SocketPath());
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return (harness_.stub().*method)(&context, request, response);
  }
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request) {
    Response response;
    return Call(method, request, &response);
  }

  csi::v1::Volume Create(const csi::v1::CreateVolumeRequest& request) {
    csi::v1::CreateVolumeResponse response;
    EXPECT_THAT(Call(&Stub::CreateVolume, request, &response), IsOk()) << request.name();
    return response.volume();
  }
  google::protobuf::Map<std::string, std::string> Publish(
      const csi::v1::ControllerPublishVolumeRequest& request) {
    csi::v1::ControllerPublishVolumeResponse response;
    EXPECT_THAT(Call(&Stub::ControllerPublishVolume, request, &response), IsOk());
    return response.publish_context();
  }
  csi::v1::Snapshot Snapshot(const std::string& name, const std::string& volume_id) {
    csi::v1::CreateSnapshotResponse response;
    EXPECT_THAT(Call(&Stub::CreateSnapshot, SnapshotRequest(name, volume_id), &response), IsOk());
    return response.snapshot();
  }
  std::unique_ptr<IscsiSession> Login(const csi::v1::Volume& volume, const std::string& node,
                                      const google::protobuf::Map<std::string, std::string>& ctx) {
    absl::StatusOr<std::unique_ptr<IscsiSession>> client =
        ControllerHarness::LoginAsNode(volume, node, ctx);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }
  // ReadAll reads the whole volume through `client` in 128 KiB commands.
  std::string ReadAll(IscsiSession& client, uint64_t bytes) {
    std::string out;
    const uint32_t blocks = (128 * 1024) / client.block_size();
    for (uint64_t lba = 0; lba * client.block_size() < bytes; lba += blocks) {
      const uint64_t left = bytes / client.block_size() - lba;
      const CommandResult data =
          client.Read(lba, static_cast<uint32_t>(std::min<uint64_t>(blocks, left)));
      EXPECT_THAT(data.ToStatus(), IsOk());
      if (!data.good()) return out;
      out += data.data;
    }
    return out;
  }
  int SessionsOf(const std::string& initiator) {
    int count = 0;
    for (const target::SessionInfo& session : harness_.target().ListSessions()) {
      if (session.initiator_name == initiator && !session.discovery) ++count;
    }
    return count;
  }

  std::string dir_;
  ControllerHarness harness_;
};

// --- Validation -----------------------------------------------------------------------------

TEST_F(ControllerServiceTest, EveryRpcRefusesMissingRequiredFields) {
  const std::string id = Create(CreateRequest("present")).volume_id();
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    Code code;
  };
  auto no_caps = CreateRequest("x");
  no_caps.clear_volume_capabilities();
  auto publish_no_cap = PublishRequest(id, "node-1");
  publish_no_cap.clear_volume_capability();
  csi::v1::ValidateVolumeCapabilitiesRequest validate_no_id;
  *validate_no_id.add_volume_capabilities() = MountCap();
  csi::v1::ValidateVolumeCapabilitiesRequest validate_no_caps;
  validate_no_caps.set_volume_id(id);
  auto expand_no_range = ExpandRequest(id, 0);
  expand_no_range.clear_capacity_range();
  csi::v1::ListVolumesRequest negative_entries;
  negative_entries.set_max_entries(-1);
  csi::v1::ListVolumesRequest bad_token;
  bad_token.set_starting_token("not-a-token");
  csi::v1::ListSnapshotsRequest bad_snapshot_token;
  bad_snapshot_token.set_starting_token("not-a-token");
  const std::vector<Case> cases = {
      {"CreateVolume without name", [&] { return Call(&Stub::CreateVolume, CreateRequest("")); },
       Code::kInvalidArgument},
      {"CreateVolume without capabilities", [&] { return Call(&Stub::CreateVolume, no_caps); },
       Code::kInvalidArgument},
      {"DeleteVolume without id", [&] { return Call(&Stub::DeleteVolume, DeleteRequest("")); },
       Code::kInvalidArgument},
      {"ControllerPublishVolume without volume id",
       [&] { return Call(&Stub::ControllerPublishVolume, PublishRequest("", "node-1")); },
       Code::kInvalidArgument},
      {"ControllerPublishVolume without node id",
       [&] { return Call(&Stub::ControllerPublishVolume, PublishRequest(id, "")); },
       Code::kInvalidArgument},
      {"ControllerPublishVolume without capability",
       [&] { return Call(&Stub::ControllerPublishVolume, publish_no_cap); },
       Code::kInvalidArgument},
      {"ControllerPublishVolume of an unknown volume",
       [&] {
         return Call(&Stub::ControllerPublishVolume,
                     PublishRequest("vol-0123456789abcdef", "node-1"));
       },
       Code::kNotFound},
      {"ControllerUnpublishVolume without volume id",
       [&] { return Call(&Stub::ControllerUnpublishVolume, UnpublishRequest("", "node-1")); },
       Code::kInvalidArgument},
      {"ValidateVolumeCapabilities without volume id",
       [&] { return Call(&Stub::ValidateVolumeCapabilities, validate_no_id); },
       Code::kInvalidArgument},
      {"ValidateVolumeCapabilities without capabilities",
       [&] { return Call(&Stub::ValidateVolumeCapabilities, validate_no_caps); },
       Code::kInvalidArgument},
      {"ListVolumes with negative max_entries",
       [&] { return Call(&Stub::ListVolumes, negative_entries); }, Code::kInvalidArgument},
      {"ListVolumes with a foreign token", [&] { return Call(&Stub::ListVolumes, bad_token); },
       Code::kAborted},
      {"ListSnapshots with a foreign token",
       [&] { return Call(&Stub::ListSnapshots, bad_snapshot_token); }, Code::kAborted},
      {"CreateSnapshot without name",
       [&] { return Call(&Stub::CreateSnapshot, SnapshotRequest("", id)); },
       Code::kInvalidArgument},
      {"CreateSnapshot without source",
       [&] { return Call(&Stub::CreateSnapshot, SnapshotRequest("s", "")); },
       Code::kInvalidArgument},
      {"DeleteSnapshot without id",
       [&] { return Call(&Stub::DeleteSnapshot, csi::v1::DeleteSnapshotRequest()); },
       Code::kInvalidArgument},
      {"ControllerExpandVolume without volume id",
       [&] { return Call(&Stub::ControllerExpandVolume, ExpandRequest("", kMiB)); },
       Code::kInvalidArgument},
      {"ControllerExpandVolume without capacity range",
       [&] { return Call(&Stub::ControllerExpandVolume, expand_no_range); },
       Code::kInvalidArgument},
      {"ControllerGetVolume without volume id",
       [&] { return Call(&Stub::ControllerGetVolume, csi::v1::ControllerGetVolumeRequest()); },
       Code::kInvalidArgument},
      {"GetSnapshot is not offered",
       [&] { return Call(&Stub::GetSnapshot, csi::v1::GetSnapshotRequest()); },
       Code::kUnimplemented},
      {"ControllerModifyVolume is not offered",
       [&] {
         return Call(&Stub::ControllerModifyVolume, csi::v1::ControllerModifyVolumeRequest());
       },
       Code::kUnimplemented},
  };
  for (const Case& c : cases) EXPECT_THAT(c.call(), StatusIs(c.code)) << c.name;
}

TEST_F(ControllerServiceTest, ControllerGetCapabilitiesAnnouncesWhatIsImplemented) {
  csi::v1::ControllerGetCapabilitiesResponse response;
  ASSERT_THAT(Call(&Stub::ControllerGetCapabilities, csi::v1::ControllerGetCapabilitiesRequest(),
                   &response),
              IsOk());
  std::set<int> announced;
  for (const auto& capability : response.capabilities()) announced.insert(capability.rpc().type());
  using Rpc = csi::v1::ControllerServiceCapability::RPC;
  EXPECT_EQ(announced,
            (std::set<int>{Rpc::CREATE_DELETE_VOLUME, Rpc::PUBLISH_UNPUBLISH_VOLUME,
                           Rpc::LIST_VOLUMES, Rpc::LIST_VOLUMES_PUBLISHED_NODES, Rpc::GET_CAPACITY,
                           Rpc::CREATE_DELETE_SNAPSHOT, Rpc::LIST_SNAPSHOTS, Rpc::CLONE_VOLUME,
                           Rpc::EXPAND_VOLUME, Rpc::PUBLISH_READONLY, Rpc::GET_VOLUME,
                           Rpc::VOLUME_CONDITION, Rpc::SINGLE_NODE_MULTI_WRITER}));
  std::vector<csi::v1::PluginCapability> plugin = harness_.controller().PluginCapabilities();
  ASSERT_EQ(plugin.size(), 2u) << "no topology: no accessibility constraints";
  EXPECT_EQ(plugin[0].service().type(), csi::v1::PluginCapability::Service::CONTROLLER_SERVICE);
  EXPECT_EQ(plugin[1].volume_expansion().type(),
            csi::v1::PluginCapability::VolumeExpansion::ONLINE);
}

// --- Idempotency ----------------------------------------------------------------------------

TEST_F(ControllerServiceTest, EveryMutatingCallIsIdempotent) {
  csi::v1::Volume volume = Create(CreateRequest("idem", 4 * kMiB));
  EXPECT_EQ(Create(CreateRequest("idem", 4 * kMiB)).volume_id(), volume.volume_id());
  const auto context = Publish(PublishRequest(volume.volume_id(), "node-1"));
  const auto again = Publish(PublishRequest(volume.volume_id(), "node-1"));
  using StringMap = std::map<std::string, std::string>;
  EXPECT_EQ(StringMap(context.begin(), context.end()), StringMap(again.begin(), again.end()));
  csi::v1::Snapshot snapshot = Snapshot("idem-snap", volume.volume_id());
  EXPECT_EQ(Snapshot("idem-snap", volume.volume_id()).snapshot_id(), snapshot.snapshot_id());
  csi::v1::ControllerExpandVolumeResponse expanded;
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(
        Call(&Stub::ControllerExpandVolume, ExpandRequest(volume.volume_id(), 8 * kMiB), &expanded),
        IsOk());
    EXPECT_EQ(expanded.capacity_bytes(), 8 * kMiB);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(
        Call(&Stub::ControllerUnpublishVolume, UnpublishRequest(volume.volume_id(), "node-1")),
        IsOk());
  }
  csi::v1::DeleteSnapshotRequest delete_snapshot;
  delete_snapshot.set_snapshot_id(snapshot.snapshot_id());
  for (int i = 0; i < 2; ++i) EXPECT_THAT(Call(&Stub::DeleteSnapshot, delete_snapshot), IsOk());
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(Call(&Stub::DeleteVolume, DeleteRequest(volume.volume_id())), IsOk());
  }
  csi::v1::ListVolumesResponse list;
  ASSERT_THAT(Call(&Stub::ListVolumes, csi::v1::ListVolumesRequest(), &list), IsOk());
  EXPECT_EQ(list.entries_size(), 0);
}

// --- Access through the target ----------------------------------------------------------------

TEST_F(ControllerServiceTest, OnlyThePublishedNodeLogsInWithItsChapAndUnpublishEndsItsSession) {
  csi::v1::Volume volume = Create(CreateRequest("acl", 4 * kMiB, BlockCap()));
  auto try_login = [&](const std::string& node,
                       const google::protobuf::Map<std::string, std::string>& context) {
    return ControllerHarness::LoginAsNode(volume, node, context).status();
  };
  const google::protobuf::Map<std::string, std::string> no_chap;
  // Before publishing nobody gets in, with or without credentials.
  EXPECT_FALSE(try_login("node-1", no_chap).ok());

  const auto context = Publish(PublishRequest(volume.volume_id(), "node-1", BlockCap()));
  ASSERT_TRUE(context.contains(kPubChapTargetSecret)) << "mutual CHAP";
  std::unique_ptr<IscsiSession> client = Login(volume, "node-1", context);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(SessionsOf(*InitiatorIqnForNode("node-1")), 1);

  EXPECT_FALSE(try_login("node-2", context).ok()) << "another node, right secrets";
  EXPECT_FALSE(try_login("node-1", no_chap).ok()) << "right node, no CHAP";
  auto wrong_secret = context;
  wrong_secret[kPubChapSecret] = "0123456789abcdef0123";
  EXPECT_FALSE(try_login("node-1", wrong_secret).ok()) << "right node, wrong secret";
  auto wrong_target_secret = context;
  wrong_target_secret[kPubChapTargetSecret] = "0123456789abcdef0123";
  EXPECT_FALSE(try_login("node-1", wrong_target_secret).ok())
      << "the target must prove itself too (mutual CHAP)";

  ASSERT_THAT(
      Call(&Stub::ControllerUnpublishVolume, UnpublishRequest(volume.volume_id(), "node-1")),
      IsOk());
  EXPECT_EQ(SessionsOf(*InitiatorIqnForNode("node-1")), 0) << "the session was closed";
  EXPECT_FALSE(client->Read(0, 1).good());
  EXPECT_FALSE(try_login("node-1", context).ok()) << "the ACL no longer admits node-1";
}

TEST_F(ControllerServiceTest, AReadOnlyPublicationRefusesWritesAtTheTarget) {
  csi::v1::Volume volume = Create(CreateRequest("ro", 4 * kMiB, BlockCap()));
  const auto context =
      Publish(PublishRequest(volume.volume_id(), "node-1",
                             BlockCap(AccessMode::MULTI_NODE_READER_ONLY), /*readonly=*/true));
  std::unique_ptr<IscsiSession> client = Login(volume, "node-1", context);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(client->Read(0, 8).ToStatus(), IsOk());
  EXPECT_FALSE(client->Write(0, std::string(512, 'x')).good());
}

TEST_F(ControllerServiceTest, ClonesAndRestoresMatchTheirSourceByteForByte) {
  constexpr uint64_t kSize = 8 * kMiB;
  csi::v1::Volume source = Create(CreateRequest("source", kSize, BlockCap()));
  const auto source_context = Publish(PublishRequest(source.volume_id(), "node-1", BlockCap()));
  std::unique_ptr<IscsiSession> writer = Login(source, "node-1", source_context);
  ASSERT_NE(writer, nullptr);
  // Data at the start, in the middle and in the last block; holes elsewhere.
  ASSERT_THAT(writer->Write(0, Pattern(64 * 1024, 1)).ToStatus(), IsOk());
  ASSERT_THAT(writer->Write(5000, Pattern(4096, 2)).ToStatus(), IsOk());
  ASSERT_THAT(writer->Write(kSize / 512 - 1, Pattern(512, 3)).ToStatus(), IsOk());
  const std::string at_snapshot = ReadAll(*writer, kSize);
  csi::v1::Snapshot snapshot = Snapshot("snap", source.volume_id());
  ASSERT_THAT(writer->Write(100, Pattern(8192, 4)).ToStatus(), IsOk());  // after the cut
  const std::string now = ReadAll(*writer, kSize);
  ASSERT_NE(now, at_snapshot);

  csi::v1::CreateVolumeRequest clone_request = CloneRequest("clone", source.volume_id());
  *clone_request.mutable_volume_capabilities(0) = BlockCap();
  csi::v1::Volume clone = Create(clone_request);
  csi::v1::CreateVolumeRequest restore_request =
      RestoreRequest("restored", snapshot.snapshot_id(), 12 * kMiB);
  *restore_request.mutable_volume_capabilities(0) = BlockCap();
  csi::v1::Volume restored = Create(restore_request);

  std::unique_ptr<IscsiSession> clone_client =
      Login(clone, "node-2", Publish(PublishRequest(clone.volume_id(), "node-2", BlockCap())));
  std::unique_ptr<IscsiSession> restored_client = Login(
      restored, "node-2", Publish(PublishRequest(restored.volume_id(), "node-2", BlockCap())));
  ASSERT_NE(clone_client, nullptr);
  ASSERT_NE(restored_client, nullptr);
  EXPECT_TRUE(ReadAll(*clone_client, kSize) == now) << "the clone equals its source";
  EXPECT_THAT(clone_client->ReadCapacity16().ToStatus(), IsOk());
  EXPECT_EQ(clone_client->capacity_bytes(), kSize);
  const std::string restored_data = ReadAll(*restored_client, 12 * kMiB);
  EXPECT_TRUE(restored_data.substr(0, kSize) == at_snapshot) << "the restore equals the snapshot";
  EXPECT_TRUE(restored_data.substr(kSize) == std::string(4 * kMiB, '\0')) << "grown with zeros";
  EXPECT_THAT(restored_client->ReadCapacity16().ToStatus(), IsOk());
  EXPECT_EQ(restored_client->capacity_bytes(), 12 * kMiB);
  // The clone is independent: writing it leaves the source alone.
  ASSERT_THAT(clone_client->Write(0, std::string(512, 'z')).ToStatus(), IsOk());
  const CommandResult source_start = writer->Read(0, 1);
  EXPECT_THAT(source_start.ToStatus(), IsOk());
  EXPECT_EQ(source_start.data.substr(0, 16), Pattern(16, 1));
}

TEST_F(ControllerServiceTest, ExpansionIsSeenByReadCapacity16OnALiveSession) {
  csi::v1::Volume volume = Create(CreateRequest("grow", 4 * kMiB, BlockCap()));
  std::unique_ptr<IscsiSession> client =
      Login(volume, "node-1", Publish(PublishRequest(volume.volume_id(), "node-1", BlockCap())));
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(client->ReadCapacity16().ToStatus(), IsOk());
  EXPECT_EQ(client->capacity_bytes(), 4 * kMiB);
  csi::v1::ControllerExpandVolumeRequest request = ExpandRequest(volume.volume_id(), 10 * kMiB);
  *request.mutable_volume_capability() = BlockCap();
  csi::v1::ControllerExpandVolumeResponse response;
  ASSERT_THAT(Call(&Stub::ControllerExpandVolume, request, &response), IsOk());
  EXPECT_EQ(response.capacity_bytes(), 10 * kMiB);
  EXPECT_FALSE(response.node_expansion_required());
  ASSERT_THAT(client->ReadCapacity16().ToStatus(), IsOk());
  EXPECT_EQ(client->capacity_bytes(), 10 * kMiB);
  // The new space is usable.
  ASSERT_THAT(client->Write(10 * kMiB / 512 - 1, Pattern(512, 9)).ToStatus(), IsOk());
  csi::v1::ControllerGetVolumeRequest get;
  get.set_volume_id(volume.volume_id());
  csi::v1::ControllerGetVolumeResponse got;
  ASSERT_THAT(Call(&Stub::ControllerGetVolume, get, &got), IsOk());
  EXPECT_EQ(got.volume().capacity_bytes(), 10 * kMiB);
  EXPECT_THAT(got.status().published_node_ids(), ElementsAre("node-1"));
  EXPECT_FALSE(got.status().volume_condition().abnormal());
}

// --- Listing, capacity, concurrency -------------------------------------------------------------

TEST_F(ControllerServiceTest, ListVolumesPagingSurvivesConcurrentCreatesAndDeletes) {
  std::vector<std::string> stable;
  std::vector<std::string> doomed;
  for (int i = 0; i < 12; ++i)
    stable.push_back(Create(CreateRequest(absl::StrCat("s", i), kMiB)).volume_id());
  for (int i = 0; i < 6; ++i)
    doomed.push_back(Create(CreateRequest(absl::StrCat("d", i), kMiB)).volume_id());

  std::atomic<bool> done{false};
  std::thread churn([&] {
    for (int i = 0; i < 6; ++i) {
      EXPECT_THAT(Call(&Stub::DeleteVolume, DeleteRequest(doomed[i])), IsOk());
      csi::v1::CreateVolumeResponse created;
      EXPECT_THAT(Call(&Stub::CreateVolume, CreateRequest(absl::StrCat("n", i), kMiB), &created),
                  IsOk());
    }
    done = true;
  });
  std::multiset<std::string> seen;
  int passes = 0;
  while (passes < 3 || !done) {
    seen.clear();
    csi::v1::ListVolumesRequest request;
    request.set_max_entries(4);
    do {
      csi::v1::ListVolumesResponse page;
      ASSERT_THAT(Call(&Stub::ListVolumes, request, &page), IsOk());
      EXPECT_LE(page.entries_size(), 4);
      for (const auto& entry : page.entries()) seen.insert(entry.volume().volume_id());
      request.set_starting_token(page.next_token());
    } while (!request.starting_token().empty());
    for (const std::string& id : stable) EXPECT_EQ(seen.count(id), 1u) << id;
    for (const std::string& id : seen) EXPECT_EQ(seen.count(id), 1u) << "duplicate " << id;
    ++passes;
  }
  churn.join();
}

TEST_F(ControllerServiceTest, ConcurrentCallsOnOneVolumeAreAbortedWhileOtherVolumesProceed) {
  csi::v1::Volume busy = Create(CreateRequest("busy", kMiB));
  absl::Notification parked;
  absl::Notification release;
  harness_.controller().manager()->SetStepHookForTest([&](absl::string_view step) {
    if (step == "expand:recorded") {
      parked.Notify();
      release.WaitForNotification();
    }
    return absl::OkStatus();
  });
  std::thread expander([&] {
    EXPECT_THAT(Call(&Stub::ControllerExpandVolume, ExpandRequest(busy.volume_id(), 2 * kMiB)),
                IsOk());
  });
  parked.WaitForNotification();
  EXPECT_THAT(Call(&Stub::ControllerPublishVolume, PublishRequest(busy.volume_id(), "node-1")),
              StatusIs(Code::kAborted));
  EXPECT_THAT(Call(&Stub::DeleteVolume, DeleteRequest(busy.volume_id())), StatusIs(Code::kAborted));
  EXPECT_THAT(Call(&Stub::ControllerExpandVolume, ExpandRequest(busy.volume_id(), 2 * kMiB)),
              StatusIs(Code::kAborted));
  // Other volumes, and reads of the busy one, go on.
  csi::v1::Volume other = Create(CreateRequest("other", kMiB));
  Publish(PublishRequest(other.volume_id(), "node-1"));
  csi::v1::ControllerGetVolumeRequest get;
  get.set_volume_id(busy.volume_id());
  EXPECT_THAT(Call(&Stub::ControllerGetVolume, get), IsOk());
  release.Notify();
  expander.join();
  EXPECT_THAT(Call(&Stub::ControllerPublishVolume, PublishRequest(busy.volume_id(), "node-1")),
              IsOk());
}

TEST_F(ControllerServiceTest, GetCapacityReportsThePoolAndValidateConfirmsCapabilities) {
  csi::v1::GetCapacityResponse capacity;
  ASSERT_THAT(Call(&Stub::GetCapacity, csi::v1::GetCapacityRequest(), &capacity), IsOk());
  EXPECT_GT(capacity.available_capacity(), 0);
  EXPECT_LE(capacity.maximum_volume_size().value(), capacity.available_capacity());
  csi::v1::GetCapacityRequest bad_parameter;
  (*bad_parameter.mutable_parameters())["speed"] = "fast";
  EXPECT_THAT(Call(&Stub::GetCapacity, bad_parameter), StatusIs(Code::kInvalidArgument));

  csi::v1::Volume volume = Create(CreateRequest("v", kMiB));
  csi::v1::ValidateVolumeCapabilitiesRequest validate;
  validate.set_volume_id(volume.volume_id());
  *validate.mutable_volume_context() = volume.volume_context();
  *validate.add_volume_capabilities() = MountCap(AccessMode::SINGLE_NODE_MULTI_WRITER);
  csi::v1::ValidateVolumeCapabilitiesResponse response;
  (*validate.mutable_volume_context())["storage.kubernetes.io/csiProvisionerIdentity"] = "x";
  ASSERT_THAT(Call(&Stub::ValidateVolumeCapabilities, validate, &response), IsOk());
  EXPECT_TRUE(response.has_confirmed()) << response.message();
  EXPECT_EQ(response.confirmed().volume_capabilities_size(), 1);
  (*validate.mutable_volume_context())[kCtxLun] = "7";
  ASSERT_THAT(Call(&Stub::ValidateVolumeCapabilities, validate, &response), IsOk());
  EXPECT_FALSE(response.has_confirmed()) << "a context of another volume";
  validate.clear_volume_context();
  validate.set_volume_id("vol-0123456789abcdef");
  EXPECT_THAT(Call(&Stub::ValidateVolumeCapabilities, validate), StatusIs(Code::kNotFound));
}

}  // namespace
}  // namespace iscsi_csi::controller
