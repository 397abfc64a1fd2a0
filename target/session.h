// Session: the full feature phase of one iSCSI session at ErrorRecoveryLevel 0 with one
// connection (MaxConnections=1), for Normal and Discovery sessions.
//
// Where the RFC 7143 rules live:
//  - CmdSN window (§4.2.2.1, §3.2.2.1): CommandWindow below. Non-immediate commands outside
//    [ExpCmdSN, MaxCmdSN] are dropped silently; inside it they run in CmdSN order (a
//    command past a gap waits); immediate ones run at once without advancing ExpCmdSN.
//    MaxCmdSN = ExpCmdSN + free queue slots - 1 (kQueueDepth tasks), never decreasing.
//  - SCSI Command and write data (§11.3, §11.7, §11.8, §13.10-§13.17): immediate data,
//    unsolicited Data-Out up to FirstBurstLength (InitialR2T/ImmediateData honoured), then
//    R2Ts of at most MaxBurstLength with at most MaxOutstandingR2T outstanding per task.
//    Data-Out checks: TTT, DataSN order, BufferOffset, the burst bounds and the F bit. A
//    bad Data-Out is answered with Reject; its task then ends in CHECK CONDITION (ABORTED
//    COMMAND, DATA PHASE ERROR and kin) once its outstanding sequences have ended, as
//    §11.17.1 requires (no within-command recovery at ERL 0).
//  - Data-In and status (§11.4, §11.7): Data-In PDUs bounded by the initiator's
//    MaxRecvDataSegmentLength, sequences bounded by MaxBurstLength, phase-collapsed status
//    (S bit) when there is no sense data, residual over/underflow against the Expected Data
//    Transfer Length, ExpDataSN in the SCSI Response.
//  - Task management (§11.5, §11.6, SAM-5 §7): ABORT TASK (with the RefCmdSN rule of
//    §11.6.1), ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET WARM/COLD RESET;
//    aborted tasks of this session get no response; the TMF response follows their end.
//  - Text (§11.10, §11.11, §13.3 SendTargets): multi-PDU responses with C bit and TTT.
//  - NOP (§11.18, §11.19), Logout (§11.14, §11.15), Async Message (§11.9).
//  - LUNs the target does not export: INQUIRY with peripheral qualifier 3, REPORT LUNS,
//    REQUEST SENSE, and LOGICAL UNIT NOT SUPPORTED for everything else (SPC-4 INQUIRY
//    peripheral qualifier, SAM-5 incorrect logical unit selection).
#ifndef ISCSI_CSI_TARGET_SESSION_H_
#define ISCSI_CSI_TARGET_SESSION_H_

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "target/connection.h"
#include "target/protocol.h"
#include "target/scsi/lun.h"
#include "target/scsi/task.h"
#include "target/stats.h"

namespace iscsi_csi::target {

// Tasks a session may have outstanding: MaxCmdSN opens the window this far.
inline constexpr uint32_t kQueueDepth = 64;

// One outstanding R2T of a write (§11.8).
struct R2tState {
  uint32_t ttt = 0;
  uint32_t r2t_sn = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t received = 0;
  uint32_t next_data_sn = 0;
};

// Task: one SCSI command of a session, from its SCSI Command PDU to its status.
struct Task {
  uint32_t itt = 0;
  uint32_t cmd_sn = 0;
  bool immediate = false;
  uint64_t lun_field = 0;
  std::shared_ptr<scsi::LogicalUnit> unit;  // null: the LUN does not exist
  scsi::ScsiTask scsi;
  bool read = false;
  bool write = false;
  uint32_t expected_length = 0;  // Expected Data Transfer Length
  uint64_t arrived_ns = 0;       // steady clock, for the latency metric

  // Write data (§11.7, §13.10-§13.14).
  uint32_t received = 0;         // Data-Out bytes accounted (stored or discarded)
  uint32_t unsolicited_end = 0;  // offset where unsolicited data ends
  bool unsolicited_done = true;
  uint32_t unsolicited_next_offset = 0;
  uint32_t unsolicited_data_sn = 0;
  uint32_t next_r2t_offset = 0;
  uint32_t next_r2t_sn = 0;
  std::vector<R2tState> r2ts;
  bool discard_data = false;  // keep the stream in sync but do not store
  bool soliciting = false;    // counted in Session::soliciting_bytes_
  // A data transfer error (digest, DataSN, offset, length): after the outstanding data
  // sequences end, the task fails with ABORTED COMMAND and this ASC/ASCQ (§11.17.1).
  std::optional<std::pair<uint8_t, uint8_t>> transport_failure;
  std::optional<scsi::SenseReason> early_failure;  // answered without the logical unit

  // Life cycle.
  bool delivered = false;                 // passed the CmdSN window
  bool submitted = false;                 // handed to the logical unit (or answered locally)
  bool aborted = false;                   // by a TMF of this session: no response
  std::optional<uint32_t> abort_tmf_itt;  // ABORT TASK waiting for this task
};

// CommandWindow: CmdSN ordering and the window (§4.2.2.1, §3.2.2.1).
class CommandWindow {
 public:
  using Work = absl::AnyInvocable<void() &&>;
  enum class Verdict { kRun, kHeld, kDropped };

  explicit CommandWindow(uint32_t exp_cmd_sn)
      : exp_cmd_sn_(exp_cmd_sn), max_cmd_sn_(exp_cmd_sn + kQueueDepth - 1) {}

  // Offer runs `work` now (immediate, or CmdSN == ExpCmdSN, followed by any held commands
  // it unblocks), holds it (CmdSN ahead of ExpCmdSN inside the window) or drops it.
  Verdict Offer(uint32_t cmd_sn, bool immediate, Work work);
  // Consume marks a CmdSN as received without work (a rejected command, or ABORT TASK's
  // RefCmdSN rule); a held command with that CmdSN is discarded.
  void Consume(uint32_t cmd_sn);
  // Recompute MaxCmdSN from the number of outstanding tasks (never decreases).
  void Update(size_t outstanding);
  bool InWindow(uint32_t cmd_sn) const;

  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t max_cmd_sn() const { return max_cmd_sn_; }

 private:
  void RunHeld();

  uint32_t exp_cmd_sn_;
  uint32_t max_cmd_sn_;
  std::map<uint32_t, Work> held_;  // by CmdSN; only looked up by exact value
  bool running_ = false;
};

class Session {
 public:
  struct Config {
    SessionParams session;
    ConnectionParams connection;
    uint16_t tsih = 0;
    std::array<uint8_t, 6> isid{};
    uint16_t cid = 0;
    uint32_t exp_cmd_sn = 0;
    uint64_t nexus_id = 0;
  };

  Session(Connection* connection, Config config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // HandlePdu processes one full-feature-phase PDU (loop thread).
  void HandlePdu(const ReceivedPdu& pdu);
  // HandleFramingReject answers a PDU the framing refused (unknown opcode, data segment
  // over our MaxRecvDataSegmentLength) and keeps the CmdSN window moving.
  void HandleFramingReject(RejectReason reason, absl::Span<const uint8_t> bhs);
  void OnTaskComplete(const std::shared_ptr<Task>& task);
  // FinishManagement answers a task management function once the logical units are done.
  void FinishManagement(uint32_t tmf_itt, bool close_after);
  // FinishLogout sends the Logout Response of a closing logout once the I_T nexus is gone
  // from every logical unit, and closes the connection after it.
  void FinishLogout(LogoutResponse response);
  void SendScsiAsyncEvent(uint64_t lun, absl::Span<const uint8_t> sense);
  // OnTick sends NOP-In pings after `interval` of silence and reports (false) a peer that
  // stayed silent for another interval.
  bool OnTick(absl::Time now, absl::Time last_receive);
  // Shutdown ends the session: tasks are aborted (on the management pool) and the host is
  // told when the session is gone.
  void Shutdown();

  bool discovery() const { return config_.session.session_type == SessionType::kDiscovery; }
  const std::string& target_name() const { return config_.session.target_name; }
  const std::string& initiator_name() const { return config_.session.initiator_name; }
  uint16_t tsih() const { return config_.tsih; }
  const ConnectionParams& connection_params() const { return config_.connection; }
  uint32_t exp_cmd_sn() const { return window_.exp_cmd_sn(); }
  uint32_t max_cmd_sn() const { return window_.max_cmd_sn(); }

 private:
  struct TextContinuation {
    uint32_t itt = 0;
    uint32_t ttt = 0;
    std::deque<std::string> pieces;
  };

  // Dispatch after the CmdSN gate.
  void HandleScsiCommand(const ReceivedPdu& pdu);
  void HandleDataOut(const ReceivedPdu& pdu);
  void HandleNopOut(const NopOut& request, std::vector<uint8_t> data);
  void HandleText(const TextRequest& request, std::vector<uint8_t> data);
  void HandleTaskManagement(const TaskMgmtRequest& request);
  void HandleLogout(const LogoutRequest& request);
  // Gate helper: run `work` when the CmdSN window allows.
  void Ordered(uint32_t cmd_sn, bool immediate, CommandWindow::Work work);
  void ConsumeCmdSnOf(absl::Span<const uint8_t> bhs);

  // Write data path.
  void Deliver(const std::shared_ptr<Task>& task);
  void Proceed(const std::shared_ptr<Task>& task);
  void SendR2ts(Task& task);
  // StartSoliciting admits a write to the R2T phase if the buffer budget allows.
  bool StartSoliciting(const std::shared_ptr<Task>& task);
  void StopSoliciting(Task& task);
  bool StoreData(Task& task, uint32_t offset, absl::Span<const uint8_t> data, bool digest_ok);
  void Submit(const std::shared_ptr<Task>& task);
  void CompleteLocally(const std::shared_ptr<Task>& task);
  void AnswerMissingLun(Task& task);

  // Responses.
  void SendTaskResponse(Task& task);
  void SendTmfResponse(uint32_t itt, TmfResponse response);
  void SendTextPiece(uint32_t itt, bool final_piece, uint32_t ttt, std::string piece);
  std::vector<std::string> SendTargetsAddresses() const;

  // Task management helpers.
  void AbortLocalTasks(std::optional<uint64_t> lun_field);
  void DropTask(const std::shared_ptr<Task>& task);
  void RunManagement(uint32_t tmf_itt, std::vector<std::shared_ptr<scsi::LogicalUnit>> units,
                     TmfFunction function, bool close_after);
  void RememberDroppedItt(uint32_t itt);

  uint32_t NewTtt();
  std::shared_ptr<const scsi::ItNexus> CurrentNexus();
  void DataOutError(Task& task, absl::Span<const uint8_t> bhs, uint8_t asc, uint8_t ascq,
                    absl::string_view what);

  Connection* const connection_;
  Config config_;
  CommandWindow window_;
  bool shut_down_ = false;

  absl::flat_hash_map<uint32_t, std::shared_ptr<Task>> tasks_;  // by ITT
  absl::flat_hash_set<uint32_t> dropped_itts_;
  std::deque<uint32_t> dropped_order_;
  uint32_t next_ttt_ = 1;

  std::shared_ptr<const scsi::ItNexus> nexus_;
  std::shared_ptr<IoStats> io_stats_;  // null for discovery sessions
  std::shared_ptr<const std::vector<uint64_t>> nexus_luns_;

  TextAccumulator text_request_;
  std::optional<TextContinuation> text_response_;
  uint32_t pending_management_ = 0;
  // Back-pressure on write data: the write lengths of the tasks soliciting data with R2Ts,
  // bounded by max_connection_buffer_bytes; tasks beyond it wait their turn in order.
  uint64_t soliciting_bytes_ = 0;
  std::deque<std::shared_ptr<Task>> waiting_to_solicit_;

  std::optional<uint32_t> ping_ttt_;
  absl::Time ping_sent_ = absl::InfinitePast();
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_SESSION_H_
