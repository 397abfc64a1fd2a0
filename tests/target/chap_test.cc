// Tests for target/chap: CHAP as profiled by RFC 7143 §12.1.3.
//
// Known-answer values were computed independently with the OpenSSL command line, e.g.
//   (printf '2a'; printf 'initiator-secret-1' | xxd -p | tr -d '\n';
//    seq 16 31 | awk '{printf "%02x",$1}') | xxd -r -p | openssl dgst -md5
// and cross-checked with printf-built input; they are pasted here as literals.
#include "target/chap.h"

#include <cstdint>
#include <memory>
#include <optional>
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
using ::testing::HasSubstr;
using ::testing::Not;

// The test secrets: 18 and 20 bytes (at least the 12 required by RFC 7143 §9.2.1).
constexpr char kInitiatorName[] = "iqn.2026-01.io.example:node-a";
constexpr char kInitiatorSecret[] = "initiator-secret-1";
constexpr char kInitiatorSecret256[] = "initiator-secret-256";
constexpr char kTargetName[] = "iqn.2026-11.io.iscsi-csi:vol-1";
constexpr char kTargetSecret[] = "target-secret-abcdef";

// Expected digests (openssl dgst, see the file comment).
// MD5(0x2a || "initiator-secret-1" || 10 11 .. 1f)
constexpr char kMd5Response[] = "0xf4c2fcbc9b5887b0d7f9ce56aadea868";
constexpr char kMd5ResponseBase64[] = "0b9ML8vJtYh7DX+c5Wqt6oaA==";
// SHA1(0x2a || "initiator-secret-1" || 10 .. 23)
constexpr char kSha1Response[] = "0x131c4feb54630d1faca47bf9f671df5b91831151";
// SHA256(0x07 || "initiator-secret-256" || a0 .. bf)
constexpr char kSha256Response[] =
    "0xf5093948fe3aafda4261a7ecd2d69b69d3279393afbdcef943c3b3da04241d05";
// SHA3-256(0x2a || "initiator-secret-1" || 10 .. 2f)
constexpr char kSha3Response[] =
    "0x717d874db2978d5aa217f477adb4e363a7380a802c3164df20a4ec7e00645265";
// Mutual: H(0xc8 || "target-secret-abcdef" || c0 .. cf)
constexpr char kSha256MutualResponse[] =
    "0xfcf55b3f4efa39fb25d5b231b0319e60ac71665ecb76a5d25ed6150343e37db0";
constexpr char kMd5MutualResponse[] = "0xa9d8708eb134542e9e0ff2ab944621e5";
constexpr char kMutualChallenge[] = "0xc0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

std::vector<uint8_t> Range(int first, int last_inclusive) {
  std::vector<uint8_t> v;
  for (int b = first; b <= last_inclusive; ++b) v.push_back(static_cast<uint8_t>(b));
  return v;
}

// ScriptedRandom hands out the identifier byte first, then challenge bytes counting up
// from `first_challenge_byte`, so that CHAP_I and CHAP_C are predictable.
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

ChapConfig OneWay(std::vector<ChapAlgorithm> algorithms, std::string secret = kInitiatorSecret) {
  ChapConfig c;
  c.initiator = {kInitiatorName, ChapSecret(std::move(secret))};
  c.algorithms = std::move(algorithms);
  return c;
}

ChapConfig Mutual(std::vector<ChapAlgorithm> algorithms, std::string secret = kInitiatorSecret) {
  ChapConfig c = OneWay(std::move(algorithms), std::move(secret));
  c.target = ChapCredentials{kTargetName, ChapSecret(kTargetSecret)};
  return c;
}

ChapKeys Algorithms(std::string list) {
  ChapKeys k;
  k.chap_a = std::move(list);
  return k;
}

ChapKeys Response(std::string name, std::string response) {
  ChapKeys k;
  k.chap_n = std::move(name);
  k.chap_r = std::move(response);
  return k;
}

std::string Value(const TextPairs& pairs, std::string_view key) {
  for (const TextPair& p : pairs) {
    if (p.key == key) return p.value;
  }
  return "<absent>";
}

// --- digests and configuration ---

TEST(ChapDigestTest, DigestLengthsMatchTheAlgorithms) {
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kMd5), 16u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha1), 20u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha256), 32u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha3_256), 32u);
  EXPECT_EQ(static_cast<int>(ChapAlgorithm::kMd5), 5);
  EXPECT_EQ(static_cast<int>(ChapAlgorithm::kSha3_256), 8);
}

TEST(ChapDigestTest, ComputeChapResponseMatchesOpensslKnownAnswers) {
  auto md5 = ComputeChapResponse(ChapAlgorithm::kMd5, 0x2a, kInitiatorSecret, Range(0x10, 0x1f));
  ASSERT_TRUE(md5.ok());
  EXPECT_EQ(EncodeHexConstant(*md5), kMd5Response);
  auto sha1 =
      ComputeChapResponse(ChapAlgorithm::kSha1, 0x2a, kInitiatorSecret, Range(0x10, 0x23));
  ASSERT_TRUE(sha1.ok());
  EXPECT_EQ(EncodeHexConstant(*sha1), kSha1Response);
  auto sha256 =
      ComputeChapResponse(ChapAlgorithm::kSha256, 0x07, kInitiatorSecret256, Range(0xa0, 0xbf));
  ASSERT_TRUE(sha256.ok());
  EXPECT_EQ(EncodeHexConstant(*sha256), kSha256Response);
  auto sha3 =
      ComputeChapResponse(ChapAlgorithm::kSha3_256, 0x2a, kInitiatorSecret, Range(0x10, 0x2f));
  ASSERT_TRUE(sha3.ok());
  EXPECT_EQ(EncodeHexConstant(*sha3), kSha3Response);
}

TEST(ChapConfigTest, ValidConfigurationsPass) {
  EXPECT_TRUE(ValidateChapConfig(OneWay({ChapAlgorithm::kMd5})).ok());
  EXPECT_TRUE(ValidateChapConfig(Mutual({ChapAlgorithm::kSha256, ChapAlgorithm::kMd5})).ok());
  EXPECT_TRUE(ValidateChapConfig(OneWay({ChapAlgorithm::kMd5}, "twelve-bytes")).ok());
}

TEST(ChapConfigTest, SecretShorterThanTwelveBytesIsRefused) {
  absl::Status s = ValidateChapConfig(OneWay({ChapAlgorithm::kMd5}, "eleven-byte"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("eleven-byte")));
  ChapConfig c = Mutual({ChapAlgorithm::kMd5});
  c.target->secret = ChapSecret("short");
  EXPECT_EQ(ValidateChapConfig(c).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChapConfigTest, SecretLongerThan255BytesIsRefused) {
  EXPECT_FALSE(ValidateChapConfig(OneWay({ChapAlgorithm::kMd5}, std::string(256, 's'))).ok());
  EXPECT_TRUE(ValidateChapConfig(OneWay({ChapAlgorithm::kMd5}, std::string(255, 's'))).ok());
}

TEST(ChapConfigTest, SameSecretInBothDirectionsIsRefusedWithoutEchoingIt) {
  ChapConfig c = Mutual({ChapAlgorithm::kMd5});
  c.target->secret = ChapSecret(kInitiatorSecret);
  absl::Status s = ValidateChapConfig(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kInitiatorSecret)));
}

TEST(ChapConfigTest, RequireMutualWithoutTargetCredentialsIsRefused) {
  ChapConfig c = OneWay({ChapAlgorithm::kMd5});
  c.require_mutual = true;
  EXPECT_FALSE(ValidateChapConfig(c).ok());
}

TEST(ChapConfigTest, EmptyNameOrAlgorithmListOrBadChallengeLengthIsRefused) {
  ChapConfig no_name = OneWay({ChapAlgorithm::kMd5});
  no_name.initiator.name.clear();
  EXPECT_FALSE(ValidateChapConfig(no_name).ok());
  EXPECT_FALSE(ValidateChapConfig(OneWay({})).ok());
  ChapConfig short_challenge = OneWay({ChapAlgorithm::kMd5});
  short_challenge.challenge_length = 15;
  EXPECT_FALSE(ValidateChapConfig(short_challenge).ok());
  ChapConfig long_challenge = OneWay({ChapAlgorithm::kMd5});
  long_challenge.challenge_length = 1025;
  EXPECT_FALSE(ValidateChapConfig(long_challenge).ok());
}

TEST(ChapSecretTest, MovedFromSecretIsEmpty) {
  ChapSecret a("abcdefghijklmnop");
  ChapSecret b(std::move(a));
  EXPECT_EQ(b.value(), "abcdefghijklmnop");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): wiped on purpose
}

// --- step 1: CHAP_A ---

TEST(ChapStepOneTest, PicksTheStrongestOfferedAlgorithmWeAllow) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kSha3_256, ChapAlgorithm::kSha256,
                                 ChapAlgorithm::kSha1, ChapAlgorithm::kMd5}),
                         ScriptedRandom(0x2a, 0x10));
  ChapStepResult r = chap.Step(Algorithms("5,7,6"));
  EXPECT_EQ(r.outcome, ChapOutcome::kContinue);
  EXPECT_EQ(Value(r.response, "CHAP_A"), "7");
  EXPECT_EQ(chap.algorithm(), ChapAlgorithm::kSha256);
}

TEST(ChapStepOneTest, OpenIscsiFullListSelectsSha3) {
  // open-iscsi 2.1.8 iscsid.conf: chap_algs = SHA3-256,SHA256,SHA1,MD5 -> "CHAP_A=8,7,6,5".
  ChapTargetSession chap(OneWay({ChapAlgorithm::kSha3_256, ChapAlgorithm::kSha256,
                                 ChapAlgorithm::kSha1, ChapAlgorithm::kMd5}),
                         ScriptedRandom(0x2a, 0x10));
  ChapStepResult r = chap.Step(Algorithms("8,7,6,5"));
  EXPECT_EQ(Value(r.response, "CHAP_A"), "8");
  EXPECT_EQ(Value(r.response, "CHAP_C"), "0x101112131415161718191a1b1c1d1e1f"
                                         "202122232425262728292a2b2c2d2e2f");
}

TEST(ChapStepOneTest, ConfiguredAllowedSetLimitsTheChoice) {
  ChapTargetSession md5_only(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(1, 0));
  EXPECT_EQ(Value(md5_only.Step(Algorithms("8,7,5")).response, "CHAP_A"), "5");
  ChapTargetSession sha_only(OneWay({ChapAlgorithm::kSha256}), ScriptedRandom(1, 0));
  ChapStepResult r = sha_only.Step(Algorithms("5"));
  EXPECT_EQ(r.outcome, ChapOutcome::kFailed);
  EXPECT_EQ(r.failure, ChapFailure::kNoCommonAlgorithm);
}

TEST(ChapStepOneTest, AnswersIdentifierAndHexChallengeOfAtLeastDigestSize) {
  ChapTargetSession md5(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(0x2a, 0x10));
  ChapStepResult r = md5.Step(Algorithms("5"));
  ASSERT_EQ(r.outcome, ChapOutcome::kContinue);
  EXPECT_THAT(r.response, ElementsAre(TextPair{"CHAP_A", "5"}, TextPair{"CHAP_I", "42"},
                                      TextPair{"CHAP_C", "0x101112131415161718191a1b1c1d1e1f"}));
  ChapTargetSession sha256(OneWay({ChapAlgorithm::kSha256}), ScriptedRandom(7, 0xa0));
  std::string c = Value(sha256.Step(Algorithms("7")).response, "CHAP_C");
  EXPECT_EQ(c.size(), 2u + 2 * 32);  // 32 bytes: at least the SHA-256 digest size
}

TEST(ChapStepOneTest, ChallengeLengthIsConfigurable) {
  ChapConfig c = OneWay({ChapAlgorithm::kMd5});
  c.challenge_length = 64;
  ChapTargetSession chap(c, ScriptedRandom(1, 0));
  EXPECT_EQ(Value(chap.Step(Algorithms("5")).response, "CHAP_C").size(), 2u + 128);
}

TEST(ChapStepOneTest, UnknownAndMalformedItemsAreIgnored) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kSha256, ChapAlgorithm::kMd5}),
                         ScriptedRandom(1, 0));
  // 99 is unknown, "abc" is not a number, 0x5 is MD5 written in hex.
  ChapStepResult r = chap.Step(Algorithms("99,abc,,0x5"));
  EXPECT_EQ(r.outcome, ChapOutcome::kContinue);
  EXPECT_EQ(Value(r.response, "CHAP_A"), "5");
}

TEST(ChapStepOneTest, NoCommonAlgorithmAnswersRejectAndFails) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(1, 0));
  ChapStepResult r = chap.Step(Algorithms("1,2,6"));
  EXPECT_EQ(r.outcome, ChapOutcome::kFailed);
  EXPECT_EQ(r.failure, ChapFailure::kNoCommonAlgorithm);
  EXPECT_THAT(r.response, ElementsAre(TextPair{"CHAP_A", "Reject"}));
  EXPECT_TRUE(chap.failed());
}

TEST(ChapStepOneTest, EmptyAlgorithmListFails) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(1, 0));
  EXPECT_EQ(chap.Step(Algorithms("")).failure, ChapFailure::kEmptyAlgorithmList);
}

TEST(ChapStepOneTest, ResponseKeysBeforeTheChallengeFail) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(1, 0));
  EXPECT_EQ(chap.Step(Response(kInitiatorName, kMd5Response)).failure,
            ChapFailure::kUnexpectedKey);
  ChapTargetSession no_a(OneWay({ChapAlgorithm::kMd5}), ScriptedRandom(1, 0));
  EXPECT_EQ(no_a.Step(ChapKeys{}).failure, ChapFailure::kMissingKey);
}

TEST(ChapStepOneTest, RandomSourceFailureIsAnInternalError) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kMd5}), [](absl::Span<uint8_t>) {
    return absl::UnavailableError("no entropy");
  });
  EXPECT_EQ(chap.Step(Algorithms("5")).failure, ChapFailure::kInternalError);
}

TEST(ChapStepOneTest, OpenSslRandomSourceGivesFreshChallenges) {
  ChapTargetSession a(OneWay({ChapAlgorithm::kMd5}), nullptr);
  ChapTargetSession b(OneWay({ChapAlgorithm::kMd5}), nullptr);
  std::string ca = Value(a.Step(Algorithms("5")).response, "CHAP_C");
  std::string cb = Value(b.Step(Algorithms("5")).response, "CHAP_C");
  EXPECT_EQ(ca.size(), 34u);
  EXPECT_NE(ca, cb);
}

TEST(ChapStepOneTest, InvalidConfigurationFailsEveryExchange) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kMd5}, "short"), ScriptedRandom(1, 0));
  EXPECT_EQ(chap.Step(Algorithms("5")).failure, ChapFailure::kInternalError);
}

// --- step 2: CHAP_N / CHAP_R (and mutual CHAP_I / CHAP_C) ---

class ChapMd5Test : public ::testing::Test {
 protected:
  void Start(ChapConfig config) {
    chap_.emplace(std::move(config), ScriptedRandom(0x2a, 0x10));
    ASSERT_EQ(chap_->Step(Algorithms("5")).outcome, ChapOutcome::kContinue);
  }
  std::optional<ChapTargetSession> chap_;
};

TEST_F(ChapMd5Test, OneWayKnownAnswerAuthenticates) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  ChapStepResult r = chap_->Step(Response(kInitiatorName, kMd5Response));
  EXPECT_EQ(r.outcome, ChapOutcome::kAuthenticated);
  EXPECT_TRUE(r.response.empty());
  EXPECT_TRUE(chap_->authenticated());
  EXPECT_FALSE(chap_->mutual());
}

TEST_F(ChapMd5Test, Base64ResponseAuthenticates) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, kMd5ResponseBase64)).outcome,
            ChapOutcome::kAuthenticated);
}

TEST_F(ChapMd5Test, UpperCaseHexResponseAuthenticates) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, "0XF4C2FCBC9B5887B0D7F9CE56AADEA868")).outcome,
            ChapOutcome::kAuthenticated);
}

TEST_F(ChapMd5Test, WrongResponseFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  // Last bit flipped.
  ChapStepResult r = chap_->Step(Response(kInitiatorName, "0xf4c2fcbc9b5887b0d7f9ce56aadea869"));
  EXPECT_EQ(r.outcome, ChapOutcome::kFailed);
  EXPECT_EQ(r.failure, ChapFailure::kWrongResponse);
}

TEST_F(ChapMd5Test, ResponseComputedWithAnotherSecretFails) {
  Start(OneWay({ChapAlgorithm::kMd5}, "another-secret-1"));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, kMd5Response)).failure,
            ChapFailure::kWrongResponse);
}

TEST_F(ChapMd5Test, ResponseOneByteShortFailsWithWrongLength) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, "0xf4c2fcbc9b5887b0d7f9ce56aadea8")).failure,
            ChapFailure::kWrongResponseLength);
}

TEST_F(ChapMd5Test, ResponseOneByteLongFailsWithWrongLength) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(
      chap_->Step(Response(kInitiatorName, std::string(kMd5Response) + "00")).failure,
      ChapFailure::kWrongResponseLength);
}

TEST_F(ChapMd5Test, ResponseThatIsNotHexOrBase64Fails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, "0xf4c2fcbc9b5887b0d7f9ce56aadeazzz")).failure,
            ChapFailure::kMalformedValue);
}

TEST_F(ChapMd5Test, ResponseWithoutEncodingPrefixFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, "f4c2fcbc9b5887b0d7f9ce56aadea868")).failure,
            ChapFailure::kMalformedValue);
}

TEST_F(ChapMd5Test, OversizedResponseIsRefusedBeforeDecoding) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  // 1025 bytes of hex: over the 1024-byte bound of RFC 7143 §12.1.3.
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, "0x" + std::string(2050, 'a'))).failure,
            ChapFailure::kMalformedValue);
}

TEST_F(ChapMd5Test, WrongUserNameFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  EXPECT_EQ(chap_->Step(Response("iqn.2026-01.io.example:intruder", kMd5Response)).failure,
            ChapFailure::kWrongName);
}

TEST_F(ChapMd5Test, MissingResponseFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  ChapKeys only_name;
  only_name.chap_n = kInitiatorName;
  EXPECT_EQ(chap_->Step(only_name).failure, ChapFailure::kMissingKey);
}

TEST_F(ChapMd5Test, RepeatedChapAFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_a = "5";
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kUnexpectedKey);
}

TEST_F(ChapMd5Test, MutualKnownAnswerReturnsOurNameAndResponse) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "200";
  k.chap_c = kMutualChallenge;
  ChapStepResult r = chap_->Step(k);
  ASSERT_EQ(r.outcome, ChapOutcome::kAuthenticated);
  EXPECT_THAT(r.response, ElementsAre(TextPair{"CHAP_N", kTargetName},
                                      TextPair{"CHAP_R", kMd5MutualResponse}));
  EXPECT_TRUE(chap_->mutual());
}

TEST_F(ChapMd5Test, MutualChallengeEqualToOursIsRefused) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "42";
  k.chap_c = "0x101112131415161718191a1b1c1d1e1f";  // our own challenge, reflected
  ChapStepResult r = chap_->Step(k);
  EXPECT_EQ(r.outcome, ChapOutcome::kFailed);
  EXPECT_EQ(r.failure, ChapFailure::kReflectedChallenge);
  EXPECT_TRUE(r.response.empty());
}

TEST_F(ChapMd5Test, ReflectedChallengeInBase64IsAlsoRefused) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "0x2a";
  k.chap_c = "0bEBESExQVFhcYGRobHB0eHw==";  // 10 11 .. 1f in base64
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kReflectedChallenge);
}

TEST_F(ChapMd5Test, MutualRequestWithoutTargetSecretFails) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "200";
  k.chap_c = kMutualChallenge;
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kMutualNotConfigured);
}

TEST_F(ChapMd5Test, MutualRequestWithWrongInitiatorResponseNeverRevealsOurs) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, "0x00000000000000000000000000000000");
  k.chap_i = "200";
  k.chap_c = kMutualChallenge;
  ChapStepResult r = chap_->Step(k);
  EXPECT_EQ(r.failure, ChapFailure::kWrongResponse);
  EXPECT_TRUE(r.response.empty());
}

TEST_F(ChapMd5Test, MutualIdentifierAboveOneByteFails) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "256";
  k.chap_c = kMutualChallenge;
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kMalformedValue);
}

TEST_F(ChapMd5Test, MutualIdentifierWithoutChallengeFails) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "200";
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kIncompleteMutual);
}

TEST_F(ChapMd5Test, EmptyOrOversizedMutualChallengeFails) {
  Start(Mutual({ChapAlgorithm::kMd5}));
  ChapKeys k = Response(kInitiatorName, kMd5Response);
  k.chap_i = "200";
  k.chap_c = "0x";
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kMalformedValue);
  Start(Mutual({ChapAlgorithm::kMd5}));
  k.chap_c = "0x" + std::string(2050, '1');
  EXPECT_EQ(chap_->Step(k).failure, ChapFailure::kMalformedValue);
}

TEST_F(ChapMd5Test, RequiredMutualRefusesOneWayInitiator) {
  ChapConfig c = Mutual({ChapAlgorithm::kMd5});
  c.require_mutual = true;
  Start(c);
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, kMd5Response)).failure,
            ChapFailure::kMutualRequired);
}

TEST_F(ChapMd5Test, StepAfterSuccessOrFailureIsRefused) {
  Start(OneWay({ChapAlgorithm::kMd5}));
  ASSERT_EQ(chap_->Step(Response(kInitiatorName, kMd5Response)).outcome,
            ChapOutcome::kAuthenticated);
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, kMd5Response)).outcome, ChapOutcome::kFailed);
  Start(OneWay({ChapAlgorithm::kMd5}));
  ASSERT_EQ(chap_->Step(Response("x", kMd5Response)).outcome, ChapOutcome::kFailed);
  EXPECT_EQ(chap_->Step(Response(kInitiatorName, kMd5Response)).outcome, ChapOutcome::kFailed);
}

TEST(ChapSha256Test, MutualKnownAnswerAuthenticatesBothWays) {
  ChapTargetSession chap(Mutual({ChapAlgorithm::kSha256}, kInitiatorSecret256),
                         ScriptedRandom(0x07, 0xa0));
  ChapStepResult one = chap.Step(Algorithms("7,5"));
  ASSERT_EQ(one.outcome, ChapOutcome::kContinue);
  EXPECT_EQ(Value(one.response, "CHAP_I"), "7");
  EXPECT_EQ(Value(one.response, "CHAP_C"),
            "0xa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
  ChapKeys k = Response(kInitiatorName, kSha256Response);
  k.chap_i = "200";
  k.chap_c = kMutualChallenge;
  ChapStepResult two = chap.Step(k);
  ASSERT_EQ(two.outcome, ChapOutcome::kAuthenticated);
  EXPECT_THAT(two.response, ElementsAre(TextPair{"CHAP_N", kTargetName},
                                        TextPair{"CHAP_R", kSha256MutualResponse}));
}

TEST(ChapSha256Test, Md5LengthResponseToSha256ChallengeFails) {
  ChapTargetSession chap(OneWay({ChapAlgorithm::kSha256}, kInitiatorSecret256),
                         ScriptedRandom(0x07, 0xa0));
  ASSERT_EQ(chap.Step(Algorithms("7")).outcome, ChapOutcome::kContinue);
  EXPECT_EQ(chap.Step(Response(kInitiatorName, kMd5Response)).failure,
            ChapFailure::kWrongResponseLength);
}

TEST(ChapSha1AndSha3Test, KnownAnswersAuthenticate) {
  ChapTargetSession sha1(OneWay({ChapAlgorithm::kSha1}), ScriptedRandom(0x2a, 0x10));
  ASSERT_EQ(Value(sha1.Step(Algorithms("6")).response, "CHAP_A"), "6");
  EXPECT_EQ(sha1.Step(Response(kInitiatorName, kSha1Response)).outcome,
            ChapOutcome::kAuthenticated);
  ChapTargetSession sha3(OneWay({ChapAlgorithm::kSha3_256}), ScriptedRandom(0x2a, 0x10));
  ASSERT_EQ(Value(sha3.Step(Algorithms("8")).response, "CHAP_A"), "8");
  EXPECT_EQ(sha3.Step(Response(kInitiatorName, kSha3Response)).outcome,
            ChapOutcome::kAuthenticated);
}

TEST(ChapFailureNameTest, EveryFailureHasAName) {
  for (int f = 0; f <= static_cast<int>(ChapFailure::kInternalError); ++f) {
    EXPECT_NE(ChapFailureName(static_cast<ChapFailure>(f)), "unknown");
  }
}

}  // namespace
}  // namespace iscsi_csi::target
