// fuzz_text_keys: libFuzzer harness for login and text negotiation (RFC 7143 §6, §13):
// text_params.h (key=value parsing, value encodings, iSCSI names), LoginHandler with its
// LoginNegotiator (the real login state machine, without sockets) and, once a login
// completes, NegotiateFullFeatureText.
//
// Input: one policy byte, then records until the input ends:
//   byte 0   bit 7 T, bit 6 C, bits 4-5 CSG, bits 0-1 NSG, bit 3: a Text Request (used once
//            the login is complete), bit 2: send the BHS with version_min 1 (unsupported)
//   bytes 1-2  text length, big-endian; then the text (key=value\0...), cut at the input's end
// Policy byte: bit 0 CHAP required, bit 1 mutual credentials, bit 2 mutual required, bit 3
// propose unoffered keys, bit 4 digests required, bit 5 refuse the target (not found), bits
// 6-7 select the CHAP algorithms. A CHAP_R value of "auto" is replaced by the correct answer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_replace.h"
#include "target/login.h"  // and target/protocol.h: pdu.h + negotiation.h
#include "tests/fuzz/fuzz_input.h"

namespace iscsi_csi::target {
namespace {

constexpr std::string_view kInitiatorSecret = "initiator-secret-1";

// The text_params.h functions on one request's text, whatever the login makes of it.
void ExerciseTextParams(std::string_view text) {
  TextParseOptions options;
  options.allow_duplicate_keys = true;
  TextError error = TextError::kNone;
  const absl::StatusOr<TextPairs> pairs = ParseTextPairs(text, options, &error);
  if (pairs.ok() != (error == TextError::kNone)) std::abort();
  if (!pairs.ok()) return;
  // What we parsed, encoded again, parses to the same pairs.
  const absl::StatusOr<TextPairs> again = ParseTextPairs(EncodeTextPairs(*pairs), options);
  if (!again.ok() || *again != *pairs) std::abort();
  for (const TextPair& pair : *pairs) {
    (void)IsValidKeyName(pair.key);
    (void)MaxValueLengthForKey(pair.key);
    (void)ParseNumericalValue(pair.value);
    (void)ParseBooleanValue(pair.value);
    const std::optional<std::vector<uint8_t>> binary = ParseBinaryValue(pair.value, 1024);
    if (binary.has_value()) {
      if (binary->size() > 1024) std::abort();
      if (ParseBinaryValue(EncodeHexConstant(*binary), 1024) != binary) std::abort();
      if (ParseBinaryValue(EncodeBase64Constant(*binary), 1024) != binary) std::abort();
    }
    (void)SplitListValue(pair.value);
    (void)IsTextValue(pair.value);
    (void)IsLocalNameValue(pair.value);
    (void)IsReservedAnswer(pair.value);
    (void)ValidateIscsiName(pair.value);
  }
  const absl::StatusOr<std::vector<std::string>> segments = SplitTextIntoSegments(text, 97);
  if (segments.ok()) {
    std::string joined;
    for (const std::string& segment : *segments) {
      if (segment.size() > 97) std::abort();
      joined += segment;
    }
    if (joined != text) std::abort();
  }
}

}  // namespace
}  // namespace iscsi_csi::target

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace iscsi_csi::target;  // NOLINT: harness
  iscsi_csi::fuzz::FuzzInput in(bytes, size);
  const uint8_t policy_bits = in.Byte();

  ChapConfig chap;
  chap.initiator = {"iqn.2026-01.example:initiator", ChapSecret(std::string(kInitiatorSecret))};
  if ((policy_bits & 0x02) != 0) {
    chap.target = ChapCredentials{"iqn.2026-01.example:target", ChapSecret("target-secret-abcdef")};
    chap.require_mutual = (policy_bits & 0x04) != 0;
  }
  switch (policy_bits >> 6) {
    case 0:
      chap.algorithms = {ChapAlgorithm::kMd5};
      break;
    case 1:
      chap.algorithms = {ChapAlgorithm::kSha256, ChapAlgorithm::kSha1};
      break;
    case 2:
      chap.algorithms = {ChapAlgorithm::kSha3_256};
      break;
    default:
      break;  // the default list
  }

  LoginHandlerOptions options;
  options.policy.propose_unoffered_keys = (policy_bits & 0x08) != 0;
  if ((policy_bits & 0x10) != 0) {
    options.policy.header_digests = {DigestType::kCrc32c};
    options.policy.data_digests = {DigestType::kCrc32c};
  }
  options.initial_stat_sn = 0x1000;
  options.random = [](absl::Span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(0x5a + i);
    return absl::OkStatus();
  };
  options.resolver = [&](const LoginIdentity&, const LoginRequest&) {
    TargetAccess access;
    if ((policy_bits & 0x20) != 0) access.refusal = kLoginNotFound;
    if ((policy_bits & 0x01) != 0) access.chap = chap;
    access.target_alias = "fuzz";
    return access;
  };
  LoginHandler login(std::move(options));

  bool complete = false;
  bool failed = false;
  TextPairs last_response;  // the last complete response, for CHAP_R=auto
  std::string response_text;
  SessionParams session;
  ConnectionParams connection;
  uint32_t cmd_sn = 7;
  while (!in.empty() && !failed) {
    const uint8_t flags = in.Byte();
    const uint16_t length = in.Be16();
    std::string text(in.Text(length));
    ExerciseTextParams(text);

    if (complete) {
      if ((flags & 0x08) == 0) continue;
      const absl::StatusOr<TextStepResult> result =
          NegotiateFullFeatureText(session, &connection, text);
      if (result.ok() && result->send_targets.has_value()) {
        TextPairs records = result->response;
        const std::string addresses[] = {"10.0.0.5:3260,1", "[fd00::5]:3260,1"};
        AppendSendTargetsRecord("iqn.2026-01.example:target", addresses, &records);
        (void)EncodeTextPairs(records);
      }
      if (iscsi_csi::fuzz::Verbose()) {
        std::fprintf(stderr, "text request: %s\n", result.status().ToString().c_str());
      }
      continue;
    }
    if (text.find(iscsi_csi::fuzz::kAutoChapResponse) != std::string::npos) {
      const std::optional<std::string> answer =
          iscsi_csi::fuzz::CorrectChapResponse(last_response, kInitiatorSecret);
      if (answer.has_value()) {
        text = absl::StrReplaceAll(text, {{"CHAP_R=auto", "CHAP_R=" + *answer}});
      }
    }
    LoginRequest request;
    request.transit_bit = (flags & 0x80) != 0;
    request.continue_bit = (flags & 0x40) != 0;
    request.csg = (flags >> 4) & 0x03;
    request.nsg = flags & 0x03;
    request.version_min = (flags & 0x04) != 0 ? 1 : 0;
    request.isid = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
    request.itt = 0x11;
    request.cmd_sn = cmd_sn;
    request.exp_stat_sn = 0x1000;
    request.data_segment_length = static_cast<uint32_t>(text.size());
    const Bhs bhs = EncodeLoginRequest(request);
    const auto data =
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    const ParseResult<LoginRequest> parsed = ParseLoginRequest(bhs, data);
    LoginHandler::Step step;
    if (parsed.ok()) {
      step = login.HandleRequest(*parsed);
    } else if (parsed.rejected()) {
      step = login.HandleMalformed(bhs);
    } else {
      std::abort();  // our own encoding must frame
    }
    if (step.outcome == LoginHandler::Outcome::kNegotiated) {
      for (LoginResponsePdu& pdu : login.Finish(0x2a).responses) {
        step.responses.push_back(std::move(pdu));
      }
      step.outcome = LoginHandler::Outcome::kComplete;
    }
    for (const LoginResponsePdu& pdu : step.responses) {
      const absl::StatusOr<LoginResponse> response = ParseLoginResponse(pdu.bhs);
      if (!response.ok() || response->data_segment_length != pdu.data.size() ||
          pdu.data.size() > kLoginMaxDataSegmentLength) {
        std::abort();
      }
      response_text += pdu.data;
      if (!response->continue_bit) {
        absl::StatusOr<TextPairs> pairs = ParseTextPairs(response_text, {true});
        if (pairs.ok()) last_response = *std::move(pairs);
        response_text.clear();
      }
    }
    failed = step.outcome == LoginHandler::Outcome::kFailed;
    if (iscsi_csi::fuzz::Verbose()) {
      std::fprintf(stderr, "login request %02x: outcome %d %s\n", flags,
                   static_cast<int>(step.outcome), step.reason.c_str());
    }
    if (failed && step.failure.value_or(kLoginSuccess).ok()) std::abort();
    if (step.outcome == LoginHandler::Outcome::kComplete) {
      complete = true;
      session = login.session_params();
      connection = login.connection_params();
    }
  }
  return 0;
}
