// CDB parsing: turns CDB bytes from the network into a PreparedCommand whose
// fields are validated and range-checked against the logical unit's limits
// (SPC-4 4.2, SBC-3 5.x), or into the CheckCondition to answer with. Runs
// before any I/O; never crashes on any input.
//
// Field checks follow SPC-4 4.5: defined fields with reserved or unsupported
// values are rejected with INVALID FIELD IN CDB and a field pointer; reserved
// bits are not checked (LIO, tgt and SPDK do the same).
#ifndef ISCSI_CSI_TARGET_SCSI_CDB_H_
#define ISCSI_CSI_TARGET_SCSI_CDB_H_

#include <cstdint>
#include <variant>

#include "absl/types/span.h"
#include "target/scsi/scsi_defs.h"
#include "target/scsi/sense.h"

namespace iscsi_csi::target::scsi {

// What the logical unit will do; several opcodes share one kind.
enum class CommandKind : uint8_t {
  kTestUnitReady,
  kRequestSense,
  kInquiry,
  kModeSense,
  kReadCapacity10,
  kReadCapacity16,
  kReportLuns,
  kRead,
  kWrite,
  kWriteAndVerify,
  kVerify,
  kSynchronizeCache,
  kWriteSame,
  kUnmap,
  kCompareAndWrite,
  kOrWrite,
  kGetLbaStatus,
  kPrefetch,
  kStartStopUnit,
  kReportSupportedOpcodes,
  kReportSupportedTmfs,
  kModeSelect,
  kLogSense,
  kReserve6,   // RESERVE(6)/(10): SPC-2 reservations
  kRelease6,   // RELEASE(6)/(10)
  kPersistentReserveIn,
  kPersistentReserveOut,
};

// Limits the parser checks CDB fields against (a snapshot per command).
struct CdbLimits {
  uint64_t capacity_blocks = 0;
  uint32_t max_transfer_blocks = 0;    // Block Limits VPD MAXIMUM TRANSFER LENGTH
  uint32_t max_write_same_blocks = 0;  // Block Limits VPD MAXIMUM WRITE SAME LENGTH
  uint32_t max_compare_and_write_blocks = 0;  // Block Limits VPD (byte 5)
};

// A validated command. Only the fields of its kind are meaningful.
struct PreparedCommand {
  ScsiOp op = ScsiOp::kTestUnitReady;
  CommandKind kind = CommandKind::kTestUnitReady;
  uint8_t cdb_length = 6;

  // Block commands: starting LBA and number of logical blocks (transfer,
  // verification or WRITE SAME length; SYNCHRONIZE CACHE: 0 = to the end).
  uint64_t lba = 0;
  uint32_t blocks = 0;
  bool fua = false;
  bool dpo = false;
  bool immed = false;       // SYNCHRONIZE CACHE
  uint8_t bytchk = 0;       // VERIFY: 0 medium only, 1 compare, 3 one block;
                            // WRITE AND VERIFY: 0 medium only, 1 compare
  bool unmap = false;       // WRITE SAME
  bool ndob = false;        // WRITE SAME(16): no data-out, the block is zeros
  // The byte offset of the length field in the CDB, for field pointers.
  uint8_t length_field_offset = 0;

  // Parameter/response sizing.
  uint32_t allocation_length = 0;
  uint32_t parameter_list_length = 0;  // UNMAP

  bool evpd = false;         // INQUIRY
  uint8_t page_code = 0;     // INQUIRY (VPD page), MODE SENSE
  uint8_t subpage_code = 0;  // MODE SENSE
  uint8_t page_control = 0;  // MODE SENSE: 0 current, 1 changeable, 2 default
  bool dbd = false;          // MODE SENSE: no block descriptors
  bool llbaa = false;        // MODE SENSE(10): long LBA block descriptor ok
  bool desc = false;         // REQUEST SENSE: descriptor format
  uint8_t select_report = 0; // REPORT LUNS

  // Service action (SERVICE ACTION IN(16), MAINTENANCE IN, PERSISTENT
  // RESERVE IN/OUT).
  uint8_t service_action = 0;
  // REPORT SUPPORTED OPERATION CODES (SPC-4 6.35).
  uint8_t reporting_options = 0;
  bool rctd = false;
  uint8_t requested_opcode = 0;
  uint16_t requested_service_action = 0;
  bool reptd = false;  // REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
  // MODE SELECT: PF and SP bits.
  bool pf = false;
  bool sp = false;
  // START STOP UNIT.
  bool start = false;
  uint8_t power_condition = 0;
  // PERSISTENT RESERVE OUT: SCOPE and TYPE (byte 2).
  uint8_t pr_scope = 0;
  uint8_t pr_type = 0;
  // LOG SENSE: parameter pointer.
  uint16_t parameter_pointer = 0;

  // True for commands that change the medium (refused on read-only LUNs).
  bool ModifiesMedium() const {
    return kind == CommandKind::kWrite || kind == CommandKind::kWriteAndVerify ||
           kind == CommandKind::kWriteSame || kind == CommandKind::kUnmap ||
           kind == CommandKind::kCompareAndWrite || kind == CommandKind::kOrWrite;
  }
  // True for commands that touch the backing store or may wait (run on the
  // I/O pool, never inline in Submit). PERSISTENT RESERVE OUT is here
  // because PREEMPT AND ABORT waits for the tasks it aborts and APTPL
  // writes the state file; MODE SELECT because turning WCE off flushes.
  bool UsesBackingStore() const {
    return kind == CommandKind::kRead || kind == CommandKind::kWrite ||
           kind == CommandKind::kWriteAndVerify || kind == CommandKind::kVerify ||
           kind == CommandKind::kSynchronizeCache || kind == CommandKind::kWriteSame ||
           kind == CommandKind::kUnmap || kind == CommandKind::kCompareAndWrite ||
           kind == CommandKind::kOrWrite || kind == CommandKind::kGetLbaStatus || kind == CommandKind::kPersistentReserveOut ||
           kind == CommandKind::kModeSelect;
  }
};

using CdbParseResult = std::variant<PreparedCommand, CheckCondition>;

// CdbLengthForOpcode is the CDB length implied by the opcode's group code
// (SPC-4 4.2.5.1); 0 for groups with vendor-specific or variable lengths.
uint8_t CdbLengthForOpcode(uint8_t opcode);

// ParseCdb validates `cdb` against `limits`. Opcodes (and service actions)
// missing from the supported-commands table (opcodes.h) give INVALID
// COMMAND OPERATION CODE.
CdbParseResult ParseCdb(absl::Span<const uint8_t> cdb, const CdbLimits& limits);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_CDB_H_
