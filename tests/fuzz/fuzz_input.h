// Small helpers shared by the harnesses: a byte reader over the fuzzer's input and the CHAP
// "auto" answer that lets the fuzzer get past a CHAP_R it cannot compute. Fuzz-only.
#ifndef ISCSI_CSI_TESTS_FUZZ_FUZZ_INPUT_H_
#define ISCSI_CSI_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "target/chap.h"
#include "target/text_params.h"

namespace iscsi_csi::fuzz {

// Verbose: FUZZ_VERBOSE is set; harnesses then say what each step did (to read a regression
// input or check that the seeds get where they should).
inline bool Verbose() {
  static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  return verbose;
}

// FuzzInput hands out the input front to back; reads past the end give zeros / short spans.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(data, size) {}

  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t b = rest_[0];
    rest_.remove_prefix(1);
    return b;
  }
  uint16_t Be16() {
    const uint16_t high = Byte();
    return static_cast<uint16_t>((high << 8) | Byte());
  }
  absl::Span<const uint8_t> Bytes(size_t length) {
    const absl::Span<const uint8_t> piece = rest_.first(std::min(length, rest_.size()));
    rest_.remove_prefix(piece.size());
    return piece;
  }
  std::string_view Text(size_t length) {
    const absl::Span<const uint8_t> piece = Bytes(length);
    return {reinterpret_cast<const char*>(piece.data()), piece.size()};
  }

 private:
  absl::Span<const uint8_t> rest_;
};

// The magic CHAP_R value: the harness replaces it by the correct response.
inline constexpr std::string_view kAutoChapResponse = "auto";

// CorrectChapResponse computes the CHAP_R an initiator knowing `secret` would send for the
// CHAP_A / CHAP_I / CHAP_C the target put in `challenge` (its previous response pairs);
// nullopt when they are missing or malformed.
inline std::optional<std::string> CorrectChapResponse(const target::TextPairs& challenge,
                                                      std::string_view secret) {
  std::optional<uint64_t> algorithm, identifier;
  std::optional<std::vector<uint8_t>> bytes;
  for (const target::TextPair& pair : challenge) {
    if (pair.key == "CHAP_A") algorithm = target::ParseNumericalValue(pair.value);
    if (pair.key == "CHAP_I") identifier = target::ParseNumericalValue(pair.value);
    if (pair.key == "CHAP_C") bytes = target::ParseBinaryValue(pair.value, 1024);
  }
  if (!algorithm || !identifier || !bytes || *identifier > 255 || *algorithm < 5 ||
      *algorithm > 8) {
    return std::nullopt;
  }
  absl::StatusOr<std::vector<uint8_t>> response =
      target::ComputeChapResponse(static_cast<target::ChapAlgorithm>(*algorithm),
                                  static_cast<uint8_t>(*identifier), secret, *bytes);
  if (!response.ok()) return std::nullopt;
  return target::EncodeHexConstant(*response);
}

}  // namespace iscsi_csi::fuzz

#endif  // ISCSI_CSI_TESTS_FUZZ_FUZZ_INPUT_H_
