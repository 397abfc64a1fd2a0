// ScsiTask and ItNexus: the transport-neutral unit of work handed to a
// LogicalUnit (SAM-5 4.x "command" + "task"), and the I_T nexus it came from.
// The transport (iSCSI today) fills the request half, the logical unit fills
// the response half; nothing here knows iSCSI.
#ifndef ISCSI_CSI_TARGET_SCSI_TASK_H_
#define ISCSI_CSI_TARGET_SCSI_TASK_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "target/scsi/io_buffer.h"
#include "target/scsi/scsi_defs.h"

namespace iscsi_csi::target::scsi {

// What the transport knows about the target port a command arrived on, put
// verbatim into the Device Identification VPD page (SPC-4 7.8.6). Opaque to
// the SCSI layer.
struct TargetPortIdentity {
  // PROTOCOL IDENTIFIER (SPC-4 table 362), e.g. 5 for iSCSI.
  uint8_t protocol_identifier = 0;
  uint16_t relative_target_port_id = 1;
  uint16_t target_port_group = 0;  // 0: no target port group designator
  // SCSI name string of the target port (iSCSI: "<iqn>,t,0x<tpgt>"); empty
  // means no such designator.
  std::string target_port_name;
  // SCSI name string of the SCSI target device (iSCSI: "<iqn>"); optional.
  std::string target_device_name;
};

// ItNexus identifies one I_T nexus (an initiator port talking to a target
// port). Created by the transport once per nexus and shared by its tasks.
struct ItNexus {
  // Opaque id, unique among the live nexuses of the target. Unit attentions
  // (and later reservations) are tracked per id.
  uint64_t id = 0;
  // Initiator port name (iSCSI: "<initiator iqn>,i,0x<isid>").
  std::string initiator_port_name;
  std::shared_ptr<const TargetPortIdentity> target_port;
  // The LUN inventory this nexus may see, as 8-byte LUN fields (see
  // lun_address.h), used for REPORT LUNS. Unset: only LUN 0.
  std::shared_ptr<const std::vector<uint64_t>> reported_luns;
};

// ScsiTask is one SCSI command and its outcome. The transport owns the
// object: it must stay alive and unmoved from Submit until the completion
// callback returns, and must not touch the response fields before that.
class ScsiTask {
 public:
  ScsiTask() = default;
  ScsiTask(const ScsiTask&) = delete;
  ScsiTask& operator=(const ScsiTask&) = delete;

  // --- request (set by the transport before Submit) ---
  std::shared_ptr<const ItNexus> nexus;
  uint64_t tag = 0;  // opaque (iSCSI: ITT); for logs only
  TaskAttribute attribute = TaskAttribute::kSimple;
  DataDirection direction = DataDirection::kNone;
  // Expected data transfer length: caps the data-in the device returns.
  uint32_t expected_transfer_length = 0;
  // The whole data-out buffer (writes, UNMAP parameter lists, ...).
  IoBuffer data_out;

  // SetCdb copies a CDB of 1..kMaxCdbLength bytes; returns false otherwise.
  bool SetCdb(absl::Span<const uint8_t> cdb) {
    if (cdb.empty() || cdb.size() > kMaxCdbLength) return false;
    std::memcpy(cdb_.data(), cdb.data(), cdb.size());
    cdb_length_ = static_cast<uint16_t>(cdb.size());
    return true;
  }
  absl::Span<const uint8_t> cdb() const { return {cdb_.data(), cdb_length_}; }

  // --- response (set by the logical unit before the completion) ---
  ScsiStatus status = ScsiStatus::kGood;
  std::vector<uint8_t> sense;  // non-empty with CHECK CONDITION
  IoBuffer data_in;            // never longer than expected_transfer_length

  // --- abort ---
  // RequestAbort asks the logical unit to not start this task. Safe from any
  // thread while the task is in flight. A task that has not started its I/O
  // completes with TASK ABORTED; one already running completes normally.
  void RequestAbort() { abort_requested_.store(true, std::memory_order_release); }
  bool abort_requested() const {
    return abort_requested_.load(std::memory_order_acquire);
  }

 private:
  std::array<uint8_t, kMaxCdbLength> cdb_{};
  uint16_t cdb_length_ = 0;
  std::atomic<bool> abort_requested_{false};
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_TASK_H_
