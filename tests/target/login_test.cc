// Login, discovery, ACL and session-table behaviour of a live Target over TCP.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "target/bytes.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

constexpr char kInitiatorSecret[] = "initiator-secret-1";
constexpr char kTargetSecret[] = "target-secret-2222";

TEST_F(TargetTest, LoginWithoutChapSucceedsAndListsTheSession) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  std::vector<SessionInfo> sessions = target_->ListSessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].target_iqn, kTargetIqn);
  EXPECT_EQ(sessions[0].initiator_name, Normal().initiator_name);
  EXPECT_EQ(sessions[0].isid, "801234560001");
  EXPECT_NE(sessions[0].tsih, 0);
  EXPECT_FALSE(sessions[0].discovery);
}

TEST_F(TargetTest, LoginWithOneWayChapSucceeds) {
  TargetChap chap;
  chap.initiator = ChapSecretPair{"alice", kInitiatorSecret};
  ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  LoginOptions options = Normal();
  options.chap = ChapCredentialsForTest{"alice", kInitiatorSecret};
  EXPECT_NE(LoggedIn(options), nullptr);
}

TEST_F(TargetTest, LoginWithMutualChapProvesTheTargetToTheInitiator) {
  TargetChap chap;
  chap.initiator = ChapSecretPair{"alice", kInitiatorSecret};
  chap.target = ChapSecretPair{"target", kTargetSecret};
  ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  LoginOptions options = Normal();
  options.chap = ChapCredentialsForTest{"alice", kInitiatorSecret};
  options.mutual_chap = ChapCredentialsForTest{"target", kTargetSecret};
  EXPECT_NE(LoggedIn(options), nullptr);
}

TEST_F(TargetTest, LoginWithWrongChapSecretFailsWithAuthenticationFailure) {
  TargetChap chap;
  chap.initiator = ChapSecretPair{"alice", kInitiatorSecret};
  ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  std::unique_ptr<TestInitiator> initiator = Connect();
  LoginOptions options = Normal();
  options.chap = ChapCredentialsForTest{"alice", "not-the-right-secret"};
  absl::StatusOr<LoginResult> result = initiator->Login(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x01);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
}

TEST_F(TargetTest, LoginWithoutCredentialsToAChapTargetFailsWithAuthenticationFailure) {
  TargetChap chap;
  chap.initiator = ChapSecretPair{"alice", kInitiatorSecret};
  ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  std::unique_ptr<TestInitiator> initiator = Connect();
  absl::StatusOr<LoginResult> result = initiator->Login(Normal());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x01);
}

TEST_F(TargetTest, SetChapRefusesShortSecretsAndMutualWithoutOneWay) {
  TargetChap short_secret;
  short_secret.initiator = ChapSecretPair{"alice", "short"};
  EXPECT_EQ(target_->SetChap(kTargetIqn, short_secret).code(), absl::StatusCode::kInvalidArgument);
  TargetChap mutual_only;
  mutual_only.target = ChapSecretPair{"target", kTargetSecret};
  EXPECT_EQ(target_->SetChap(kTargetIqn, mutual_only).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TargetTest, LoginToAnUnknownTargetFailsWithNotFound) {
  std::unique_ptr<TestInitiator> initiator = Connect();
  LoginOptions options = Normal();
  options.target_name = "iqn.2026-01.io.iscsi-csi.test:nothing-here";
  absl::StatusOr<LoginResult> result = initiator->Login(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x03);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
}

TEST_F(TargetTest, LoginOfAnInitiatorOutsideTheAclFailsWithAuthorizationFailure) {
  InitiatorAcl acl;
  acl.allow_all = false;
  acl.initiators = {"iqn.2026-01.io.iscsi-csi.test:someone-else"};
  ASSERT_TRUE(target_->SetInitiatorAcl(kTargetIqn, acl).ok());
  std::unique_ptr<TestInitiator> initiator = Connect();
  absl::StatusOr<LoginResult> result = initiator->Login(Normal());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x02);
}

TEST_F(TargetTest, AclChangeClosesTheSessionOfAnInitiatorNoLongerAdmitted) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  InitiatorAcl acl;
  acl.allow_all = false;
  acl.initiators = {"iqn.2026-01.io.iscsi-csi.test:someone-else"};
  ASSERT_TRUE(target_->SetInitiatorAcl(kTargetIqn, acl).ok());
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
  EXPECT_TRUE(target_->ListSessions().empty());
}

TEST_F(TargetTest, AclChangeKeepsTheSessionsOfInitiatorsStillAdmitted) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  InitiatorAcl acl;
  acl.allow_all = false;
  acl.initiators = {Normal().initiator_name};
  ASSERT_TRUE(target_->SetInitiatorAcl(kTargetIqn, acl).ok());
  EXPECT_TRUE(initiator->Ping({1, 2, 3}).ok());
}

TEST_F(TargetTest, CloseSessionsClosesTheInitiatorsSessions) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  EXPECT_EQ(target_->CloseSessions("", Normal().initiator_name), 1);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
  EXPECT_EQ(target_->CloseSessions(kTargetIqn, Normal().initiator_name), 0);
}

TEST_F(TargetTest, LoginWithTheIsidOfALiveSessionReinstatesIt) {
  std::unique_ptr<TestInitiator> first = LoggedIn();
  ASSERT_NE(first, nullptr);
  const uint16_t first_tsih = target_->ListSessions().at(0).tsih;
  std::unique_ptr<TestInitiator> second = Connect();
  absl::StatusOr<LoginResult> result = second->Login(Normal());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->ok());
  EXPECT_NE(result->tsih, first_tsih);
  EXPECT_TRUE(first->WaitForClose(absl::Seconds(5)));
  std::vector<SessionInfo> sessions = target_->ListSessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].tsih, result->tsih);
  EXPECT_TRUE(second->ClearUnitAttentions().ok());
}

TEST_F(TargetTest, LoginWithAnotherIsidOpensASecondSession) {
  std::unique_ptr<TestInitiator> first = LoggedIn();
  LoginOptions options = Normal();
  options.isid[5] = 2;
  std::unique_ptr<TestInitiator> second = LoggedIn(options);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(target_->ListSessions().size(), 2u);
}

TEST_F(TargetTest, AddingAConnectionToALiveSessionFailsWithTooManyConnections) {
  std::unique_ptr<TestInitiator> first = LoggedIn();
  ASSERT_NE(first, nullptr);
  LoginOptions options = Normal();
  options.tsih = target_->ListSessions().at(0).tsih;
  std::unique_ptr<TestInitiator> second = Connect();
  absl::StatusOr<LoginResult> result = second->Login(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x06);
  EXPECT_TRUE(first->Ping({}).ok());
}

TEST_F(TargetTest, AddingAConnectionToAnUnknownSessionFailsWithSessionDoesNotExist) {
  LoginOptions options = Normal();
  options.tsih = 4242;
  std::unique_ptr<TestInitiator> initiator = Connect();
  absl::StatusOr<LoginResult> result = initiator->Login(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_class, 0x02);
  EXPECT_EQ(result->status_detail, 0x0a);
}

TEST_F(TargetTest, LoginWithAnUnsupportedVersionFailsWithUnsupportedVersion) {
  std::unique_ptr<TestInitiator> initiator = Connect();
  const std::string text =
      EncodeTextPairs({{"InitiatorName", Normal().initiator_name}, {"TargetName", kTargetIqn}});
  LoginRequest request;
  request.transit_bit = true;
  request.csg = 1;
  request.nsg = 3;
  request.version_max = 2;
  request.version_min = 1;
  request.itt = 1;
  request.data_segment_length = static_cast<uint32_t>(text.size());
  ASSERT_TRUE(
      initiator
          ->SendPdu(EncodeLoginRequest(request),
                    absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()))
          .ok());
  absl::StatusOr<TargetPdu> pdu = initiator->ReadPdu();
  ASSERT_TRUE(pdu.ok()) << pdu.status();
  absl::StatusOr<LoginResponse> response = ParseLoginResponse(pdu->bhs);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status_class, 0x02);
  EXPECT_EQ(response->status_detail, 0x05);
}

TEST_F(TargetTest, ContinuedLoginRequestIsAcknowledgedAndJoined) {
  std::unique_ptr<TestInitiator> initiator = Connect();
  const std::string text = EncodeTextPairs({{"InitiatorName", Normal().initiator_name},
                                            {"TargetName", kTargetIqn},
                                            {"MaxRecvDataSegmentLength", "65536"}});
  const size_t cut = 20;  // in the middle of a key=value pair
  LoginRequest request;
  request.continue_bit = true;
  request.csg = 1;
  request.isid = Normal().isid;
  request.itt = 1;
  request.cmd_sn = 1;
  request.data_segment_length = cut;
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  ASSERT_TRUE(
      initiator->SendPdu(EncodeLoginRequest(request), absl::MakeConstSpan(bytes, cut)).ok());
  absl::StatusOr<TargetPdu> ack = initiator->ReadPdu();
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->opcode(), Opcode::kLoginResponse);
  EXPECT_TRUE(ack->data.empty());
  EXPECT_EQ(ack->bhs[36], 0);  // status class: success

  request.continue_bit = false;
  request.transit_bit = true;
  request.nsg = 3;
  request.itt = 2;
  request.data_segment_length = static_cast<uint32_t>(text.size() - cut);
  ASSERT_TRUE(initiator
                  ->SendPdu(EncodeLoginRequest(request),
                            absl::MakeConstSpan(bytes + cut, text.size() - cut))
                  .ok());
  absl::StatusOr<TargetPdu> final_response = initiator->ReadPdu();
  ASSERT_TRUE(final_response.ok()) << final_response.status();
  absl::StatusOr<LoginResponse> response = ParseLoginResponse(final_response->bhs);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status_class, 0);
  EXPECT_TRUE(response->transit_bit);
  EXPECT_EQ(response->nsg, 3);
  EXPECT_NE(response->tsih, 0);
  // StatSN: the first response carried the initial value, this one the next.
  EXPECT_EQ(response->stat_sn, LoadBe32(ack->bhs, 24) + 1);
}

TEST_F(TargetTest, NonLoginFirstPduClosesTheConnectionWithoutAnswer) {
  std::unique_ptr<TestInitiator> initiator = Connect();
  NopOut ping;
  ping.immediate_bit = true;
  ping.itt = 7;
  ASSERT_TRUE(initiator->SendPdu(EncodeNopOut(ping)).ok());
  absl::StatusOr<TargetPdu> pdu = initiator->ReadPdu(absl::Seconds(5));
  EXPECT_EQ(pdu.status().code(), absl::StatusCode::kUnavailable) << "got a PDU instead";
}

TEST_F(TargetTest, DiscoveryListsOnlyTargetsTheInitiatorMaySee) {
  ASSERT_TRUE(target_->AddTarget({"iqn.2026-01.io.iscsi-csi.test:hidden", ""}).ok());
  InitiatorAcl acl;
  acl.allow_all = false;
  ASSERT_TRUE(target_->SetInitiatorAcl("iqn.2026-01.io.iscsi-csi.test:hidden", acl).ok());
  std::unique_ptr<TestInitiator> initiator = LoggedIn(LoginOptions{});
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<std::string> text = initiator->SendTargets("All");
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string expected =
      absl::StrCat("TargetName=", kTargetIqn, std::string(1, '\0'),
                   "TargetAddress=127.0.0.1:", portal_.port, ",1", std::string(1, '\0'));
  EXPECT_EQ(*text, expected);
}

TEST_F(TargetTest, DiscoveryWithManyTargetsSpansSeveralTextResponses) {
  constexpr int kTargets = 60;
  for (int i = 0; i < kTargets; ++i) {
    ASSERT_TRUE(target_
                    ->AddTarget({absl::StrCat("iqn.2026-01.io.iscsi-csi.test:volume-with-a-"
                                              "rather-long-name-",
                                              i),
                                 ""})
                    .ok());
  }
  LoginOptions options;
  options.max_recv_data_segment_length = 512;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  const uint32_t stat_sn_before = initiator->exp_stat_sn();
  absl::StatusOr<std::string> text = initiator->SendTargets("All");
  ASSERT_TRUE(text.ok()) << text.status();
  std::vector<std::string> names;
  for (absl::string_view pair : absl::StrSplit(*text, '\0', absl::SkipEmpty())) {
    if (absl::StartsWith(pair, "TargetName=")) names.emplace_back(pair.substr(11));
  }
  EXPECT_EQ(names.size(), kTargets + 1u);
  EXPECT_GT(initiator->exp_stat_sn() - stat_sn_before, 5u);  // one StatSN per piece
}

TEST_F(TargetTest, ScsiCommandInADiscoverySessionIsRejected) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn(LoginOptions{});
  ASSERT_NE(initiator, nullptr);
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  absl::StatusOr<ScsiResult> result = initiator->Command(tur);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);  // a Reject
  EXPECT_TRUE(initiator->Ping({}).ok());
}

TEST_F(TargetTest, LogoutEndsADiscoverySession) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn(LoginOptions{});
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<LogoutResponse> response = initiator->Logout();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->response, LogoutResponseCode::kClosedSuccessfully);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
}

TEST(PortalAddressTest, ParsesHostPortFormsAndPrintsThemBack) {
  absl::StatusOr<PortalAddress> v4 = ParsePortalAddress("10.0.0.1:3261");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "10.0.0.1");
  EXPECT_EQ(v4->port, 3261);
  EXPECT_EQ(v4->ToString(), "10.0.0.1:3261");
  absl::StatusOr<PortalAddress> v6 = ParsePortalAddress("[::1]:3262");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:3262");
  absl::StatusOr<PortalAddress> bare = ParsePortalAddress("192.168.1.2");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->port, 3260);
  EXPECT_FALSE(ParsePortalAddress("host.example:99999").ok());
  EXPECT_FALSE(ParsePortalAddress("[::1").ok());
}

TEST(TargetStartTest, ListensOnIpv6Loopback) {
  TargetOptions options;
  options.portals = {PortalAddress{"::1", 0}};
  options.nop_in_interval_seconds = 0;
  absl::StatusOr<std::unique_ptr<Target>> target = Target::Start(options);
  if (!target.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << target.status();
  const PortalAddress portal = (*target)->portals().at(0);
  absl::StatusOr<std::unique_ptr<TestInitiator>> initiator = TestInitiator::Connect(portal);
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  absl::StatusOr<LoginResult> result = (*initiator)->Login(LoginOptions{});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok());
}

TEST(TargetStartTest, FailsWhenThePortalCannotBeBound) {
  TargetOptions options;
  options.portals = {PortalAddress{"203.0.113.77", 3260}};
  EXPECT_FALSE(Target::Start(options).ok());
}

}  // namespace
}  // namespace iscsi_csi::target::testing
