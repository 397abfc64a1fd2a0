// The supported-commands table and the REPORT SUPPORTED OPERATION CODES /
// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS encoders (see opcodes.h).
#include "target/scsi/opcodes.h"

#include <algorithm>

#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {
namespace {

// CONTROL byte usage: NACA (bit 2) and LINK (bit 0) are evaluated (and
// refused when set, see ParseCdb).
constexpr uint8_t kC = 0x05;

SupportedCommand Cmd(uint8_t opcode, uint8_t length, std::array<uint8_t, 16> usage) {
  usage[0] = opcode;
  return SupportedCommand{opcode, false, 0, length, usage};
}
SupportedCommand CmdSa(uint8_t opcode, uint8_t sa, uint8_t length,
                       std::array<uint8_t, 16> usage) {
  usage[0] = opcode;
  usage[1] = static_cast<uint8_t>((usage[1] & 0xe0) | sa);
  return SupportedCommand{opcode, true, sa, length, usage};
}

// Byte 1 usage of the block commands: RDPROTECT/WRPROTECT (checked to be
// zero), DPO, FUA; with BYTCHK instead of FUA for the verifying ones.
constexpr uint8_t kRw = 0xf8;
constexpr uint8_t kVerifying = 0xf6;
constexpr uint8_t kFF = 0xff;

const std::vector<SupportedCommand>& Table() {
  static const std::vector<SupportedCommand>* table = [] {
    auto* t = new std::vector<SupportedCommand>{
        Cmd(0x00, 6, {0, 0, 0, 0, 0, kC}),                            // TEST UNIT READY
        Cmd(0x03, 6, {0, 0x01, 0, 0, kFF, kC}),                       // REQUEST SENSE
        Cmd(0x08, 6, {0, 0x1f, kFF, kFF, kFF, kC}),                   // READ(6)
        Cmd(0x0a, 6, {0, 0x1f, kFF, kFF, kFF, kC}),                   // WRITE(6)
        Cmd(0x12, 6, {0, 0x03, kFF, kFF, kFF, kC}),                   // INQUIRY
        Cmd(0x15, 6, {0, 0x11, 0, 0, kFF, kC}),                       // MODE SELECT(6)
        Cmd(0x16, 6, {0, 0, 0, 0, 0, kC}),                            // RESERVE(6)
        Cmd(0x17, 6, {0, 0, 0, 0, 0, kC}),                            // RELEASE(6)
        Cmd(0x1a, 6, {0, 0x08, kFF, kFF, kFF, kC}),                   // MODE SENSE(6)
        Cmd(0x1b, 6, {0, 0x01, 0, 0x0f, 0xf7, kC}),                   // START STOP UNIT
        Cmd(0x25, 10, {0, 0, kFF, kFF, kFF, kFF, 0, 0, 0x01, kC}),   // READ CAPACITY(10)
        Cmd(0x28, 10, {0, kRw, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // READ(10)
        Cmd(0x2a, 10, {0, kRw, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // WRITE(10)
        Cmd(0x2e, 10, {0, kVerifying, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // WRITE AND VERIFY(10)
        Cmd(0x2f, 10, {0, kVerifying, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // VERIFY(10)
        Cmd(0x34, 10, {0, 0x02, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // PRE-FETCH(10)
        Cmd(0x35, 10, {0, 0x02, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // SYNCHRONIZE CACHE(10)
        Cmd(0x41, 10, {0, 0xfe, kFF, kFF, kFF, kFF, 0, kFF, kFF, kC}),  // WRITE SAME(10)
        Cmd(0x42, 10, {0, 0x01, 0, 0, 0, 0, 0, kFF, kFF, kC}),          // UNMAP
        Cmd(0x4d, 10, {0, 0x03, kFF, kFF, 0, kFF, kFF, kFF, kFF, kC}),  // LOG SENSE
        Cmd(0x55, 10, {0, 0x11, 0, 0, 0, 0, 0, kFF, kFF, kC}),          // MODE SELECT(10)
        Cmd(0x56, 10, {0, 0x10, 0, 0, 0, 0, 0, 0, 0, kC}),              // RESERVE(10)
        Cmd(0x57, 10, {0, 0x10, 0, 0, 0, 0, 0, 0, 0, kC}),              // RELEASE(10)
        Cmd(0x5a, 10, {0, 0x18, kFF, kFF, 0, 0, 0, kFF, kFF, kC}),      // MODE SENSE(10)
    };
    for (uint8_t sa = 0x00; sa <= 0x03; ++sa) {  // PERSISTENT RESERVE IN
      t->push_back(CmdSa(0x5e, sa, 10, {0, 0, 0, 0, 0, 0, 0, kFF, kFF, kC}));
    }
    for (uint8_t sa = 0x00; sa <= 0x06; ++sa) {  // PERSISTENT RESERVE OUT
      t->push_back(CmdSa(0x5f, sa, 10, {0, 0, kFF, 0, 0, kFF, kFF, kFF, kFF, kC}));
    }
    const std::vector<SupportedCommand> rest = {
        Cmd(0x88, 16, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0x89, 16, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, 0, 0, kFF, 0, kC}),
        Cmd(0x8a, 16, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0x8b, 16, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0x8e, 16, {0, kVerifying, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF,
                       0, kC}),
        Cmd(0x8f, 16, {0, kVerifying, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF,
                       0, kC}),
        Cmd(0x90, 16, {0, 0x02, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0x91, 16, {0, 0x02, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0x93, 16, {0, 0xff, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        CmdSa(0x9e, 0x10, 16, {0, 0, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF,
                               0x01, kC}),  // READ CAPACITY(16)
        CmdSa(0x9e, 0x12, 16, {0, 0, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF,
                               0, kC}),  // GET LBA STATUS
        Cmd(0xa0, 12, {0, 0, kFF, 0, 0, 0, kFF, kFF, kFF, kFF, 0, kC}),  // REPORT LUNS
        CmdSa(0xa3, 0x0c, 12, {0, 0, 0x87, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),  // RSOC
        CmdSa(0xa3, 0x0d, 12, {0, 0, 0x80, 0, 0, 0, kFF, kFF, kFF, kFF, 0, kC}),  // RSTMF
        Cmd(0xa8, 12, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0xaa, 12, {0, kRw, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0xae, 12, {0, kVerifying, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
        Cmd(0xaf, 12, {0, kVerifying, kFF, kFF, kFF, kFF, kFF, kFF, kFF, kFF, 0, kC}),
    };
    t->insert(t->end(), rest.begin(), rest.end());
    return t;
  }();
  return *table;
}

void AppendTimeouts(std::vector<uint8_t>& out) {
  const size_t at = out.size();
  out.resize(at + 12, 0);
  StoreBe16(&out[at], 0x000a);  // DESCRIPTOR LENGTH
  StoreBe32(&out[at + 4], kNominalCommandTimeoutSeconds);
  StoreBe32(&out[at + 8], kRecommendedCommandTimeoutSeconds);
}

}  // namespace

absl::Span<const SupportedCommand> SupportedCommands() { return Table(); }

bool OpcodeHasServiceActions(uint8_t opcode) {
  return opcode == 0x9e || opcode == 0xa3 || opcode == 0x5e || opcode == 0x5f;
}

std::optional<uint16_t> ServiceActionOf(absl::Span<const uint8_t> cdb) {
  if (cdb.size() < 2 || !OpcodeHasServiceActions(cdb[0])) return std::nullopt;
  return static_cast<uint16_t>(cdb[1] & 0x1f);
}

const SupportedCommand* FindSupportedCommand(uint8_t opcode,
                                             std::optional<uint16_t> service_action) {
  for (const SupportedCommand& c : Table()) {
    if (c.opcode != opcode) continue;
    if (!c.has_service_action) return &c;
    if (service_action.has_value() && c.service_action == *service_action) return &c;
  }
  return nullptr;
}

std::variant<std::vector<uint8_t>, CheckCondition> EncodeReportSupportedOpcodes(
    const PreparedCommand& command) {
  std::vector<uint8_t> out;
  if (command.reporting_options == 0) {
    // All commands (SPC-4 6.35.2): COMMAND DATA LENGTH, then descriptors.
    out.resize(4, 0);
    for (const SupportedCommand& c : Table()) {
      const size_t at = out.size();
      out.resize(at + 8, 0);
      out[at] = c.opcode;
      StoreBe16(&out[at + 2], c.service_action);
      out[at + 5] = static_cast<uint8_t>((command.rctd ? 0x02 : 0) |
                                         (c.has_service_action ? 0x01 : 0));
      StoreBe16(&out[at + 6], c.cdb_length);
      if (command.rctd) AppendTimeouts(out);
    }
    StoreBe32(&out[0], static_cast<uint32_t>(out.size() - 4));
    return out;
  }
  // One command (SPC-4 6.35.3). 001b: opcode without service action;
  // 010b: opcode + service action; 011b: either.
  const uint8_t opcode = command.requested_opcode;
  const bool has_sa = OpcodeHasServiceActions(opcode);
  if (command.reporting_options == 1 && has_sa) return CheckCondition::InvalidFieldInCdb(2, 2);
  if (command.reporting_options == 2 && !has_sa) return CheckCondition::InvalidFieldInCdb(2, 2);
  const SupportedCommand* found = FindSupportedCommand(
      opcode, has_sa ? std::optional<uint16_t>(command.requested_service_action)
                     : std::nullopt);
  out.resize(4, 0);
  if (found == nullptr) {
    out[1] = 0x01;  // SUPPORT: not supported; CDB SIZE 0
    return out;
  }
  out[1] = static_cast<uint8_t>((command.rctd ? 0x80 : 0) | 0x03);  // CTDP, SUPPORT=011b
  StoreBe16(&out[2], found->cdb_length);
  out.insert(out.end(), found->usage.begin(), found->usage.begin() + found->cdb_length);
  if (command.rctd) AppendTimeouts(out);
  return out;
}

std::vector<uint8_t> EncodeReportSupportedTmfs(const PreparedCommand& command) {
  std::vector<uint8_t> out(command.reptd ? 16 : 4, 0);
  // ATS (ABORT TASK), ATSS (ABORT TASK SET), CTSS (CLEAR TASK SET), LURS
  // (LOGICAL UNIT RESET). No CLEAR ACA, QUERY TASK*, I_T NEXUS RESET.
  out[0] = 0x80 | 0x40 | 0x10 | 0x08;
  if (command.reptd) out[3] = 0x0c;  // ADDITIONAL DATA LENGTH; no timeouts
  return out;
}

}  // namespace iscsi_csi::target::scsi
