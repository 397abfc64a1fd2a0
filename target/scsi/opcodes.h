// The supported-commands table: every (operation code, service action) this
// logical unit executes, with its CDB length and CDB usage map. It is the
// single list that ParseCdb admits and that REPORT SUPPORTED OPERATION CODES
// (SPC-4 6.35) reports, so the two cannot disagree. Also encodes REPORT
// SUPPORTED TASK MANAGEMENT FUNCTIONS data (SPC-4 6.37).
#ifndef ISCSI_CSI_TARGET_SCSI_OPCODES_H_
#define ISCSI_CSI_TARGET_SCSI_OPCODES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "absl/types/span.h"
#include "target/scsi/cdb.h"
#include "target/scsi/sense.h"

namespace iscsi_csi::target::scsi {

struct SupportedCommand {
  uint8_t opcode = 0;
  bool has_service_action = false;
  uint16_t service_action = 0;
  uint8_t cdb_length = 0;
  // CDB USAGE DATA (SPC-4 6.35.3): byte 0 is the opcode, the SERVICE ACTION
  // field holds the service action, every other bit is 1 when the device
  // server evaluates it. Only the first cdb_length bytes are meaningful.
  std::array<uint8_t, 16> usage{};
};

// SupportedCommands returns the table, sorted by opcode then service action.
absl::Span<const SupportedCommand> SupportedCommands();

// OpcodeHasServiceActions is true for the opcodes whose commands are told
// apart by a service action (SERVICE ACTION IN(16), MAINTENANCE IN,
// PERSISTENT RESERVE IN/OUT).
bool OpcodeHasServiceActions(uint8_t opcode);

// ServiceActionOf returns the SERVICE ACTION field of `cdb` (byte 1 bits
// 4-0 for every opcode we have with one); nullopt for other opcodes.
std::optional<uint16_t> ServiceActionOf(absl::Span<const uint8_t> cdb);

// FindSupportedCommand returns the table row for opcode (+ service action),
// or null when we do not implement it.
const SupportedCommand* FindSupportedCommand(uint8_t opcode,
                                             std::optional<uint16_t> service_action);

// The command timeouts we report with RCTD=1 (SPC-4 6.35.4), seconds.
inline constexpr uint32_t kNominalCommandTimeoutSeconds = 0;  // not specified
inline constexpr uint32_t kRecommendedCommandTimeoutSeconds = 30;

// EncodeReportSupportedOpcodes answers REPORT SUPPORTED OPERATION CODES for
// a parsed `command` (reporting options 000b..011b).
std::variant<std::vector<uint8_t>, CheckCondition> EncodeReportSupportedOpcodes(
    const PreparedCommand& command);

// EncodeReportSupportedTmfs answers REPORT SUPPORTED TASK MANAGEMENT
// FUNCTIONS: ABORT TASK, ABORT TASK SET, CLEAR TASK SET and LOGICAL UNIT
// RESET (what the iSCSI transport implements); with REPTD the 16-byte
// extended form without timeouts.
std::vector<uint8_t> EncodeReportSupportedTmfs(const PreparedCommand& command);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_OPCODES_H_
