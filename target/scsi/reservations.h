// Reservations of one logical unit: SPC-2 RESERVE/RELEASE (SPC-2 5.5,
// 7.21, 7.22) and SPC-4 persistent reservations (5.13, 6.13, 6.14) with all
// six types, APTPL, and the conflict rules of SPC-4 table 66 / SBC-3
// table 3 ("commands allowed in the presence of various reservations").
//
// Reservations is a value type with no locking and no I/O: the logical unit
// keeps one under its reservation mutex, runs a PERSISTENT RESERVE OUT on a
// copy, persists the copy when it should survive a power loss, and only
// then swaps it in. The side effects a command has on other nexuses (unit
// attentions, task aborts) come back in PrOutOutcome for the logical unit to
// carry out.
//
// An I_T nexus is identified for reservations by its initiator port name and
// target port (SPC-4 5.13.1); registrations are per I_T nexus. Only
// LU_SCOPE, no SPEC_I_PT, no ALL_TG_PT, no REGISTER AND MOVE (REPORT
// CAPABILITIES says so).
//
// Persistence format (EncodeForPersistence): big-endian binary,
//   "ISCSIPR1" magic, u32 version (1), u32 generation, u8 reserved,
//   u8 type, u32 holder index (0xffffffff: none / all registrants),
//   u32 registration count, then per registration: u64 key, u16 relative
//   target port id, u16 + bytes initiator port name, u16 + bytes target
//   port name; then a u64 FNV-1a checksum of everything before it.
// Only written while APTPL is in force; SPC-2 reservations are never saved.
#ifndef ISCSI_CSI_TARGET_SCSI_RESERVATIONS_H_
#define ISCSI_CSI_TARGET_SCSI_RESERVATIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "target/scsi/cdb.h"
#include "target/scsi/sense.h"

namespace iscsi_csi::target::scsi {

// PERSISTENT RESERVATION TYPE codes (SPC-4 table 170).
enum class PrType : uint8_t {
  kWriteExclusive = 0x1,
  kExclusiveAccess = 0x3,
  kWriteExclusiveRegistrantsOnly = 0x5,
  kExclusiveAccessRegistrantsOnly = 0x6,
  kWriteExclusiveAllRegistrants = 0x7,
  kExclusiveAccessAllRegistrants = 0x8,
};

// PrNexus names an I_T nexus the way reservations see it.
struct PrNexus {
  std::string initiator_port;  // e.g. "iqn.x,i,0x23d000000001"
  std::string target_port;     // SCSI name of the target port; may be empty
  uint16_t relative_target_port_id = 0;
  uint8_t protocol_identifier = 0;  // for TransportIDs; not part of identity
  bool operator==(const PrNexus& o) const {
    return initiator_port == o.initiator_port && target_port == o.target_port &&
           relative_target_port_id == o.relative_target_port_id;
  }
};

struct PrRegistration {
  PrNexus nexus;
  uint64_t key = 0;
};

// What a PERSISTENT RESERVE OUT did besides its own status.
struct PrOutOutcome {
  // CHECK CONDITION to answer; RESERVATION CONFLICT when `conflict`.
  std::optional<CheckCondition> check;
  bool conflict = false;
  // Unit attentions to establish for the nexuses with these identities.
  std::vector<std::pair<PrNexus, SenseReason>> unit_attentions;
  // PREEMPT AND ABORT: abort the tasks of these I_T nexuses.
  std::vector<PrNexus> abort_nexuses;
  // The state changed in a way that must reach the state file (or the file
  // must go away because APTPL was cleared).
  bool state_changed = false;
};

// The result of PERSISTENT RESERVE IN: data, CHECK CONDITION, or conflict.
struct PrInResult {
  std::vector<uint8_t> data;
  std::optional<CheckCondition> check;
};

class Reservations {
 public:
  static constexpr size_t kMaxRegistrations = 128;

  // --- conflict check (every command but PR OUT, RESERVE, RELEASE) ---
  // True when `command` from this nexus must end in RESERVATION CONFLICT.
  bool Conflicts(const PreparedCommand& command, uint64_t nexus_id,
                 const PrNexus& nexus) const;

  // --- SPC-2 ---
  // RESERVE(6/10): true for GOOD, false for RESERVATION CONFLICT.
  bool Reserve6(uint64_t nexus_id, const PrNexus& nexus);
  // RELEASE(6/10): always GOOD (a no-op unless this nexus holds it).
  void Release6(uint64_t nexus_id);
  // Drops the SPC-2 reservation held by `nexus_id` (I_T nexus loss), or any
  // (logical unit reset) when nullopt.
  void ClearSpc2Reservation(std::optional<uint64_t> nexus_id);

  // --- persistent reservations ---
  PrInResult PersistentReserveIn(const PreparedCommand& command) const;
  PrOutOutcome PersistentReserveOut(const PreparedCommand& command,
                                    absl::Span<const uint8_t> parameters,
                                    const PrNexus& nexus, uint64_t nexus_id);

  bool aptpl() const { return aptpl_; }
  uint32_t generation() const { return generation_; }
  const std::vector<PrRegistration>& registrations() const { return registrations_; }
  std::optional<PrType> reservation_type() const { return type_; }

  // EncodeForPersistence / DecodeFromPersistence: the state file format
  // described at the top of this header. Decode sets APTPL.
  std::vector<uint8_t> EncodeForPersistence() const;
  static absl::StatusOr<Reservations> DecodeFromPersistence(absl::Span<const uint8_t> bytes);

 private:
  const PrRegistration* FindRegistration(const PrNexus& nexus) const;
  bool IsHolder(const PrNexus& nexus) const;
  bool AllRegistrantsType() const;
  // Removes registrations matching `pred` (never `keep`), returning them.
  template <typename Pred>
  std::vector<PrNexus> RemoveRegistrations(const PrNexus& keep, Pred pred);

  PrOutOutcome Register(const PrNexus& nexus, uint64_t key, uint64_t sa_key, bool ignore_key,
                        bool aptpl);
  PrOutOutcome Reserve(const PrNexus& nexus, PrType type);
  PrOutOutcome Release(const PrNexus& nexus, uint8_t type);
  PrOutOutcome Clear(const PrNexus& nexus);
  PrOutOutcome Preempt(const PrNexus& nexus, uint64_t sa_key, uint8_t type, bool abort);

  // SPC-2 reservation holder (I_T nexus id); never persisted.
  std::optional<uint64_t> spc2_holder_;

  uint32_t generation_ = 0;
  bool aptpl_ = false;
  std::vector<PrRegistration> registrations_;
  std::optional<PrType> type_;      // set while a persistent reservation exists
  std::optional<PrNexus> holder_;   // the holder; unset for all-registrants types
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_RESERVATIONS_H_
