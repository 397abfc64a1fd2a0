// text_params: the key=value text carried in Login and Text data segments.
//
// Implements RFC 7143 §6.1 (text format, value encodings and their limits), the
// continuation rule of §6.2 (a key=value pair may span PDUs while the C bit of the Text or
// Login request is set), the iSCSI name rules of §4.2.7 and RFC 3722, and the splitting of
// a long response across PDUs bounded by the peer's MaxRecvDataSegmentLength (§13.12).
//
// Everything here is pure: strings in, strings out. Nothing from the network reaches a
// CHECK; malformed input is reported through absl::Status (and a TextError code).
#ifndef ISCSI_CSI_TARGET_TEXT_PARAMS_H_
#define ISCSI_CSI_TARGET_TEXT_PARAMS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace iscsi_csi::target {

// RFC 7143 §6.1: a key-name is a standard-label of at most 63 characters.
inline constexpr size_t kMaxKeyNameLength = 63;
// RFC 7143 §6.1: "If not otherwise specified, the maximum length of a simple-value (not its
// encoded representation) is 255 bytes, not including the delimiter."
inline constexpr size_t kMaxSimpleValueLength = 255;
// Encoded length accepted for the keys allowed to be longer than a simple-value: lists,
// CHAP/SRP/Kerberos binary values (CHAP_C and CHAP_R are at most 1024 bytes once decoded,
// RFC 7143 §12.1.3, i.e. 2050 characters in hex).
inline constexpr size_t kMaxLargeValueLength = 8192;
// Total key=value bytes we accept in one negotiation request, across continuation PDUs.
// RFC 7143 §6.1 requires at least 8192 bytes, and 64 KiB for long authentication items.
inline constexpr size_t kMaxTextDataLength = 64 * 1024;
// RFC 7143 §4.2.7.1 / RFC 3720 §3.2.6.1: iSCSI names are at most 223 bytes.
inline constexpr size_t kMaxIscsiNameLength = 223;

// The RFC's key names, kept verbatim so that the spec is greppable.
namespace keys {
// §12: security negotiation.
inline constexpr std::string_view kAuthMethod = "AuthMethod";
inline constexpr std::string_view kChapA = "CHAP_A";
inline constexpr std::string_view kChapI = "CHAP_I";
inline constexpr std::string_view kChapC = "CHAP_C";
inline constexpr std::string_view kChapN = "CHAP_N";
inline constexpr std::string_view kChapR = "CHAP_R";
// §13: operational and declarative keys.
inline constexpr std::string_view kHeaderDigest = "HeaderDigest";
inline constexpr std::string_view kDataDigest = "DataDigest";
inline constexpr std::string_view kMaxConnections = "MaxConnections";
inline constexpr std::string_view kSendTargets = "SendTargets";
inline constexpr std::string_view kTargetName = "TargetName";
inline constexpr std::string_view kInitiatorName = "InitiatorName";
inline constexpr std::string_view kTargetAlias = "TargetAlias";
inline constexpr std::string_view kInitiatorAlias = "InitiatorAlias";
inline constexpr std::string_view kTargetAddress = "TargetAddress";
inline constexpr std::string_view kTargetPortalGroupTag = "TargetPortalGroupTag";
inline constexpr std::string_view kInitialR2T = "InitialR2T";
inline constexpr std::string_view kImmediateData = "ImmediateData";
inline constexpr std::string_view kMaxRecvDataSegmentLength = "MaxRecvDataSegmentLength";
inline constexpr std::string_view kMaxBurstLength = "MaxBurstLength";
inline constexpr std::string_view kFirstBurstLength = "FirstBurstLength";
inline constexpr std::string_view kDefaultTime2Wait = "DefaultTime2Wait";
inline constexpr std::string_view kDefaultTime2Retain = "DefaultTime2Retain";
inline constexpr std::string_view kMaxOutstandingR2T = "MaxOutstandingR2T";
inline constexpr std::string_view kDataPDUInOrder = "DataPDUInOrder";
inline constexpr std::string_view kDataSequenceInOrder = "DataSequenceInOrder";
inline constexpr std::string_view kErrorRecoveryLevel = "ErrorRecoveryLevel";
inline constexpr std::string_view kSessionType = "SessionType";
inline constexpr std::string_view kTaskReporting = "TaskReporting";
// RFC 7144 §2.1.
inline constexpr std::string_view kIscsiProtocolLevel = "iSCSIProtocolLevel";
// RFC 7145 (iSER) §6.
inline constexpr std::string_view kRdmaExtensions = "RDMAExtensions";
inline constexpr std::string_view kTargetRecvDataSegmentLength = "TargetRecvDataSegmentLength";
inline constexpr std::string_view kInitiatorRecvDataSegmentLength =
    "InitiatorRecvDataSegmentLength";
inline constexpr std::string_view kMaxOutstandingUnexpectedPDUs = "MaxOutstandingUnexpectedPDUs";
// RFC 3720 marker keys, listed under "Obsoleted Keys" in RFC 7143 §13.
inline constexpr std::string_view kOFMarker = "OFMarker";
inline constexpr std::string_view kIFMarker = "IFMarker";
inline constexpr std::string_view kOFMarkInt = "OFMarkInt";
inline constexpr std::string_view kIFMarkInt = "IFMarkInt";
}  // namespace keys

// Reserved values (RFC 7143 §6.2). "None" is also reserved but is a legitimate list item.
inline constexpr std::string_view kValueReject = "Reject";
inline constexpr std::string_view kValueIrrelevant = "Irrelevant";
inline constexpr std::string_view kValueNotUnderstood = "NotUnderstood";
inline constexpr std::string_view kValueNone = "None";
inline constexpr std::string_view kValueYes = "Yes";
inline constexpr std::string_view kValueNo = "No";

// One key=value pair, in the order it appeared on the wire.
struct TextPair {
  std::string key;
  std::string value;

  friend bool operator==(const TextPair&, const TextPair&) = default;
};
using TextPairs = std::vector<TextPair>;

// Why a data segment was refused (in addition to the absl::Status message).
enum class TextError : uint8_t {
  kNone = 0,
  kMissingTerminator,  // the last pair is not followed by a null byte (§6.1)
  kMissingEquals,      // a pair without '='
  kEmptyKey,           // "=value"
  kInvalidKeyName,     // not a standard-label (§6.1), e.g. lower-case first letter
  kKeyTooLong,         // key longer than kMaxKeyNameLength
  kValueTooLong,       // value longer than MaxValueLengthForKey(key)
  kDuplicateKey,       // the same key twice in one request (§6.3, "protocol error")
  kTextTooLong,        // more than kMaxTextDataLength bytes
};

struct TextParseOptions {
  // A key may appear more than once (only responses such as SendTargets may do this).
  bool allow_duplicate_keys = false;
  size_t max_total_length = kMaxTextDataLength;
};

// ParseTextPairs splits a complete Login/Text data segment (all continuation PDUs already
// concatenated) into key=value pairs. Empty entries between two null bytes are skipped.
// On failure returns InvalidArgument; `error`, when given, receives the reason. Messages
// name the key (when it is a valid label) but never echo a value.
absl::StatusOr<TextPairs> ParseTextPairs(std::string_view text,
                                         const TextParseOptions& options = {},
                                         TextError* error = nullptr);

// EncodeTextPairs renders pairs as "key=value\0..." (every pair null-terminated, §6.1).
std::string EncodeTextPairs(const TextPairs& pairs);

// MaxValueLengthForKey returns the longest value accepted for `key`: kMaxLargeValueLength
// for list-valued and authentication keys, kMaxSimpleValueLength for everything else
// (including unknown keys, which fall under the §6.1 default rule).
size_t MaxValueLengthForKey(std::string_view key);

// IsValidKeyName reports whether `key` is a standard-label (§6.1): a capital letter, then
// letters, digits, '.', '-', '+', '@' or '_', at most 63 characters; "X#" public extension
// keys (§13.22) are accepted too, and so is "iSCSIProtocolLevel" (RFC 7144), registered
// with a lower-case first letter.
bool IsValidKeyName(std::string_view key);

// TextAccumulator gathers the data segments of a Login or Text request sent as several
// PDUs with the C (continue) bit set (RFC 7143 §6.2), bounding the total size.
class TextAccumulator {
 public:
  explicit TextAccumulator(size_t max_total_length = kMaxTextDataLength)
      : max_total_length_(max_total_length) {}

  // Append adds one PDU's data segment. `continues` is the PDU's C bit. Returns
  // ResourceExhausted once the total would exceed the bound (the partial text is then
  // discarded), FailedPrecondition if called after the final segment without Take().
  absl::Status Append(std::string_view segment, bool continues);
  absl::Status Append(absl::Span<const uint8_t> segment, bool continues);

  // complete is true once a segment with C=0 has been appended.
  bool complete() const { return complete_; }
  size_t size() const { return text_.size(); }

  // Take hands back the concatenated text after the final segment and resets the
  // accumulator; FailedPrecondition while segments are still expected.
  absl::StatusOr<std::string> Take();
  void Reset();

 private:
  size_t max_total_length_;
  std::string text_;
  bool complete_ = false;
};

// SplitTextIntoSegments cuts an encoded response into data segments of at most
// `max_segment_length` bytes (the initiator's MaxRecvDataSegmentLength). Every segment but
// the last is sent with C=1. Cuts are placed after a null byte when one falls in the
// window, otherwise mid-pair (allowed by §6.2). An empty text yields one empty segment.
absl::StatusOr<std::vector<std::string>> SplitTextIntoSegments(std::string_view text,
                                                              size_t max_segment_length);

// --- Value encodings (RFC 7143 §6.1) ---

// ParseNumericalValue accepts a numerical-value: a decimal-constant or a hex-constant
// ("0x"/"0X" + hex digits) below 2^64. Signs, spaces and base64 are refused.
std::optional<uint64_t> ParseNumericalValue(std::string_view value);

// ParseBooleanValue accepts exactly "Yes" or "No" (values are case sensitive, §6.1).
std::optional<bool> ParseBooleanValue(std::string_view value);

// ParseBinaryValue decodes a hex-constant ("0x", odd digit counts allowed: the first digit
// is then a byte of its own) or a base64-constant ("0b", RFC 4648 alphabet, padding
// optional). The encoded length is checked against `max_bytes` before decoding. Returns
// nullopt for an empty, malformed or oversized value.
std::optional<std::vector<uint8_t>> ParseBinaryValue(std::string_view value, size_t max_bytes);

// ParseLargeNumericalValue decodes a large-numerical-value (hex or base64 constant, any
// size up to `max_bytes`) into its big-endian magnitude.
inline std::optional<std::vector<uint8_t>> ParseLargeNumericalValue(std::string_view value,
                                                                   size_t max_bytes) {
  return ParseBinaryValue(value, max_bytes);
}

// EncodeHexConstant renders bytes as "0x" + lower-case hex (what open-iscsi and libiscsi
// send and parse for CHAP values).
std::string EncodeHexConstant(absl::Span<const uint8_t> bytes);
// EncodeBase64Constant renders bytes as "0b" + RFC 4648 base64 with padding.
std::string EncodeBase64Constant(absl::Span<const uint8_t> bytes);

// SplitListValue splits a list-of-values at commas; empty items are kept (and later ignored
// as not understood by the negotiation).
std::vector<std::string_view> SplitListValue(std::string_view value);

// IsTextValue: letters, digits, '.', '-', '+', '@', '_', '/', '[', ']', ':' (§6.1).
bool IsTextValue(std::string_view value);

// IsLocalNameValue: an iSCSI-local-name-value, i.e. well-formed UTF-8 of at most 255 bytes
// without control characters (TargetAlias, InitiatorAlias, §6.1).
bool IsLocalNameValue(std::string_view value);

// IsReservedAnswer: "Reject", "Irrelevant" or "NotUnderstood", which only a responder may
// send (§6.2).
bool IsReservedAnswer(std::string_view value);

// ValidateIscsiName checks an iSCSI-name-value (RFC 7143 §4.2.7, RFC 3722): at most 223
// bytes; "iqn.yyyy-mm.reversed.domain[:unique]" in its normalized (lower-case) form,
// "eui." + 16 hex digits, or "naa." + 16 or 32 hex digits. Returns InvalidArgument with the
// reason; the name itself is not repeated in the message.
absl::Status ValidateIscsiName(std::string_view name);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_TEXT_PARAMS_H_
