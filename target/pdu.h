// iSCSI PDUs on the wire (RFC 7143 §11): opcodes and flag bits, framing of a received PDU
// from its Basic Header Segment, typed decoding of every PDU the target receives, encoding
// of every PDU the target sends, and assembly of whole PDUs (BHS + AHS + header digest +
// data + padding + data digest) into a buffer or an iovec list.
//
// Pure functions over bytes: no sockets, no session state. Fields are decoded by byte offset
// with bytes.h (never bitfields); offsets are the RFC's. Network bytes never reach a CHECK.
//
// Three outcomes of looking at received bytes (STYLE.md §3):
//  - a value: the PDU is well formed;
//  - a RejectReason: the connection survives; the target answers with a Reject PDU
//    (§11.17) carrying that reason and the offending BHS, after consuming the PDU's
//    remaining bytes as framed;
//  - a non-OK absl::Status: connection-fatal (short or malformed header, header digest
//    mismatch, or a caller passing spans that disagree with the header).
// General rule applied throughout (RFC 7143 §11.2): reserved bits and reserved fields are
// ignored on receipt; a reserved code value in a defined field (opcode, stage, reason code,
// function, AHS type, task attribute, SNACK type) is a protocol error.
//
// The encoders write a 48-byte BHS including DataSegmentLength; the data itself is passed
// separately (BuildPdu / BuildPduIovecs) so the data path can stay zero-copy.

#ifndef ISCSI_CSI_TARGET_PDU_H_
#define ISCSI_CSI_TARGET_PDU_H_

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "glog/logging.h"
#include "target/digest.h"

namespace iscsi_csi::target {

// ---------------------------------------------------------------------------------------
// Constants (RFC 7143 §11.2).

inline constexpr size_t kBhsLength = 48;
using Bhs = std::array<uint8_t, kBhsLength>;

// DataSegmentLength is a 24-bit field.
inline constexpr uint32_t kMaxDataSegmentLength = 0x00ffffff;
// TotalAHSLength counts 4-byte words in one byte: at most 255 * 4 bytes of AHS.
inline constexpr size_t kMaxTotalAhsLength = 255 * 4;
// MaxRecvDataSegmentLength before negotiation (RFC 7143 §13.12).
inline constexpr uint32_t kDefaultMaxRecvDataSegmentLength = 8192;
// The reserved tag value (ITT/TTT "0xffffffff").
inline constexpr uint32_t kReservedTag = 0xffffffff;
// CDB bytes in the BHS, and the largest CDB an Extended CDB AHS can carry (§11.2.2.3).
inline constexpr size_t kBhsCdbLength = 16;
inline constexpr size_t kMaxCdbLength = 260;

// Byte 0.
inline constexpr uint8_t kOpcodeMask = 0x3f;
inline constexpr uint8_t kImmediateBit = 0x40;  // I
// Byte 1 flags.
inline constexpr uint8_t kFinalBit = 0x80;                  // F (most PDUs)
inline constexpr uint8_t kTransitBit = 0x80;                // T (Login)
inline constexpr uint8_t kContinueBit = 0x40;               // C (Login, Text)
inline constexpr uint8_t kReadBit = 0x40;                   // R (SCSI Command)
inline constexpr uint8_t kWriteBit = 0x20;                  // W (SCSI Command)
inline constexpr uint8_t kTaskAttributeMask = 0x07;         // ATTR (SCSI Command)
inline constexpr uint8_t kAckBit = 0x40;                    // A (Data-In)
inline constexpr uint8_t kBidiResidualOverflowBit = 0x10;   // o (SCSI Response)
inline constexpr uint8_t kBidiResidualUnderflowBit = 0x08;  // u (SCSI Response)
inline constexpr uint8_t kResidualOverflowBit = 0x04;       // O (SCSI Response, Data-In)
inline constexpr uint8_t kResidualUnderflowBit = 0x02;      // U (SCSI Response, Data-In)
inline constexpr uint8_t kStatusBit = 0x01;                 // S (Data-In)

// Opcodes (§11.2.1). The enum's underlying type holds any 6-bit value, known or not.
enum class Opcode : uint8_t {
  // Initiator opcodes.
  kNopOut = 0x00,
  kScsiCommand = 0x01,
  kTaskMgmtRequest = 0x02,
  kLoginRequest = 0x03,
  kTextRequest = 0x04,
  kDataOut = 0x05,
  kLogoutRequest = 0x06,
  kSnack = 0x10,
  // Target opcodes.
  kNopIn = 0x20,
  kScsiResponse = 0x21,
  kTaskMgmtResponse = 0x22,
  kLoginResponse = 0x23,
  kTextResponse = 0x24,
  kDataIn = 0x25,
  kLogoutResponse = 0x26,
  kR2t = 0x31,
  kAsyncMessage = 0x32,
  kReject = 0x3f,
};

// Vendor-specific opcode ranges (§11.2.1): 0x1c-0x1e from initiators, 0x3c-0x3e from
// targets. We implement none of them.
inline constexpr uint8_t kFirstInitiatorVendorOpcode = 0x1c;
inline constexpr uint8_t kLastInitiatorVendorOpcode = 0x1e;
inline constexpr uint8_t kFirstTargetVendorOpcode = 0x3c;
inline constexpr uint8_t kLastTargetVendorOpcode = 0x3e;

// Reject reason codes (§11.17.1).
enum class RejectReason : uint8_t {
  kReserved = 0x01,  // never sent
  kDataDigestError = 0x02,
  kSnackReject = 0x03,
  kProtocolError = 0x04,
  kCommandNotSupported = 0x05,
  kImmediateCommandReject = 0x06,
  kTaskInProgress = 0x07,
  kInvalidDataAck = 0x08,
  kInvalidPduField = 0x09,
  kLongOperationReject = 0x0a,
  kNegotiationReset = 0x0b,  // RFC 3720 only; RFC 7143 deprecates it: MUST NOT be sent
  kWaitingForLogout = 0x0c,
};

// Login stages, the CSG and NSG fields (§11.12.3); 2 is reserved.
enum class LoginStage : uint8_t {
  kSecurityNegotiation = 0,
  kLoginOperationalNegotiation = 1,
  kFullFeaturePhase = 3,
};

// Task attributes, ATTR of the SCSI Command (§11.3.1); 5-7 are reserved.
enum class TaskAttribute : uint8_t {
  kUntagged = 0,
  kSimple = 1,
  kOrdered = 2,
  kHeadOfQueue = 3,
  kAca = 4,
};

// Logout reason codes (§11.14.1); 3-127 are reserved.
enum class LogoutReason : uint8_t {
  kCloseSession = 0,
  kCloseConnection = 1,
  kRemoveConnectionForRecovery = 2,
};

// Logout Response codes (§11.15.1).
enum class LogoutResponseCode : uint8_t {
  kClosedSuccessfully = 0,
  kCidNotFound = 1,
  kConnectionRecoveryNotSupported = 2,
  kCleanupFailed = 3,
};

// Task management functions (§11.5.1); 0 and 9-127 are reserved.
enum class TmfFunction : uint8_t {
  kAbortTask = 1,
  kAbortTaskSet = 2,
  kClearAca = 3,
  kClearTaskSet = 4,
  kLogicalUnitReset = 5,
  kTargetWarmReset = 6,
  kTargetColdReset = 7,
  kTaskReassign = 8,
};

// Task Management Function Response codes (§11.6.1).
enum class TmfResponse : uint8_t {
  kFunctionComplete = 0,
  kTaskDoesNotExist = 1,
  kLunDoesNotExist = 2,
  kTaskStillAllegiant = 3,
  kTaskAllegianceReassignmentNotSupported = 4,
  kFunctionNotSupported = 5,
  kFunctionAuthorizationFailed = 6,
  kFunctionRejected = 255,
};

// SNACK types (§11.16.1); 4-15 are reserved.
enum class SnackType : uint8_t {
  kDataR2t = 0,
  kStatus = 1,
  kDataAck = 2,
  kRData = 3,
};

// SCSI Response "Response" field (§11.4).
inline constexpr uint8_t kScsiResponseCommandCompleted = 0x00;
inline constexpr uint8_t kScsiResponseTargetFailure = 0x01;

// AsyncEvent codes (§11.9.1).
enum class AsyncEvent : uint8_t {
  kScsiAsyncEvent = 0,
  kLogoutRequest = 1,
  kConnectionDrop = 2,
  kSessionDrop = 3,
  kNegotiationRequest = 4,
  kTaskTermination = 5,
  kVendorSpecific = 255,
};

// AHS types, the low six bits of AHSType (§11.2.2.1); 60-63 are non-iSCSI extensions.
inline constexpr uint8_t kAhsTypeExtendedCdb = 1;
inline constexpr uint8_t kAhsTypeBidiReadLength = 2;

// ---------------------------------------------------------------------------------------
// ParseResult: the three outcomes of decoding received bytes (see the file comment).

template <typename T>
class [[nodiscard]] ParseResult {
 public:
  ParseResult(T value) : value_(std::move(value)) {}               // NOLINT: implicit
  ParseResult(RejectReason reason) : reject_reason_(reason) {}     // NOLINT: implicit
  ParseResult(absl::Status status) : status_(std::move(status)) {  // NOLINT: implicit
    if (status_.ok()) status_ = absl::InternalError("ParseResult built from an OK status");
  }

  // ok: a decoded value is present.
  bool ok() const { return value_.has_value(); }
  // rejected: answer with a Reject PDU carrying reject_reason().
  bool rejected() const { return reject_reason_.has_value(); }
  // fatal: close the connection; status() says why.
  bool fatal() const { return !status_.ok(); }

  const absl::Status& status() const { return status_; }
  RejectReason reject_reason() const {
    CHECK(rejected()) << "reject_reason() on a ParseResult that is not a reject";
    return *reject_reason_;
  }
  const T& value() const& {
    CHECK(ok()) << "value() on a ParseResult without a value";
    return *value_;
  }
  T& value() & {
    CHECK(ok()) << "value() on a ParseResult without a value";
    return *value_;
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  std::optional<RejectReason> reject_reason_;
  absl::Status status_;
};

// ---------------------------------------------------------------------------------------
// Framing a received PDU from its BHS (§11.2.1, §11.1).

struct DigestSettings {
  bool header_digest = false;  // HeaderDigest=CRC32C negotiated
  bool data_digest = false;    // DataDigest=CRC32C negotiated

  bool operator==(const DigestSettings&) const = default;
};

struct FramingParams {
  DigestSettings digests;
  // Our declared MaxRecvDataSegmentLength on this connection.
  uint32_t max_recv_data_segment_length = kDefaultMaxRecvDataSegmentLength;

  bool operator==(const FramingParams&) const = default;
};

// Who sent the PDU being framed: targets receive initiator opcodes, test initiators the
// target ones.
enum class PduSender { kInitiator, kTarget };

// The byte layout after the BHS of one received PDU, in wire order:
// AHS, header digest, data segment, padding, data digest.
struct PduFrame {
  Opcode opcode = Opcode::kNopOut;
  bool immediate = false;
  uint32_t ahs_length = 0;            // TotalAHSLength * 4
  uint32_t header_digest_length = 0;  // 0 or kDigestLength
  uint32_t data_segment_length = 0;   // DataSegmentLength, without padding
  uint32_t padding_length = 0;        // 0..3, to a 4-byte boundary
  uint32_t data_digest_length = 0;    // 0 or kDigestLength; 0 when there is no data
  // When set, read and discard the remaining bytes, then answer with a Reject PDU.
  std::optional<RejectReason> reject_reason = std::nullopt;

  // RemainingLength is the number of bytes still to read after the BHS.
  size_t RemainingLength() const {
    return size_t{ahs_length} + header_digest_length + data_segment_length + padding_length +
           data_digest_length;
  }
  // HeaderLength is the BHS plus AHS, the bytes the header digest covers.
  size_t HeaderLength() const { return kBhsLength + ahs_length; }

  bool operator==(const PduFrame&) const = default;
};

// FramePdu computes the PduFrame of the PDU whose BHS is bhs[0..47]. Fatal
// (InvalidArgument) when fewer than 48 bytes are given. Rejects, with the frame still
// filled in so the caller can skip the PDU: an opcode the sender may not send (an unassigned
// or wrong-direction opcode is a protocol error; a vendor-specific one is "command not
// supported"), and a data segment longer than max_recv_data_segment_length (protocol
// error). The header digest is checked separately (CheckHeaderDigest), once the AHS and the
// digest bytes have been read.
absl::StatusOr<PduFrame> FramePdu(absl::Span<const uint8_t> bhs, const FramingParams& params,
                                  PduSender sender = PduSender::kInitiator);

// PaddingLength is the number of zero bytes that pad a segment of `length` bytes.
constexpr uint32_t PaddingLength(size_t length) {
  return static_cast<uint32_t>((4 - (length % 4)) % 4);
}

// CheckHeaderDigest compares the digest following a header (BHS + AHS) with its CRC32C.
// A mismatch is connection-fatal (DataLoss): the framing cannot be trusted at ERL 0
// (RFC 7143 §7.8). Precondition: digest.size() >= kDigestLength.
absl::Status CheckHeaderDigest(absl::Span<const uint8_t> header, absl::Span<const uint8_t> digest);

// DataDigestMatches compares a data digest with the CRC32C of the data segment followed by
// its padding. On a mismatch the target discards the PDU and answers with a Reject PDU with
// RejectReason::kDataDigestError (§7.8). Precondition: digest.size() >= kDigestLength.
bool DataDigestMatches(absl::Span<const uint8_t> data_and_padding,
                       absl::Span<const uint8_t> digest);

// ---------------------------------------------------------------------------------------
// PDUs the target receives. Parse* checks the opcode and that `data` (the data segment
// without padding) has DataSegmentLength bytes; a mismatch is a caller bug and is reported
// as fatal InvalidArgument. `data` in the result points into the caller's buffer.
// LUNs are the 8-byte SAM LUN structure read as a big-endian integer.

// Login Request (§11.12). Byte 0 is always 0x43 (I set). During login, problems are answered
// with a Login Response status rather than a Reject; the login layer maps a reject reason
// from ParseLoginRequest to "initiator error" (class 2).
struct LoginRequest {
  bool transit_bit = false;   // T
  bool continue_bit = false;  // C
  uint8_t csg = 0;            // current stage, a LoginStage value
  uint8_t nsg = 0;            // next stage, meaningful when T is set
  uint8_t version_max = 0;
  uint8_t version_min = 0;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;
  uint32_t itt = 0;
  uint16_t cid = 0;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t data_segment_length = 0;
  absl::Span<const uint8_t> data = {};  // text key=value pairs

  bool operator==(const LoginRequest&) const = default;
};
// Rejects (kProtocolError): T and C both set, CSG reserved (2) or full feature phase, T set
// with NSG reserved or not past CSG, ITT 0xffffffff.
ParseResult<LoginRequest> ParseLoginRequest(absl::Span<const uint8_t> bhs,
                                            absl::Span<const uint8_t> data);

// Text Request (§11.10).
struct TextRequest {
  bool immediate_bit = false;  // I
  bool final_bit = false;      // F
  bool continue_bit = false;   // C
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t data_segment_length = 0;
  absl::Span<const uint8_t> data = {};

  bool operator==(const TextRequest&) const = default;
};
// Rejects (kProtocolError): F and C both set (§11.10.2), ITT 0xffffffff.
ParseResult<TextRequest> ParseTextRequest(absl::Span<const uint8_t> bhs,
                                          absl::Span<const uint8_t> data);

// SCSI Command (§11.3), with its AHSs (§11.2.2.3 Extended CDB, §11.2.2.4 Bidirectional
// Read Expected Data Transfer Length).
struct ScsiCommand {
  bool immediate_bit = false;  // I
  bool final_bit = false;      // F
  bool read_bit = false;       // R
  bool write_bit = false;      // W
  uint8_t attr = 0;            // ATTR, a TaskAttribute value
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t expected_data_transfer_length = 0;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  // The CDB: the BHS's 16 bytes plus the Extended CDB AHS, if any. Parsing without an
  // extended CDB gives cdb_length 16 (short CDBs arrive zero-padded to 16).
  std::array<uint8_t, kMaxCdbLength> cdb{};
  uint16_t cdb_length = kBhsCdbLength;
  // From the Bidirectional Read Expected Data Transfer Length AHS, when present.
  std::optional<uint32_t> bidi_read_expected_data_transfer_length = std::nullopt;
  uint32_t data_segment_length = 0;
  absl::Span<const uint8_t> data = {};  // immediate data

  absl::Span<const uint8_t> Cdb() const { return absl::MakeConstSpan(cdb.data(), cdb_length); }

  bool operator==(const ScsiCommand&) const = default;
};
// `ahs` is the TotalAHSLength * 4 bytes following the BHS. Rejects: ITT 0xffffffff,
// reserved ATTR, malformed/duplicate/reserved-type AHS, immediate data without W, or more
// immediate data than the expected length (kProtocolError); W and F both clear, or a data
// transfer length without R or W (kInvalidPduField, §11.3.1).
ParseResult<ScsiCommand> ParseScsiCommand(absl::Span<const uint8_t> bhs,
                                          absl::Span<const uint8_t> ahs,
                                          absl::Span<const uint8_t> data);

// SCSI Data-Out (§11.7).
struct DataOut {
  bool final_bit = false;  // F
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t exp_stat_sn = 0;
  uint32_t data_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t data_segment_length = 0;
  absl::Span<const uint8_t> data = {};

  bool operator==(const DataOut&) const = default;
};
// Rejects (kProtocolError): ITT 0xffffffff.
ParseResult<DataOut> ParseDataOut(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data);

// NOP-Out (§11.18).
struct NopOut {
  bool immediate_bit = false;  // I
  uint64_t lun = 0;
  uint32_t itt = kReservedTag;  // 0xffffffff: no NOP-In wanted
  uint32_t ttt = kReservedTag;  // copied from a NOP-In being answered
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t data_segment_length = 0;
  absl::Span<const uint8_t> data = {};  // ping data

  bool operator==(const NopOut&) const = default;
};
// Rejects (kProtocolError): ITT 0xffffffff without the I bit (§11.18).
ParseResult<NopOut> ParseNopOut(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data);

// Logout Request (§11.14).
struct LogoutRequest {
  bool immediate_bit = false;  // I
  LogoutReason reason_code = LogoutReason::kCloseSession;
  uint32_t itt = 0;
  uint16_t cid = 0;  // for kCloseConnection and kRemoveConnectionForRecovery
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const LogoutRequest&) const = default;
};
// Rejects (kProtocolError): reserved reason code, ITT 0xffffffff.
ParseResult<LogoutRequest> ParseLogoutRequest(absl::Span<const uint8_t> bhs,
                                              absl::Span<const uint8_t> data);

// Task Management Function Request (§11.5).
struct TaskMgmtRequest {
  bool immediate_bit = false;  // I
  TmfFunction function = TmfFunction::kAbortTask;
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t referenced_task_tag = kReservedTag;  // RTT
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t ref_cmd_sn = 0;
  uint32_t exp_data_sn = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const TaskMgmtRequest&) const = default;
};
// Rejects (kProtocolError): reserved function (0, 9-127), ITT 0xffffffff. A defined function
// the target does not implement is answered with TmfResponse::kFunctionNotSupported.
ParseResult<TaskMgmtRequest> ParseTaskMgmtRequest(absl::Span<const uint8_t> bhs,
                                                  absl::Span<const uint8_t> data);

// SNACK Request (§11.16).
struct Snack {
  SnackType type = SnackType::kDataR2t;
  uint64_t lun = 0;
  uint32_t itt = kReservedTag;
  uint32_t ttt_or_snack_tag = kReservedTag;
  uint32_t exp_stat_sn = 0;
  uint32_t beg_run = 0;
  uint32_t run_length = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const Snack&) const = default;
};
// At ErrorRecoveryLevel 0 a target does not support SNACK: every SNACK is rejected with
// kProtocolError (as Linux LIO does). At higher levels, reserved types are protocol errors.
ParseResult<Snack> ParseSnack(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data,
                              uint8_t error_recovery_level);

// ---------------------------------------------------------------------------------------
// PDUs the target sends. Encode* returns the 48-byte BHS with TotalAHSLength 0 and the
// given DataSegmentLength (CHECKed <= kMaxDataSegmentLength: our own invariant); reserved
// fields are zero and fixed bits set. Parse* of these is for test clients.

// Login Response (§11.13). Byte 0 is 0x23.
struct LoginResponse {
  bool transit_bit = false;   // T
  bool continue_bit = false;  // C
  uint8_t csg = 0;
  uint8_t nsg = 0;
  uint8_t version_max = 0;
  uint8_t version_active = 0;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;
  uint32_t itt = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint8_t status_class = 0;
  uint8_t status_detail = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const LoginResponse&) const = default;
};
Bhs EncodeLoginResponse(const LoginResponse& pdu);
absl::StatusOr<LoginResponse> ParseLoginResponse(absl::Span<const uint8_t> bhs);

// Text Response (§11.11).
struct TextResponse {
  bool final_bit = false;     // F
  bool continue_bit = false;  // C
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const TextResponse&) const = default;
};
Bhs EncodeTextResponse(const TextResponse& pdu);
absl::StatusOr<TextResponse> ParseTextResponse(absl::Span<const uint8_t> bhs);

// SCSI Response (§11.4). Byte 1 bit 7 is always set. The data segment, if any, is
// SenseLength (2 bytes) + sense data, or response data.
struct ScsiResponse {
  bool bidi_residual_overflow_bit = false;   // o
  bool bidi_residual_underflow_bit = false;  // u
  bool residual_overflow_bit = false;        // O
  bool residual_underflow_bit = false;       // U
  uint8_t response = kScsiResponseCommandCompleted;
  uint8_t status = 0;  // SCSI status, e.g. 0x02 CHECK CONDITION
  uint32_t itt = 0;
  uint32_t snack_tag = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t exp_data_sn = 0;
  uint32_t bidi_read_residual_count = 0;
  uint32_t residual_count = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const ScsiResponse&) const = default;
};
Bhs EncodeScsiResponse(const ScsiResponse& pdu);
absl::StatusOr<ScsiResponse> ParseScsiResponse(absl::Span<const uint8_t> bhs);

// SCSI Data-In (§11.7). StatSN, Status, O, U and Residual Count are only meaningful with S
// set; the encoder writes them as zero when status_bit is false. S requires F (§11.7).
struct DataIn {
  bool final_bit = false;               // F
  bool ack_bit = false;                 // A
  bool residual_overflow_bit = false;   // O
  bool residual_underflow_bit = false;  // U
  bool status_bit = false;              // S
  uint8_t status = 0;
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t data_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t residual_count = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const DataIn&) const = default;
};
Bhs EncodeDataIn(const DataIn& pdu);
absl::StatusOr<DataIn> ParseDataIn(absl::Span<const uint8_t> bhs);

// Ready To Transfer (§11.8). Carries no data segment.
struct R2t {
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t r2t_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t desired_data_transfer_length = 0;

  bool operator==(const R2t&) const = default;
};
Bhs EncodeR2t(const R2t& pdu);
absl::StatusOr<R2t> ParseR2t(absl::Span<const uint8_t> bhs);

// NOP-In (§11.19).
struct NopIn {
  uint64_t lun = 0;
  uint32_t itt = kReservedTag;
  uint32_t ttt = kReservedTag;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const NopIn&) const = default;
};
Bhs EncodeNopIn(const NopIn& pdu);
absl::StatusOr<NopIn> ParseNopIn(absl::Span<const uint8_t> bhs);

// Logout Response (§11.15).
struct LogoutResponse {
  LogoutResponseCode response = LogoutResponseCode::kClosedSuccessfully;
  uint32_t itt = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint16_t time2wait = 0;
  uint16_t time2retain = 0;

  bool operator==(const LogoutResponse&) const = default;
};
Bhs EncodeLogoutResponse(const LogoutResponse& pdu);
absl::StatusOr<LogoutResponse> ParseLogoutResponse(absl::Span<const uint8_t> bhs);

// Task Management Function Response (§11.6).
struct TaskMgmtResponse {
  TmfResponse response = TmfResponse::kFunctionComplete;
  uint32_t itt = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;

  bool operator==(const TaskMgmtResponse&) const = default;
};
Bhs EncodeTaskMgmtResponse(const TaskMgmtResponse& pdu);
absl::StatusOr<TaskMgmtResponse> ParseTaskMgmtResponse(absl::Span<const uint8_t> bhs);

// Reject (§11.17). ITT is always 0xffffffff; the data segment is the rejected PDU's BHS.
struct Reject {
  RejectReason reason = RejectReason::kProtocolError;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint32_t data_sn_or_r2t_sn = 0;  // only for rejected SNACKs; else 0
  uint32_t data_segment_length = kBhsLength;

  bool operator==(const Reject&) const = default;
};
Bhs EncodeReject(const Reject& pdu);
absl::StatusOr<Reject> ParseReject(absl::Span<const uint8_t> bhs);

// Asynchronous Message (§11.9). ITT is always 0xffffffff. For kScsiAsyncEvent the data
// segment is SenseLength + sense data.
struct AsyncMessage {
  uint64_t lun = 0;
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
  AsyncEvent async_event = AsyncEvent::kScsiAsyncEvent;
  uint8_t async_vcode = 0;
  uint16_t parameter1 = 0;
  uint16_t parameter2 = 0;
  uint16_t parameter3 = 0;
  uint32_t data_segment_length = 0;

  bool operator==(const AsyncMessage&) const = default;
};
Bhs EncodeAsyncMessage(const AsyncMessage& pdu);
absl::StatusOr<AsyncMessage> ParseAsyncMessage(absl::Span<const uint8_t> bhs);

// ---------------------------------------------------------------------------------------
// Initiator-side encoders, for tests and our own test clients. They write the fields of the
// request structs above (`data` is ignored; DataSegmentLength comes from
// data_segment_length). EncodeScsiCommand returns the BHS followed by the AHSs an extended
// CDB or a bidirectional read length needs, with TotalAHSLength set.

Bhs EncodeLoginRequest(const LoginRequest& pdu);
Bhs EncodeTextRequest(const TextRequest& pdu);
std::vector<uint8_t> EncodeScsiCommand(const ScsiCommand& pdu);
Bhs EncodeDataOut(const DataOut& pdu);
Bhs EncodeNopOut(const NopOut& pdu);
Bhs EncodeLogoutRequest(const LogoutRequest& pdu);
Bhs EncodeTaskMgmtRequest(const TaskMgmtRequest& pdu);
Bhs EncodeSnack(const Snack& pdu);

// ---------------------------------------------------------------------------------------
// Whole PDUs on the wire: header (BHS + AHS), header digest, data, zero padding to 4 bytes,
// data digest (present only when there is data). The header's TotalAHSLength and
// DataSegmentLength must match header.size() and the data; a mismatch is InvalidArgument.

// PduWireLength is the number of bytes BuildPdu writes.
size_t PduWireLength(size_t header_length, size_t data_length, const DigestSettings& digests);

// BuildPdu writes the whole PDU into `out` and returns the number of bytes written;
// OutOfRange when `out` is too small.
absl::StatusOr<size_t> BuildPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
                                const DigestSettings& digests, absl::Span<uint8_t> out);

// PduIovecs is the same PDU as an iovec list for writev/sendmsg without copying: entries
// point at the caller's header and data buffers (which must outlive the write) and at
// digests and padding held inside this object, which therefore cannot be copied or moved.
class PduIovecs {
 public:
  PduIovecs() = default;
  PduIovecs(const PduIovecs&) = delete;
  PduIovecs& operator=(const PduIovecs&) = delete;

  absl::Span<const struct iovec> iovecs() const { return iovecs_; }
  size_t total_length() const { return total_length_; }

 private:
  friend absl::Status BuildPduIovecs(absl::Span<const uint8_t> header,
                                     absl::Span<const absl::Span<const uint8_t>> data,
                                     const DigestSettings& digests, PduIovecs* out);

  std::array<uint8_t, kDigestLength> header_digest_{};
  std::array<uint8_t, 3 + kDigestLength> trailer_{};  // padding, then the data digest
  std::vector<struct iovec> iovecs_;
  size_t total_length_ = 0;
};

// BuildPduIovecs fills `out` for a PDU whose data segment is the concatenation of `data`
// (empty pieces are skipped); the data digest is computed across the pieces.
absl::Status BuildPduIovecs(absl::Span<const uint8_t> header,
                            absl::Span<const absl::Span<const uint8_t>> data,
                            const DigestSettings& digests, PduIovecs* out);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_PDU_H_
