// Tests for target/negotiation: RFC 7143 §6.2/§6.3 rules, every §12/§13 key, RFC 7144
// iSCSIProtocolLevel, RFC 7145 iSER keys, CHAP through the security stage, Full Feature
// Phase Text requests, and a randomized robustness run.
#include "target/negotiation.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kInitiator[] = "iqn.1994-05.com.redhat:node-a";
constexpr char kTarget[] = "iqn.2026-11.io.iscsi-csi:vol-1";
constexpr LoginStage kSecurity = LoginStage::kSecurityNegotiation;
constexpr LoginStage kOperational = LoginStage::kLoginOperationalNegotiation;
constexpr LoginStage kFull = LoginStage::kFullFeaturePhase;

std::string Answer(const TextPairs& response, std::string_view key) {
  std::string value = "<absent>";
  int count = 0;
  for (const TextPair& p : response) {
    if (p.key == key) {
      value = p.value;
      ++count;
    }
  }
  return count > 1 ? "<repeated>" : value;
}

TextPairs Identity(std::string session_type = "Normal") {
  TextPairs p = {{"InitiatorName", kInitiator}, {"InitiatorAlias", "node-a"}};
  if (session_type == "Normal") p.push_back({"TargetName", kTarget});
  p.push_back({"SessionType", session_type});
  return p;
}

TextPairs With(TextPairs a, const TextPairs& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// RandomSource whose first call (CHAP_I) yields `identifier` and later calls count up.
RandomSource ScriptedRandom(uint8_t identifier, uint8_t first_challenge_byte) {
  auto calls = std::make_shared<int>(0);
  return [=](absl::Span<uint8_t> out) -> absl::Status {
    if ((*calls)++ == 0) {
      for (uint8_t& b : out) b = identifier;
      return absl::OkStatus();
    }
    uint8_t next = first_challenge_byte;
    for (uint8_t& b : out) b = next++;
    return absl::OkStatus();
  };
}

ChapConfig Md5Chap() {
  ChapConfig c;
  c.initiator = {kInitiator, ChapSecret("initiator-secret-1")};
  c.target = ChapCredentials{kTarget, ChapSecret("target-secret-abcdef")};
  c.algorithms = {ChapAlgorithm::kSha256, ChapAlgorithm::kMd5};
  return c;
}

class NegotiationTest : public ::testing::Test {
 protected:
  LoginNegotiator& Make(LoginNegotiatorOptions options = {}) {
    negotiator_ = std::make_unique<LoginNegotiator>(std::move(options));
    return *negotiator_;
  }
  LoginStepResult Send(LoginStage stage, const TextPairs& pairs, bool transit,
                       LoginStage next) {
    return negotiator_->ProcessRequest(stage, transit, next, EncodeTextPairs(pairs));
  }
  // A Normal session through the security stage with AuthMethod=None.
  LoginNegotiator& StartNormal(LoginNegotiatorOptions options = {}) {
    Make(std::move(options));
    LoginStepResult r =
        Send(kSecurity, With(Identity(), {{"AuthMethod", "None"}}), true, kOperational);
    EXPECT_FALSE(r.failure.has_value()) << r.reason;
    EXPECT_TRUE(r.transit_allowed);
    return *negotiator_;
  }
  LoginNegotiator& StartDiscovery() {
    Make();
    LoginStepResult r = Send(kSecurity, With(Identity("Discovery"), {{"AuthMethod", "None"}}),
                             true, kOperational);
    EXPECT_FALSE(r.failure.has_value()) << r.reason;
    return *negotiator_;
  }
  // One operational request (T=1 towards FFP by default).
  LoginStepResult Op(const TextPairs& pairs, bool transit = true, LoginStage next = kFull) {
    return Send(kOperational, pairs, transit, next);
  }
  const SessionParams& session() const { return negotiator_->session_params(); }
  const ConnectionParams& connection() const { return negotiator_->connection_params(); }

  std::unique_ptr<LoginNegotiator> negotiator_;
};

void ExpectFailure(const LoginStepResult& r, LoginStatus status) {
  ASSERT_TRUE(r.failure.has_value()) << "expected a failure";
  EXPECT_EQ(*r.failure, status) << r.reason;
  EXPECT_FALSE(r.reason.empty());
}

// --- complete logins as open-iscsi 2.1.8 performs them (usr/login.c key sets) ---

TEST_F(NegotiationTest, OpenIscsiNormalLoginCompletesWithExpectedAnswers) {
  Make();
  LoginStepResult sec =
      Send(kSecurity, With(Identity(), {{"AuthMethod", "None"}}), true, kOperational);
  ASSERT_FALSE(sec.failure.has_value()) << sec.reason;
  EXPECT_THAT(sec.response, ElementsAre(TextPair{"TargetPortalGroupTag", "1"},
                                        TextPair{"AuthMethod", "None"}));
  EXPECT_TRUE(sec.transit_allowed);
  EXPECT_FALSE(sec.complete);

  LoginStepResult op = Op({{"HeaderDigest", "None"},
                           {"DataDigest", "None"},
                           {"DefaultTime2Wait", "2"},
                           {"DefaultTime2Retain", "0"},
                           {"IFMarker", "No"},
                           {"OFMarker", "No"},
                           {"ErrorRecoveryLevel", "0"},
                           {"InitialR2T", "No"},
                           {"ImmediateData", "Yes"},
                           {"MaxBurstLength", "16776192"},
                           {"FirstBurstLength", "262144"},
                           {"MaxOutstandingR2T", "1"},
                           {"MaxConnections", "1"},
                           {"DataPDUInOrder", "Yes"},
                           {"DataSequenceInOrder", "Yes"},
                           {"MaxRecvDataSegmentLength", "262144"}});
  ASSERT_FALSE(op.failure.has_value()) << op.reason;
  EXPECT_THAT(op.response,
              ElementsAre(TextPair{"HeaderDigest", "None"}, TextPair{"DataDigest", "None"},
                          TextPair{"DefaultTime2Wait", "2"}, TextPair{"DefaultTime2Retain", "0"},
                          TextPair{"IFMarker", "Reject"}, TextPair{"OFMarker", "Reject"},
                          TextPair{"ErrorRecoveryLevel", "0"}, TextPair{"InitialR2T", "No"},
                          TextPair{"ImmediateData", "Yes"},
                          TextPair{"MaxBurstLength", "1048576"},
                          TextPair{"FirstBurstLength", "262144"},
                          TextPair{"MaxOutstandingR2T", "1"}, TextPair{"MaxConnections", "1"},
                          TextPair{"DataPDUInOrder", "Yes"},
                          TextPair{"DataSequenceInOrder", "Yes"},
                          TextPair{"MaxRecvDataSegmentLength", "262144"}));
  EXPECT_TRUE(op.transit_allowed);
  EXPECT_TRUE(op.complete);

  EXPECT_EQ(session().session_type, SessionType::kNormal);
  EXPECT_EQ(session().initiator_name, kInitiator);
  EXPECT_EQ(session().initiator_alias, "node-a");
  EXPECT_EQ(session().target_name, kTarget);
  EXPECT_EQ(session().target_portal_group_tag, 1);
  EXPECT_EQ(session().auth_method, AuthMethod::kNone);
  EXPECT_FALSE(session().initial_r2t);
  EXPECT_TRUE(session().immediate_data);
  EXPECT_EQ(session().max_burst_length, 1048576u);
  EXPECT_EQ(session().first_burst_length, 262144u);
  EXPECT_EQ(session().default_time2wait, 2u);
  EXPECT_EQ(session().default_time2retain, 0u);
  EXPECT_EQ(session().max_outstanding_r2t, 1u);
  EXPECT_EQ(session().max_connections, 1u);
  EXPECT_EQ(session().error_recovery_level, 0u);
  EXPECT_EQ(connection().header_digest, DigestType::kNone);
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 262144u);
  EXPECT_EQ(connection().target_max_recv_data_segment_length, 262144u);
}

TEST_F(NegotiationTest, OpenIscsiDiscoveryLoginSkipsTheOperationalStage) {
  Make();
  LoginStepResult r =
      Send(kSecurity, With(Identity("Discovery"), {{"AuthMethod", "None"}}), true, kFull);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_THAT(r.response, ElementsAre(TextPair{"AuthMethod", "None"}));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(session().session_type, SessionType::kDiscovery);
  EXPECT_EQ(session().target_name, "");
  // We never declared ours, so the initiator assumes the default 8192 (§13.12).
  EXPECT_EQ(connection().target_max_recv_data_segment_length, 8192u);
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 8192u);
}

TEST_F(NegotiationTest, OpenIscsiChapLoginWithMd5) {
  LoginNegotiatorOptions options;
  options.random = ScriptedRandom(0x2a, 0x10);
  options.resolver = [](const LoginIdentity& id) {
    EXPECT_EQ(id.initiator_name, kInitiator);
    EXPECT_EQ(id.target_name, kTarget);
    TargetAccess access;
    access.chap = Md5Chap();
    access.target_alias = "vol-1";
    return access;
  };
  Make(std::move(options));
  LoginStepResult one =
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity);
  ASSERT_FALSE(one.failure.has_value()) << one.reason;
  EXPECT_THAT(one.response,
              ElementsAre(TextPair{"TargetPortalGroupTag", "1"}, TextPair{"TargetAlias", "vol-1"},
                          TextPair{"AuthMethod", "CHAP"}));
  // open-iscsi's default chap_algs is MD5 only.
  LoginStepResult two = Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity);
  ASSERT_FALSE(two.failure.has_value()) << two.reason;
  EXPECT_THAT(two.response,
              ElementsAre(TextPair{"CHAP_A", "5"}, TextPair{"CHAP_I", "42"},
                          TextPair{"CHAP_C", "0x101112131415161718191a1b1c1d1e1f"}));
  EXPECT_FALSE(negotiator_->authenticated());
  LoginStepResult three =
      Send(kSecurity, {{"CHAP_N", kInitiator}, {"CHAP_R", "0xf4c2fcbc9b5887b0d7f9ce56aadea868"}},
           true, kOperational);
  ASSERT_FALSE(three.failure.has_value()) << three.reason;
  EXPECT_THAT(three.response, IsEmpty());
  EXPECT_TRUE(three.transit_allowed);
  EXPECT_TRUE(negotiator_->authenticated());
  EXPECT_EQ(session().auth_method, AuthMethod::kChap);
  EXPECT_EQ(session().chap_algorithm, ChapAlgorithm::kMd5);
  LoginStepResult four = Op({{"MaxRecvDataSegmentLength", "262144"}});
  ASSERT_FALSE(four.failure.has_value()) << four.reason;
  EXPECT_TRUE(four.complete);
}

TEST_F(NegotiationTest, MutualChapWithSha256ReturnsOurResponse) {
  LoginNegotiatorOptions options;
  options.random = ScriptedRandom(0x07, 0xa0);
  options.resolver = [](const LoginIdentity&) {
    TargetAccess access;
    access.chap = Md5Chap();
    access.chap->initiator.secret = ChapSecret("initiator-secret-256");
    return access;
  };
  Make(std::move(options));
  ASSERT_FALSE(Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP,None"}}), false, kSecurity)
                   .failure);
  LoginStepResult two = Send(kSecurity, {{"CHAP_A", "7,5"}}, false, kSecurity);
  EXPECT_EQ(Answer(two.response, "CHAP_A"), "7");
  LoginStepResult three = Send(
      kSecurity,
      {{"CHAP_N", kInitiator},
       {"CHAP_R", "0xf5093948fe3aafda4261a7ecd2d69b69d3279393afbdcef943c3b3da04241d05"},
       {"CHAP_I", "200"},
       {"CHAP_C", "0xc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"}},
      true, kOperational);
  ASSERT_FALSE(three.failure.has_value()) << three.reason;
  EXPECT_THAT(three.response,
              ElementsAre(TextPair{"CHAP_N", kTarget},
                          TextPair{"CHAP_R", "0xfcf55b3f4efa39fb25d5b231b0319e60ac71665ecb76a5d2"
                                             "5ed6150343e37db0"}));
  EXPECT_TRUE(session().mutual_chap);
  EXPECT_EQ(session().chap_algorithm, ChapAlgorithm::kSha256);
}

// --- identity and the first request ---

TEST_F(NegotiationTest, FirstRequestWithoutInitiatorNameFailsWithMissingParameter) {
  Make();
  ExpectFailure(Send(kSecurity, {{"TargetName", kTarget}, {"AuthMethod", "None"}}, true,
                     kOperational),
                kLoginMissingParameter);
}

TEST_F(NegotiationTest, NormalSessionWithoutTargetNameFailsWithMissingParameter) {
  Make();
  ExpectFailure(Send(kSecurity, {{"InitiatorName", kInitiator}, {"AuthMethod", "None"}}, true,
                     kOperational),
                kLoginMissingParameter);
}

TEST_F(NegotiationTest, SessionTypeDefaultsToNormal) {
  Make();
  LoginStepResult r = Send(kSecurity, {{"InitiatorName", kInitiator}, {"TargetName", kTarget}},
                           true, kOperational);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(session().session_type, SessionType::kNormal);
}

TEST_F(NegotiationTest, UnknownSessionTypeFailsWithSessionTypeNotSupported) {
  Make();
  ExpectFailure(Send(kSecurity, With(Identity("Admin"), {}), true, kOperational),
                kLoginSessionTypeNotSupported);
}

TEST_F(NegotiationTest, MalformedInitiatorOrTargetNameIsAnInitiatorError) {
  Make();
  ExpectFailure(Send(kSecurity, {{"InitiatorName", "node-a"}, {"TargetName", kTarget}}, true,
                     kOperational),
                kLoginInitiatorError);
  Make();
  ExpectFailure(Send(kSecurity, {{"InitiatorName", kInitiator}, {"TargetName", "vol-1"}}, true,
                     kOperational),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, ResolverRefusalIsReturnedAsTheLoginStatus) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) {
    TargetAccess a;
    a.refusal = kLoginNotFound;
    return a;
  };
  Make(std::move(options));
  ExpectFailure(Send(kSecurity, Identity(), true, kOperational), kLoginNotFound);

  LoginNegotiatorOptions denied;
  denied.resolver = [](const LoginIdentity&) {
    TargetAccess a;
    a.refusal = kLoginAuthorizationFailure;
    return a;
  };
  Make(std::move(denied));
  ExpectFailure(Send(kSecurity, Identity(), true, kOperational), kLoginAuthorizationFailure);
}

TEST_F(NegotiationTest, DiscoverySessionDeclaresNoPortalGroupTag) {
  Make();
  LoginStepResult r = Send(kSecurity, Identity("Discovery"), false, kSecurity);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "TargetPortalGroupTag"), "<absent>");
}

TEST_F(NegotiationTest, PortalGroupTagComesFromTheOptions) {
  LoginNegotiatorOptions options;
  options.target_portal_group_tag = 7;
  Make(std::move(options));
  LoginStepResult r = Send(kSecurity, Identity(), false, kSecurity);
  EXPECT_EQ(Answer(r.response, "TargetPortalGroupTag"), "7");
  // Declared once only.
  EXPECT_EQ(Answer(Send(kSecurity, {}, false, kSecurity).response, "TargetPortalGroupTag"),
            "<absent>");
}

TEST_F(NegotiationTest, IdentityKeyInALaterRequestFails) {
  StartNormal();
  ExpectFailure(Op({{"SessionType", "Normal"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, InitiatorAliasMayComeLaterButOnlyOnce) {
  Make();
  ASSERT_FALSE(Send(kSecurity, {{"InitiatorName", kInitiator}, {"TargetName", kTarget}}, false,
                    kSecurity)
                   .failure);
  ASSERT_FALSE(Send(kSecurity, {{"InitiatorAlias", "late alias"}}, false, kSecurity).failure);
  EXPECT_EQ(session().initiator_alias, "late alias");
  ExpectFailure(Send(kSecurity, {{"InitiatorAlias", "again"}}, false, kSecurity),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, InvalidInitiatorAliasIsRejectedWithoutFailing) {
  Make();
  LoginStepResult r =
      Send(kSecurity, {{"InitiatorName", kInitiator}, {"TargetName", kTarget},
                       {"InitiatorAlias", "bad\xff"}}, false, kSecurity);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "InitiatorAlias"), "Reject");
  EXPECT_EQ(session().initiator_alias, "");
}

// --- general rules: malformed text, repetition, stages, senders ---

TEST_F(NegotiationTest, MalformedPairFailsTheLogin) {
  Make();
  LoginStepResult r = negotiator_->ProcessRequest(
      kSecurity, true, kOperational,
      std::string("InitiatorName=") + kInitiator + std::string("\0Garbage\0", 9));
  ExpectFailure(r, kLoginInitiatorError);
}

TEST_F(NegotiationTest, KeyRepeatedInOneRequestFails) {
  StartNormal();
  ExpectFailure(Op({{"MaxBurstLength", "65536"}, {"MaxBurstLength", "65536"}}),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, KeyRepeatedInALaterRequestFails) {
  StartNormal();
  ASSERT_FALSE(Op({{"MaxBurstLength", "65536"}}, false, kOperational).failure);
  ExpectFailure(Op({{"MaxBurstLength", "65536"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, OperationalKeyInTheSecurityStageFails) {
  Make();
  ExpectFailure(Send(kSecurity, With(Identity(), {{"MaxRecvDataSegmentLength", "8192"}}), true,
                     kOperational),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, SecurityKeyInTheOperationalStageFails) {
  StartNormal();
  ExpectFailure(Op({{"AuthMethod", "None"}}), kLoginInitiatorError);
  StartNormal();
  ExpectFailure(Op({{"CHAP_A", "5"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, LeadingOnlyKeyOnANonLeadingConnectionFails) {
  LoginNegotiatorOptions options;
  options.leading_connection = false;
  StartNormal(std::move(options));
  ExpectFailure(Op({{"MaxBurstLength", "65536"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, ConnectionKeysAreAllowedOnANonLeadingConnection) {
  LoginNegotiatorOptions options;
  options.leading_connection = false;
  StartNormal(std::move(options));
  LoginStepResult r = Op({{"HeaderDigest", "CRC32C"}, {"MaxRecvDataSegmentLength", "65536"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(connection().header_digest, DigestType::kCrc32c);
}

TEST_F(NegotiationTest, SendTargetsDuringLoginFails) {
  StartDiscovery();
  ExpectFailure(Op({{"SendTargets", "All"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, KeysOnlyTheTargetMaySendFailWhenTheInitiatorSendsThem) {
  for (const char* key : {"TargetAddress", "TargetPortalGroupTag", "TargetAlias"}) {
    Make();
    ExpectFailure(Send(kSecurity, With(Identity(), {{key, "1"}}), false, kSecurity),
                  kLoginInitiatorError);
  }
}

TEST_F(NegotiationTest, UnknownPrivateAndPublicExtensionKeysAreNotUnderstood) {
  StartNormal();
  LoginStepResult r = Op({{"X-com.cisco.PingTimeout", "5"},
                          {"X#NodeArchitecture", "ExampleOS/v1"},
                          {"FutureKey", "1"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "X-com.cisco.PingTimeout"), "NotUnderstood");
  EXPECT_EQ(Answer(r.response, "X#NodeArchitecture"), "NotUnderstood");
  EXPECT_EQ(Answer(r.response, "FutureKey"), "NotUnderstood");
}

TEST_F(NegotiationTest, UnknownKeyInTheSecurityStageIsNotUnderstood) {
  Make();
  LoginStepResult r = Send(kSecurity, With(Identity(), {{"X-com.example.Foo", "1"}}), false,
                           kSecurity);
  ASSERT_FALSE(r.failure.has_value());
  EXPECT_EQ(Answer(r.response, "X-com.example.Foo"), "NotUnderstood");
}

TEST_F(NegotiationTest, ReservedValueProposedByTheInitiatorFails) {
  for (const char* value : {"Reject", "Irrelevant", "NotUnderstood"}) {
    StartNormal();
    ExpectFailure(Op({{"MaxBurstLength", value}}), kLoginInitiatorError);
  }
}

TEST_F(NegotiationTest, KeysOfAnUnselectedAuthenticationMethodFail) {
  Make();
  ExpectFailure(Send(kSecurity, With(Identity(), {{"SRP_U", "user"}}), false, kSecurity),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, InvalidStagesFail) {
  Make();
  ExpectFailure(negotiator_->ProcessRequest(kFull, false, kFull, ""), kLoginInitiatorError);
  Make();
  ExpectFailure(negotiator_->ProcessRequest(kOperational, true, kSecurity,
                                            EncodeTextPairs(Identity())),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, FailureIsSticky) {
  Make();
  LoginStepResult first = Send(kSecurity, {{"TargetName", kTarget}}, true, kOperational);
  ExpectFailure(first, kLoginMissingParameter);
  LoginStepResult again = Send(kSecurity, Identity(), true, kOperational);
  ExpectFailure(again, kLoginMissingParameter);
}

TEST_F(NegotiationTest, RequestAfterCompletionFails) {
  StartNormal();
  ASSERT_TRUE(Op({}).complete);
  ExpectFailure(Op({}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, InvalidPolicyIsATargetError) {
  LoginNegotiatorOptions options;
  options.policy.first_burst_length = options.policy.max_burst_length + 1;
  Make(std::move(options));
  ExpectFailure(Send(kSecurity, Identity(), true, kOperational), kLoginTargetError);
}

// --- security stage ---

TEST_F(NegotiationTest, AuthMethodNoneIsAcceptedWhenNoChapIsConfigured) {
  Make();
  LoginStepResult r =
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP,None"}}), true, kOperational);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "AuthMethod"), "None");
  EXPECT_TRUE(r.transit_allowed);
}

TEST_F(NegotiationTest, AuthMethodPicksChapFromTheListWhenRequired) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  LoginStepResult r =
      Send(kSecurity, With(Identity(), {{"AuthMethod", "None,KRB5,CHAP"}}), true, kOperational);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "AuthMethod"), "CHAP");
  EXPECT_FALSE(r.transit_allowed);  // CHAP still to run
}

TEST_F(NegotiationTest, AuthMethodNoneWhenChapIsRequiredFailsWithAuthenticationFailure) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  LoginStepResult r =
      Send(kSecurity, With(Identity(), {{"AuthMethod", "None"}}), true, kOperational);
  ExpectFailure(r, kLoginAuthenticationFailure);
  EXPECT_THAT(r.response, ElementsAre(TextPair{"AuthMethod", "Reject"}));
}

TEST_F(NegotiationTest, SkippingTheSecurityStageWhenChapIsRequiredFails) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  ExpectFailure(Send(kOperational, Identity(), true, kFull), kLoginAuthenticationFailure);
}

TEST_F(NegotiationTest, StartingInTheOperationalStageIsFineWithoutAuthentication) {
  Make();
  LoginStepResult r = Send(kOperational, With(Identity(), {{"MaxBurstLength", "65536"}}), true,
                           kFull);
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(session().max_burst_length, 65536u);
}

TEST_F(NegotiationTest, LeavingTheSecurityStageBeforeChapCompletesFails) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  options.random = ScriptedRandom(1, 2);
  Make(std::move(options));
  ASSERT_FALSE(
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity).failure);
  ASSERT_FALSE(Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity).failure);
  ExpectFailure(Send(kSecurity, {}, true, kOperational), kLoginAuthenticationFailure);
}

TEST_F(NegotiationTest, LeavingTheSecurityStageWithoutAuthMethodWhenChapIsRequiredFails) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  ExpectFailure(Send(kSecurity, Identity(), true, kOperational), kLoginAuthenticationFailure);
}

TEST_F(NegotiationTest, WrongChapResponseFailsWithAuthenticationFailure) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  options.random = ScriptedRandom(0x2a, 0x10);
  Make(std::move(options));
  ASSERT_FALSE(
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity).failure);
  ASSERT_FALSE(Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity).failure);
  LoginStepResult r = Send(
      kSecurity, {{"CHAP_N", kInitiator}, {"CHAP_R", "0x00000000000000000000000000000000"}},
      true, kOperational);
  ExpectFailure(r, kLoginAuthenticationFailure);
  EXPECT_FALSE(negotiator_->authenticated());
}

TEST_F(NegotiationTest, ChapAlgorithmNotOfferedAnswersRejectAndFails) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  ASSERT_FALSE(
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity).failure);
  LoginStepResult r = Send(kSecurity, {{"CHAP_A", "6"}}, false, kSecurity);
  ExpectFailure(r, kLoginAuthenticationFailure);
  EXPECT_THAT(r.response, ElementsAre(TextPair{"CHAP_A", "Reject"}));
}

TEST_F(NegotiationTest, ChapKeysBeforeAuthMethodAreAnInitiatorError) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  Make(std::move(options));
  ExpectFailure(Send(kSecurity, With(Identity(), {{"CHAP_A", "5"}}), false, kSecurity),
                kLoginInitiatorError);
}

TEST_F(NegotiationTest, ChapKeysAfterAuthMethodNoneAreAnInitiatorError) {
  Make();
  ASSERT_FALSE(
      Send(kSecurity, With(Identity(), {{"AuthMethod", "None"}}), false, kSecurity).failure);
  ExpectFailure(Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity), kLoginInitiatorError);
}

TEST_F(NegotiationTest, ChapRandomFailureIsATargetError) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  options.random = [](absl::Span<uint8_t>) { return absl::InternalError("no entropy"); };
  Make(std::move(options));
  ASSERT_FALSE(
      Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity).failure);
  ExpectFailure(Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity), kLoginTargetError);
}

TEST_F(NegotiationTest, InvalidChapConfigurationFromTheResolverIsATargetError) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) {
    TargetAccess a;
    a.chap = Md5Chap();
    a.chap->initiator.secret = ChapSecret("too-short");
    return a;
  };
  Make(std::move(options));
  ExpectFailure(Send(kSecurity, Identity(), false, kSecurity), kLoginTargetError);
}

TEST_F(NegotiationTest, FailureReasonNeverContainsSecrets) {
  LoginNegotiatorOptions options;
  options.resolver = [](const LoginIdentity&) { return TargetAccess{{}, Md5Chap(), ""}; };
  options.random = ScriptedRandom(0x2a, 0x10);
  Make(std::move(options));
  Send(kSecurity, With(Identity(), {{"AuthMethod", "CHAP"}}), false, kSecurity);
  Send(kSecurity, {{"CHAP_A", "5"}}, false, kSecurity);
  LoginStepResult r =
      Send(kSecurity, {{"CHAP_N", "someone"}, {"CHAP_R", "0x00"}}, true, kOperational);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.reason.find("initiator-secret-1"), std::string::npos);
  EXPECT_EQ(r.reason.find("target-secret"), std::string::npos);
}

// --- every operational key and its result function ---

TEST_F(NegotiationTest, HeaderDigestTakesTheFirstInitiatorChoiceWeAccept) {
  StartNormal();
  LoginStepResult r = Op({{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "None,CRC32C"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "HeaderDigest"), "CRC32C");
  EXPECT_EQ(Answer(r.response, "DataDigest"), "None");
  EXPECT_EQ(connection().header_digest, DigestType::kCrc32c);
  EXPECT_EQ(connection().data_digest, DigestType::kNone);
}

TEST_F(NegotiationTest, DigestValuesWeDoNotKnowAreIgnored) {
  StartNormal();
  LoginStepResult r = Op({{"HeaderDigest", "MD5,,X-com.example.Sum,CRC32C"}});
  EXPECT_EQ(Answer(r.response, "HeaderDigest"), "CRC32C");
}

TEST_F(NegotiationTest, DigestWithoutAcceptableValueIsRejected) {
  LoginNegotiatorOptions options;
  options.policy.data_digests = {DigestType::kNone};
  StartNormal(std::move(options));
  LoginStepResult r = Op({{"DataDigest", "CRC32C"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "DataDigest"), "Reject");
  EXPECT_EQ(connection().data_digest, DigestType::kNone);
}

TEST_F(NegotiationTest, DigestRequiredByPolicyAndOnlyNoneOfferedFailsAtCompletion) {
  LoginNegotiatorOptions options;
  options.policy.header_digests = {DigestType::kCrc32c};
  StartNormal(std::move(options));
  LoginStepResult r = Op({{"HeaderDigest", "None"}});
  ExpectFailure(r, kLoginInitiatorError);
}

TEST_F(NegotiationTest, DigestRequiredByPolicyIsProposedWhenNotOffered) {
  LoginNegotiatorOptions options;
  options.policy.header_digests = {DigestType::kCrc32c};
  StartNormal(std::move(options));
  LoginStepResult r = Op({});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "HeaderDigest"), "CRC32C");
  EXPECT_FALSE(r.transit_allowed);
  EXPECT_FALSE(r.complete);
  LoginStepResult answer = Op({{"HeaderDigest", "CRC32C"}});
  ASSERT_FALSE(answer.failure.has_value()) << answer.reason;
  EXPECT_TRUE(answer.complete);
  EXPECT_EQ(connection().header_digest, DigestType::kCrc32c);
}

TEST_F(NegotiationTest, MaxConnectionsTakesTheMinimum) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxConnections", "8"}}).response, "MaxConnections"), "1");
  EXPECT_EQ(session().max_connections, 1u);
  LoginNegotiatorOptions options;
  options.policy.max_connections = 4;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({{"MaxConnections", "2"}}).response, "MaxConnections"), "2");
  EXPECT_EQ(session().max_connections, 2u);
}

TEST_F(NegotiationTest, MaxConnectionsOutOfRangeIsRejected) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxConnections", "0"}}).response, "MaxConnections"), "Reject");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxConnections", "65536"}}).response, "MaxConnections"), "Reject");
}

TEST_F(NegotiationTest, InitialR2TIsAnOrFunction) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"InitialR2T", "Yes"}}).response, "InitialR2T"), "Yes");
  EXPECT_TRUE(session().initial_r2t);
  StartNormal();
  EXPECT_EQ(Answer(Op({{"InitialR2T", "No"}}).response, "InitialR2T"), "No");
  EXPECT_FALSE(session().initial_r2t);
  LoginNegotiatorOptions options;
  options.policy.initial_r2t = true;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({{"InitialR2T", "No"}}).response, "InitialR2T"), "Yes");
  EXPECT_TRUE(session().initial_r2t);
}

TEST_F(NegotiationTest, ImmediateDataIsAnAndFunction) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"ImmediateData", "Yes"}}).response, "ImmediateData"), "Yes");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"ImmediateData", "No"}}).response, "ImmediateData"), "No");
  EXPECT_FALSE(session().immediate_data);
  LoginNegotiatorOptions options;
  options.policy.immediate_data = false;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({{"ImmediateData", "Yes"}}).response, "ImmediateData"), "No");
  EXPECT_FALSE(session().immediate_data);
}

TEST_F(NegotiationTest, MaxRecvDataSegmentLengthIsDeclaredPerDirection) {
  StartNormal();
  LoginStepResult r = Op({{"MaxRecvDataSegmentLength", "65536"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  // The response carries our own declaration, not an answer to theirs.
  EXPECT_EQ(Answer(r.response, "MaxRecvDataSegmentLength"), "262144");
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 65536u);
  EXPECT_EQ(connection().target_max_recv_data_segment_length, 262144u);
}

TEST_F(NegotiationTest, MaxRecvDataSegmentLengthBoundsAreInclusive) {
  StartNormal();
  ASSERT_FALSE(Op({{"MaxRecvDataSegmentLength", "512"}}).failure);
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 512u);
  StartNormal();
  ASSERT_FALSE(Op({{"MaxRecvDataSegmentLength", "16777215"}}).failure);
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 16777215u);
}

TEST_F(NegotiationTest, MaxRecvDataSegmentLengthOutOfRangeIsRejectedAndStaysDefault) {
  for (const char* v : {"511", "16777216", "0", "big"}) {
    StartNormal();
    LoginStepResult r = Op({{"MaxRecvDataSegmentLength", v}}, false, kOperational);
    ASSERT_FALSE(r.failure.has_value()) << r.reason;
    // Our declaration (262144) and the Reject both use the key; the Reject comes first.
    ASSERT_GE(r.response.size(), 2u);
    EXPECT_EQ(r.response[0], (TextPair{"MaxRecvDataSegmentLength", "Reject"})) << v;
    EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 8192u);
  }
}

TEST_F(NegotiationTest, TargetDeclaresMaxRecvDataSegmentLengthOnlyOnce) {
  LoginNegotiatorOptions options;
  options.policy.max_recv_data_segment_length = 65536;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({}, false, kOperational).response, "MaxRecvDataSegmentLength"), "65536");
  EXPECT_EQ(Answer(Op({}).response, "MaxRecvDataSegmentLength"), "<absent>");
  EXPECT_EQ(connection().target_max_recv_data_segment_length, 65536u);
}

TEST_F(NegotiationTest, MaxBurstLengthTakesTheMinimum) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxBurstLength", "16777215"}}).response, "MaxBurstLength"), "1048576");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxBurstLength", "65536"}}).response, "MaxBurstLength"), "65536");
  EXPECT_EQ(session().max_burst_length, 65536u);
}

TEST_F(NegotiationTest, MaxBurstLengthAcceptsHexConstants) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxBurstLength", "0x10000"}}).response, "MaxBurstLength"), "65536");
}

TEST_F(NegotiationTest, MaxBurstLengthBelow512IsRejected) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxBurstLength", "511"}}).response, "MaxBurstLength"), "Reject");
  EXPECT_EQ(session().max_burst_length, 262144u);  // RFC default stays
}

TEST_F(NegotiationTest, FirstBurstLengthTakesTheMinimum) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"FirstBurstLength", "1048576"}}).response, "FirstBurstLength"),
            "262144");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"FirstBurstLength", "8192"}}).response, "FirstBurstLength"), "8192");
  EXPECT_EQ(session().first_burst_length, 8192u);
}

TEST_F(NegotiationTest, FirstBurstLengthLargerThanMaxBurstIsClamped) {
  StartNormal();
  // FirstBurstLength listed first; MaxBurstLength is evaluated before it anyway.
  LoginStepResult r = Op({{"FirstBurstLength", "262144"}, {"MaxBurstLength", "65536"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "MaxBurstLength"), "65536");
  EXPECT_EQ(Answer(r.response, "FirstBurstLength"), "65536");
  EXPECT_EQ(r.response[0].key, "FirstBurstLength");  // answers keep the request order
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(session().first_burst_length, 65536u);
}

TEST_F(NegotiationTest, MaxBurstBelowAnAgreedFirstBurstInALaterRequestFailsTheLogin) {
  StartNormal();
  ASSERT_FALSE(Op({{"FirstBurstLength", "262144"}}, false, kOperational).failure);
  ExpectFailure(Op({{"MaxBurstLength", "65536"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, DefaultFirstBurstIsClampedToASmallerMaxBurst) {
  StartNormal();
  LoginStepResult r = Op({{"MaxBurstLength", "16384"}});
  ASSERT_TRUE(r.complete) << r.reason;
  EXPECT_EQ(session().max_burst_length, 16384u);
  EXPECT_EQ(session().first_burst_length, 16384u);
}

TEST_F(NegotiationTest, FirstBurstLengthIsIrrelevantWithInitialR2TAndNoImmediateData) {
  StartNormal();
  LoginStepResult r = Op(
      {{"FirstBurstLength", "4096"}, {"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "FirstBurstLength"), "Irrelevant");
  EXPECT_EQ(session().first_burst_length, 65536u);
}

TEST_F(NegotiationTest, DefaultTime2WaitTakesTheMaximum) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Wait", "0"}}).response, "DefaultTime2Wait"), "2");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Wait", "10"}}).response, "DefaultTime2Wait"), "10");
  EXPECT_EQ(session().default_time2wait, 10u);
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Wait", "3601"}}).response, "DefaultTime2Wait"), "Reject");
}

TEST_F(NegotiationTest, DefaultTime2RetainTakesTheMinimum) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Retain", "60"}}).response, "DefaultTime2Retain"), "20");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Retain", "0"}}).response, "DefaultTime2Retain"), "0");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"DefaultTime2Retain", "3600"}}).response, "DefaultTime2Retain"), "20");
}

TEST_F(NegotiationTest, MaxOutstandingR2TTakesTheMinimumWithinRange) {
  LoginNegotiatorOptions options;
  options.policy.max_outstanding_r2t = 8;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({{"MaxOutstandingR2T", "16"}}).response, "MaxOutstandingR2T"), "8");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxOutstandingR2T", "0"}}).response, "MaxOutstandingR2T"), "Reject");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"MaxOutstandingR2T", "65536"}}).response, "MaxOutstandingR2T"),
            "Reject");
}

TEST_F(NegotiationTest, DataPduAndSequenceInOrderAreOrFunctions) {
  StartNormal();
  LoginStepResult r = Op({{"DataPDUInOrder", "No"}, {"DataSequenceInOrder", "No"}});
  EXPECT_EQ(Answer(r.response, "DataPDUInOrder"), "Yes");
  EXPECT_EQ(Answer(r.response, "DataSequenceInOrder"), "Yes");
  EXPECT_TRUE(session().data_pdu_in_order);
  LoginNegotiatorOptions options;
  options.policy.data_pdu_in_order = false;
  StartNormal(std::move(options));
  EXPECT_EQ(Answer(Op({{"DataPDUInOrder", "No"}}).response, "DataPDUInOrder"), "No");
  EXPECT_FALSE(session().data_pdu_in_order);
}

TEST_F(NegotiationTest, ErrorRecoveryLevelIsAlwaysZero) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"ErrorRecoveryLevel", "2"}}).response, "ErrorRecoveryLevel"), "0");
  EXPECT_EQ(session().error_recovery_level, 0u);
  StartNormal();
  EXPECT_EQ(Answer(Op({{"ErrorRecoveryLevel", "3"}}).response, "ErrorRecoveryLevel"), "Reject");
}

TEST_F(NegotiationTest, TaskReportingAnswersRfc3720) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"TaskReporting", "FastAbort,ResponseFence,RFC3720"}}).response,
                   "TaskReporting"),
            "RFC3720");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"TaskReporting", "FastAbort"}}).response, "TaskReporting"), "Reject");
}

TEST_F(NegotiationTest, IscsiProtocolLevelTakesTheMinimumWithOne) {
  StartNormal();
  EXPECT_EQ(Answer(Op({{"iSCSIProtocolLevel", "2"}}).response, "iSCSIProtocolLevel"), "1");
  EXPECT_EQ(session().iscsi_protocol_level, 1u);
  StartNormal();
  EXPECT_EQ(Answer(Op({{"iSCSIProtocolLevel", "0"}}).response, "iSCSIProtocolLevel"), "0");
  StartNormal();
  EXPECT_EQ(Answer(Op({{"iSCSIProtocolLevel", "32"}}).response, "iSCSIProtocolLevel"), "Reject");
}

TEST_F(NegotiationTest, RdmaExtensionsIsAlwaysNoAndIserKeysAreIrrelevant) {
  StartNormal();
  LoginStepResult r = Op({{"RDMAExtensions", "Yes"},
                          {"TargetRecvDataSegmentLength", "8192"},
                          {"InitiatorRecvDataSegmentLength", "8192"},
                          {"MaxOutstandingUnexpectedPDUs", "0"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_EQ(Answer(r.response, "RDMAExtensions"), "No");
  EXPECT_EQ(Answer(r.response, "TargetRecvDataSegmentLength"), "Irrelevant");
  EXPECT_EQ(Answer(r.response, "InitiatorRecvDataSegmentLength"), "Irrelevant");
  EXPECT_EQ(Answer(r.response, "MaxOutstandingUnexpectedPDUs"), "Irrelevant");
  EXPECT_FALSE(session().rdma_extensions);
}

TEST_F(NegotiationTest, ObsoleteMarkerKeysAreRejected) {
  StartNormal();
  LoginStepResult r = Op({{"OFMarker", "No"}, {"IFMarker", "Yes"}, {"OFMarkInt", "2048~8192"},
                          {"IFMarkInt", "2048"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  for (const char* k : {"OFMarker", "IFMarker", "OFMarkInt", "IFMarkInt"}) {
    EXPECT_EQ(Answer(r.response, k), "Reject") << k;
  }
}

TEST_F(NegotiationTest, ValuesOfTheWrongTypeAreRejected) {
  StartNormal();
  LoginStepResult r = Op({{"InitialR2T", "Maybe"},
                          {"ImmediateData", "yes"},
                          {"MaxBurstLength", "-1"},
                          {"FirstBurstLength", "0bAAEAAA=="},
                          {"DefaultTime2Wait", "2.5"},
                          {"MaxConnections", "1~4"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  for (const char* k : {"InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
                        "DefaultTime2Wait", "MaxConnections"}) {
    EXPECT_EQ(Answer(r.response, k), "Reject") << k;
  }
  // Nothing changed from the RFC defaults.
  EXPECT_TRUE(session().initial_r2t);
  EXPECT_EQ(session().max_burst_length, 262144u);
}

TEST_F(NegotiationTest, DiscoverySessionAnswersSessionKeysIrrelevant) {
  StartDiscovery();
  LoginStepResult r = Op({{"MaxConnections", "1"},
                          {"InitialR2T", "No"},
                          {"ImmediateData", "Yes"},
                          {"MaxBurstLength", "65536"},
                          {"FirstBurstLength", "65536"},
                          {"MaxOutstandingR2T", "1"},
                          {"DataPDUInOrder", "Yes"},
                          {"DataSequenceInOrder", "Yes"},
                          {"TaskReporting", "RFC3720"},
                          {"iSCSIProtocolLevel", "1"},
                          {"RDMAExtensions", "No"},
                          {"HeaderDigest", "CRC32C"},
                          {"ErrorRecoveryLevel", "0"},
                          {"DefaultTime2Wait", "5"},
                          {"MaxRecvDataSegmentLength", "32768"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  for (const char* k : {"MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength",
                        "FirstBurstLength", "MaxOutstandingR2T", "DataPDUInOrder",
                        "DataSequenceInOrder", "TaskReporting", "iSCSIProtocolLevel",
                        "RDMAExtensions"}) {
    EXPECT_EQ(Answer(r.response, k), "Irrelevant") << k;
  }
  EXPECT_EQ(Answer(r.response, "HeaderDigest"), "CRC32C");
  EXPECT_EQ(Answer(r.response, "ErrorRecoveryLevel"), "0");
  EXPECT_EQ(Answer(r.response, "DefaultTime2Wait"), "5");
  EXPECT_EQ(connection().initiator_max_recv_data_segment_length, 32768u);
  EXPECT_EQ(session().max_burst_length, 262144u);
  EXPECT_TRUE(r.complete);
}

// --- target-initiated proposals ---

TEST_F(NegotiationTest, WithoutProposalsUnofferedKeysKeepRfcDefaults) {
  StartNormal();
  LoginStepResult r = Op({});
  ASSERT_TRUE(r.complete) << r.reason;
  EXPECT_THAT(r.response, ElementsAre(TextPair{"MaxRecvDataSegmentLength", "262144"}));
  EXPECT_TRUE(session().initial_r2t);
  EXPECT_TRUE(session().immediate_data);
  EXPECT_EQ(session().max_burst_length, 262144u);
  EXPECT_EQ(session().first_burst_length, 65536u);
  EXPECT_EQ(session().default_time2wait, 2u);
  EXPECT_EQ(session().default_time2retain, 20u);
  EXPECT_EQ(session().iscsi_protocol_level, 0u);
}

LoginNegotiatorOptions Proposing() {
  LoginNegotiatorOptions options;
  options.policy.propose_unoffered_keys = true;
  return options;
}

TEST_F(NegotiationTest, ProposalsHoldTheTransitionUntilAnswered) {
  StartNormal(Proposing());
  LoginStepResult r = Op({{"ImmediateData", "Yes"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_THAT(r.response, ElementsAre(TextPair{"ImmediateData", "Yes"},
                                      TextPair{"MaxRecvDataSegmentLength", "262144"},
                                      TextPair{"InitialR2T", "No"},
                                      TextPair{"MaxBurstLength", "1048576"},
                                      TextPair{"FirstBurstLength", "262144"},
                                      TextPair{"iSCSIProtocolLevel", "1"}));
  EXPECT_FALSE(r.transit_allowed);
  EXPECT_FALSE(r.complete);
  LoginStepResult answers = Op({{"InitialR2T", "No"},
                                {"MaxBurstLength", "524288"},
                                {"FirstBurstLength", "131072"},
                                {"iSCSIProtocolLevel", "NotUnderstood"}});
  ASSERT_FALSE(answers.failure.has_value()) << answers.reason;
  EXPECT_THAT(answers.response, IsEmpty());
  EXPECT_TRUE(answers.complete);
  EXPECT_FALSE(session().initial_r2t);
  EXPECT_EQ(session().max_burst_length, 524288u);
  EXPECT_EQ(session().first_burst_length, 131072u);
  EXPECT_EQ(session().iscsi_protocol_level, 0u);  // NotUnderstood: the default stays
}

TEST_F(NegotiationTest, UnansweredProposalFailsWhenTheInitiatorTransits) {
  StartNormal(Proposing());
  ASSERT_FALSE(Op({}).failure);
  ExpectFailure(Op({{"InitialR2T", "No"}}), kLoginInitiatorError);
}

TEST_F(NegotiationTest, UnansweredProposalMayWaitWhileTheInitiatorKeepsNegotiating) {
  StartNormal(Proposing());
  ASSERT_FALSE(Op({}).failure);
  ASSERT_FALSE(Op({{"HeaderDigest", "None"}}, false, kOperational).failure);
  LoginStepResult r = Op({{"InitialR2T", "No"},
                          {"MaxBurstLength", "1048576"},
                          {"FirstBurstLength", "262144"},
                          {"iSCSIProtocolLevel", "1"}});
  ASSERT_FALSE(r.failure.has_value()) << r.reason;
  EXPECT_TRUE(r.complete);
}

TEST_F(NegotiationTest, ProposalAnswerViolatingItsSelectionRuleFails) {
  StartNormal(Proposing());
  ASSERT_FALSE(Op({}).failure);
  // MaxBurstLength is a minimum: the answer may not exceed our 1048576.
  ExpectFailure(Op({{"MaxBurstLength", "2097152"}}, false, kOperational), kLoginInitiatorError);
}

TEST_F(NegotiationTest, ProposalAnsweredWithRejectKeepsTheDefault) {
  StartNormal(Proposing());
  ASSERT_FALSE(Op({}).failure);
  LoginStepResult r = Op({{"InitialR2T", "Reject"},
                          {"MaxBurstLength", "Reject"},
                          {"FirstBurstLength", "Irrelevant"},
                          {"iSCSIProtocolLevel", "1"}});
  ASSERT_TRUE(r.complete) << r.reason;
  EXPECT_TRUE(session().initial_r2t);
  EXPECT_EQ(session().max_burst_length, 262144u);
  EXPECT_EQ(session().first_burst_length, 65536u);
}

TEST_F(NegotiationTest, KeysTheInitiatorOfferedAreNeverProposed) {
  StartNormal(Proposing());
  LoginStepResult r = Op({{"InitialR2T", "Yes"},
                          {"MaxBurstLength", "65536"},
                          {"FirstBurstLength", "65536"},
                          {"iSCSIProtocolLevel", "1"}});
  ASSERT_TRUE(r.complete) << r.reason;
  EXPECT_EQ(Answer(r.response, "InitialR2T"), "Yes");
}

TEST_F(NegotiationTest, DiscoverySessionsGetNoProposals) {
  Make(Proposing());
  ASSERT_FALSE(Send(kSecurity, Identity("Discovery"), true, kOperational).failure);
  LoginStepResult r = Op({});
  EXPECT_TRUE(r.complete) << r.reason;
}

// --- Full Feature Phase Text ---

TEST(FullFeatureTextTest, SendTargetsAllInADiscoverySession) {
  SessionParams session;
  session.session_type = SessionType::kDiscovery;
  ConnectionParams connection;
  absl::StatusOr<TextStepResult> r =
      NegotiateFullFeatureText(session, &connection, EncodeTextPairs({{"SendTargets", "All"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->response, IsEmpty());
  ASSERT_TRUE(r->send_targets.has_value());
  EXPECT_EQ(r->send_targets->scope, SendTargetsRequest::Scope::kAll);
}

TEST(FullFeatureTextTest, SendTargetsAllInANormalSessionIsRejected) {
  SessionParams session;
  ConnectionParams connection;
  absl::StatusOr<TextStepResult> r =
      NegotiateFullFeatureText(session, &connection, EncodeTextPairs({{"SendTargets", "All"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->response, ElementsAre(TextPair{"SendTargets", "Reject"}));
  EXPECT_FALSE(r->send_targets.has_value());
}

TEST(FullFeatureTextTest, SendTargetsEmptyOrNamed) {
  SessionParams session;
  ConnectionParams connection;
  auto empty =
      NegotiateFullFeatureText(session, &connection, EncodeTextPairs({{"SendTargets", ""}}));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->send_targets->scope, SendTargetsRequest::Scope::kSessionTarget);
  auto named =
      NegotiateFullFeatureText(session, &connection, EncodeTextPairs({{"SendTargets", kTarget}}));
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->send_targets->scope, SendTargetsRequest::Scope::kNamedTarget);
  EXPECT_EQ(named->send_targets->target_name, kTarget);
  auto bad = NegotiateFullFeatureText(session, &connection,
                                      EncodeTextPairs({{"SendTargets", "not-a-name"}}));
  ASSERT_TRUE(bad.ok());
  EXPECT_THAT(bad->response, ElementsAre(TextPair{"SendTargets", "Reject"}));
}

TEST(FullFeatureTextTest, MaxRecvDataSegmentLengthMayBeRedeclared) {
  SessionParams session;
  ConnectionParams connection;
  auto r = NegotiateFullFeatureText(session, &connection,
                                    EncodeTextPairs({{"MaxRecvDataSegmentLength", "131072"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->response, IsEmpty());
  EXPECT_EQ(connection.initiator_max_recv_data_segment_length, 131072u);
  auto bad = NegotiateFullFeatureText(session, &connection,
                                      EncodeTextPairs({{"MaxRecvDataSegmentLength", "100"}}));
  ASSERT_TRUE(bad.ok());
  EXPECT_THAT(bad->response, ElementsAre(TextPair{"MaxRecvDataSegmentLength", "Reject"}));
  EXPECT_EQ(connection.initiator_max_recv_data_segment_length, 131072u);
}

TEST(FullFeatureTextTest, LoginOnlyAndTargetOnlyKeysAreRejected) {
  SessionParams session;
  ConnectionParams connection;
  auto r = NegotiateFullFeatureText(session, &connection,
                                    EncodeTextPairs({{"MaxBurstLength", "65536"},
                                                     {"HeaderDigest", "CRC32C"},
                                                     {"InitiatorName", kInitiator},
                                                     {"TargetAlias", "x"},
                                                     {"AuthMethod", "None"},
                                                     {"CHAP_A", "5"},
                                                     {"SRP_U", "u"}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->response.size(), 7u);
  for (const TextPair& p : r->response) EXPECT_EQ(p.value, "Reject") << p.key;
  EXPECT_EQ(session.max_burst_length, 262144u);
  EXPECT_EQ(connection.header_digest, DigestType::kNone);
}

TEST(FullFeatureTextTest, UnknownKeysAreNotUnderstoodAndAliasesAccepted) {
  SessionParams session;
  ConnectionParams connection;
  auto r = NegotiateFullFeatureText(session, &connection,
                                    EncodeTextPairs({{"X-com.example.Stats", "1"},
                                                     {"InitiatorAlias", "renamed"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->response, ElementsAre(TextPair{"X-com.example.Stats", "NotUnderstood"}));
}

TEST(FullFeatureTextTest, MalformedOrRepeatedOrReservedIsAProtocolError) {
  SessionParams session;
  ConnectionParams connection;
  EXPECT_EQ(NegotiateFullFeatureText(session, &connection, "SendTargets").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NegotiateFullFeatureText(
                session, &connection,
                EncodeTextPairs({{"SendTargets", "All"}, {"SendTargets", "All"}}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NegotiateFullFeatureText(session, &connection,
                                     EncodeTextPairs({{"MaxRecvDataSegmentLength", "Reject"}}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FullFeatureTextTest, SendTargetsResponseSplitsIntoPdusOfTheInitiatorsSize) {
  TextPairs response;
  std::vector<std::string> addresses = {"10.0.0.1:3260,1", "[fd00::1]:3260,1"};
  for (int i = 0; i < 40; ++i) {
    AppendSendTargetsRecord("iqn.2026-11.io.iscsi-csi:vol-" + std::to_string(i), addresses,
                            &response);
  }
  ASSERT_EQ(response.size(), 120u);
  EXPECT_EQ(response[0], (TextPair{"TargetName", "iqn.2026-11.io.iscsi-csi:vol-0"}));
  EXPECT_EQ(response[1], (TextPair{"TargetAddress", "10.0.0.1:3260,1"}));
  EXPECT_EQ(response[2], (TextPair{"TargetAddress", "[fd00::1]:3260,1"}));
  const std::string text = EncodeTextPairs(response);
  auto segments = SplitTextIntoSegments(text, 512);
  ASSERT_TRUE(segments.ok());
  EXPECT_GT(segments->size(), 1u);
  std::string joined;
  for (const std::string& s : *segments) {
    EXPECT_LE(s.size(), 512u);
    EXPECT_EQ(s.back(), '\0');  // these short pairs never need a mid-pair cut
    joined += s;
  }
  EXPECT_EQ(joined, text);
}

TEST(TargetPolicyTest, DefaultsAreValidAndBadValuesAreRefused) {
  EXPECT_TRUE(ValidateTargetPolicy(TargetPolicy{}).ok());
  TargetPolicy p;
  p.error_recovery_level = 1;
  EXPECT_FALSE(ValidateTargetPolicy(p).ok());
  p = TargetPolicy{};
  p.max_recv_data_segment_length = 511;
  EXPECT_FALSE(ValidateTargetPolicy(p).ok());
  p = TargetPolicy{};
  p.header_digests.clear();
  EXPECT_FALSE(ValidateTargetPolicy(p).ok());
  p = TargetPolicy{};
  p.max_outstanding_r2t = 0;
  EXPECT_FALSE(ValidateTargetPolicy(p).ok());
  TargetPolicy defaults;
  EXPECT_EQ(defaults.max_recv_data_segment_length, 262144u);
  EXPECT_EQ(defaults.max_burst_length, 1048576u);
  EXPECT_EQ(defaults.first_burst_length, 262144u);
  EXPECT_TRUE(defaults.immediate_data);
  EXPECT_FALSE(defaults.initial_r2t);
  EXPECT_EQ(defaults.max_connections, 1u);
}

// --- robustness ---

TEST(NegotiationRobustnessTest, RandomLoginsAlwaysEndCleanly) {
  std::mt19937 rng(424242);
  const std::vector<std::string> keys = {
      "InitiatorName", "TargetName", "SessionType", "InitiatorAlias", "AuthMethod", "CHAP_A",
      "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "HeaderDigest", "DataDigest", "MaxConnections",
      "SendTargets", "TargetAlias", "TargetAddress", "TargetPortalGroupTag", "InitialR2T",
      "ImmediateData", "MaxRecvDataSegmentLength", "MaxBurstLength", "FirstBurstLength",
      "DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder",
      "DataSequenceInOrder", "ErrorRecoveryLevel", "TaskReporting", "iSCSIProtocolLevel",
      "RDMAExtensions", "TargetRecvDataSegmentLength", "IFMarker", "OFMarkInt", "SRP_U",
      "X-com.example.K", "X#K", "Foo"};
  const std::vector<std::string> values = {
      kInitiator, kTarget, "Normal", "Discovery", "None", "CHAP", "CHAP,None", "5", "7,5",
      "8,7,6,5", "0x101112131415161718191a1b1c1d1e1f", "0bAAECAwQFBgcICQ==", "CRC32C,None",
      "Yes", "No", "0", "1", "2", "512", "8192", "65536", "262144", "16777215", "16777216",
      "0xFFFFFFFFFFFFFFFF", "18446744073709551616", "-1", "Reject", "Irrelevant",
      "NotUnderstood", "", "RFC3720", "All", "\xff\xfe", std::string(255, 'v')};
  ChapConfig chap;
  chap.initiator = {kInitiator, ChapSecret("initiator-secret-1")};
  chap.target = ChapCredentials{kTarget, ChapSecret("target-secret-abcdef")};
  chap.algorithms = {ChapAlgorithm::kMd5};
  int completed = 0;
  int failed = 0;
  for (int login = 0; login < 50000; ++login) {
    LoginNegotiatorOptions options;
    options.policy.propose_unoffered_keys = rng() % 2 == 0;
    options.leading_connection = rng() % 4 != 0;
    options.random = [](absl::Span<uint8_t> out) {
      for (uint8_t& b : out) b = 0x5a;
      return absl::OkStatus();
    };
    const bool with_chap = rng() % 3 == 0;
    options.resolver = [&](const LoginIdentity&) {
      TargetAccess a;
      if (with_chap) a.chap = chap;
      return a;
    };
    LoginNegotiator n(std::move(options));
    std::optional<LoginStatus> first_failure;
    for (int step = 0; step < 6; ++step) {
      TextPairs pairs;
      if (step == 0 && rng() % 8 != 0) pairs = Identity(rng() % 3 == 0 ? "Discovery" : "Normal");
      const int extra = static_cast<int>(rng() % 6);
      for (int i = 0; i < extra; ++i) {
        pairs.push_back({keys[rng() % keys.size()], values[rng() % values.size()]});
      }
      std::string text = EncodeTextPairs(pairs);
      if (rng() % 10 == 0 && !text.empty()) text[rng() % text.size()] = static_cast<char>(rng());
      const LoginStage stage = rng() % 2 == 0 ? kSecurity : kOperational;
      const bool transit = rng() % 2 == 0;
      const LoginStage next = rng() % 2 == 0 ? kOperational : kFull;
      LoginStepResult r = n.ProcessRequest(stage, transit, next, text);
      for (const TextPair& p : r.response) ASSERT_TRUE(IsValidKeyName(p.key)) << p.key;
      if (r.failure) {
        ASSERT_TRUE(r.failure->status_class == 2 || r.failure->status_class == 3);
        ASSERT_FALSE(r.reason.empty());
        if (first_failure) {
          ASSERT_EQ(*r.failure, *first_failure);  // sticky
        }
        first_failure = r.failure;
        ASSERT_FALSE(r.complete);
      }
      if (r.complete) {
        ++completed;
        const SessionParams& s = n.session_params();
        const ConnectionParams& c = n.connection_params();
        ASSERT_GE(s.max_burst_length, 512u);
        ASSERT_LE(s.max_burst_length, 16777215u);
        if (s.session_type == SessionType::kNormal && !(s.initial_r2t && !s.immediate_data)) {
          ASSERT_LE(s.first_burst_length, s.max_burst_length);
        }
        ASSERT_EQ(s.error_recovery_level, 0u);
        ASSERT_EQ(s.max_connections, 1u);
        ASSERT_LE(s.iscsi_protocol_level, 1u);
        ASSERT_GE(c.initiator_max_recv_data_segment_length, 512u);
        ASSERT_LE(c.initiator_max_recv_data_segment_length, 16777215u);
        if (with_chap) {
          ASSERT_TRUE(n.authenticated());
        }
        break;
      }
    }
    if (first_failure) ++failed;
  }
  // Well-formed logins with random in-range values must always complete, with proposals
  // answered by echoing the proposed value.
  const std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> numeric = {
      {"MaxConnections", {1, 65535}},        {"MaxRecvDataSegmentLength", {512, 16777215}},
      {"MaxBurstLength", {512, 16777215}},   {"FirstBurstLength", {512, 16777215}},
      {"DefaultTime2Wait", {0, 3600}},       {"DefaultTime2Retain", {0, 3600}},
      {"MaxOutstandingR2T", {1, 65535}},     {"ErrorRecoveryLevel", {0, 2}},
      {"iSCSIProtocolLevel", {0, 31}}};
  const std::vector<std::string> booleans = {"InitialR2T", "ImmediateData", "DataPDUInOrder",
                                             "DataSequenceInOrder", "RDMAExtensions"};
  int well_formed_completed = 0;
  for (int login = 0; login < 20000; ++login) {
    LoginNegotiatorOptions options;
    options.policy.propose_unoffered_keys = rng() % 2 == 0;
    if (rng() % 4 == 0) options.policy.header_digests = {DigestType::kCrc32c};
    LoginNegotiator n(std::move(options));
    const bool discovery = rng() % 4 == 0;
    LoginStepResult sec =
        n.ProcessRequest(kSecurity, true, kOperational,
                         EncodeTextPairs(With(Identity(discovery ? "Discovery" : "Normal"),
                                              {{"AuthMethod", "None"}})));
    ASSERT_FALSE(sec.failure.has_value()) << sec.reason;
    TextPairs op;
    for (const auto& [key, range] : numeric) {
      if (rng() % 2 == 0) continue;
      const uint32_t v = range.first + rng() % (range.second - range.first + 1);
      op.push_back({key, rng() % 2 == 0 ? std::to_string(v) : EncodeHexConstant({})});
      if (op.back().value == "0x") {  // hex form of the same number
        char buf[16];
        std::snprintf(buf, sizeof(buf), "0x%x", v);
        op.back().value = buf;
      }
    }
    for (const std::string& key : booleans) {
      if (rng() % 2 == 0) op.push_back({key, rng() % 2 == 0 ? "Yes" : "No"});
    }
    if (rng() % 2 == 0) op.push_back({"HeaderDigest", rng() % 2 == 0 ? "CRC32C,None" : "None"});
    if (rng() % 2 == 0) op.push_back({"TaskReporting", "RFC3720"});
    if (rng() % 2 == 0) op.push_back({"X-com.example.Hint", "1"});
    std::shuffle(op.begin(), op.end(), rng);
    const bool offered_only_none = Answer(op, "HeaderDigest") == "None";
    bool done = false;
    for (int round = 0; round < 3 && !done; ++round) {
      LoginStepResult r = n.ProcessRequest(kOperational, true, kFull, EncodeTextPairs(op));
      if (r.failure) {
        // The only legitimate refusal: digests required by policy, only None offered.
        ASSERT_TRUE(offered_only_none) << r.reason;
        break;
      }
      done = r.complete;
      TextPairs answers;  // echo every proposal (keys we did not send)
      for (const TextPair& p : r.response) {
        if (Answer(op, p.key) == "<absent>" && p.key != "MaxRecvDataSegmentLength") {
          answers.push_back(p);
        }
      }
      op = std::move(answers);
    }
    if (done) {
      ++well_formed_completed;
      const SessionParams& s = n.session_params();
      if (!(s.initial_r2t && !s.immediate_data)) {
        ASSERT_LE(s.first_burst_length, s.max_burst_length);
      }
      ASSERT_LE(s.max_burst_length, 1048576u);
      ASSERT_LE(s.first_burst_length, 262144u);
      ASSERT_GE(s.default_time2wait, 2u);
      ASSERT_LE(s.default_time2retain, 20u);
    }
  }
  RecordProperty("well_formed_completed", well_formed_completed);
  EXPECT_GT(well_formed_completed, 15000);

  RecordProperty("completed_logins", completed);
  RecordProperty("failed_logins", failed);
  EXPECT_GT(completed, 1000);
  EXPECT_GT(failed, 1000);

  // Full Feature Phase Text with the same material.
  SessionParams session;
  ConnectionParams connection;
  for (int i = 0; i < 100000; ++i) {
    session.session_type = rng() % 2 == 0 ? SessionType::kNormal : SessionType::kDiscovery;
    TextPairs pairs;
    const int count = static_cast<int>(rng() % 5);
    for (int k = 0; k < count; ++k) {
      pairs.push_back({keys[rng() % keys.size()], values[rng() % values.size()]});
    }
    std::string text = EncodeTextPairs(pairs);
    if (rng() % 10 == 0 && !text.empty()) text[rng() % text.size()] = static_cast<char>(rng());
    absl::StatusOr<TextStepResult> r = NegotiateFullFeatureText(session, &connection, text);
    if (r.ok()) {
      for (const TextPair& p : r->response) ASSERT_TRUE(IsValidKeyName(p.key));
    }
    ASSERT_GE(connection.initiator_max_recv_data_segment_length, 512u);
  }
}

}  // namespace
}  // namespace iscsi_csi::target
