// Tests for target/text_params: RFC 7143 §6.1 text format, value encodings, continuation
// across PDUs and response splitting.
#include "target/text_params.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

using namespace std::string_literals;  // "a\0b"s keeps embedded nulls

TextError ParseError(std::string_view text, TextParseOptions options = {}) {
  TextError error = TextError::kNone;
  absl::StatusOr<TextPairs> r = ParseTextPairs(text, options, &error);
  EXPECT_FALSE(r.ok());
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  return error;
}

// --- parsing ---

TEST(ParseTextPairsTest, ParsesPairsInWireOrder) {
  absl::StatusOr<TextPairs> r =
      ParseTextPairs("InitiatorName=iqn.2026-01.io.example:a\0SessionType=Normal\0"s);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(TextPair{"InitiatorName", "iqn.2026-01.io.example:a"},
                              TextPair{"SessionType", "Normal"}));
}

TEST(ParseTextPairsTest, KeyEndsAtTheFirstEqualsSign) {
  absl::StatusOr<TextPairs> r = ParseTextPairs("X-com.example.Expr=a=b\0"s);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(TextPair{"X-com.example.Expr", "a=b"}));
}

TEST(ParseTextPairsTest, EmptyValueIsAllowed) {
  absl::StatusOr<TextPairs> r = ParseTextPairs("SendTargets=\0"s);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(TextPair{"SendTargets", ""}));
}

TEST(ParseTextPairsTest, EmptyTextHasNoPairs) {
  absl::StatusOr<TextPairs> r = ParseTextPairs("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseTextPairsTest, DoubledNullDelimitersAreSkipped) {
  absl::StatusOr<TextPairs> r = ParseTextPairs("A=1\0\0\0B=2\0"s);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(TextPair{"A", "1"}, TextPair{"B", "2"}));
}

TEST(ParseTextPairsTest, PairWithoutEqualsIsMalformed) {
  EXPECT_EQ(ParseError("HeaderDigest=None\0DataDigest\0"s), TextError::kMissingEquals);
}

TEST(ParseTextPairsTest, EmptyKeyIsMalformed) {
  EXPECT_EQ(ParseError("=None\0"s), TextError::kEmptyKey);
}

TEST(ParseTextPairsTest, LastPairWithoutNullIsMalformed) {
  EXPECT_EQ(ParseError("HeaderDigest=None"), TextError::kMissingTerminator);
}

TEST(ParseTextPairsTest, KeyOf63BytesIsAcceptedAnd64IsNot) {
  const std::string k63 = "K" + std::string(62, 'k');
  EXPECT_TRUE(ParseTextPairs(k63 + "=1\0"s).ok());
  EXPECT_EQ(ParseError(k63 + "k=1\0"s), TextError::kKeyTooLong);
}

TEST(ParseTextPairsTest, KeyThatIsNotAStandardLabelIsRefused) {
  EXPECT_EQ(ParseError("headerDigest=None\0"s), TextError::kInvalidKeyName);
  EXPECT_EQ(ParseError("Header Digest=None\0"s), TextError::kInvalidKeyName);
  EXPECT_EQ(ParseError("Key#=1\0"s), TextError::kInvalidKeyName);
  EXPECT_EQ(ParseError("1Key=1\0"s), TextError::kInvalidKeyName);
}

TEST(ParseTextPairsTest, IscsiProtocolLevelIsTheOneLowerCaseKey) {
  EXPECT_TRUE(ParseTextPairs("iSCSIProtocolLevel=1\0"s).ok());
  EXPECT_EQ(ParseError("iSCSIprotocolLevel=1\0"s), TextError::kInvalidKeyName);
}

TEST(ParseTextPairsTest, PrivateAndPublicExtensionKeysAreLabels) {
  EXPECT_TRUE(ParseTextPairs("X-com.example.Foo_bar@1+2=1\0X#NodeArchitecture=x\0"s).ok());
  EXPECT_FALSE(IsValidKeyName("X#"));
}

TEST(ParseTextPairsTest, SimpleValueOf255BytesIsAcceptedAnd256IsNot) {
  EXPECT_TRUE(ParseTextPairs("TargetAlias=" + std::string(255, 'a') + "\0"s).ok());
  EXPECT_EQ(ParseError("TargetAlias=" + std::string(256, 'a') + "\0"s),
            TextError::kValueTooLong);
}

TEST(ParseTextPairsTest, UnknownKeysFollowTheDefault255ByteRule) {
  EXPECT_EQ(ParseError("X-com.example.Big=" + std::string(256, 'a') + "\0"s),
            TextError::kValueTooLong);
}

TEST(ParseTextPairsTest, ChapValuesMayBeUpTo8192Bytes) {
  EXPECT_TRUE(ParseTextPairs("CHAP_C=0x" + std::string(2048, 'a') + "\0"s).ok());
  EXPECT_TRUE(ParseTextPairs("CHAP_R=0x" + std::string(8190, 'a') + "\0"s).ok());
  EXPECT_EQ(ParseError("CHAP_R=0x" + std::string(8191, 'a') + "\0"s), TextError::kValueTooLong);
  // CHAP_N is a plain text value.
  EXPECT_EQ(ParseError("CHAP_N=" + std::string(256, 'n') + "\0"s), TextError::kValueTooLong);
}

TEST(ParseTextPairsTest, RepeatedKeyIsAProtocolError) {
  EXPECT_EQ(ParseError("MaxBurstLength=512\0HeaderDigest=None\0MaxBurstLength=1024\0"s),
            TextError::kDuplicateKey);
}

TEST(ParseTextPairsTest, RepeatedKeyIsAllowedWhenAskedFor) {
  TextParseOptions options;
  options.allow_duplicate_keys = true;
  absl::StatusOr<TextPairs> r =
      ParseTextPairs("TargetAddress=10.0.0.1:3260,1\0TargetAddress=10.0.0.2:3260,1\0"s, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST(ParseTextPairsTest, TextOverTheTotalLimitIsRefused) {
  std::string text;
  while (text.size() <= kMaxTextDataLength) text += "X-a=" + std::string(200, 'v') + '\0';
  TextParseOptions options;
  options.allow_duplicate_keys = true;
  EXPECT_EQ(ParseError(text, options), TextError::kTextTooLong);
}

TEST(ParseTextPairsTest, ErrorMessagesNeverEchoValues) {
  absl::StatusOr<TextPairs> r =
      ParseTextPairs("CHAP_N=" + std::string(250, 'x') + "supersecretvalue\0"s);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("supersecretvalue")));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("CHAP_N"));
}

TEST(ParseTextPairsTest, MaxValueLengthForKeyDistinguishesListsAndBinaries) {
  EXPECT_EQ(MaxValueLengthForKey("HeaderDigest"), kMaxLargeValueLength);
  EXPECT_EQ(MaxValueLengthForKey("CHAP_A"), kMaxLargeValueLength);
  EXPECT_EQ(MaxValueLengthForKey("SRP_A"), kMaxLargeValueLength);
  EXPECT_EQ(MaxValueLengthForKey("MaxBurstLength"), kMaxSimpleValueLength);
  EXPECT_EQ(MaxValueLengthForKey("X-unknown"), kMaxSimpleValueLength);
}

// --- encoding ---

TEST(EncodeTextPairsTest, EveryPairIsNullTerminatedAndRoundTrips) {
  TextPairs pairs = {{"HeaderDigest", "None"}, {"SendTargets", ""}};
  const std::string encoded = EncodeTextPairs(pairs);
  EXPECT_EQ(encoded, "HeaderDigest=None\0SendTargets=\0"s);
  absl::StatusOr<TextPairs> back = ParseTextPairs(encoded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, pairs);
  EXPECT_EQ(EncodeTextPairs({}), "");
}

// --- continuation (C bit) ---

TEST(TextAccumulatorTest, PairSplitAcrossPdusIsReassembled) {
  TextAccumulator acc;
  ASSERT_TRUE(acc.Append(std::string_view("InitiatorName=iqn.2026-01.io.exa"), true).ok());
  EXPECT_FALSE(acc.complete());
  EXPECT_EQ(acc.Take().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(acc.Append(std::string_view("mple:a\0MaxBurstLe"s), true).ok());
  ASSERT_TRUE(acc.Append(std::string_view("ngth=65536\0"s), false).ok());
  ASSERT_TRUE(acc.complete());
  absl::StatusOr<std::string> text = acc.Take();
  ASSERT_TRUE(text.ok());
  absl::StatusOr<TextPairs> pairs = ParseTextPairs(*text);
  ASSERT_TRUE(pairs.ok());
  EXPECT_THAT(*pairs, ElementsAre(TextPair{"InitiatorName", "iqn.2026-01.io.example:a"},
                                  TextPair{"MaxBurstLength", "65536"}));
  EXPECT_FALSE(acc.complete());  // Take resets
  EXPECT_EQ(acc.size(), 0u);
}

TEST(TextAccumulatorTest, ByteSpanSegmentsAreAccepted) {
  TextAccumulator acc;
  const std::vector<uint8_t> a = {'A', '='};
  const std::vector<uint8_t> b = {'1', 0};
  ASSERT_TRUE(acc.Append(absl::MakeConstSpan(a), true).ok());
  ASSERT_TRUE(acc.Append(absl::MakeConstSpan(b), false).ok());
  EXPECT_EQ(*acc.Take(), "A=1\0"s);
}

TEST(TextAccumulatorTest, TotalBeyondTheBoundIsRefusedAndDiscarded) {
  TextAccumulator acc(1000);
  ASSERT_TRUE(acc.Append(std::string(600, 'a'), true).ok());
  EXPECT_EQ(acc.Append(std::string(401, 'a'), true).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(acc.size(), 0u);
  EXPECT_FALSE(acc.complete());
  // Exactly the bound is fine.
  ASSERT_TRUE(acc.Append(std::string(600, 'a'), true).ok());
  EXPECT_TRUE(acc.Append(std::string(400, 'a'), false).ok());
}

TEST(TextAccumulatorTest, DefaultBoundIs64KiB) {
  TextAccumulator acc;
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(acc.Append(std::string(1024, 'a'), true).ok());
  EXPECT_EQ(acc.Append(std::string_view("a"), false).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(TextAccumulatorTest, SegmentAfterTheFinalOneIsRefused) {
  TextAccumulator acc;
  ASSERT_TRUE(acc.Append(std::string_view("A=1\0"s), false).ok());
  EXPECT_EQ(acc.Append(std::string_view("B=1\0"s), false).code(),
            absl::StatusCode::kFailedPrecondition);
  acc.Reset();
  EXPECT_TRUE(acc.Append(std::string_view("B=1\0"s), false).ok());
}

// --- splitting a response into PDUs ---

TEST(SplitTextIntoSegmentsTest, ZeroLengthIsRefused) {
  EXPECT_EQ(SplitTextIntoSegments("A=1\0"s, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SplitTextIntoSegmentsTest, EmptyTextIsOneEmptySegment) {
  absl::StatusOr<std::vector<std::string>> r = SplitTextIntoSegments("", 512);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(""));
}

TEST(SplitTextIntoSegmentsTest, TextThatFitsIsOneSegment) {
  EXPECT_THAT(*SplitTextIntoSegments("A=1\0B=2\0"s, 8), ElementsAre("A=1\0B=2\0"s));
}

TEST(SplitTextIntoSegmentsTest, CutsFallAfterANullWhenPossible) {
  // "A=1\0" "BB=22\0" "C=3\0" with 8-byte segments: a cut at byte 8 would split BB=22.
  EXPECT_THAT(*SplitTextIntoSegments("A=1\0BB=22\0C=3\0"s, 8),
              ElementsAre("A=1\0"s, "BB=22\0"s, "C=3\0"s));
}

TEST(SplitTextIntoSegmentsTest, PairLongerThanASegmentIsCutMidPair) {
  EXPECT_THAT(*SplitTextIntoSegments("Key=0123456789\0"s, 6),
              ElementsAre("Key=01", "234567", "89\0"s));
}

TEST(SplitTextIntoSegmentsTest, LongSendTargetsResponseReassemblesExactly) {
  TextPairs pairs;
  for (int i = 0; i < 200; ++i) {
    pairs.push_back({"TargetName", "iqn.2026-11.io.iscsi-csi:vol-" + std::to_string(i)});
    pairs.push_back({"TargetAddress", "10.1.2.3:3260,1"});
  }
  const std::string text = EncodeTextPairs(pairs);
  absl::StatusOr<std::vector<std::string>> segments = SplitTextIntoSegments(text, 512);
  ASSERT_TRUE(segments.ok());
  ASSERT_GT(segments->size(), 10u);
  TextAccumulator acc;
  for (size_t i = 0; i < segments->size(); ++i) {
    EXPECT_LE((*segments)[i].size(), 512u);
    EXPECT_FALSE((*segments)[i].empty());
    const bool continues = i + 1 < segments->size();  // C=1 on all but the last PDU
    ASSERT_TRUE(acc.Append((*segments)[i], continues).ok());
  }
  absl::StatusOr<std::string> joined = acc.Take();
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(*joined, text);
  TextParseOptions options;
  options.allow_duplicate_keys = true;
  EXPECT_EQ(ParseTextPairs(*joined, options)->size(), 400u);
}

// --- value encodings ---

TEST(ParseNumericalValueTest, DecimalAndHexConstants) {
  EXPECT_THAT(ParseNumericalValue("0"), Optional(0u));
  EXPECT_THAT(ParseNumericalValue("8192"), Optional(8192u));
  EXPECT_THAT(ParseNumericalValue("0x2000"), Optional(8192u));
  EXPECT_THAT(ParseNumericalValue("0X2000"), Optional(8192u));
  EXPECT_THAT(ParseNumericalValue("0x0000000000002000"), Optional(8192u));
  EXPECT_THAT(ParseNumericalValue("18446744073709551615"), Optional(UINT64_MAX));
  EXPECT_THAT(ParseNumericalValue("0xFFFFFFFFFFFFFFFF"), Optional(UINT64_MAX));
}

TEST(ParseNumericalValueTest, OverflowSignsSpacesAndBase64AreRefused) {
  EXPECT_EQ(ParseNumericalValue("18446744073709551616"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("0x10000000000000000"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("-1"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("+1"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue(" 1"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue(""), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("0x"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("0bAAA="), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("12a"), std::nullopt);
  EXPECT_EQ(ParseNumericalValue("0x1g"), std::nullopt);
}

TEST(ParseBooleanValueTest, OnlyYesAndNoInExactCase) {
  EXPECT_THAT(ParseBooleanValue("Yes"), Optional(true));
  EXPECT_THAT(ParseBooleanValue("No"), Optional(false));
  EXPECT_EQ(ParseBooleanValue("yes"), std::nullopt);
  EXPECT_EQ(ParseBooleanValue("NO"), std::nullopt);
  EXPECT_EQ(ParseBooleanValue("1"), std::nullopt);
  EXPECT_EQ(ParseBooleanValue(""), std::nullopt);
}

TEST(ParseBinaryValueTest, HexWithEvenAndOddDigitCounts) {
  EXPECT_THAT(ParseBinaryValue("0x0a0B", 16), Optional(ElementsAre(0x0a, 0x0b)));
  // Odd count: the first digit is a byte of its own (§6.1 implicit byte-length).
  EXPECT_THAT(ParseBinaryValue("0xabc", 16), Optional(ElementsAre(0x0a, 0xbc)));
}

TEST(ParseBinaryValueTest, Base64WithAndWithoutPadding) {
  EXPECT_THAT(ParseBinaryValue("0bAAECAwQFBgcICQ==", 16),
              Optional(ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)));
  EXPECT_THAT(ParseBinaryValue("0BAAECAwQFBgcICQ", 16),
              Optional(ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)));
  EXPECT_THAT(ParseBinaryValue("0b/w==", 16), Optional(ElementsAre(0xff)));
}

TEST(ParseBinaryValueTest, MalformedValuesAreRefused) {
  EXPECT_EQ(ParseBinaryValue("0x", 16), std::nullopt);
  EXPECT_EQ(ParseBinaryValue("0b", 16), std::nullopt);
  EXPECT_EQ(ParseBinaryValue("0xzz", 16), std::nullopt);
  EXPECT_EQ(ParseBinaryValue("0bA", 16), std::nullopt);       // 4k+1 characters
  EXPECT_EQ(ParseBinaryValue("0bAA=", 16), std::nullopt);     // wrong padding
  EXPECT_EQ(ParseBinaryValue("0bAA===", 16), std::nullopt);   // too much padding
  EXPECT_EQ(ParseBinaryValue("0bA*==", 16), std::nullopt);    // not base64
  EXPECT_EQ(ParseBinaryValue("abcdef", 16), std::nullopt);    // no prefix
  EXPECT_EQ(ParseBinaryValue("1234", 16), std::nullopt);      // decimal is not binary here
}

TEST(ParseBinaryValueTest, LengthIsBoundedBeforeDecoding) {
  EXPECT_TRUE(ParseBinaryValue("0x" + std::string(32, 'f'), 16).has_value());
  EXPECT_EQ(ParseBinaryValue("0x" + std::string(34, 'f'), 16), std::nullopt);
  EXPECT_EQ(ParseBinaryValue("0x" + std::string(33, 'f'), 16), std::nullopt);
  EXPECT_TRUE(ParseBinaryValue("0b" + std::string(20, 'A') + "AA==", 16).has_value());
  EXPECT_EQ(ParseBinaryValue("0b" + std::string(24, 'A'), 16), std::nullopt);
  EXPECT_EQ(ParseBinaryValue("0b" + std::string(100000, 'A'), 1024), std::nullopt);
}

TEST(ParseLargeNumericalValueTest, DecodesBigEndianMagnitude) {
  EXPECT_THAT(ParseLargeNumericalValue("0x010000000000000000", 32),
              Optional(ElementsAre(1, 0, 0, 0, 0, 0, 0, 0, 0)));
}

TEST(EncodeConstantsTest, HexAndBase64Literals) {
  const std::vector<uint8_t> bytes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(EncodeHexConstant(bytes), "0x00010203040506070809");
  EXPECT_EQ(EncodeBase64Constant(bytes), "0bAAECAwQFBgcICQ==");
  EXPECT_EQ(EncodeBase64Constant(std::vector<uint8_t>{0xff, 0xfe}), "0b//4=");
  EXPECT_EQ(EncodeBase64Constant(std::vector<uint8_t>{1, 2, 3}), "0bAQID");
  EXPECT_EQ(EncodeHexConstant({}), "0x");
}

TEST(EncodeConstantsTest, RoundTripThroughParseBinaryValue) {
  std::mt19937 rng(7);
  for (int len = 1; len < 100; ++len) {
    std::vector<uint8_t> bytes(len);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    EXPECT_THAT(ParseBinaryValue(EncodeHexConstant(bytes), 1024), Optional(bytes));
    EXPECT_THAT(ParseBinaryValue(EncodeBase64Constant(bytes), 1024), Optional(bytes));
  }
}

TEST(SplitListValueTest, SplitsAtCommasAndKeepsEmptyItems) {
  EXPECT_THAT(SplitListValue("CRC32C,None"), ElementsAre("CRC32C", "None"));
  EXPECT_THAT(SplitListValue("None"), ElementsAre("None"));
  EXPECT_THAT(SplitListValue("a,,b,"), ElementsAre("a", "", "b", ""));
}

TEST(ValueClassTest, TextLocalNameAndReservedValues) {
  EXPECT_TRUE(IsTextValue("10.0.0.1:3260"));
  EXPECT_TRUE(IsTextValue("[fe80::1]:3260"));
  EXPECT_FALSE(IsTextValue("a b"));
  EXPECT_FALSE(IsTextValue("a,b"));
  EXPECT_TRUE(IsLocalNameValue("node-a / rack 3"));
  EXPECT_TRUE(IsLocalNameValue("N\xc5\x93ud \xe6\x97\xa5\xe6\x9c\xac"));  // UTF-8
  EXPECT_FALSE(IsLocalNameValue("\xff"));
  EXPECT_FALSE(IsLocalNameValue("\xc0\x80"));          // overlong
  EXPECT_FALSE(IsLocalNameValue("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsLocalNameValue("tab\there"));
  EXPECT_FALSE(IsLocalNameValue(std::string(256, 'a')));
  EXPECT_TRUE(IsReservedAnswer("Reject"));
  EXPECT_TRUE(IsReservedAnswer("Irrelevant"));
  EXPECT_TRUE(IsReservedAnswer("NotUnderstood"));
  EXPECT_FALSE(IsReservedAnswer("None"));
  EXPECT_FALSE(IsReservedAnswer("reject"));
}

// --- iSCSI names (RFC 7143 §4.2.7, RFC 3722) ---

TEST(ValidateIscsiNameTest, WellFormedNamesPass) {
  EXPECT_TRUE(ValidateIscsiName("iqn.2026-11.io.iscsi-csi:vol-7f3").ok());
  EXPECT_TRUE(ValidateIscsiName("iqn.1994-05.com.redhat:b1a2c3d4e5f6").ok());
  EXPECT_TRUE(ValidateIscsiName("iqn.2001-04.com.example").ok());
  EXPECT_TRUE(ValidateIscsiName("iqn.2001-04.com.example:storage:diskarrays-sn-a8675309").ok());
  EXPECT_TRUE(ValidateIscsiName("iqn.2001-04.com.example:d\xc3\xa9p\xc3\xb4t").ok());  // UTF-8
  EXPECT_TRUE(ValidateIscsiName("eui.02004567A425678D").ok());
  EXPECT_TRUE(ValidateIscsiName("naa.52004567BA64678D").ok());
  EXPECT_TRUE(ValidateIscsiName("naa.62004567BA64678D0123456789ABCDEF").ok());
}

TEST(ValidateIscsiNameTest, MalformedNamesFail) {
  for (const char* bad : {"", "iqn.", "iqn.2026.io.example", "iqn.2026-13.io.example",
                          "iqn.2026-00.io.example", "iqn.2026-1.io.example",
                          "iqn.2026-11.", "iqn.2026-11.io..example", "iqn.2026-11.io.example:",
                          "iqn.2026-11.IO.example", "iqn.2026-11.io.example:Vol",
                          "iqn.2026-11.io.example:a_b", "iqn.2026-11.io.example:a b",
                          "iqn.2026-11.io.example:\xff", "IQN.2026-11.io.example",
                          "eui.02004567A425678", "eui.02004567A425678DX", "eui.0200456ZA425678D",
                          "naa.52004567BA64678D0000", "naa.", "foo.bar", "iqn2026-11.io.example"}) {
    EXPECT_EQ(ValidateIscsiName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidateIscsiNameTest, LengthLimitIs223Bytes) {
  const std::string prefix = "iqn.2026-11.io.example:";
  EXPECT_TRUE(ValidateIscsiName(prefix + std::string(223 - prefix.size(), 'a')).ok());
  EXPECT_FALSE(ValidateIscsiName(prefix + std::string(224 - prefix.size(), 'a')).ok());
}

// --- robustness ---

TEST(TextParamsRobustnessTest, RandomAndMutatedSegmentsAlwaysReturnCleanly) {
  std::mt19937 rng(20260101);
  const std::vector<std::string> seeds = {
      "InitiatorName=iqn.2026-01.io.example:a\0SessionType=Normal\0"s,
      "HeaderDigest=CRC32C,None\0MaxBurstLength=0x40000\0"s,
      "CHAP_R=0bAAECAwQFBgcICQ==\0CHAP_N=user\0"s,
      "X-com.example.Foo=bar\0TargetAlias=\xc3\xa9t\xc3\xa9\0"s};
  const std::string alphabet = "=\0,:.-+@_/[]xX0b9AZaz#\xff"s;
  int parsed_ok = 0;
  for (int i = 0; i < 300000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0:  // insert
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), alphabet[rng() % alphabet.size()]);
          break;
        case 1:  // delete
          if (pos < s.size()) s.erase(pos, 1);
          break;
        case 2:  // replace with a random byte
          if (pos < s.size()) s[pos] = static_cast<char>(rng());
          break;
        default:  // duplicate a slice, sometimes a long one
          if (!s.empty()) s.insert(pos, s.substr(rng() % s.size(), rng() % 300));
      }
    }
    if (i % 1000 == 0) s = std::string(rng() % 70000, static_cast<char>(rng()));
    TextError error = TextError::kNone;
    absl::StatusOr<TextPairs> r = ParseTextPairs(s, {}, &error);
    if (r.ok()) {
      ++parsed_ok;
      EXPECT_EQ(error, TextError::kNone);
      for (const TextPair& p : *r) {
        ASSERT_TRUE(IsValidKeyName(p.key));
        ASSERT_LE(p.value.size(), MaxValueLengthForKey(p.key));
        (void)ParseNumericalValue(p.value);
        (void)ParseBinaryValue(p.value, 1024);
        (void)ValidateIscsiName(p.value);
        (void)IsLocalNameValue(p.value);
      }
      // Whatever parsed must survive an encode/parse round trip.
      ASSERT_EQ(*ParseTextPairs(EncodeTextPairs(*r)), *r);
    } else {
      ASSERT_NE(error, TextError::kNone);
    }
    TextAccumulator acc(4096);
    for (size_t off = 0; off < s.size(); off += 97) {
      if (!acc.Append(std::string_view(s).substr(off, 97), off + 97 < s.size()).ok()) break;
    }
    if (!s.empty() && s.size() < 8192) {
      absl::StatusOr<std::vector<std::string>> parts = SplitTextIntoSegments(s, 1 + rng() % 600);
      ASSERT_TRUE(parts.ok());
      std::string joined;
      for (const std::string& p : *parts) joined += p;
      ASSERT_EQ(joined, s);
    }
  }
  RecordProperty("parsed_ok", parsed_ok);
  EXPECT_GT(parsed_ok, 1000);  // the mutations do not all turn into garbage
}

}  // namespace
}  // namespace iscsi_csi::target
