// iSCSI PDU framing, decoding and encoding (RFC 7143 §11). See pdu.h for the contract.
//
// Every BHS shares the first 20 bytes (§11.2.1):
//   0 opcode (bit 6 = I)  1 flags/opcode-specific  2..3 opcode-specific
//   4 TotalAHSLength      5..7 DataSegmentLength
//   8..15 LUN or opcode-specific                    16..19 Initiator Task Tag
// and the rest is opcode-specific; each Parse*/Encode* below lists its offsets.

#include "target/pdu.h"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "glog/logging.h"
#include "target/bytes.h"
#include "target/digest.h"

namespace iscsi_csi::target {
namespace {

// Offsets common to every BHS.
constexpr size_t kOffOpcode = 0;
constexpr size_t kOffFlags = 1;
constexpr size_t kOffTotalAhsLength = 4;
constexpr size_t kOffDataSegmentLength = 5;
constexpr size_t kOffLun = 8;
constexpr size_t kOffItt = 16;

// Offsets shared by several PDUs.
constexpr size_t kOffIsid = 8;    // Login: 6 bytes
constexpr size_t kOffTsih = 14;   // Login: 2 bytes
constexpr size_t kOffTtt = 20;    // Text, Data-Out/In, NOP, R2T, SNACK
constexpr size_t kOffCmdSn = 24;  // initiator PDUs
constexpr size_t kOffExpStatSn = 28;
constexpr size_t kOffStatSn = 24;  // target PDUs
constexpr size_t kOffExpCmdSn = 28;
constexpr size_t kOffMaxCmdSn = 32;

constexpr uint8_t kLoginCsgShift = 2;
constexpr uint8_t kStageMask = 0x03;
constexpr uint8_t kLow7Bits = 0x7f;
constexpr uint8_t kSnackTypeMask = 0x0f;
constexpr uint8_t kAhsTypeMask = 0x3f;
constexpr uint8_t kFirstExtensionAhsType = 60;

static_assert(sizeof(Bhs) == kBhsLength);
static_assert(kOffMaxCmdSn + 4 + 12 == kBhsLength);

uint8_t OpcodeOf(absl::Span<const uint8_t> bhs) { return bhs[kOffOpcode] & kOpcodeMask; }

bool Flag(absl::Span<const uint8_t> bhs, uint8_t bit) { return (bhs[kOffFlags] & bit) != 0; }

uint8_t BitIf(bool set, uint8_t bit) { return set ? bit : 0; }

std::string OpcodeName(uint8_t opcode) {
  return absl::StrCat("0x", absl::Hex(opcode, absl::kZeroPad2));
}

// CheckBhs is the fatal part of every Parse*: length and opcode.
absl::Status CheckBhs(absl::Span<const uint8_t> bhs, Opcode expected, absl::string_view what) {
  if (bhs.size() < kBhsLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse ", what, ": basic header segment has ", bhs.size(), " bytes"));
  }
  if (OpcodeOf(bhs) != static_cast<uint8_t>(expected)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse ", what, ": opcode is ", OpcodeName(OpcodeOf(bhs))));
  }
  return absl::OkStatus();
}

// CheckReceived adds the data segment length check for PDUs the target receives.
absl::Status CheckReceived(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data,
                           Opcode expected, absl::string_view what) {
  if (absl::Status status = CheckBhs(bhs, expected, what); !status.ok()) return status;
  const uint32_t data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  if (data.size() != data_segment_length) {
    return absl::InvalidArgumentError(absl::StrCat("parse ", what, ": DataSegmentLength is ",
                                                   data_segment_length, " but ", data.size(),
                                                   " data bytes were given"));
  }
  return absl::OkStatus();
}

// NewBhs starts a BHS for encoding: zeroed, opcode, byte 1, DataSegmentLength.
Bhs NewBhs(Opcode opcode, bool immediate, uint8_t flags, uint32_t data_segment_length) {
  CHECK_LE(data_segment_length, kMaxDataSegmentLength)
      << "encode opcode " << static_cast<int>(opcode);
  Bhs bhs{};
  bhs[kOffOpcode] =
      static_cast<uint8_t>(static_cast<uint8_t>(opcode) | BitIf(immediate, kImmediateBit));
  bhs[kOffFlags] = flags;
  StoreBe24(absl::MakeSpan(bhs), kOffDataSegmentLength, data_segment_length);
  return bhs;
}

std::array<uint8_t, 6> LoadIsid(absl::Span<const uint8_t> bhs) {
  std::array<uint8_t, 6> isid{};
  std::copy_n(bhs.begin() + kOffIsid, isid.size(), isid.begin());
  return isid;
}

void StoreIsid(Bhs& bhs, const std::array<uint8_t, 6>& isid) {
  std::copy(isid.begin(), isid.end(), bhs.begin() + kOffIsid);
}

bool IsInitiatorOpcode(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kNopOut:
    case Opcode::kScsiCommand:
    case Opcode::kTaskMgmtRequest:
    case Opcode::kLoginRequest:
    case Opcode::kTextRequest:
    case Opcode::kDataOut:
    case Opcode::kLogoutRequest:
    case Opcode::kSnack:
      return true;
    default:
      return false;
  }
}

bool IsTargetOpcode(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kNopIn:
    case Opcode::kScsiResponse:
    case Opcode::kTaskMgmtResponse:
    case Opcode::kLoginResponse:
    case Opcode::kTextResponse:
    case Opcode::kDataIn:
    case Opcode::kLogoutResponse:
    case Opcode::kR2t:
    case Opcode::kAsyncMessage:
    case Opcode::kReject:
      return true;
    default:
      return false;
  }
}

// OpcodeRejectReason says why `sender` may not send `opcode`, or nothing when it may.
std::optional<RejectReason> OpcodeRejectReason(uint8_t opcode, PduSender sender) {
  if (sender == PduSender::kInitiator) {
    if (IsInitiatorOpcode(opcode)) return std::nullopt;
    if (opcode >= kFirstInitiatorVendorOpcode && opcode <= kLastInitiatorVendorOpcode) {
      return RejectReason::kCommandNotSupported;
    }
    return RejectReason::kProtocolError;
  }
  if (IsTargetOpcode(opcode)) return std::nullopt;
  if (opcode >= kFirstTargetVendorOpcode && opcode <= kLastTargetVendorOpcode) {
    return RejectReason::kCommandNotSupported;
  }
  return RejectReason::kProtocolError;
}

bool IsValidStage(uint8_t stage) {
  return stage == static_cast<uint8_t>(LoginStage::kSecurityNegotiation) ||
         stage == static_cast<uint8_t>(LoginStage::kLoginOperationalNegotiation) ||
         stage == static_cast<uint8_t>(LoginStage::kFullFeaturePhase);
}

size_t RoundUp4(size_t n) { return n + PaddingLength(n); }

// CheckWireHeader validates a header (BHS + AHS) against the data about to follow it.
absl::Status CheckWireHeader(absl::Span<const uint8_t> header, size_t data_length) {
  if (header.size() < kBhsLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("build pdu: header has ", header.size(), " bytes"));
  }
  const size_t ahs_length = size_t{header[kOffTotalAhsLength]} * 4;
  if (header.size() != kBhsLength + ahs_length) {
    return absl::InvalidArgumentError(absl::StrCat("build pdu: header has ", header.size(),
                                                   " bytes but TotalAHSLength says ",
                                                   kBhsLength + ahs_length));
  }
  const uint32_t data_segment_length = LoadBe24(header, kOffDataSegmentLength);
  if (data_segment_length != data_length) {
    return absl::InvalidArgumentError(absl::StrCat("build pdu: DataSegmentLength is ",
                                                   data_segment_length, " but data has ",
                                                   data_length, " bytes"));
  }
  return absl::OkStatus();
}

constexpr std::array<uint8_t, 3> kZeroPadding{};

}  // namespace

// ---------------------------------------------------------------------------------------
// Framing and digests.

absl::StatusOr<PduFrame> FramePdu(absl::Span<const uint8_t> bhs, const FramingParams& params,
                                  PduSender sender) {
  if (bhs.size() < kBhsLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame pdu: basic header segment has ", bhs.size(), " bytes"));
  }
  PduFrame frame;
  const uint8_t opcode = OpcodeOf(bhs);
  frame.opcode = static_cast<Opcode>(opcode);
  frame.immediate = (bhs[kOffOpcode] & kImmediateBit) != 0;
  frame.ahs_length = uint32_t{bhs[kOffTotalAhsLength]} * 4;
  frame.header_digest_length = params.digests.header_digest ? kDigestLength : 0;
  frame.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  frame.padding_length = PaddingLength(frame.data_segment_length);
  frame.data_digest_length =
      (params.digests.data_digest && frame.data_segment_length > 0) ? kDigestLength : 0;

  frame.reject_reason = OpcodeRejectReason(opcode, sender);
  if (!frame.reject_reason.has_value() &&
      frame.data_segment_length > params.max_recv_data_segment_length) {
    // §11.2.1 bounds DataSegmentLength by the receiver's MaxRecvDataSegmentLength.
    frame.reject_reason = RejectReason::kProtocolError;
  }
  return frame;
}

absl::Status CheckHeaderDigest(absl::Span<const uint8_t> header, absl::Span<const uint8_t> digest) {
  if (digest.size() < kDigestLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("check header digest: digest has ", digest.size(), " bytes"));
  }
  const uint32_t received = LoadDigest(digest);
  const uint32_t computed = Crc32c(header);
  if (received != computed) {
    return absl::DataLossError(absl::StrCat("header digest mismatch: received 0x",
                                            absl::Hex(received, absl::kZeroPad8), ", computed 0x",
                                            absl::Hex(computed, absl::kZeroPad8)));
  }
  return absl::OkStatus();
}

bool DataDigestMatches(absl::Span<const uint8_t> data_and_padding,
                       absl::Span<const uint8_t> digest) {
  if (digest.size() < kDigestLength) return false;
  return LoadDigest(digest) == Crc32c(data_and_padding);
}

// ---------------------------------------------------------------------------------------
// PDUs the target receives.

// Login Request (§11.12): 1 T|C|CSG<<2|NSG, 2 Version-max, 3 Version-min, 8..13 ISID,
// 14 TSIH, 16 ITT, 20 CID, 24 CmdSN, 28 ExpStatSN.
ParseResult<LoginRequest> ParseLoginRequest(absl::Span<const uint8_t> bhs,
                                            absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kLoginRequest, "login request"); !s.ok()) {
    return s;
  }
  LoginRequest pdu;
  pdu.transit_bit = Flag(bhs, kTransitBit);
  pdu.continue_bit = Flag(bhs, kContinueBit);
  pdu.csg = (bhs[kOffFlags] >> kLoginCsgShift) & kStageMask;
  pdu.nsg = bhs[kOffFlags] & kStageMask;
  pdu.version_max = bhs[2];
  pdu.version_min = bhs[3];
  pdu.isid = LoadIsid(bhs);
  pdu.tsih = LoadBe16(bhs, kOffTsih);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.cid = LoadBe16(bhs, 20);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  pdu.data = data;

  // §11.12.2: T and C are never both set.
  if (pdu.transit_bit && pdu.continue_bit) return RejectReason::kProtocolError;
  // CSG: a login request is never in the full feature phase; 2 is a reserved code.
  if (!IsValidStage(pdu.csg) || pdu.csg == static_cast<uint8_t>(LoginStage::kFullFeaturePhase)) {
    return RejectReason::kProtocolError;
  }
  // NSG only counts with T; a transition goes forward to a defined stage.
  if (pdu.transit_bit && (!IsValidStage(pdu.nsg) || pdu.nsg <= pdu.csg)) {
    return RejectReason::kProtocolError;
  }
  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  return pdu;
}

// Text Request (§11.10): 1 F|C, 8 LUN, 16 ITT, 20 TTT, 24 CmdSN, 28 ExpStatSN.
ParseResult<TextRequest> ParseTextRequest(absl::Span<const uint8_t> bhs,
                                          absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kTextRequest, "text request"); !s.ok()) {
    return s;
  }
  TextRequest pdu;
  pdu.immediate_bit = (bhs[kOffOpcode] & kImmediateBit) != 0;
  pdu.final_bit = Flag(bhs, kFinalBit);
  pdu.continue_bit = Flag(bhs, kContinueBit);
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  pdu.data = data;
  if (pdu.final_bit && pdu.continue_bit) return RejectReason::kProtocolError;
  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  return pdu;
}

// SCSI Command (§11.3): 1 F|R|W|ATTR, 8 LUN, 16 ITT, 20 Expected Data Transfer Length,
// 24 CmdSN, 28 ExpStatSN, 32..47 CDB. Each AHS (§11.2.2): 0 AHSLength (2 bytes, counting
// the bytes after AHSType, padding excluded), 2 AHSType, 3.. AHS-specific, padded to 4.
ParseResult<ScsiCommand> ParseScsiCommand(absl::Span<const uint8_t> bhs,
                                          absl::Span<const uint8_t> ahs,
                                          absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kScsiCommand, "scsi command"); !s.ok()) {
    return s;
  }
  const size_t total_ahs_length = size_t{bhs[kOffTotalAhsLength]} * 4;
  if (ahs.size() != total_ahs_length) {
    return absl::InvalidArgumentError(absl::StrCat("parse scsi command: TotalAHSLength is ",
                                                   total_ahs_length, " bytes but ", ahs.size(),
                                                   " AHS bytes were given"));
  }
  ScsiCommand pdu;
  pdu.immediate_bit = (bhs[kOffOpcode] & kImmediateBit) != 0;
  pdu.final_bit = Flag(bhs, kFinalBit);
  pdu.read_bit = Flag(bhs, kReadBit);
  pdu.write_bit = Flag(bhs, kWriteBit);
  pdu.attr = bhs[kOffFlags] & kTaskAttributeMask;
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.expected_data_transfer_length = LoadBe32(bhs, 20);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  std::copy_n(bhs.begin() + 32, kBhsCdbLength, pdu.cdb.begin());
  pdu.cdb_length = kBhsCdbLength;
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  pdu.data = data;

  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  if (pdu.attr > static_cast<uint8_t>(TaskAttribute::kAca)) return RejectReason::kProtocolError;

  bool have_extended_cdb = false;
  size_t pos = 0;
  while (pos < ahs.size()) {
    const size_t left = ahs.size() - pos;
    if (left < 4) return RejectReason::kProtocolError;
    const uint16_t ahs_length = LoadBe16(ahs, pos);
    const uint8_t ahs_type = ahs[pos + 2] & kAhsTypeMask;
    const size_t padded = RoundUp4(size_t{3} + ahs_length);
    if (padded > left) return RejectReason::kProtocolError;
    if (ahs_type == kAhsTypeExtendedCdb) {
      // AHSLength = CDB length - 15: the reserved byte plus the CDB bytes beyond 16.
      if (have_extended_cdb || ahs_length < 2 || kBhsCdbLength + ahs_length - 1 > kMaxCdbLength) {
        return RejectReason::kProtocolError;
      }
      const size_t extra = size_t{ahs_length} - 1;
      std::copy_n(ahs.begin() + pos + 4, extra, pdu.cdb.begin() + kBhsCdbLength);
      pdu.cdb_length = static_cast<uint16_t>(kBhsCdbLength + extra);
      have_extended_cdb = true;
    } else if (ahs_type == kAhsTypeBidiReadLength) {
      // AHSLength is 5: the reserved byte and the 4-byte length.
      if (pdu.bidi_read_expected_data_transfer_length.has_value() || ahs_length != 5) {
        return RejectReason::kProtocolError;
      }
      pdu.bidi_read_expected_data_transfer_length = LoadBe32(ahs, pos + 4);
    } else if (ahs_type < kFirstExtensionAhsType) {
      return RejectReason::kProtocolError;  // reserved AHS type
    }
    // Types 60-63 are non-iSCSI extensions we do not interpret; skip them.
    pos += padded;
  }

  // §11.3.1: W and F both 0 is an error; a transfer length needs a direction.
  if (!pdu.write_bit && !pdu.final_bit) return RejectReason::kInvalidPduField;
  const bool expects_data = pdu.expected_data_transfer_length != 0 ||
                            pdu.bidi_read_expected_data_transfer_length.value_or(0) != 0;
  if (expects_data && !pdu.read_bit && !pdu.write_bit) return RejectReason::kInvalidPduField;
  // Immediate data is write data and cannot exceed what the command transfers.
  if (!data.empty() && !pdu.write_bit) return RejectReason::kProtocolError;
  if (data.size() > pdu.expected_data_transfer_length) return RejectReason::kProtocolError;
  return pdu;
}

// SCSI Data-Out (§11.7): 1 F, 8 LUN, 16 ITT, 20 TTT, 28 ExpStatSN, 36 DataSN,
// 40 Buffer Offset.
ParseResult<DataOut> ParseDataOut(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kDataOut, "data-out"); !s.ok()) {
    return s;
  }
  DataOut pdu;
  pdu.final_bit = Flag(bhs, kFinalBit);
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.data_sn = LoadBe32(bhs, 36);
  pdu.buffer_offset = LoadBe32(bhs, 40);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  pdu.data = data;
  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  return pdu;
}

// NOP-Out (§11.18): 8 LUN, 16 ITT, 20 TTT, 24 CmdSN, 28 ExpStatSN.
ParseResult<NopOut> ParseNopOut(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kNopOut, "nop-out"); !s.ok()) {
    return s;
  }
  NopOut pdu;
  pdu.immediate_bit = (bhs[kOffOpcode] & kImmediateBit) != 0;
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  pdu.data = data;
  // A NOP-Out that wants no answer (ITT 0xffffffff) must be immediate.
  if (pdu.itt == kReservedTag && !pdu.immediate_bit) return RejectReason::kProtocolError;
  return pdu;
}

// Logout Request (§11.14): 1 reason code (low 7 bits), 16 ITT, 20 CID, 24 CmdSN,
// 28 ExpStatSN.
ParseResult<LogoutRequest> ParseLogoutRequest(absl::Span<const uint8_t> bhs,
                                              absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kLogoutRequest, "logout request");
      !s.ok()) {
    return s;
  }
  LogoutRequest pdu;
  pdu.immediate_bit = (bhs[kOffOpcode] & kImmediateBit) != 0;
  const uint8_t reason = bhs[kOffFlags] & kLow7Bits;
  pdu.reason_code = static_cast<LogoutReason>(reason);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.cid = LoadBe16(bhs, 20);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  if (reason > static_cast<uint8_t>(LogoutReason::kRemoveConnectionForRecovery)) {
    return RejectReason::kProtocolError;
  }
  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  return pdu;
}

// Task Management Function Request (§11.5): 1 function (low 7 bits), 8 LUN, 16 ITT,
// 20 Referenced Task Tag, 24 CmdSN, 28 ExpStatSN, 32 RefCmdSN, 36 ExpDataSN.
ParseResult<TaskMgmtRequest> ParseTaskMgmtRequest(absl::Span<const uint8_t> bhs,
                                                  absl::Span<const uint8_t> data) {
  if (absl::Status s =
          CheckReceived(bhs, data, Opcode::kTaskMgmtRequest, "task management request");
      !s.ok()) {
    return s;
  }
  TaskMgmtRequest pdu;
  pdu.immediate_bit = (bhs[kOffOpcode] & kImmediateBit) != 0;
  const uint8_t function = bhs[kOffFlags] & kLow7Bits;
  pdu.function = static_cast<TmfFunction>(function);
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.referenced_task_tag = LoadBe32(bhs, 20);
  pdu.cmd_sn = LoadBe32(bhs, kOffCmdSn);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.ref_cmd_sn = LoadBe32(bhs, 32);
  pdu.exp_data_sn = LoadBe32(bhs, 36);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  if (function < static_cast<uint8_t>(TmfFunction::kAbortTask) ||
      function > static_cast<uint8_t>(TmfFunction::kTaskReassign)) {
    return RejectReason::kProtocolError;
  }
  if (pdu.itt == kReservedTag) return RejectReason::kProtocolError;
  return pdu;
}

// SNACK Request (§11.16): 1 type (low 4 bits), 8 LUN, 16 ITT, 20 TTT or SNACK Tag,
// 28 ExpStatSN, 40 BegRun, 44 RunLength.
ParseResult<Snack> ParseSnack(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> data,
                              uint8_t error_recovery_level) {
  if (absl::Status s = CheckReceived(bhs, data, Opcode::kSnack, "snack"); !s.ok()) return s;
  if (error_recovery_level == 0) return RejectReason::kProtocolError;
  Snack pdu;
  const uint8_t type = bhs[kOffFlags] & kSnackTypeMask;
  pdu.type = static_cast<SnackType>(type);
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt_or_snack_tag = LoadBe32(bhs, kOffTtt);
  pdu.exp_stat_sn = LoadBe32(bhs, kOffExpStatSn);
  pdu.beg_run = LoadBe32(bhs, 40);
  pdu.run_length = LoadBe32(bhs, 44);
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  if (type > static_cast<uint8_t>(SnackType::kRData)) return RejectReason::kProtocolError;
  return pdu;
}

// ---------------------------------------------------------------------------------------
// PDUs the target sends.

// Login Response (§11.13): 1 T|C|CSG<<2|NSG, 2 Version-max, 3 Version-active, 8..13 ISID,
// 14 TSIH, 16 ITT, 24 StatSN, 28 ExpCmdSN, 32 MaxCmdSN, 36 Status-Class, 37 Status-Detail.
Bhs EncodeLoginResponse(const LoginResponse& pdu) {
  const uint8_t flags = BitIf(pdu.transit_bit, kTransitBit) |
                        BitIf(pdu.continue_bit, kContinueBit) |
                        ((pdu.csg & kStageMask) << kLoginCsgShift) | (pdu.nsg & kStageMask);
  Bhs bhs = NewBhs(Opcode::kLoginResponse, false, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = pdu.version_max;
  bhs[3] = pdu.version_active;
  StoreIsid(bhs, pdu.isid);
  StoreBe16(out, kOffTsih, pdu.tsih);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  bhs[36] = pdu.status_class;
  bhs[37] = pdu.status_detail;
  return bhs;
}

absl::StatusOr<LoginResponse> ParseLoginResponse(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kLoginResponse, "login response"); !s.ok()) {
    return s;
  }
  LoginResponse pdu;
  pdu.transit_bit = Flag(bhs, kTransitBit);
  pdu.continue_bit = Flag(bhs, kContinueBit);
  pdu.csg = (bhs[kOffFlags] >> kLoginCsgShift) & kStageMask;
  pdu.nsg = bhs[kOffFlags] & kStageMask;
  pdu.version_max = bhs[2];
  pdu.version_active = bhs[3];
  pdu.isid = LoadIsid(bhs);
  pdu.tsih = LoadBe16(bhs, kOffTsih);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.status_class = bhs[36];
  pdu.status_detail = bhs[37];
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// Text Response (§11.11): 1 F|C, 8 LUN, 16 ITT, 20 TTT, 24 StatSN, 28 ExpCmdSN, 32 MaxCmdSN.
Bhs EncodeTextResponse(const TextResponse& pdu) {
  const uint8_t flags = BitIf(pdu.final_bit, kFinalBit) | BitIf(pdu.continue_bit, kContinueBit);
  Bhs bhs = NewBhs(Opcode::kTextResponse, false, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  return bhs;
}

absl::StatusOr<TextResponse> ParseTextResponse(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kTextResponse, "text response"); !s.ok()) {
    return s;
  }
  TextResponse pdu;
  pdu.final_bit = Flag(bhs, kFinalBit);
  pdu.continue_bit = Flag(bhs, kContinueBit);
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// SCSI Response (§11.4): 1 1|o|u|O|U, 2 Response, 3 Status, 16 ITT, 20 SNACK Tag, 24 StatSN,
// 28 ExpCmdSN, 32 MaxCmdSN, 36 ExpDataSN, 40 Bidirectional Read Residual Count,
// 44 Residual Count.
Bhs EncodeScsiResponse(const ScsiResponse& pdu) {
  const uint8_t flags = kFinalBit |
                        BitIf(pdu.bidi_residual_overflow_bit, kBidiResidualOverflowBit) |
                        BitIf(pdu.bidi_residual_underflow_bit, kBidiResidualUnderflowBit) |
                        BitIf(pdu.residual_overflow_bit, kResidualOverflowBit) |
                        BitIf(pdu.residual_underflow_bit, kResidualUnderflowBit);
  Bhs bhs = NewBhs(Opcode::kScsiResponse, false, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = pdu.response;
  bhs[3] = pdu.status;
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, 20, pdu.snack_tag);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  StoreBe32(out, 36, pdu.exp_data_sn);
  StoreBe32(out, 40, pdu.bidi_read_residual_count);
  StoreBe32(out, 44, pdu.residual_count);
  return bhs;
}

absl::StatusOr<ScsiResponse> ParseScsiResponse(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kScsiResponse, "scsi response"); !s.ok()) {
    return s;
  }
  ScsiResponse pdu;
  pdu.bidi_residual_overflow_bit = Flag(bhs, kBidiResidualOverflowBit);
  pdu.bidi_residual_underflow_bit = Flag(bhs, kBidiResidualUnderflowBit);
  pdu.residual_overflow_bit = Flag(bhs, kResidualOverflowBit);
  pdu.residual_underflow_bit = Flag(bhs, kResidualUnderflowBit);
  pdu.response = bhs[2];
  pdu.status = bhs[3];
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.snack_tag = LoadBe32(bhs, 20);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.exp_data_sn = LoadBe32(bhs, 36);
  pdu.bidi_read_residual_count = LoadBe32(bhs, 40);
  pdu.residual_count = LoadBe32(bhs, 44);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// SCSI Data-In (§11.7): 1 F|A|O|U|S, 3 Status, 8 LUN, 16 ITT, 20 TTT, 24 StatSN,
// 28 ExpCmdSN, 32 MaxCmdSN, 36 DataSN, 40 Buffer Offset, 44 Residual Count.
Bhs EncodeDataIn(const DataIn& pdu) {
  DCHECK(!pdu.status_bit || pdu.final_bit) << "data-in: S set without F";
  uint8_t flags = BitIf(pdu.final_bit, kFinalBit) | BitIf(pdu.ack_bit, kAckBit);
  if (pdu.status_bit) {
    flags |= kStatusBit | BitIf(pdu.residual_overflow_bit, kResidualOverflowBit) |
             BitIf(pdu.residual_underflow_bit, kResidualUnderflowBit);
  }
  Bhs bhs = NewBhs(Opcode::kDataIn, false, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  StoreBe32(out, 36, pdu.data_sn);
  StoreBe32(out, 40, pdu.buffer_offset);
  if (pdu.status_bit) {
    bhs[3] = pdu.status;
    StoreBe32(out, kOffStatSn, pdu.stat_sn);
    StoreBe32(out, 44, pdu.residual_count);
  }
  return bhs;
}

absl::StatusOr<DataIn> ParseDataIn(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kDataIn, "data-in"); !s.ok()) return s;
  DataIn pdu;
  pdu.final_bit = Flag(bhs, kFinalBit);
  pdu.ack_bit = Flag(bhs, kAckBit);
  pdu.residual_overflow_bit = Flag(bhs, kResidualOverflowBit);
  pdu.residual_underflow_bit = Flag(bhs, kResidualUnderflowBit);
  pdu.status_bit = Flag(bhs, kStatusBit);
  pdu.status = bhs[3];
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.data_sn = LoadBe32(bhs, 36);
  pdu.buffer_offset = LoadBe32(bhs, 40);
  pdu.residual_count = LoadBe32(bhs, 44);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// R2T (§11.8): 1 0x80, 8 LUN, 16 ITT, 20 TTT, 24 StatSN, 28 ExpCmdSN, 32 MaxCmdSN,
// 36 R2TSN, 40 Buffer Offset, 44 Desired Data Transfer Length.
Bhs EncodeR2t(const R2t& pdu) {
  Bhs bhs = NewBhs(Opcode::kR2t, false, kFinalBit, 0);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  StoreBe32(out, 36, pdu.r2t_sn);
  StoreBe32(out, 40, pdu.buffer_offset);
  StoreBe32(out, 44, pdu.desired_data_transfer_length);
  return bhs;
}

absl::StatusOr<R2t> ParseR2t(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kR2t, "r2t"); !s.ok()) return s;
  R2t pdu;
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.r2t_sn = LoadBe32(bhs, 36);
  pdu.buffer_offset = LoadBe32(bhs, 40);
  pdu.desired_data_transfer_length = LoadBe32(bhs, 44);
  return pdu;
}

// NOP-In (§11.19): 1 0x80, 8 LUN, 16 ITT, 20 TTT, 24 StatSN, 28 ExpCmdSN, 32 MaxCmdSN.
Bhs EncodeNopIn(const NopIn& pdu) {
  Bhs bhs = NewBhs(Opcode::kNopIn, false, kFinalBit, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  return bhs;
}

absl::StatusOr<NopIn> ParseNopIn(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kNopIn, "nop-in"); !s.ok()) return s;
  NopIn pdu;
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.ttt = LoadBe32(bhs, kOffTtt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// Logout Response (§11.15): 1 0x80, 2 Response, 16 ITT, 24 StatSN, 28 ExpCmdSN,
// 32 MaxCmdSN, 40 Time2Wait, 42 Time2Retain.
Bhs EncodeLogoutResponse(const LogoutResponse& pdu) {
  Bhs bhs = NewBhs(Opcode::kLogoutResponse, false, kFinalBit, 0);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = static_cast<uint8_t>(pdu.response);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  StoreBe16(out, 40, pdu.time2wait);
  StoreBe16(out, 42, pdu.time2retain);
  return bhs;
}

absl::StatusOr<LogoutResponse> ParseLogoutResponse(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kLogoutResponse, "logout response"); !s.ok()) {
    return s;
  }
  LogoutResponse pdu;
  pdu.response = static_cast<LogoutResponseCode>(bhs[2]);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.time2wait = LoadBe16(bhs, 40);
  pdu.time2retain = LoadBe16(bhs, 42);
  return pdu;
}

// Task Management Function Response (§11.6): 1 0x80, 2 Response, 16 ITT, 24 StatSN,
// 28 ExpCmdSN, 32 MaxCmdSN.
Bhs EncodeTaskMgmtResponse(const TaskMgmtResponse& pdu) {
  Bhs bhs = NewBhs(Opcode::kTaskMgmtResponse, false, kFinalBit, 0);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = static_cast<uint8_t>(pdu.response);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  return bhs;
}

absl::StatusOr<TaskMgmtResponse> ParseTaskMgmtResponse(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kTaskMgmtResponse, "task management response");
      !s.ok()) {
    return s;
  }
  TaskMgmtResponse pdu;
  pdu.response = static_cast<TmfResponse>(bhs[2]);
  pdu.itt = LoadBe32(bhs, kOffItt);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  return pdu;
}

// Reject (§11.17): 1 0x80, 2 Reason, 16 0xffffffff, 24 StatSN, 28 ExpCmdSN, 32 MaxCmdSN,
// 36 DataSN/R2TSN.
Bhs EncodeReject(const Reject& pdu) {
  Bhs bhs = NewBhs(Opcode::kReject, false, kFinalBit, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = static_cast<uint8_t>(pdu.reason);
  StoreBe32(out, kOffItt, kReservedTag);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  StoreBe32(out, 36, pdu.data_sn_or_r2t_sn);
  return bhs;
}

absl::StatusOr<Reject> ParseReject(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kReject, "reject"); !s.ok()) return s;
  Reject pdu;
  pdu.reason = static_cast<RejectReason>(bhs[2]);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.data_sn_or_r2t_sn = LoadBe32(bhs, 36);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// Asynchronous Message (§11.9): 1 0x80, 8 LUN, 16 0xffffffff, 24 StatSN, 28 ExpCmdSN,
// 32 MaxCmdSN, 36 AsyncEvent, 37 AsyncVCode, 38 Parameter1, 40 Parameter2, 42 Parameter3.
Bhs EncodeAsyncMessage(const AsyncMessage& pdu) {
  Bhs bhs = NewBhs(Opcode::kAsyncMessage, false, kFinalBit, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, kReservedTag);
  StoreBe32(out, kOffStatSn, pdu.stat_sn);
  StoreBe32(out, kOffExpCmdSn, pdu.exp_cmd_sn);
  StoreBe32(out, kOffMaxCmdSn, pdu.max_cmd_sn);
  bhs[36] = static_cast<uint8_t>(pdu.async_event);
  bhs[37] = pdu.async_vcode;
  StoreBe16(out, 38, pdu.parameter1);
  StoreBe16(out, 40, pdu.parameter2);
  StoreBe16(out, 42, pdu.parameter3);
  return bhs;
}

absl::StatusOr<AsyncMessage> ParseAsyncMessage(absl::Span<const uint8_t> bhs) {
  if (absl::Status s = CheckBhs(bhs, Opcode::kAsyncMessage, "async message"); !s.ok()) {
    return s;
  }
  AsyncMessage pdu;
  pdu.lun = LoadBe64(bhs, kOffLun);
  pdu.stat_sn = LoadBe32(bhs, kOffStatSn);
  pdu.exp_cmd_sn = LoadBe32(bhs, kOffExpCmdSn);
  pdu.max_cmd_sn = LoadBe32(bhs, kOffMaxCmdSn);
  pdu.async_event = static_cast<AsyncEvent>(bhs[36]);
  pdu.async_vcode = bhs[37];
  pdu.parameter1 = LoadBe16(bhs, 38);
  pdu.parameter2 = LoadBe16(bhs, 40);
  pdu.parameter3 = LoadBe16(bhs, 42);
  pdu.data_segment_length = LoadBe24(bhs, kOffDataSegmentLength);
  return pdu;
}

// ---------------------------------------------------------------------------------------
// Initiator-side encoders (offsets as in the matching Parse* above).

Bhs EncodeLoginRequest(const LoginRequest& pdu) {
  const uint8_t flags = BitIf(pdu.transit_bit, kTransitBit) |
                        BitIf(pdu.continue_bit, kContinueBit) |
                        ((pdu.csg & kStageMask) << kLoginCsgShift) | (pdu.nsg & kStageMask);
  // §11.12: the I bit is always set on a Login Request (byte 0 is 0x43).
  Bhs bhs = NewBhs(Opcode::kLoginRequest, true, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  bhs[2] = pdu.version_max;
  bhs[3] = pdu.version_min;
  StoreIsid(bhs, pdu.isid);
  StoreBe16(out, kOffTsih, pdu.tsih);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe16(out, 20, pdu.cid);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  return bhs;
}

Bhs EncodeTextRequest(const TextRequest& pdu) {
  const uint8_t flags = BitIf(pdu.final_bit, kFinalBit) | BitIf(pdu.continue_bit, kContinueBit);
  Bhs bhs = NewBhs(Opcode::kTextRequest, pdu.immediate_bit, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  return bhs;
}

std::vector<uint8_t> EncodeScsiCommand(const ScsiCommand& pdu) {
  CHECK_LE(pdu.cdb_length, kMaxCdbLength) << "encode scsi command: cdb too long";
  // The AHSs first, to know TotalAHSLength.
  std::vector<uint8_t> ahs;
  if (pdu.cdb_length > kBhsCdbLength) {
    const size_t extra = pdu.cdb_length - kBhsCdbLength;
    const uint16_t ahs_length = static_cast<uint16_t>(extra + 1);  // CDB length - 15
    const size_t start = ahs.size();
    ahs.resize(start + RoundUp4(size_t{3} + ahs_length), 0);
    StoreBe16(absl::MakeSpan(ahs), start, ahs_length);
    ahs[start + 2] = kAhsTypeExtendedCdb;
    std::copy_n(pdu.cdb.begin() + kBhsCdbLength, extra, ahs.begin() + start + 4);
  }
  if (pdu.bidi_read_expected_data_transfer_length.has_value()) {
    const size_t start = ahs.size();
    ahs.resize(start + 8, 0);
    StoreBe16(absl::MakeSpan(ahs), start, 5);
    ahs[start + 2] = kAhsTypeBidiReadLength;
    StoreBe32(absl::MakeSpan(ahs), start + 4, *pdu.bidi_read_expected_data_transfer_length);
  }
  CHECK_LE(ahs.size(), kMaxTotalAhsLength);

  const uint8_t flags = BitIf(pdu.final_bit, kFinalBit) | BitIf(pdu.read_bit, kReadBit) |
                        BitIf(pdu.write_bit, kWriteBit) | (pdu.attr & kTaskAttributeMask);
  Bhs bhs = NewBhs(Opcode::kScsiCommand, pdu.immediate_bit, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  bhs[kOffTotalAhsLength] = static_cast<uint8_t>(ahs.size() / 4);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, 20, pdu.expected_data_transfer_length);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  std::copy_n(pdu.cdb.begin(), std::min<size_t>(pdu.cdb_length, kBhsCdbLength), bhs.begin() + 32);

  // Sized up front: GCC 12 reports a false -Warray-bounds on vector::insert here.
  std::vector<uint8_t> header(kBhsLength + ahs.size());
  std::copy(bhs.begin(), bhs.end(), header.begin());
  std::copy(ahs.begin(), ahs.end(), header.begin() + kBhsLength);
  return header;
}

Bhs EncodeDataOut(const DataOut& pdu) {
  Bhs bhs =
      NewBhs(Opcode::kDataOut, false, BitIf(pdu.final_bit, kFinalBit), pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  StoreBe32(out, 36, pdu.data_sn);
  StoreBe32(out, 40, pdu.buffer_offset);
  return bhs;
}

Bhs EncodeNopOut(const NopOut& pdu) {
  Bhs bhs = NewBhs(Opcode::kNopOut, pdu.immediate_bit, kFinalBit, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  return bhs;
}

Bhs EncodeLogoutRequest(const LogoutRequest& pdu) {
  const uint8_t flags = kFinalBit | (static_cast<uint8_t>(pdu.reason_code) & kLow7Bits);
  Bhs bhs = NewBhs(Opcode::kLogoutRequest, pdu.immediate_bit, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe16(out, 20, pdu.cid);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  return bhs;
}

Bhs EncodeTaskMgmtRequest(const TaskMgmtRequest& pdu) {
  const uint8_t flags = kFinalBit | (static_cast<uint8_t>(pdu.function) & kLow7Bits);
  Bhs bhs = NewBhs(Opcode::kTaskMgmtRequest, pdu.immediate_bit, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, 20, pdu.referenced_task_tag);
  StoreBe32(out, kOffCmdSn, pdu.cmd_sn);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  StoreBe32(out, 32, pdu.ref_cmd_sn);
  StoreBe32(out, 36, pdu.exp_data_sn);
  return bhs;
}

Bhs EncodeSnack(const Snack& pdu) {
  const uint8_t flags = kFinalBit | (static_cast<uint8_t>(pdu.type) & kSnackTypeMask);
  Bhs bhs = NewBhs(Opcode::kSnack, false, flags, pdu.data_segment_length);
  const auto out = absl::MakeSpan(bhs);
  StoreBe64(out, kOffLun, pdu.lun);
  StoreBe32(out, kOffItt, pdu.itt);
  StoreBe32(out, kOffTtt, pdu.ttt_or_snack_tag);
  StoreBe32(out, kOffExpStatSn, pdu.exp_stat_sn);
  StoreBe32(out, 40, pdu.beg_run);
  StoreBe32(out, 44, pdu.run_length);
  return bhs;
}

// ---------------------------------------------------------------------------------------
// Whole PDUs.

size_t PduWireLength(size_t header_length, size_t data_length, const DigestSettings& digests) {
  size_t length = header_length + data_length + PaddingLength(data_length);
  if (digests.header_digest) length += kDigestLength;
  if (digests.data_digest && data_length > 0) length += kDigestLength;
  return length;
}

absl::StatusOr<size_t> BuildPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
                                const DigestSettings& digests, absl::Span<uint8_t> out) {
  if (absl::Status s = CheckWireHeader(header, data.size()); !s.ok()) return s;
  const size_t length = PduWireLength(header.size(), data.size(), digests);
  if (out.size() < length) {
    return absl::OutOfRangeError(
        absl::StrCat("build pdu: needs ", length, " bytes, buffer has ", out.size()));
  }
  uint8_t* p = out.data();
  std::memcpy(p, header.data(), header.size());
  p += header.size();
  if (digests.header_digest) {
    StoreDigest(absl::MakeSpan(p, kDigestLength), Crc32c(header));
    p += kDigestLength;
  }
  if (!data.empty()) {
    std::memcpy(p, data.data(), data.size());
    p += data.size();
    const uint32_t padding = PaddingLength(data.size());
    std::memset(p, 0, padding);
    p += padding;
    if (digests.data_digest) {
      const uint32_t crc =
          Crc32cExtend(Crc32c(data), absl::MakeConstSpan(kZeroPadding.data(), padding));
      StoreDigest(absl::MakeSpan(p, kDigestLength), crc);
      p += kDigestLength;
    }
  }
  return static_cast<size_t>(p - out.data());
}

absl::Status BuildPduIovecs(absl::Span<const uint8_t> header,
                            absl::Span<const absl::Span<const uint8_t>> data,
                            const DigestSettings& digests, PduIovecs* out) {
  size_t data_length = 0;
  for (const absl::Span<const uint8_t> piece : data) data_length += piece.size();
  if (absl::Status s = CheckWireHeader(header, data_length); !s.ok()) return s;

  // writev does not modify the buffers; iovec just has no const member.
  auto entry = [](const uint8_t* base, size_t length) {
    return iovec{const_cast<uint8_t*>(base), length};
  };
  out->iovecs_.clear();
  out->iovecs_.push_back(entry(header.data(), header.size()));
  if (digests.header_digest) {
    StoreDigest(absl::MakeSpan(out->header_digest_), Crc32c(header));
    out->iovecs_.push_back(entry(out->header_digest_.data(), kDigestLength));
  }
  uint32_t crc = 0;
  for (const absl::Span<const uint8_t> piece : data) {
    if (piece.empty()) continue;
    out->iovecs_.push_back(entry(piece.data(), piece.size()));
    if (digests.data_digest) crc = Crc32cExtend(crc, piece);
  }
  size_t trailer_length = 0;
  if (data_length > 0) {
    const uint32_t padding = PaddingLength(data_length);
    std::fill_n(out->trailer_.begin(), padding, 0);
    trailer_length = padding;
    if (digests.data_digest) {
      crc = Crc32cExtend(crc, absl::MakeConstSpan(kZeroPadding.data(), padding));
      StoreDigest(absl::MakeSpan(out->trailer_.data() + padding, kDigestLength), crc);
      trailer_length += kDigestLength;
    }
  }
  if (trailer_length > 0) out->iovecs_.push_back(entry(out->trailer_.data(), trailer_length));
  out->total_length_ = PduWireLength(header.size(), data_length, digests);
  return absl::OkStatus();
}

}  // namespace iscsi_csi::target
