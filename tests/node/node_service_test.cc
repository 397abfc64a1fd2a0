// The Node service end to end over a FakeHost: every RPC, its failure branches and its error
// codes, idempotency, clean-up after failures, and secrets that never reach a log line.
#include "node/node_service.h"

#include <filesystem>
#include <fstream>

#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/node/node_test_env.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Mode = csi::v1::VolumeCapability::AccessMode;

class NodeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(env_.Reconcile(), IsOk()); }

  FakeHost& host() { return env_.host(); }

  // ExpectNothingLeftBehind: no session, node record, mount or staging record of `volume_id`.
  void ExpectNothingLeftBehind(const std::string& volume_id) {
    EXPECT_FALSE(host().SessionFor(IqnOf(volume_id)).has_value()) << "session left";
    for (const FakeNodeRecord& r : host().node_records()) {
      EXPECT_NE(r.target, IqnOf(volume_id)) << "node record left: " << r.portal;
    }
    EXPECT_FALSE(host().mounter().At(env_.StagingPath(volume_id)).has_value()) << "mount left";
    EXPECT_FALSE(env_.Record(volume_id).has_value()) << "staging record left";
  }

  NodeTestEnv env_;
};

// ---------------------------------------------------------------------------------------------
// NodeGetInfo / NodeGetCapabilities

TEST_F(NodeServiceTest, NodeGetInfoReportsIdAndLimit) {
  csi::v1::NodeGetInfoRequest request;
  csi::v1::NodeGetInfoResponse response;
  ASSERT_THAT(env_.service().NodeGetInfo(nullptr, &request, &response), IsOk());
  EXPECT_EQ(response.node_id(), kNodeId);
  EXPECT_EQ(response.max_volumes_per_node(), 64);
  EXPECT_FALSE(response.has_accessible_topology());
}

TEST_F(NodeServiceTest, NodeGetInfoReportsConfiguredTopology) {
  absl::StatusOr<std::map<std::string, std::string>> topology =
      node::ParseTopology({"topology.kubernetes.io/zone=z1", "example.com/rack=r7"});
  ASSERT_THAT(topology, IsOk());
  node::NodeService service(nullptr, node::NodeServiceOptions{"n1", 8, *topology});
  csi::v1::NodeGetInfoRequest request;
  csi::v1::NodeGetInfoResponse response;
  ASSERT_THAT(service.NodeGetInfo(nullptr, &request, &response), IsOk());
  EXPECT_EQ(response.accessible_topology().segments().at("topology.kubernetes.io/zone"), "z1");
  EXPECT_EQ(response.accessible_topology().segments().at("example.com/rack"), "r7");
  EXPECT_EQ(response.max_volumes_per_node(), 8);
}

TEST_F(NodeServiceTest, ParseTopologyRejectsMalformedSegments) {
  EXPECT_THAT(node::ParseTopology({"zone"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(node::ParseTopology({"=z1"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(node::ParseTopology({"a=1", "a=2"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(NodeServiceTest, NodeGetCapabilitiesListsTheFiveRpcs) {
  csi::v1::NodeGetCapabilitiesRequest request;
  csi::v1::NodeGetCapabilitiesResponse response;
  ASSERT_THAT(env_.service().NodeGetCapabilities(nullptr, &request, &response), IsOk());
  std::vector<int> types;
  for (const auto& c : response.capabilities()) types.push_back(c.rpc().type());
  using Rpc = csi::v1::NodeServiceCapability::RPC;
  EXPECT_THAT(types, UnorderedElementsAre(Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS,
                                          Rpc::EXPAND_VOLUME, Rpc::VOLUME_CONDITION,
                                          Rpc::SINGLE_NODE_MULTI_WRITER));
}

// ---------------------------------------------------------------------------------------------
// Validation tables

TEST_F(NodeServiceTest, StageValidation) {
  struct Row {
    const char* name;
    std::function<void(csi::v1::NodeStageVolumeRequest&)> mutate;
  };
  const Row rows[] = {
      {"missing volume id", [](auto& r) { r.clear_volume_id(); }},
      {"missing staging path", [](auto& r) { r.clear_staging_target_path(); }},
      {"relative staging path", [](auto& r) { r.set_staging_target_path("staging/vol"); }},
      {"missing capability", [](auto& r) { r.clear_volume_capability(); }},
      {"missing access mode",
       [](auto& r) { r.mutable_volume_capability()->clear_access_mode(); }},
      {"unknown access mode",
       [](auto& r) {
         r.mutable_volume_capability()->mutable_access_mode()->set_mode(Mode::UNKNOWN);
       }},
      {"no access type", [](auto& r) { r.mutable_volume_capability()->clear_mount(); }},
      {"unknown fsType",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->set_fs_type("btrfs"); }},
      {"multi-node writer on a filesystem",
       [](auto& r) {
         r.mutable_volume_capability()->mutable_access_mode()->set_mode(
             Mode::MULTI_NODE_MULTI_WRITER);
       }},
      {"bind mount flag",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->add_mount_flags("bind"); }},
      {"empty mount flag",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->add_mount_flags(""); }},
      {"missing targetIQN", [](auto& r) { r.mutable_volume_context()->erase("targetIQN"); }},
      {"bad targetIQN", [](auto& r) { (*r.mutable_volume_context())["targetIQN"] = "vol-1"; }},
      {"missing portals", [](auto& r) { r.mutable_volume_context()->erase("portals"); }},
      {"bad portal", [](auto& r) { (*r.mutable_volume_context())["portals"] = "10.0.0.5:99999"; }},
      {"missing lun", [](auto& r) { r.mutable_volume_context()->erase("lun"); }},
      {"bad lun", [](auto& r) { (*r.mutable_volume_context())["lun"] = "-1"; }},
      {"missing wwn", [](auto& r) { r.mutable_volume_context()->erase("wwn"); }},
      {"bad wwn", [](auto& r) { (*r.mutable_volume_context())["wwn"] = "xyz"; }},
      {"chap user without secret",
       [](auto& r) { (*r.mutable_publish_context())["chapUser"] = "u"; }},
      {"mutual chap without one-way",
       [](auto& r) {
         (*r.mutable_publish_context())["chapTargetUser"] = "t";
         (*r.mutable_publish_context())["chapTargetSecret"] = "s";
       }},
  };
  env_.AddVolume("vol-1");
  host().runner().ClearCalls();
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
    row.mutate(request);
    EXPECT_THAT(env_.Stage(request), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(host().runner().calls().size(), 0u)
      << "validation must precede every host step: "
      << ::testing::PrintToString(host().runner().CallLines());
}

TEST_F(NodeServiceTest, PublishValidation) {
  struct Row {
    const char* name;
    std::function<void(csi::v1::NodePublishVolumeRequest&)> mutate;
  };
  const Row rows[] = {
      {"missing volume id", [](auto& r) { r.clear_volume_id(); }},
      {"missing target path", [](auto& r) { r.clear_target_path(); }},
      {"relative target path", [](auto& r) { r.set_target_path("pods/x"); }},
      {"missing staging path", [](auto& r) { r.clear_staging_target_path(); }},
      {"missing capability", [](auto& r) { r.clear_volume_capability(); }},
      {"unknown fsType",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->set_fs_type("zfs"); }},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
    row.mutate(request);
    EXPECT_THAT(env_.Publish(request), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_F(NodeServiceTest, OtherRpcValidation) {
  struct Row {
    const char* name;
    std::function<grpc::Status()> call;
  };
  csi::v1::NodeGetVolumeStatsResponse stats;
  csi::v1::NodeExpandVolumeResponse expand;
  const Row rows[] = {
      {"unstage without volume id", [&] { return env_.Unstage("", "/x"); }},
      {"unstage with relative path", [&] { return env_.Unstage("vol-1", "x"); }},
      {"unpublish without target", [&] { return env_.Unpublish("vol-1", ""); }},
      {"unpublish without volume id", [&] { return env_.Unpublish("", "/x"); }},
      {"stats without path", [&] { return env_.Stats("vol-1", "", &stats); }},
      {"stats without volume id", [&] { return env_.Stats("", "/x", &stats); }},
      {"expand without path", [&] { return env_.Expand("vol-1", "", 1, &expand); }},
      {"expand with required above limit",
       [&] { return env_.Expand("vol-1", "/x", 10, &expand, 5); }},
      {"expand with negative size", [&] { return env_.Expand("vol-1", "/x", -1, &expand); }},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_THAT(row.call(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_F(NodeServiceTest, CallsBeforeReconciliationAreUnavailable) {
  env_.Start();  // a fresh process that has not reconciled yet
  env_.AddVolume("vol-1");
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(env_.Unstage("vol-1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(env_.Publish(env_.PublishRequest("vol-1")),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(host().LoginCalls(), 0);
}

// ---------------------------------------------------------------------------------------------
// NodeStageVolume

TEST_F(NodeServiceTest, StageFormatsABlankDiskAndMountsIt) {
  env_.AddVolume("vol-1");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());

  EXPECT_EQ(host().IfaceInitiator("iscsi-csi"), kInitiator);
  std::optional<FakeNodeRecord> record = host().NodeRecord(IqnOf("vol-1"), kPortal);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->iface, "iscsi-csi");
  EXPECT_EQ(record->settings["node.startup"], "manual");
  EXPECT_EQ(record->settings["node.session.auth.authmethod"], "None");
  std::optional<FakeSession> session = host().SessionFor(IqnOf("vol-1"));
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->iface, "iscsi-csi");
  EXPECT_EQ(host().Content("sdb"), "ext4");
  EXPECT_EQ(host().runner().Count({"mkfs.ext4", "-F"}), 1);
  EXPECT_EQ(host().runner().Count({"fsck.ext4"}), 0);  // nothing to check on a fresh filesystem

  std::optional<node::MountInfo> mount = host().mounter().At(env_.StagingPath("vol-1"));
  ASSERT_TRUE(mount.has_value());
  EXPECT_EQ(mount->fs_type, "ext4");
  EXPECT_EQ(mount->source, host().dev_root() + "/sdb");
  EXPECT_EQ(mount->device_number, "8:16");

  std::optional<node::StagingRecord> staged = env_.Record("vol-1");
  ASSERT_TRUE(staged.has_value());
  EXPECT_EQ(staged->state(), node::StagingRecord::STAGED);
  EXPECT_EQ(staged->disk(), "sdb");
  EXPECT_EQ(staged->logged_in_portal(), kPortal);
  EXPECT_EQ(staged->wwn(), kWwn1);
}

TEST_F(NodeServiceTest, StageTwiceDoesNotLogInOrFormatAgain) {
  env_.AddVolume("vol-1");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  const size_t calls = host().runner().calls().size();
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_EQ(host().LoginCalls(), 1);
  EXPECT_EQ(host().runner().calls().size(), calls) << "a healthy second stage runs no tool";
  EXPECT_EQ(host().mounter().table().size(), 1u);
}

TEST_F(NodeServiceTest, StageExistingExt4IsCheckedAndMountedNotFormatted) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) { t.initial_content = "ext4"; });
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 0);
  EXPECT_EQ(host().runner().Count({"fsck.ext4", "-p"}), 1);
  EXPECT_TRUE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
}

TEST_F(NodeServiceTest, StageXfsMountsWithNouuidAndFlags) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("xfs");
  request.mutable_volume_capability()->mutable_mount()->add_mount_flags("noatime");
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().runner().Count({"mkfs.xfs"}), 1);
  EXPECT_EQ(host().runner().Count({"fsck.ext4"}), 0);
  std::optional<node::MountInfo> mount = host().mounter().At(env_.StagingPath("vol-1"));
  ASSERT_TRUE(mount.has_value());
  EXPECT_EQ(mount->fs_type, "xfs");
  EXPECT_TRUE(node::HasOption(mount->super_options, "nouuid"));
  EXPECT_TRUE(node::HasOption(mount->super_options, "noatime"));
}

TEST_F(NodeServiceTest, StageDefaultsToExt4) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->clear_fs_type();
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().Content("sdb"), "ext4");
}

TEST_F(NodeServiceTest, StageTakesTheFilesystemFromTheVolumeContextWhenTheCapabilityHasNone) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->clear_fs_type();
  (*request.mutable_volume_context())["fsType"] = "xfs";
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().runner().Count({"mkfs.xfs"}), 1);
  EXPECT_EQ(host().Content("sdb"), "xfs");
}

TEST_F(NodeServiceTest, StageCapabilityFilesystemWinsOverTheVolumeContext) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
  (*request.mutable_volume_context())["fsType"] = "xfs";
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().Content("sdb"), "ext4");
}

TEST_F(NodeServiceTest, StageWithAnUnsupportedContextFilesystemIsInvalidArgument) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->clear_fs_type();
  (*request.mutable_volume_context())["fsType"] = "btrfs";
  EXPECT_THAT(env_.Stage(request), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(host().sessions().empty());
}

TEST_F(NodeServiceTest, StageOverADifferentFilesystemIsRefusedAndCleanedUp) {
  struct Row {
    const char* name;
    const char* content;
  };
  const Row rows[] = {
      {"xfs where ext4 is asked", "xfs"},
      {"partition table", "gpt"},
      {"several signatures", "ambivalent"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    NodeTestEnv env;
    ASSERT_THAT(env.Reconcile(), IsOk());
    env.AddVolume("vol-1", kWwn1, [&](FakeTarget& t) { t.initial_content = row.content; });
    EXPECT_THAT(env.Stage(env.StageRequest("vol-1")),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_EQ(env.host().runner().Count({"mkfs.ext4"}), 0) << "never format a device with data";
    EXPECT_EQ(env.host().Content("sdb"), row.content);
    EXPECT_TRUE(env.host().sessions().empty());
    EXPECT_TRUE(env.host().node_records().empty());
    EXPECT_TRUE(env.host().mounter().table().empty());
    EXPECT_FALSE(env.Record("vol-1").has_value());
  }
}

TEST_F(NodeServiceTest, StageWithChapConfiguresTheRecordAndNeverLogsSecrets) {
  constexpr char kSecret[] = "node-secret-4f1e9a";
  constexpr char kTargetSecret[] = "target-secret-77c2d0";
  env_.AddVolume("vol-1", kWwn1, [&](FakeTarget& t) {
    t.chap_user = "vol-1-user";
    t.chap_secret = kSecret;
    t.mutual_user = "vol-1-target";
    t.mutual_secret = kTargetSecret;
  });
  struct Sink : google::LogSink {
    void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
              const char* message, size_t length) override {
      absl::MutexLock lock(&mu);
      lines.emplace_back(message, length);
    }
    absl::Mutex mu;
    std::vector<std::string> lines;
  } sink;
  const int saved_v = FLAGS_v;
  FLAGS_v = 4;
  google::AddLogSink(&sink);

  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  (*request.mutable_publish_context())["chapUser"] = "vol-1-user";
  (*request.mutable_publish_context())["chapSecret"] = kSecret;
  (*request.mutable_publish_context())["chapTargetUser"] = "vol-1-target";
  (*request.mutable_publish_context())["chapTargetSecret"] = kTargetSecret;
  grpc::Status staged = env_.Stage(request);
  // A failing stage logs too: refuse once with a wrong secret to cover that path.
  csi::v1::NodeStageVolumeRequest wrong = env_.StageRequest("vol-2");
  env_.AddVolume("vol-2", kWwn2, [&](FakeTarget& t) {
    t.chap_user = "vol-2-user";
    t.chap_secret = "the-right-one";
  });
  (*wrong.mutable_publish_context())["chapUser"] = "vol-2-user";
  (*wrong.mutable_publish_context())["chapSecret"] = kSecret;
  grpc::Status refused = env_.Stage(wrong);

  google::RemoveLogSink(&sink);
  FLAGS_v = saved_v;
  ASSERT_THAT(staged, IsOk());
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated));

  std::optional<FakeNodeRecord> record = host().NodeRecord(IqnOf("vol-1"), kPortal);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->settings["node.session.auth.authmethod"], "CHAP");
  EXPECT_EQ(record->settings["node.session.auth.username"], "vol-1-user");
  EXPECT_EQ(record->settings["node.session.auth.password"], kSecret);
  EXPECT_EQ(record->settings["node.session.auth.username_in"], "vol-1-target");
  EXPECT_EQ(record->settings["node.session.auth.password_in"], kTargetSecret);

  for (const std::string& line : host().runner().CallLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kSecret)));
    EXPECT_THAT(line, Not(HasSubstr(kTargetSecret)));
  }
  EXPECT_THAT(host().runner().CallLines(),
              Contains(HasSubstr("node.session.auth.password -v ***")));
  absl::MutexLock lock(&sink.mu);
  EXPECT_FALSE(sink.lines.empty());
  for (const std::string& line : sink.lines) {
    EXPECT_THAT(line, Not(HasSubstr(kSecret)));
    EXPECT_THAT(line, Not(HasSubstr(kTargetSecret)));
  }
  EXPECT_THAT(refused.error_message(), Not(HasSubstr(kSecret)));
}

TEST_F(NodeServiceTest, StageWithRefusedChapIsUnauthenticatedAndLeavesNothing) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) {
    t.chap_user = "u";
    t.chap_secret = "right";
  });
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  (*request.mutable_publish_context())["chapUser"] = "u";
  (*request.mutable_publish_context())["chapSecret"] = "wrong";
  grpc::Status status = env_.Stage(request);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(status.error_message(), HasSubstr("CHAP"));
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageWithoutChapWhenTheTargetWantsItIsUnauthenticated) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) {
    t.chap_user = "u";
    t.chap_secret = "right";
  });
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageOfAnUnknownTargetIsFailedPrecondition) {
  // No AddVolume: the target refuses the login for good (iscsiadm 19).
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-404")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ExpectNothingLeftBehind("vol-404");
}

TEST_F(NodeServiceTest, StageWithWwnMismatchIsFailedPreconditionAndLogsOut) {
  env_.AddVolume("vol-1", kWwn2);  // the target serves another LU
  grpc::Status status = env_.Stage(env_.StageRequest("vol-1", kWwn1));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(status.error_message(), HasSubstr(kWwn2));
  EXPECT_EQ(host().LoginCalls(), 1);
  EXPECT_EQ(host().runner().Count({"blkid"}), 0) << "an unverified disk is never probed";
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, VerificationFallsBackToSgVpdWhenSysfsHasNoPage) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest stage = env_.StageRequest("vol-1");
  NodeTestEnv::MakeBlock(stage.mutable_volume_capability());
  ASSERT_THAT(env_.Stage(stage), IsOk());
  // An older kernel: no vpd_pg83 attribute. Publishing a block volume re-verifies the disk.
  fs::remove(host().sys_root() + "/block/sdb/device/vpd_pg83");
  csi::v1::NodePublishVolumeRequest publish = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(publish.mutable_volume_capability());
  ASSERT_THAT(env_.Publish(publish), IsOk());
  EXPECT_EQ(host().runner().Count({"sg_vpd", "--page=di", "--raw"}), 1);
}

TEST_F(NodeServiceTest, StageWaitsForALateDisk) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) { t.disk_after_sleeps = 3; });
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_GE(host().clock().sleeps(), 3);
}

TEST_F(NodeServiceTest, StageWhenTheDiskNeverAppearsIsDeadlineExceededAndLogsOut) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) { t.never_attach = true; });
  const absl::Time start = host().clock().Now();
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(host().clock().Now() - start, absl::Seconds(5));
  EXPECT_EQ(host().runner().Count({"iscsiadm", "--logout"}), 1);
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageTriesTheNextPortalWhenOneIsUnreachable) {
  env_.AddVolume("vol-1", kWwn1,
                 [](FakeTarget& t) { t.unreachable_portals = {"10.0.0.9:3260"}; });
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  (*request.mutable_volume_context())["portals"] = "10.0.0.9:3260,10.0.0.5:3260";
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_FALSE(host().NodeRecord(IqnOf("vol-1"), "10.0.0.9:3260").has_value());
  EXPECT_TRUE(host().NodeRecord(IqnOf("vol-1"), "10.0.0.5:3260").has_value());
  EXPECT_EQ(env_.Record("vol-1")->logged_in_portal(), "10.0.0.5:3260");
}

TEST_F(NodeServiceTest, StageWithEveryPortalUnreachableIsUnavailableAndLeavesNothing) {
  env_.AddVolume("vol-1", kWwn1,
                 [](FakeTarget& t) { t.unreachable_portals = {"10.0.0.5:3260"}; });
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")), StatusIs(absl::StatusCode::kUnavailable));
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageAtAPathHoldingAnotherVolumeIsAlreadyExists) {
  env_.AddVolume("vol-1");
  env_.AddVolume("vol-2", kWwn2);
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  csi::v1::NodeStageVolumeRequest other = env_.StageRequest("vol-2", kWwn2);
  other.set_staging_target_path(env_.StagingPath("vol-1"));
  EXPECT_THAT(env_.Stage(other), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(host().LoginCalls(), 1) << "refused before any login";
}

TEST_F(NodeServiceTest, StageOfAStagedVolumeAtAnotherPathIsAlreadyExists) {
  env_.AddVolume("vol-1");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  csi::v1::NodeStageVolumeRequest moved = env_.StageRequest("vol-1");
  moved.set_staging_target_path(env_.kubelet() + "/elsewhere");
  EXPECT_THAT(env_.Stage(moved), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(NodeServiceTest, StageOfAStagedVolumeWithOtherParametersIsAlreadyExists) {
  env_.AddVolume("vol-1");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  csi::v1::NodeStageVolumeRequest xfs = env_.StageRequest("vol-1");
  xfs.mutable_volume_capability()->mutable_mount()->set_fs_type("xfs");
  EXPECT_THAT(env_.Stage(xfs), StatusIs(absl::StatusCode::kAlreadyExists));
  csi::v1::NodeStageVolumeRequest block = env_.StageRequest("vol-1");
  NodeTestEnv::MakeBlock(block.mutable_volume_capability());
  EXPECT_THAT(env_.Stage(block), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(NodeServiceTest, StageAtAPathWithAForeignMountIsAlreadyExists) {
  env_.AddVolume("vol-1");
  node::MountInfo foreign;
  foreign.device_number = "8:99";
  foreign.root = "/";
  foreign.mount_point = env_.StagingPath("vol-1");
  foreign.fs_type = "ext4";
  foreign.source = "/dev/sdz";
  host().mounter().AddMount(foreign);
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(host().LoginCalls(), 0);
}

TEST_F(NodeServiceTest, StageBlockRecordsTheVerifiedDeviceWithoutAFilesystem) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().runner().Count({"blkid"}), 0);
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 0);
  EXPECT_TRUE(host().mounter().table().empty());
  std::optional<node::StagingRecord> record = env_.Record("vol-1");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->access_type(), node::StagingRecord::BLOCK);
  EXPECT_EQ(record->disk(), "sdb");
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().LoginCalls(), 1);
}

TEST_F(NodeServiceTest, StageMultiNodeWriterBlockIsAllowed) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(Mode::MULTI_NODE_MULTI_WRITER);
  EXPECT_THAT(env_.Stage(request), IsOk());
}

TEST_F(NodeServiceTest, StageReadOnlyMountsReadOnlyWithoutCheck) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) { t.initial_content = "ext4"; });
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(Mode::MULTI_NODE_READER_ONLY);
  ASSERT_THAT(env_.Stage(request), IsOk());
  EXPECT_EQ(host().runner().Count({"fsck.ext4"}), 0);
  std::optional<node::MountInfo> mount = host().mounter().At(env_.StagingPath("vol-1"));
  ASSERT_TRUE(mount.has_value());
  EXPECT_TRUE(mount->ReadOnly());
}

TEST_F(NodeServiceTest, StageReadOnlyOfABlankVolumeIsFailedPrecondition) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(
      Mode::SINGLE_NODE_READER_ONLY);
  EXPECT_THAT(env_.Stage(request), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 0);
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageWithFsckErrorsIsFailedPreconditionAndCleansUp) {
  env_.AddVolume("vol-1", kWwn1, [](FakeTarget& t) { t.initial_content = "ext4"; });
  host().set_fsck_exit(4);
  EXPECT_THAT(env_.Stage(env_.StageRequest("vol-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(NodeServiceTest, StageRepairsALostStagingMountWithoutFormatting) {
  env_.AddVolume("vol-1");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  host().mounter().Forget(env_.StagingPath("vol-1"));
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_TRUE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
  EXPECT_EQ(host().runner().Count({"mkfs.ext4"}), 1);
  EXPECT_EQ(host().sessions().size(), 1u);
}

TEST_F(NodeServiceTest, ConcurrentOperationOnTheSameVolumeIsAborted) {
  env_.AddVolume("vol-1");
  grpc::Status nested;
  bool entered = false;
  // While the first stage is inside `iscsiadm --login`, a second call for the volume arrives.
  host().runner().On({"iscsiadm", "-m", "node", "-T", IqnOf("vol-1"), "-p", kPortal, "-I",
                      "iscsi-csi", "--login"},
                     [&](const std::vector<std::string>&) -> absl::StatusOr<node::CommandResult> {
                       if (!entered) {
                         entered = true;
                         nested = env_.Stage(env_.StageRequest("vol-1"));
                       }
                       return node::CommandResult{15, "", "session exists"};
                     });
  host().AddSession(IqnOf("vol-1"), kPortal, "iscsi-csi");
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-1")), IsOk());
  EXPECT_TRUE(entered);
  EXPECT_THAT(nested, StatusIs(absl::StatusCode::kAborted));
}

// ---------------------------------------------------------------------------------------------
// NodePublishVolume / NodeUnpublishVolume

class PublishTest : public NodeServiceTest {
 protected:
  void StageMount(const std::string& volume_id = "vol-1") {
    env_.AddVolume(volume_id);
    ASSERT_THAT(env_.Stage(env_.StageRequest(volume_id)), IsOk());
  }
  void StageBlock(const std::string& volume_id = "vol-1") {
    env_.AddVolume(volume_id);
    csi::v1::NodeStageVolumeRequest request = env_.StageRequest(volume_id);
    NodeTestEnv::MakeBlock(request.mutable_volume_capability());
    ASSERT_THAT(env_.Stage(request), IsOk());
  }
};

TEST_F(PublishTest, PublishBindMountsTheStagingPathAndIsIdempotent) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  std::optional<node::MountInfo> published = host().mounter().At(env_.TargetPath("vol-1"));
  ASSERT_TRUE(published.has_value());
  EXPECT_EQ(published->device_number, "8:16");
  EXPECT_FALSE(published->ReadOnly());
  EXPECT_TRUE(fs::is_directory(env_.TargetPath("vol-1")));
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  EXPECT_EQ(host().mounter().table().size(), 2u);
}

TEST_F(PublishTest, PublishReadOnlyRemountsTheBindReadOnly) {
  StageMount();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  request.set_readonly(true);
  ASSERT_THAT(env_.Publish(request), IsOk());
  EXPECT_TRUE(host().mounter().At(env_.TargetPath("vol-1"))->ReadOnly());
  // The same target asked read-write now: a different publication.
  EXPECT_THAT(env_.Publish(env_.PublishRequest("vol-1")),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(PublishTest, PublishToTwoPodsMakesTwoBinds) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1", "pod-1")), IsOk());
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1", "pod-2")), IsOk());
  EXPECT_EQ(host().mounter().table().size(), 3u);
}

TEST_F(PublishTest, PublishBeforeStageIsFailedPrecondition) {
  EXPECT_THAT(env_.Publish(env_.PublishRequest("vol-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(PublishTest, PublishWithAnotherStagingPathIsFailedPrecondition) {
  StageMount();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  request.set_staging_target_path(env_.kubelet() + "/other");
  EXPECT_THAT(env_.Publish(request), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(PublishTest, PublishOntoAnotherVolumesTargetIsAlreadyExists) {
  StageMount("vol-1");
  env_.AddVolume("vol-2", kWwn2);
  ASSERT_THAT(env_.Stage(env_.StageRequest("vol-2", kWwn2)), IsOk());
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  csi::v1::NodePublishVolumeRequest clash = env_.PublishRequest("vol-2");
  clash.set_target_path(env_.TargetPath("vol-1"));
  EXPECT_THAT(env_.Publish(clash), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(PublishTest, PublishAMountVolumeAsBlockIsFailedPrecondition) {
  StageMount();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  EXPECT_THAT(env_.Publish(request), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(PublishTest, PublishBlockBindsTheDeviceOntoAFile) {
  StageBlock();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  request.set_target_path(env_.kubelet() + "/plugins/kubernetes.io/csi/volumeDevices/publish/vol-1/pod-1");
  ASSERT_THAT(env_.Publish(request), IsOk());
  EXPECT_TRUE(fs::is_regular_file(request.target_path()));
  std::optional<node::MountInfo> bound = host().mounter().At(request.target_path());
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(bound->root, "/sdb");
  EXPECT_EQ(bound->fs_type, "devtmpfs");
  ASSERT_THAT(env_.Publish(request), IsOk());
  EXPECT_EQ(host().mounter().table().size(), 1u);
}

TEST_F(PublishTest, PublishBlockWhoseDiskIsGoneIsFailedPrecondition) {
  StageBlock();
  host().RemoveDisk("sdb");
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  EXPECT_THAT(env_.Publish(request), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(PublishTest, UnpublishUnmountsAndRemovesTheTargetAndIsIdempotent) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  ASSERT_THAT(env_.Unpublish("vol-1", env_.TargetPath("vol-1")), IsOk());
  EXPECT_FALSE(host().mounter().At(env_.TargetPath("vol-1")).has_value());
  EXPECT_FALSE(fs::exists(env_.TargetPath("vol-1")));
  EXPECT_TRUE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
  EXPECT_THAT(env_.Unpublish("vol-1", env_.TargetPath("vol-1")), IsOk());
}

TEST_F(PublishTest, UnpublishOfAnUnknownPathIsOk) {
  EXPECT_THAT(env_.Unpublish("vol-9", env_.kubelet() + "/pods/none/mount"), IsOk());
  fs::create_directories(env_.kubelet() + "/pods/empty/mount");
  EXPECT_THAT(env_.Unpublish("vol-9", env_.kubelet() + "/pods/empty/mount"), IsOk());
  EXPECT_FALSE(fs::exists(env_.kubelet() + "/pods/empty/mount"));
}

TEST_F(PublishTest, UnpublishOfANonEmptyUnmountedDirectoryIsRefused) {
  fs::create_directories(env_.kubelet() + "/pods/data/mount");
  std::ofstream(env_.kubelet() + "/pods/data/mount/precious") << "x";
  EXPECT_THAT(env_.Unpublish("vol-9", env_.kubelet() + "/pods/data/mount"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(fs::exists(env_.kubelet() + "/pods/data/mount/precious"));
}

TEST_F(PublishTest, UnpublishBusyIsFailedPrecondition) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  host().mounter().set_busy(env_.TargetPath("vol-1"), true);
  EXPECT_THAT(env_.Unpublish("vol-1", env_.TargetPath("vol-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(host().mounter().At(env_.TargetPath("vol-1")).has_value());
  host().mounter().set_busy(env_.TargetPath("vol-1"), false);
  EXPECT_THAT(env_.Unpublish("vol-1", env_.TargetPath("vol-1")), IsOk());
}

// ---------------------------------------------------------------------------------------------
// NodeUnstageVolume

TEST_F(PublishTest, UnstageTearsEverythingDown) {
  StageMount();
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
  EXPECT_EQ(host().runner().Count({"blockdev", "--flushbufs", host().dev_root() + "/sdb"}), 1);
  EXPECT_EQ(host().runner().Count({"iscsiadm", "--logout"}), 1);
  EXPECT_EQ(host().runner().Count({"iscsiadm", "-o", "delete"}), 1);
  ExpectNothingLeftBehind("vol-1");
  EXPECT_THAT(env_.Unstage("vol-1"), IsOk());
}

TEST_F(PublishTest, UnstageDeletesTheScsiDeviceBeforeLogout) {
  StageMount();
  std::string delete_content;
  host().runner().On({"iscsiadm", "-m", "node", "-T", IqnOf("vol-1"), "-p", kPortal, "-I",
                      "iscsi-csi", "--logout"},
                     [&](const std::vector<std::string>&) -> absl::StatusOr<node::CommandResult> {
                       delete_content =
                           host().sysfs().Read("block/sdb/device/delete").value_or("gone");
                       return node::CommandResult{0, "", ""};
                     });
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
  EXPECT_EQ(delete_content, "1");
}

TEST_F(PublishTest, UnstageBusyIsFailedPreconditionAndTheRetrySucceeds) {
  StageMount();
  host().mounter().set_busy(env_.StagingPath("vol-1"), true);
  EXPECT_THAT(env_.Unstage("vol-1"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
  EXPECT_TRUE(host().SessionFor(IqnOf("vol-1")).has_value());
  EXPECT_EQ(env_.Record("vol-1")->state(), node::StagingRecord::STAGED);
  EXPECT_EQ(host().runner().Count({"iscsiadm", "--logout"}), 0);
  host().mounter().set_busy(env_.StagingPath("vol-1"), false);
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(PublishTest, UnstageWhilePublishedIsFailedPrecondition) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  EXPECT_THAT(env_.Unstage("vol-1"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(host().mounter().At(env_.StagingPath("vol-1")).has_value());
  EXPECT_TRUE(host().SessionFor(IqnOf("vol-1")).has_value());
}

TEST_F(PublishTest, UnstageOfABlockVolumeStillBoundIntoAPodIsFailedPrecondition) {
  StageBlock();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  ASSERT_THAT(env_.Publish(request), IsOk());
  EXPECT_THAT(env_.Unstage("vol-1"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(host().SessionFor(IqnOf("vol-1")).has_value());
  ASSERT_THAT(env_.Unpublish("vol-1", request.target_path()), IsOk());
  EXPECT_FALSE(fs::exists(request.target_path()));
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
}

TEST_F(PublishTest, UnstageWhenTheSessionIsAlreadyGoneIsOk) {
  StageMount();
  host().DropSession(host().SessionFor(IqnOf("vol-1"))->sid);
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());  // logout answers 21: nothing to do
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(PublishTest, UnstageWithAFailedFlushKeepsTheSessionForTheRetry) {
  StageMount();
  host().set_flush_exit(1);
  EXPECT_THAT(env_.Unstage("vol-1"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_TRUE(host().SessionFor(IqnOf("vol-1")).has_value());
  EXPECT_EQ(env_.Record("vol-1")->state(), node::StagingRecord::UNSTAGING);
  host().set_flush_exit(0);
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(PublishTest, UnstageAtAnotherPathIsFailedPrecondition) {
  StageMount();
  EXPECT_THAT(env_.Unstage("vol-1", env_.kubelet() + "/elsewhere"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(host().SessionFor(IqnOf("vol-1")).has_value());
}

TEST_F(PublishTest, UnstageBlockLogsOutWithoutUnmounting) {
  StageBlock();
  ASSERT_THAT(env_.Unstage("vol-1"), IsOk());
  EXPECT_EQ(host().mounter().unmount_calls(), 0);
  ExpectNothingLeftBehind("vol-1");
}

TEST_F(PublishTest, UnstageKeepsASessionAnotherVolumeShares) {
  // Two static volumes as two LUNs of one target share its session.
  env_.AddVolume("shared");
  csi::v1::NodeStageVolumeRequest first = env_.StageRequest("shared");
  first.set_volume_id("vol-a");
  first.set_staging_target_path(env_.StagingPath("vol-a"));
  csi::v1::NodeStageVolumeRequest second = first;
  second.set_volume_id("vol-b");
  second.set_staging_target_path(env_.StagingPath("vol-b"));
  NodeTestEnv::MakeBlock(first.mutable_volume_capability());
  NodeTestEnv::MakeBlock(second.mutable_volume_capability());
  ASSERT_THAT(env_.Stage(first), IsOk());
  ASSERT_THAT(env_.Stage(second), IsOk());
  ASSERT_THAT(env_.Unstage("vol-a"), IsOk());
  EXPECT_TRUE(host().SessionFor(IqnOf("shared")).has_value());
  ASSERT_THAT(env_.Unstage("vol-b"), IsOk());
  EXPECT_FALSE(host().SessionFor(IqnOf("shared")).has_value());
}

// ---------------------------------------------------------------------------------------------
// NodeGetVolumeStats

TEST_F(PublishTest, StatsOfAMountVolumeReportBytesInodesAndHealth) {
  StageMount();
  ASSERT_THAT(env_.Publish(env_.PublishRequest("vol-1")), IsOk());
  csi::v1::NodeGetVolumeStatsResponse response;
  ASSERT_THAT(env_.Stats("vol-1", env_.TargetPath("vol-1"), &response), IsOk());
  ASSERT_EQ(response.usage_size(), 2);
  EXPECT_EQ(response.usage(0).unit(), csi::v1::VolumeUsage::BYTES);
  EXPECT_GT(response.usage(0).total(), 0);
  EXPECT_GE(response.usage(0).total(), response.usage(0).available());
  EXPECT_EQ(response.usage(1).unit(), csi::v1::VolumeUsage::INODES);
  EXPECT_GT(response.usage(1).total(), 0);
  EXPECT_FALSE(response.volume_condition().abnormal());
}

TEST_F(PublishTest, StatsOfABlockVolumeReportTheDeviceSize) {
  StageBlock();
  csi::v1::NodePublishVolumeRequest request = env_.PublishRequest("vol-1");
  NodeTestEnv::MakeBlock(request.mutable_volume_capability());
  ASSERT_THAT(env_.Publish(request), IsOk());
  csi::v1::NodeGetVolumeStatsResponse response;
  ASSERT_THAT(env_.Stats("vol-1", request.target_path(), &response), IsOk());
  ASSERT_EQ(response.usage_size(), 1);
  EXPECT_EQ(response.usage(0).total(), int64_t{1} << 30);
  EXPECT_FALSE(response.volume_condition().abnormal());
}

TEST_F(PublishTest, StatsReportAbnormalConditions) {
  struct Row {
    const char* name;
    std::function<void(FakeHost&, NodeTestEnv&)> fault;
  };
  const Row rows[] = {
      {"session failed",
       [](FakeHost& h, NodeTestEnv&) {
         h.SetSessionState(h.SessionFor(IqnOf("vol-1"))->sid, "FAILED");
       }},
      {"session gone",
       [](FakeHost& h, NodeTestEnv&) {
         const int sid = h.SessionFor(IqnOf("vol-1"))->sid;
         std::filesystem::remove_all(h.sys_root() + "/class/iscsi_session/session" +
                                     std::to_string(sid));
       }},
      {"disk gone", [](FakeHost& h, NodeTestEnv&) { h.RemoveDisk("sdb"); }},
      {"disk offline", [](FakeHost& h, NodeTestEnv&) { h.SetDiskState("sdb", "offline"); }},
      {"staging mount read-only",
       [](FakeHost& h, NodeTestEnv& e) {
         std::optional<node::MountInfo> m = h.mounter().At(e.StagingPath("vol-1"));
         h.mounter().Forget(e.StagingPath("vol-1"));
         m->mount_options = "ro,relatime";
         h.mounter().AddMount(*m);
       }},
      {"filesystem remounted read-only",
       [](FakeHost& h, NodeTestEnv& e) {
         h.mounter().SetSuperOptions(e.StagingPath("vol-1"), "ro,errors=remount-ro");
       }},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    NodeTestEnv env;
    ASSERT_THAT(env.Reconcile(), IsOk());
    env.AddVolume("vol-1");
    ASSERT_THAT(env.Stage(env.StageRequest("vol-1")), IsOk());
    row.fault(env.host(), env);
    csi::v1::NodeGetVolumeStatsResponse response;
    ASSERT_THAT(env.Stats("vol-1", env.StagingPath("vol-1"), &response), IsOk());
    EXPECT_TRUE(response.volume_condition().abnormal());
    EXPECT_FALSE(response.volume_condition().message().empty());
  }
}

TEST_F(PublishTest, StatsOfUnknownVolumesOrPathsAreNotFound) {
  StageMount();
  csi::v1::NodeGetVolumeStatsResponse response;
  EXPECT_THAT(env_.Stats("vol-1", env_.kubelet() + "/missing", &response),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(env_.Stats("vol-9", env_.StagingPath("vol-1"), &response),
              StatusIs(absl::StatusCode::kNotFound));
  fs::create_directories(env_.kubelet() + "/not-a-mount");
  EXPECT_THAT(env_.Stats("vol-1", env_.kubelet() + "/not-a-mount", &response),
              StatusIs(absl::StatusCode::kNotFound));
}

// ---------------------------------------------------------------------------------------------
// NodeExpandVolume

TEST_F(PublishTest, ExpandExt4RescansAndResizesOnline) {
  StageMount();
  host().UpdateTarget(IqnOf("vol-1"), [](FakeTarget& t) { t.size_bytes = uint64_t{2} << 30; });
  csi::v1::NodeExpandVolumeResponse response;
  ASSERT_THAT(env_.Expand("vol-1", env_.StagingPath("vol-1"), int64_t{2} << 30, &response), IsOk());
  EXPECT_EQ(response.capacity_bytes(), int64_t{2} << 30);
  EXPECT_EQ(host().runner().Count({"iscsiadm", "-m", "session", "-R"}), 1);
  EXPECT_EQ(host().runner().Count({"resize2fs", host().dev_root() + "/sdb"}), 1);
}

TEST_F(PublishTest, ExpandXfsGrowsOnTheMountPoint) {
  env_.AddVolume("vol-1");
  csi::v1::NodeStageVolumeRequest request = env_.StageRequest("vol-1");
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("xfs");
  ASSERT_THAT(env_.Stage(request), IsOk());
  host().UpdateTarget(IqnOf("vol-1"), [](FakeTarget& t) { t.size_bytes = uint64_t{3} << 30; });
  csi::v1::NodeExpandVolumeResponse response;
  ASSERT_THAT(env_.Expand("vol-1", env_.StagingPath("vol-1"), int64_t{3} << 30, &response), IsOk());
  EXPECT_EQ(host().runner().Count({"xfs_growfs", node::NormalizePath(env_.StagingPath("vol-1"))}), 1);
}

TEST_F(PublishTest, ExpandBlockOnlyRescans) {
  StageBlock();
  host().UpdateTarget(IqnOf("vol-1"), [](FakeTarget& t) { t.size_bytes = uint64_t{2} << 30; });
  fs::create_directories(env_.kubelet() + "/dev-publish");
  csi::v1::NodeExpandVolumeResponse response;
  ASSERT_THAT(env_.Expand("vol-1", env_.kubelet() + "/dev-publish", 0, &response), IsOk());
  EXPECT_EQ(response.capacity_bytes(), int64_t{2} << 30);
  EXPECT_EQ(host().runner().Count({"resize2fs"}), 0);
  EXPECT_EQ(host().runner().Count({"xfs_growfs"}), 0);
}

TEST_F(PublishTest, ExpandWhenTheSizeNeverArrivesIsDeadlineExceeded) {
  StageMount();
  csi::v1::NodeExpandVolumeResponse response;
  EXPECT_THAT(env_.Expand("vol-1", env_.StagingPath("vol-1"), int64_t{2} << 30, &response),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(host().runner().Count({"resize2fs"}), 0);
}

TEST_F(PublishTest, ExpandBelowTheCurrentSizeIsOutOfRange) {
  StageMount();
  csi::v1::NodeExpandVolumeResponse response;
  EXPECT_THAT(env_.Expand("vol-1", env_.StagingPath("vol-1"), 1 << 20, &response, 1 << 20),
              StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_F(PublishTest, ExpandOfAnUnknownVolumeIsNotFound) {
  fs::create_directories(env_.kubelet() + "/x");
  csi::v1::NodeExpandVolumeResponse response;
  EXPECT_THAT(env_.Expand("vol-9", env_.kubelet() + "/x", 1, &response),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(env_.Expand("vol-9", env_.kubelet() + "/missing", 1, &response),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace iscsi_csi::testing
