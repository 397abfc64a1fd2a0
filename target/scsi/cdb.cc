// CDB parsing and validation (see cdb.h). One function per CDB shape; each
// fills a PreparedCommand or returns the CheckCondition with its field pointer.
#include "target/scsi/cdb.h"

#include "target/scsi/byte_order.h"
#include "target/scsi/opcodes.h"

namespace iscsi_csi::target::scsi {
namespace {

using Result = CdbParseResult;

CheckCondition InvalidOpcode() {
  return CheckCondition::Of(SenseReason::kInvalidCommandOperationCode);
}

// SBC-3 4.5: a range is valid when it ends at or before the capacity; a zero
// length at LBA == capacity is fine, one block further is not.
bool RangeFits(uint64_t lba, uint64_t blocks, uint64_t capacity) {
  return lba <= capacity && blocks <= capacity - lba;
}

// The block-range part shared by READ/WRITE/VERIFY: max transfer length
// (SBC-3 6.5.x, Block Limits VPD) first, then LBA OUT OF RANGE.
std::optional<CheckCondition> CheckTransfer(const PreparedCommand& c,
                                            const CdbLimits& limits,
                                            bool check_max_transfer) {
  if (check_max_transfer && c.blocks > limits.max_transfer_blocks) {
    return CheckCondition::InvalidFieldInCdb(c.length_field_offset);
  }
  if (!RangeFits(c.lba, c.blocks, limits.capacity_blocks)) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return std::nullopt;
}

// Reads LBA and length for the 10/12/16-byte block CDB layouts
// (SBC-3 tables 40, 44, 48 and friends).
void LoadLbaAndLength(absl::Span<const uint8_t> cdb, PreparedCommand& c) {
  switch (c.cdb_length) {
    case 10:
      c.lba = LoadBe32(&cdb[2]);
      c.blocks = LoadBe16(&cdb[7]);
      c.length_field_offset = 7;
      break;
    case 12:
      c.lba = LoadBe32(&cdb[2]);
      c.blocks = LoadBe32(&cdb[6]);
      c.length_field_offset = 6;
      break;
    default:  // 16
      c.lba = LoadBe64(&cdb[2]);
      c.blocks = LoadBe32(&cdb[10]);
      c.length_field_offset = 10;
      break;
  }
}

Result ParseReadWrite6(absl::Span<const uint8_t> cdb, PreparedCommand c,
                       const CdbLimits& limits) {
  // SBC-3 5.14 / 5.30: 21-bit LBA; TRANSFER LENGTH 0 means 256 blocks.
  c.lba = LoadBe24(&cdb[1]) & 0x1fffff;
  c.blocks = cdb[4] == 0 ? 256 : cdb[4];
  c.length_field_offset = 4;
  if (auto cc = CheckTransfer(c, limits, true)) return *cc;
  return c;
}

Result ParseReadWrite(absl::Span<const uint8_t> cdb, PreparedCommand c,
                      const CdbLimits& limits) {
  // RDPROTECT/WRPROTECT (byte 1 bits 7-5): no protection information here,
  // so any non-zero value is invalid (SBC-3 5.14.2).
  if ((cdb[1] & 0xe0) != 0) return CheckCondition::InvalidFieldInCdb(1, 7);
  c.dpo = (cdb[1] & 0x10) != 0;
  c.fua = (cdb[1] & 0x08) != 0;
  LoadLbaAndLength(cdb, c);
  if (auto cc = CheckTransfer(c, limits, true)) return *cc;
  return c;
}

Result ParseVerify(absl::Span<const uint8_t> cdb, PreparedCommand c,
                   const CdbLimits& limits) {
  if ((cdb[1] & 0xe0) != 0) return CheckCondition::InvalidFieldInCdb(1, 7);  // VRPROTECT
  c.dpo = (cdb[1] & 0x10) != 0;
  c.bytchk = (cdb[1] >> 1) & 0x03;  // SBC-3 5.33 table 97
  if (c.bytchk == 2) return CheckCondition::InvalidFieldInCdb(1, 2);
  LoadLbaAndLength(cdb, c);
  // Only a verify with data-out is bounded by the transfer limit.
  if (auto cc = CheckTransfer(c, limits, c.bytchk != 0)) return *cc;
  return c;
}

Result ParseWriteAndVerify(absl::Span<const uint8_t> cdb, PreparedCommand c,
                           const CdbLimits& limits) {
  // SBC-3 5.36-5.38 byte 1: WRPROTECT(7-5) DPO(4) BYTCHK(2-1, SBC-4 width).
  // 00b verifies the medium, 01b compares with the data-out; the others are
  // reserved for this command. There is no FUA bit: the write is made
  // durable anyway, since verifying "the medium" means stable storage.
  if ((cdb[1] & 0xe0) != 0) return CheckCondition::InvalidFieldInCdb(1, 7);
  c.dpo = (cdb[1] & 0x10) != 0;
  c.bytchk = (cdb[1] >> 1) & 0x03;
  if (c.bytchk > 1) return CheckCondition::InvalidFieldInCdb(1, 2);
  c.fua = true;
  LoadLbaAndLength(cdb, c);
  if (auto cc = CheckTransfer(c, limits, true)) return *cc;
  return c;
}

Result ParseSynchronizeCache(absl::Span<const uint8_t> cdb, PreparedCommand c,
                             const CdbLimits& limits) {
  c.immed = (cdb[1] & 0x02) != 0;
  LoadLbaAndLength(cdb, c);
  // NUMBER OF LOGICAL BLOCKS 0 means "through the last LBA" (SBC-3 5.22).
  if (!RangeFits(c.lba, c.blocks, limits.capacity_blocks)) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return c;
}

Result ParseWriteSame(absl::Span<const uint8_t> cdb, PreparedCommand c,
                      const CdbLimits& limits) {
  // SBC-3 5.42/5.43 byte 1: WRPROTECT(7-5) ANCHOR(4) UNMAP(3) PBDATA(2)
  // LBDATA(1) and, in WRITE SAME(16), NDOB(0).
  if ((cdb[1] & 0xe0) != 0) return CheckCondition::InvalidFieldInCdb(1, 7);
  if ((cdb[1] & 0x10) != 0) return CheckCondition::InvalidFieldInCdb(1, 4);  // ANC_SUP=0
  if ((cdb[1] & 0x04) != 0) return CheckCondition::InvalidFieldInCdb(1, 2);
  if ((cdb[1] & 0x02) != 0) return CheckCondition::InvalidFieldInCdb(1, 1);
  c.ndob = c.cdb_length == 16 && (cdb[1] & 0x01) != 0;
  c.unmap = (cdb[1] & 0x08) != 0;
  LoadLbaAndLength(cdb, c);
  // WSNZ=1 in the Block Limits VPD page: zero blocks is invalid.
  if (c.blocks == 0 || c.blocks > limits.max_write_same_blocks) {
    return CheckCondition::InvalidFieldInCdb(c.length_field_offset);
  }
  if (!RangeFits(c.lba, c.blocks, limits.capacity_blocks)) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return c;
}

Result ParseUnmap(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  if ((cdb[1] & 0x01) != 0) return CheckCondition::InvalidFieldInCdb(1, 0);  // ANCHOR
  c.parameter_list_length = LoadBe16(&cdb[7]);
  return c;
}

Result ParseInquiry(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  if ((cdb[1] & 0x02) != 0) return CheckCondition::InvalidFieldInCdb(1, 1);  // CMDDT
  c.evpd = (cdb[1] & 0x01) != 0;
  c.page_code = cdb[2];
  if (!c.evpd && c.page_code != 0) return CheckCondition::InvalidFieldInCdb(2);
  c.allocation_length = LoadBe16(&cdb[3]);
  return c;
}

Result ParseModeSense(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  c.dbd = (cdb[1] & 0x08) != 0;
  c.page_control = cdb[2] >> 6;
  c.page_code = cdb[2] & 0x3f;
  c.subpage_code = cdb[3];
  if (c.cdb_length == 6) {
    c.allocation_length = cdb[4];
  } else {
    c.llbaa = (cdb[1] & 0x10) != 0;
    c.allocation_length = LoadBe16(&cdb[7]);
  }
  // SPC-4 6.11: saved values are not supported.
  if (c.page_control == 3) {
    return CheckCondition::Of(SenseReason::kSavingParametersNotSupported);
  }
  return c;
}

Result ParseReadCapacity10(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SBC-3 5.16: with PMI zero the LOGICAL BLOCK ADDRESS must be zero.
  if ((cdb[8] & 0x01) == 0 && LoadBe32(&cdb[2]) != 0) {
    return CheckCondition::InvalidFieldInCdb(2);
  }
  c.allocation_length = 8;
  return c;
}

Result ParseGetLbaStatus(absl::Span<const uint8_t> cdb, PreparedCommand c,
                         const CdbLimits& limits) {
  // SBC-3 5.7: STARTING LOGICAL BLOCK ADDRESS past the last LBA is out of range.
  c.kind = CommandKind::kGetLbaStatus;
  c.lba = LoadBe64(&cdb[2]);
  c.allocation_length = LoadBe32(&cdb[10]);
  if (c.lba >= limits.capacity_blocks) return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  return c;
}

Result ParseServiceActionIn16(absl::Span<const uint8_t> cdb, PreparedCommand c,
                              const CdbLimits& limits) {
  c.service_action = cdb[1] & 0x1f;
  if (c.service_action == static_cast<uint8_t>(ServiceActionIn16::kGetLbaStatus)) {
    return ParseGetLbaStatus(cdb, c, limits);
  }
  c.kind = CommandKind::kReadCapacity16;
  if ((cdb[14] & 0x01) == 0 && LoadBe64(&cdb[2]) != 0) {
    return CheckCondition::InvalidFieldInCdb(2);
  }
  c.allocation_length = LoadBe32(&cdb[10]);
  return c;
}

Result ParseReportLuns(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  c.select_report = cdb[2];
  // SPC-4 6.33 table 277: 00h all, 01h well known only, 02h all of both.
  if (c.select_report > 0x02) return CheckCondition::InvalidFieldInCdb(2);
  c.allocation_length = LoadBe32(&cdb[6]);
  return c;
}

Result ParseCompareAndWrite(absl::Span<const uint8_t> cdb, PreparedCommand c,
                            const CdbLimits& limits) {
  // SBC-3 5.2 table 20: WRPROTECT(7-5) DPO(4) FUA(3) FUA_NV(1); LBA 2-9;
  // NUMBER OF LOGICAL BLOCKS in byte 13.
  if ((cdb[1] & 0xe0) != 0) return CheckCondition::InvalidFieldInCdb(1, 7);
  c.dpo = (cdb[1] & 0x10) != 0;
  c.fua = (cdb[1] & 0x08) != 0;
  c.lba = LoadBe64(&cdb[2]);
  c.blocks = cdb[13];
  c.length_field_offset = 13;
  if (c.blocks > limits.max_compare_and_write_blocks) {
    return CheckCondition::InvalidFieldInCdb(13);
  }
  if (!RangeFits(c.lba, c.blocks, limits.capacity_blocks)) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return c;
}

Result ParsePrefetch(absl::Span<const uint8_t> cdb, PreparedCommand c,
                     const CdbLimits& limits) {
  // SBC-3 5.10/5.11: IMMED (byte 1 bit 1); a range check and nothing else.
  c.immed = (cdb[1] & 0x02) != 0;
  LoadLbaAndLength(cdb, c);
  if (!RangeFits(c.lba, c.blocks, limits.capacity_blocks)) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return c;
}

Result ParseStartStopUnit(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SBC-3 5.25 table 76: byte 4 POWER CONDITION(7-4) NO_FLUSH(2) LOEJ(1)
  // START(0). The medium is not removable (RMB=0), so LOEJ=1 is invalid.
  c.immed = (cdb[1] & 0x01) != 0;
  c.power_condition = cdb[4] >> 4;
  c.start = (cdb[4] & 0x01) != 0;
  // 0h START_VALID, 1h ACTIVE, 2h IDLE, 3h STANDBY, 7h LU_CONTROL,
  // Ah/Bh FORCE_IDLE_0/STANDBY_0; everything else is reserved.
  switch (c.power_condition) {
    case 0x0: case 0x1: case 0x2: case 0x3: case 0x7: case 0xa: case 0xb:
      break;
    default:
      return CheckCondition::InvalidFieldInCdb(4, 7);
  }
  if (c.power_condition == 0 && (cdb[4] & 0x02) != 0) {
    return CheckCondition::InvalidFieldInCdb(4, 1);
  }
  return c;
}

Result ParseMaintenanceIn(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  c.service_action = cdb[1] & 0x1f;
  c.allocation_length = LoadBe32(&cdb[6]);
  if (c.service_action ==
      static_cast<uint8_t>(MaintenanceIn::kReportSupportedOperationCodes)) {
    // SPC-4 6.35.1 table 276.
    c.kind = CommandKind::kReportSupportedOpcodes;
    c.rctd = (cdb[2] & 0x80) != 0;
    c.reporting_options = cdb[2] & 0x07;
    if (c.reporting_options > 3) return CheckCondition::InvalidFieldInCdb(2, 2);
    c.requested_opcode = cdb[3];
    c.requested_service_action = LoadBe16(&cdb[4]);
    return c;
  }
  // REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.37).
  c.kind = CommandKind::kReportSupportedTmfs;
  c.reptd = (cdb[2] & 0x80) != 0;
  return c;
}

Result ParseModeSelect(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SPC-4 6.9/6.10: PF (byte 1 bit 4), SP (bit 0).
  c.kind = CommandKind::kModeSelect;
  c.pf = (cdb[1] & 0x10) != 0;
  c.sp = (cdb[1] & 0x01) != 0;
  c.parameter_list_length = c.cdb_length == 6 ? cdb[4] : LoadBe16(&cdb[7]);
  // No saved pages: SP=1 is an invalid field (SPC-4 6.9).
  if (c.sp) return CheckCondition::InvalidFieldInCdb(1, 0);
  // Only page-format parameters are understood.
  if (!c.pf && c.parameter_list_length != 0) return CheckCondition::InvalidFieldInCdb(1, 4);
  return c;
}

Result ParseLogSense(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SPC-4 6.8 table 150: PPC(1) SP(0); PC(7-6) PAGE CODE(5-0); SUBPAGE;
  // PARAMETER POINTER (5-6); ALLOCATION LENGTH (7-8).
  c.kind = CommandKind::kLogSense;
  if ((cdb[1] & 0x01) != 0) return CheckCondition::InvalidFieldInCdb(1, 0);  // SP
  if ((cdb[1] & 0x02) != 0) return CheckCondition::InvalidFieldInCdb(1, 1);  // PPC
  c.page_control = cdb[2] >> 6;
  c.page_code = cdb[2] & 0x3f;
  c.subpage_code = cdb[3];
  c.parameter_pointer = LoadBe16(&cdb[5]);
  c.allocation_length = LoadBe16(&cdb[7]);
  return c;
}

Result ParseReserveRelease(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SPC-2 7.21/7.22 (RESERVE/RELEASE(10)): third-party reservations
  // (3RDPTY, byte 1 bit 4) are not supported; the 6-byte forms have only
  // obsolete fields.
  if (c.cdb_length == 10 && (cdb[1] & 0x10) != 0) return CheckCondition::InvalidFieldInCdb(1, 4);
  return c;
}

Result ParsePersistentReserveIn(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SPC-4 6.13.1 table 160.
  c.kind = CommandKind::kPersistentReserveIn;
  c.service_action = cdb[1] & 0x1f;
  if (c.service_action > static_cast<uint8_t>(PrInAction::kReadFullStatus)) {
    return CheckCondition::InvalidFieldInCdb(1, 4);
  }
  c.allocation_length = LoadBe16(&cdb[7]);
  return c;
}

Result ParsePersistentReserveOut(absl::Span<const uint8_t> cdb, PreparedCommand c) {
  // SPC-4 6.14.1 table 177: SERVICE ACTION (byte 1), SCOPE(7-4) TYPE(3-0)
  // (byte 2), PARAMETER LIST LENGTH (5-8).
  c.kind = CommandKind::kPersistentReserveOut;
  c.service_action = cdb[1] & 0x1f;
  if (c.service_action > static_cast<uint8_t>(PrOutAction::kRegisterAndIgnoreExistingKey)) {
    return CheckCondition::InvalidFieldInCdb(1, 4);  // REGISTER AND MOVE not offered
  }
  c.pr_scope = cdb[2] >> 4;
  c.pr_type = cdb[2] & 0x0f;
  c.parameter_list_length = LoadBe32(&cdb[5]);
  const auto action = static_cast<PrOutAction>(c.service_action);
  const bool uses_type = action == PrOutAction::kReserve || action == PrOutAction::kRelease ||
                         action == PrOutAction::kPreempt ||
                         action == PrOutAction::kPreemptAndAbort;
  if (uses_type) {
    if (c.pr_scope != 0) return CheckCondition::InvalidFieldInCdb(2, 7);  // LU_SCOPE only
    switch (c.pr_type) {
      case 0x1: case 0x3: case 0x5: case 0x6: case 0x7: case 0x8:
        break;
      default:
        // PREEMPT without a reservation to take ignores TYPE; the state
        // machine decides (SPC-4 5.13.11.2.4).
        if (action != PrOutAction::kPreempt && action != PrOutAction::kPreemptAndAbort) {
          return CheckCondition::InvalidFieldInCdb(2, 3);
        }
    }
  }
  // SPC-4 6.14.1: the parameter list is 24 bytes for every service action
  // but REGISTER AND MOVE (and longer only with SPEC_I_PT, unsupported).
  if (c.parameter_list_length != 24) {
    return CheckCondition::Of(SenseReason::kParameterListLengthError);
  }
  return c;
}

}  // namespace

uint8_t CdbLengthForOpcode(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

CdbParseResult ParseCdb(absl::Span<const uint8_t> cdb, const CdbLimits& limits) {
  if (cdb.empty()) return InvalidOpcode();
  const uint8_t opcode = cdb[0];
  const uint8_t length = CdbLengthForOpcode(opcode);
  if (length == 0) return InvalidOpcode();

  PreparedCommand c;
  c.op = static_cast<ScsiOp>(opcode);
  c.cdb_length = length;
  if (cdb.size() < length) {
    if (FindSupportedCommand(opcode, std::nullopt) == nullptr &&
        !OpcodeHasServiceActions(opcode)) {
      return InvalidOpcode();
    }
    return CheckCondition::InvalidFieldInCdb(0);
  }
  // Only what the supported-commands table lists runs. PERSISTENT RESERVE
  // IN/OUT with an unknown service action is an invalid field (checked by
  // their parsers); other unknown service actions are unsupported commands.
  if (FindSupportedCommand(opcode, ServiceActionOf(cdb)) == nullptr &&
      c.op != ScsiOp::kPersistentReserveIn && c.op != ScsiOp::kPersistentReserveOut) {
    return InvalidOpcode();
  }

  // CONTROL byte (SAM-5 5.2): NACA needs NormACA support (INQUIRY says 0);
  // linked commands (LINK, bit 0) are obsolete and unsupported.
  const uint8_t control = cdb[length - 1];
  if ((control & 0x04) != 0) return CheckCondition::InvalidFieldInCdb(length - 1, 2);
  if ((control & 0x01) != 0) return CheckCondition::InvalidFieldInCdb(length - 1, 0);

  switch (c.op) {
    case ScsiOp::kTestUnitReady:
      c.kind = CommandKind::kTestUnitReady;
      return c;
    case ScsiOp::kRequestSense:
      c.kind = CommandKind::kRequestSense;
      c.desc = (cdb[1] & 0x01) != 0;
      c.allocation_length = cdb[4];
      return c;
    case ScsiOp::kInquiry:
      c.kind = CommandKind::kInquiry;
      return ParseInquiry(cdb, c);
    case ScsiOp::kModeSense6:
    case ScsiOp::kModeSense10:
      c.kind = CommandKind::kModeSense;
      return ParseModeSense(cdb, c);
    case ScsiOp::kReadCapacity10:
      c.kind = CommandKind::kReadCapacity10;
      return ParseReadCapacity10(cdb, c);
    case ScsiOp::kServiceActionIn16:
      return ParseServiceActionIn16(cdb, c, limits);
    case ScsiOp::kReportLuns:
      c.kind = CommandKind::kReportLuns;
      return ParseReportLuns(cdb, c);
    case ScsiOp::kRead6:
      c.kind = CommandKind::kRead;
      return ParseReadWrite6(cdb, c, limits);
    case ScsiOp::kWrite6:
      c.kind = CommandKind::kWrite;
      return ParseReadWrite6(cdb, c, limits);
    case ScsiOp::kRead10:
    case ScsiOp::kRead12:
    case ScsiOp::kRead16:
      c.kind = CommandKind::kRead;
      return ParseReadWrite(cdb, c, limits);
    case ScsiOp::kWrite10:
    case ScsiOp::kWrite12:
    case ScsiOp::kWrite16:
      c.kind = CommandKind::kWrite;
      return ParseReadWrite(cdb, c, limits);
    case ScsiOp::kWriteAndVerify10:
    case ScsiOp::kWriteAndVerify12:
    case ScsiOp::kWriteAndVerify16:
      c.kind = CommandKind::kWriteAndVerify;
      return ParseWriteAndVerify(cdb, c, limits);
    case ScsiOp::kVerify10:
    case ScsiOp::kVerify12:
    case ScsiOp::kVerify16:
      c.kind = CommandKind::kVerify;
      return ParseVerify(cdb, c, limits);
    case ScsiOp::kSynchronizeCache10:
    case ScsiOp::kSynchronizeCache16:
      c.kind = CommandKind::kSynchronizeCache;
      return ParseSynchronizeCache(cdb, c, limits);
    case ScsiOp::kWriteSame10:
    case ScsiOp::kWriteSame16:
      c.kind = CommandKind::kWriteSame;
      return ParseWriteSame(cdb, c, limits);
    case ScsiOp::kUnmap:
      c.kind = CommandKind::kUnmap;
      return ParseUnmap(cdb, c);
    case ScsiOp::kCompareAndWrite:
      c.kind = CommandKind::kCompareAndWrite;
      return ParseCompareAndWrite(cdb, c, limits);
    case ScsiOp::kOrWrite16:
      // SBC-3 5.9 ORWRITE(16): byte 1 ORPROTECT(7-5) DPO(4) FUA(3) FUA_NV(1),
      // LBA and TRANSFER LENGTH as in WRITE(16); the same checks apply.
      c.kind = CommandKind::kOrWrite;
      return ParseReadWrite(cdb, c, limits);
    case ScsiOp::kPrefetch10:
    case ScsiOp::kPrefetch16:
      c.kind = CommandKind::kPrefetch;
      return ParsePrefetch(cdb, c, limits);
    case ScsiOp::kStartStopUnit:
      c.kind = CommandKind::kStartStopUnit;
      return ParseStartStopUnit(cdb, c);
    case ScsiOp::kMaintenanceIn:
      return ParseMaintenanceIn(cdb, c);
    case ScsiOp::kModeSelect6:
    case ScsiOp::kModeSelect10:
      return ParseModeSelect(cdb, c);
    case ScsiOp::kLogSense:
      return ParseLogSense(cdb, c);
    case ScsiOp::kReserve6:
    case ScsiOp::kReserve10:
      c.kind = CommandKind::kReserve6;
      return ParseReserveRelease(cdb, c);
    case ScsiOp::kRelease6:
    case ScsiOp::kRelease10:
      c.kind = CommandKind::kRelease6;
      return ParseReserveRelease(cdb, c);
    case ScsiOp::kPersistentReserveIn:
      return ParsePersistentReserveIn(cdb, c);
    case ScsiOp::kPersistentReserveOut:
      return ParsePersistentReserveOut(cdb, c);
    default:
      return InvalidOpcode();
  }
}

}  // namespace iscsi_csi::target::scsi
