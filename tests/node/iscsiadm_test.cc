// iscsiadm: parsers on captured output, argv builders, the exit-code table, and the Iscsiadm
// wrapper's idempotent exits (15 on login, 21 on logout/delete/list).
#include "node/host/iscsiadm.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/node/status_matchers.h"
#include "tests/node/testdata.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::FakeCommandRunner;
using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::ReadTestdata;
using ::iscsi_csi::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParsePortalTest, Table) {
  struct Row {
    const char* name;
    const char* text;
    bool ok;
    const char* host;
    int port;
  };
  const Row rows[] = {
      {"ipv4 with port", "10.0.0.5:3260", true, "10.0.0.5", 3260},
      {"ipv4 default port", "10.0.0.5", true, "10.0.0.5", 3260},
      {"other port", "10.0.0.5:3261", true, "10.0.0.5", 3261},
      {"hostname", "storage.example.com:3260", true, "storage.example.com", 3260},
      {"ipv6 bracketed", "[fd00:10::5]:3260", true, "fd00:10::5", 3260},
      {"ipv6 no port", "[fd00::5]", true, "fd00::5", 3260},
      {"spaces trimmed", " 10.0.0.5:3260 ", true, "10.0.0.5", 3260},
      {"ipv6 unbracketed", "fd00::5:3260", false, "", 0},
      {"empty", "", false, "", 0},
      {"port zero", "10.0.0.5:0", false, "", 0},
      {"port too big", "10.0.0.5:70000", false, "", 0},
      {"port not a number", "10.0.0.5:iscsi", false, "", 0},
      {"unclosed bracket", "[fd00::5:3260", false, "", 0},
      {"shell metacharacter", "10.0.0.5;reboot:3260", false, "", 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    absl::StatusOr<Portal> portal = ParsePortal(row.text);
    ASSERT_EQ(portal.ok(), row.ok) << portal.status();
    if (!row.ok) {
      EXPECT_THAT(portal, StatusIs(absl::StatusCode::kInvalidArgument));
      continue;
    }
    EXPECT_EQ(portal->host, row.host);
    EXPECT_EQ(portal->port, row.port);
  }
}

TEST(ParsePortalTest, ToStringBracketsIpv6) {
  EXPECT_EQ((Portal{"fd00::5", 3260}.ToString()), "[fd00::5]:3260");
  EXPECT_EQ((Portal{"10.0.0.5", 3260}.ToString()), "10.0.0.5:3260");
}

TEST(ParsePortalListTest, SplitsOnCommasAndRejectsEmpty) {
  absl::StatusOr<std::vector<Portal>> portals = ParsePortalList("10.0.0.5:3260,[fd00::5]:3260");
  ASSERT_THAT(portals, IsOk());
  ASSERT_EQ(portals->size(), 2u);
  EXPECT_EQ((*portals)[1].host, "fd00::5");
  EXPECT_THAT(ParsePortalList(" , "), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseSessionListTest, CapturedFlatOutput) {
  absl::StatusOr<std::vector<IscsiSession>> sessions =
      ParseSessionList(ReadTestdata("iscsiadm_session.txt"));
  ASSERT_THAT(sessions, IsOk());
  ASSERT_EQ(sessions->size(), 3u);
  EXPECT_EQ((*sessions)[0].sid, 1);
  EXPECT_EQ((*sessions)[0].transport, "tcp");
  EXPECT_EQ((*sessions)[0].portal.ToString(), "10.0.0.5:3260");
  EXPECT_EQ((*sessions)[0].tpgt, 1);
  EXPECT_EQ((*sessions)[0].target_iqn, "iqn.2026-11.io.iscsi-csi:pvc-7f3a2c1e");
  EXPECT_EQ((*sessions)[1].portal.host, "fd00:10::5");
  EXPECT_EQ((*sessions)[2].sid, 5);
  EXPECT_EQ((*sessions)[2].tpgt, 257);
}

TEST(ParseSessionListTest, NoSessionsMessageIsEmptyAndGarbageIsRejected) {
  absl::StatusOr<std::vector<IscsiSession>> none = ParseSessionList("iscsiadm: No active sessions.\n");
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(none->empty());
  EXPECT_THAT(ParseSessionList("tcp: 1 10.0.0.5:3260,1 iqn.x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseSessionTreeTest, CapturedPrintLevel3) {
  absl::StatusOr<std::vector<IscsiSession>> sessions =
      ParseSessionTree(ReadTestdata("iscsiadm_session_p3.txt"));
  ASSERT_THAT(sessions, IsOk());
  ASSERT_EQ(sessions->size(), 4u);

  const IscsiSession& qnap = (*sessions)[0];
  EXPECT_EQ(qnap.sid, 5);
  EXPECT_EQ(qnap.iface, "default");
  EXPECT_EQ(qnap.host_number, 7);
  ASSERT_EQ(qnap.devices.size(), 2u);
  EXPECT_EQ(qnap.devices[1].lun, 1);
  EXPECT_EQ(qnap.devices[1].disk, "sde");

  // A second session to the same target and portal prints no portal lines: they carry over.
  const IscsiSession& second = (*sessions)[1];
  EXPECT_EQ(second.sid, 6);
  EXPECT_EQ(second.target_iqn, qnap.target_iqn);
  EXPECT_EQ(second.portal, qnap.portal);
  EXPECT_EQ(second.tpgt, 257);

  const IscsiSession& failed = (*sessions)[2];
  EXPECT_EQ(failed.sid, 2);
  EXPECT_EQ(failed.iface, "iscsi-csi");
  EXPECT_EQ(failed.portal.host, "fd00:10::5");
  EXPECT_EQ(failed.session_state, "FAILED");
  EXPECT_EQ(failed.connection_state, "TRANSPORT WAIT");
  ASSERT_EQ(failed.devices.size(), 1u);
  EXPECT_EQ(failed.devices[0].state, "transport-offline");

  const IscsiSession& ours = (*sessions)[3];
  EXPECT_EQ(ours.sid, 1);
  EXPECT_EQ(ours.target_iqn, "iqn.2026-11.io.iscsi-csi:pvc-7f3a2c1e");
  EXPECT_EQ(ours.initiator_iqn, "iqn.2026-11.io.iscsi-csi:node.worker-1");
  EXPECT_EQ(ours.session_state, "LOGGED_IN");
  EXPECT_EQ(ours.transport, "tcp");
  ASSERT_EQ(ours.devices.size(), 1u);
  EXPECT_EQ(ours.devices[0].host, 2);
  EXPECT_EQ(ours.devices[0].lun, 0);
  EXPECT_EQ(ours.devices[0].disk, "sdb");
  EXPECT_EQ(ours.devices[0].state, "running");
}

TEST(ParseSessionTreeTest, MalformedDeviceLineIsRejected) {
  EXPECT_THAT(ParseSessionTree("Target: iqn.x\n\t\tIface Name: a\n\t\tSID: 1\n\t\tscsi2 Channel 00 Id x Lun: 0\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSessionTree("\t\tAttached scsi disk sdb\t\tState: running\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseNodeTreeTest, CapturedPrintLevel1) {
  absl::StatusOr<std::vector<NodeRecordRef>> records =
      ParseNodeTree(ReadTestdata("iscsiadm_node_p1.txt"));
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[0].iface, "default");
  EXPECT_EQ((*records)[1].portal.host, "fd00:10::5");
  EXPECT_EQ((*records)[1].iface, "iscsi-csi");
  EXPECT_EQ((*records)[3].portal.ToString(), "10.0.1.5:3260");
  EXPECT_EQ((*records)[4].target_iqn, "iqn.2026-11.io.iscsi-csi:pvc-7f3a2c1e");
  EXPECT_EQ((*records)[4].iface, "default");
}

TEST(ParseRecordTest, CapturedIfaceRecord) {
  std::map<std::string, std::string> record = ParseRecord(ReadTestdata("iscsiadm_iface_record.txt"));
  EXPECT_EQ(record["iface.iscsi_ifacename"], "iscsi-csi");
  EXPECT_EQ(record["iface.initiatorname"], "iqn.2026-11.io.iscsi-csi:node.worker-1");
  EXPECT_EQ(record["iface.transport_name"], "tcp");
  EXPECT_EQ(record["iface.net_ifacename"], "");  // "<empty>"
  EXPECT_EQ(record.count("# BEGIN RECORD 2.1.8"), 0u);
}

TEST(BuildArgsTest, NodeCommandsSelectExactlyOneRecordThroughOurIface) {
  NodeRecordRef node{"iqn.2026-11.io.iscsi-csi:vol-1", Portal{"fd00::5", 3260}, "iscsi-csi"};
  EXPECT_THAT(BuildLoginArgs(node).Values(),
              ElementsAre("iscsiadm", "-m", "node", "-T", "iqn.2026-11.io.iscsi-csi:vol-1", "-p",
                          "[fd00::5]:3260", "-I", "iscsi-csi", "--login"));
  EXPECT_THAT(BuildLogoutArgs(node).Values(), ::testing::Contains("--logout"));
  EXPECT_THAT(BuildNodeNewArgs(node).Values(),
              ElementsAre("iscsiadm", "-m", "node", "-T", "iqn.2026-11.io.iscsi-csi:vol-1", "-p",
                          "[fd00::5]:3260", "-I", "iscsi-csi", "-o", "new"));
  EXPECT_THAT(BuildNodeDeleteArgs(node).Values(), ::testing::Contains("delete"));
  EXPECT_THAT(BuildSessionRescanArgs(4).Values(),
              ElementsAre("iscsiadm", "-m", "session", "-r", "4", "-R"));
  EXPECT_THAT(BuildIfaceUpdateArgs("iscsi-csi", "iface.initiatorname", "iqn.x").Values(),
              ElementsAre("iscsiadm", "-m", "iface", "-I", "iscsi-csi", "-o", "update", "-n",
                          "iface.initiatorname", "-v", "iqn.x"));
}

TEST(BuildArgsTest, SecretValuesPrintMasked) {
  NodeRecordRef node{"iqn.2026-11.io.iscsi-csi:vol-1", Portal{"10.0.0.5", 3260}, "iscsi-csi"};
  Command command = BuildNodeUpdateArgs(node, "node.session.auth.password", Secret("hunter2"));
  EXPECT_THAT(command.ToString(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(command.ToString(), HasSubstr("-v ***"));
  EXPECT_EQ(command.Values().back(), "hunter2");
  EXPECT_EQ(command.Mask("error near hunter2!"), "error near ***!");
}

TEST(IscsiadmErrorTest, ExitCodesMapToCodes) {
  struct Row {
    const char* name;
    int exit_code;
    absl::StatusCode code;
  };
  const Row rows[] = {
      {"auth failed", 24, absl::StatusCode::kUnauthenticated},
      {"fatal login", 19, absl::StatusCode::kFailedPrecondition},
      {"transport error", 4, absl::StatusCode::kUnavailable},
      {"generic login failure", 5, absl::StatusCode::kUnavailable},
      {"connect timeout", 8, absl::StatusCode::kUnavailable},
      {"pdu timeout", 11, absl::StatusCode::kUnavailable},
      {"busy", 28, absl::StatusCode::kUnavailable},
      {"no iscsi_tcp module", 12, absl::StatusCode::kFailedPrecondition},
      {"no iscsid", 20, absl::StatusCode::kFailedPrecondition},
      {"iscsid comm error", 18, absl::StatusCode::kFailedPrecondition},
      {"no permission", 13, absl::StatusCode::kPermissionDenied},
      {"no objects", 21, absl::StatusCode::kNotFound},
      {"no session", 2, absl::StatusCode::kNotFound},
      {"session exists", 15, absl::StatusCode::kAlreadyExists},
      {"database error", 6, absl::StatusCode::kInternal},
      {"unknown code", 99, absl::StatusCode::kInternal},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_THAT(IscsiadmError("login to x", CommandResult{row.exit_code, "", "iscsiadm: oops"}),
                StatusIs(row.code));
  }
  // Captured on a host without iscsi_tcp: exit 7, but the cause is the missing module.
  EXPECT_THAT(IscsiadmError("set initiator name",
                            CommandResult{7, "",
                                          "iscsiadm: Could not scan /sys/class/iscsi_transport.\n"
                                          "iscsiadm: Could not insert module tcp. Kmod error -2\n"
                                          "iscsiadm: Cound not locate transport for iface x\n"}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(IscsiadmExitName(24), "ISCSI_ERR_LOGIN_AUTH_FAILED");
  EXPECT_EQ(IscsiadmExitName(15), "ISCSI_ERR_SESS_EXISTS");
  EXPECT_EQ(IscsiadmExitName(200), "");
}

class IscsiadmWrapperTest : public ::testing::Test {
 protected:
  FakeCommandRunner runner_;
  Iscsiadm iscsiadm_{runner_, absl::Seconds(10)};
  NodeRecordRef node_{"iqn.2026-11.io.iscsi-csi:vol-1", Portal{"10.0.0.5", 3260}, "iscsi-csi"};
};

TEST_F(IscsiadmWrapperTest, LoginWithExistingSessionIsOk) {
  runner_.OnResult({"iscsiadm"}, 15, "", "iscsiadm: default: 1 session requested, but 1 already present.");
  EXPECT_THAT(iscsiadm_.Login(node_), IsOk());
}

TEST_F(IscsiadmWrapperTest, LogoutAndDeleteWithoutObjectsAreOk) {
  runner_.OnResult({"iscsiadm"}, 21, "", "iscsiadm: No matching sessions found");
  EXPECT_THAT(iscsiadm_.Logout(node_), IsOk());
  EXPECT_THAT(iscsiadm_.DeleteNodeRecord(node_), IsOk());
  absl::StatusOr<std::vector<IscsiSession>> sessions = iscsiadm_.ListSessions();
  ASSERT_THAT(sessions, IsOk());
  EXPECT_TRUE(sessions->empty());
  absl::StatusOr<std::vector<NodeRecordRef>> records = iscsiadm_.ListNodeRecords();
  ASSERT_THAT(records, IsOk());
  EXPECT_TRUE(records->empty());
}

TEST_F(IscsiadmWrapperTest, LoginAuthFailureIsUnauthenticated) {
  runner_.OnResult({"iscsiadm"}, 24, "", "iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)");
  EXPECT_THAT(iscsiadm_.Login(node_), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(IscsiadmWrapperTest, EveryCommandCarriesTheTimeout) {
  runner_.OnResult({"iscsiadm"}, 0);
  ASSERT_THAT(iscsiadm_.Login(node_), IsOk());
  ASSERT_EQ(runner_.calls().size(), 1u);
  EXPECT_EQ(runner_.calls()[0].timeout, absl::Seconds(10));
}

TEST_F(IscsiadmWrapperTest, EnsureIfaceCreatesAndSetsInitiatorOnlyWhenNeeded) {
  runner_.OnResult({"iscsiadm", "-m", "iface", "-I", "iscsi-csi"}, 6);
  runner_.OnResult({"iscsiadm", "-m", "iface", "-I", "iscsi-csi", "-o"}, 0);
  ASSERT_THAT(iscsiadm_.EnsureIface("iscsi-csi", "iqn.2026-11.io.iscsi-csi:node.w1"), IsOk());
  EXPECT_EQ(runner_.Count({"new"}), 1);
  EXPECT_EQ(runner_.Count({"update", "iqn.2026-11.io.iscsi-csi:node.w1"}), 1);

  runner_.ClearCalls();
  runner_.OnResult({"iscsiadm", "-m", "iface", "-I", "iscsi-csi"}, 0,
                   ReadTestdata("iscsiadm_iface_record.txt"));
  runner_.OnResult({"iscsiadm", "-m", "iface", "-I", "iscsi-csi", "-o"}, 0);
  ASSERT_THAT(iscsiadm_.EnsureIface("iscsi-csi", "iqn.2026-11.io.iscsi-csi:node.worker-1"),
              IsOk());
  EXPECT_EQ(runner_.calls().size(), 1u);  // read only: the name is already right
}

TEST_F(IscsiadmWrapperTest, EnsureNodeRecordWithMutualChapMarksBothSecrets) {
  runner_.OnResult({"iscsiadm"}, 0);
  ChapCredentials chap{"node-user", "node-secret-1", "target-user", "target-secret-2"};
  ASSERT_THAT(iscsiadm_.EnsureNodeRecord(node_, chap), IsOk());
  EXPECT_EQ(runner_.Count({"node.startup", "manual"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.authmethod", "CHAP"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.username", "node-user"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.password", "node-secret-1"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.username_in", "target-user"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.password_in", "target-secret-2"}), 1);
  for (const std::string& line : runner_.CallLines()) {
    EXPECT_THAT(line, Not(HasSubstr("secret-1")));
    EXPECT_THAT(line, Not(HasSubstr("secret-2")));
  }
}

TEST_F(IscsiadmWrapperTest, EnsureNodeRecordWithoutChapSetsAuthNone) {
  runner_.OnResult({"iscsiadm"}, 0);
  ASSERT_THAT(iscsiadm_.EnsureNodeRecord(node_, ChapCredentials{}), IsOk());
  EXPECT_EQ(runner_.Count({"node.session.auth.authmethod", "None"}), 1);
  EXPECT_EQ(runner_.Count({"node.session.auth.password"}), 0);
}

}  // namespace
}  // namespace iscsi_csi::node
