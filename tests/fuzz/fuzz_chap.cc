// fuzz_chap: libFuzzer harness for the target side of CHAP (target/chap.h, RFC 7143 §12.1.3,
// RFC 1994): ChapTargetSession fed the CHAP_A / CHAP_I / CHAP_C / CHAP_N / CHAP_R values of
// successive Login Requests, as the negotiator extracts them.
//
// Input: one configuration byte, then up to four steps, each a big-endian 16-bit length and
// that many bytes of key=value\0 text (cut at the input's end). Configuration: bits 0-1 the
// algorithm list, bit 2 target credentials (mutual CHAP possible), bit 3 mutual required,
// bits 4-5 the challenge length (default, 16, 1024, 17), bit 6 a failing random source,
// bit 7 an invalid configuration (short secret). A CHAP_R value of "auto" is replaced by the
// correct response to the target's last challenge, so the fuzzer reaches the mutual step.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "target/chap.h"
#include "target/text_params.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace iscsi_csi::target;  // NOLINT: harness
  iscsi_csi::fuzz::FuzzInput in(bytes, size);
  const uint8_t config_bits = in.Byte();

  const std::string initiator_secret = (config_bits & 0x80) != 0 ? "short" : "initiator-secret-1";
  ChapConfig config;
  config.initiator = {"iqn.2026-01.example:initiator", ChapSecret(initiator_secret)};
  switch (config_bits & 0x03) {
    case 0:
      config.algorithms = {ChapAlgorithm::kMd5};
      break;
    case 1:
      config.algorithms = {ChapAlgorithm::kSha1, ChapAlgorithm::kSha256};
      break;
    case 2:
      config.algorithms = {ChapAlgorithm::kSha3_256};
      break;
    default:
      break;  // the default list
  }
  if ((config_bits & 0x04) != 0) {
    config.target = ChapCredentials{"target-name", ChapSecret("target-secret-abcdef")};
    config.require_mutual = (config_bits & 0x08) != 0;
  }
  constexpr size_t kChallengeLengths[] = {0, 16, 1024, 17};
  config.challenge_length = kChallengeLengths[(config_bits >> 4) & 0x03];
  const bool random_fails = (config_bits & 0x40) != 0;
  RandomSource random = [random_fails](absl::Span<uint8_t> out) {
    if (random_fails) return absl::InternalError("no entropy");
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(0xa5 ^ i);
    return absl::OkStatus();
  };
  (void)ValidateChapConfig(config);
  ChapTargetSession session(config, std::move(random));

  TextPairs last_response;
  for (int step = 0; step < 4 && !in.empty(); ++step) {
    const uint16_t length = in.Be16();
    TextParseOptions options;
    options.allow_duplicate_keys = true;
    const absl::StatusOr<TextPairs> pairs = ParseTextPairs(in.Text(length), options);
    if (!pairs.ok()) continue;
    ChapKeys keys;
    for (const TextPair& pair : *pairs) {
      if (pair.key == "CHAP_A") keys.chap_a = pair.value;
      if (pair.key == "CHAP_I") keys.chap_i = pair.value;
      if (pair.key == "CHAP_C") keys.chap_c = pair.value;
      if (pair.key == "CHAP_N") keys.chap_n = pair.value;
      if (pair.key == "CHAP_R") {
        keys.chap_r = pair.value;
        if (pair.value == iscsi_csi::fuzz::kAutoChapResponse) {
          keys.chap_r = iscsi_csi::fuzz::CorrectChapResponse(last_response, initiator_secret)
                            .value_or(pair.value);
        }
      }
    }
    const bool was_failed = session.failed();
    const ChapStepResult result = session.Step(keys);
    if (iscsi_csi::fuzz::Verbose()) {
      std::fprintf(stderr, "chap step %d: outcome %d failure %s\n", step,
                   static_cast<int>(result.outcome), ChapFailureName(result.failure).data());
    }
    // Invariants: a failure names its reason and is final; success is reported consistently.
    if ((result.outcome == ChapOutcome::kFailed) != (result.failure != ChapFailure::kNone)) {
      std::abort();
    }
    if (was_failed && result.outcome != ChapOutcome::kFailed) std::abort();
    if (session.authenticated() != (result.outcome == ChapOutcome::kAuthenticated) &&
        result.outcome != ChapOutcome::kFailed) {
      std::abort();
    }
    (void)ChapFailureName(result.failure);
    for (const TextPair& pair : result.response) {
      if (pair.value.find(initiator_secret) != std::string::npos) std::abort();  // no leaks
    }
    last_response = result.response;
  }
  return 0;
}
