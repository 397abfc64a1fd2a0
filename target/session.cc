// Session: full feature phase of one session (see session.h for where each RFC 7143 rule
// lives).
#include "target/session.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "target/bytes.h"
#include "target/scsi/cdb.h"
#include "target/scsi/lun_address.h"
#include "target/scsi/scsi_defs.h"
#include "target/scsi/sense.h"
#include "target/serial.h"

namespace iscsi_csi::target {
namespace {

// ITTs of ignored or aborted writes whose late Data-Out is dropped quietly.
constexpr size_t kMaxDroppedItts = 256;
// INQUIRY byte 0 for a LUN we do not export: peripheral qualifier 011b, type 1Fh.
constexpr uint8_t kPeripheralQualifierNotSupported = 0x7f;

std::string IsidHex(const std::array<uint8_t, 6>& isid) {
  std::string out;
  for (uint8_t b : isid) absl::StrAppendFormat(&out, "%02x", b);
  return out;
}

scsi::TaskAttribute ToScsiAttribute(uint8_t attr) {
  switch (static_cast<TaskAttribute>(attr)) {
    case TaskAttribute::kOrdered:
      return scsi::TaskAttribute::kOrdered;
    case TaskAttribute::kHeadOfQueue:
      return scsi::TaskAttribute::kHeadOfQueue;
    case TaskAttribute::kAca:
      return scsi::TaskAttribute::kAca;
    case TaskAttribute::kUntagged:  // treated as SIMPLE (§11.3.1 note)
    case TaskAttribute::kSimple:
      break;
  }
  return scsi::TaskAttribute::kSimple;
}

bool IsCommandOpcode(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kScsiCommand:
    case Opcode::kTaskMgmtRequest:
    case Opcode::kTextRequest:
    case Opcode::kNopOut:
    case Opcode::kLogoutRequest:
      return true;
    default:
      return false;
  }
}

std::vector<uint8_t> FixedSense(scsi::SenseReason reason) {
  return scsi::EncodeSense(scsi::CheckCondition::Of(reason), scsi::SenseFormat::kFixed);
}

// Sense data for a task that failed in the iSCSI transport (RFC 7143 §11.4.7.2, SPC-4
// table 28): ABORTED COMMAND with e.g. PROTOCOL SERVICE CRC ERROR (47h/05h) or DATA PHASE
// ERROR (4Bh/xxh). The SCSI layer's table has no such reasons: they belong to the transport.
std::vector<uint8_t> AbortedCommandSense(uint8_t asc, uint8_t ascq) {
  std::vector<uint8_t> sense(scsi::kFixedSenseLength, 0);
  sense[0] = 0x70;
  sense[2] = static_cast<uint8_t>(scsi::SenseKey::kAbortedCommand);
  sense[7] = static_cast<uint8_t>(scsi::kFixedSenseLength - 8);
  sense[12] = asc;
  sense[13] = ascq;
  return sense;
}

uint64_t SteadyNanoseconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The metric a command counts under: data reads and writes by opcode, the rest "other".
IoOp IoOpOf(const scsi::ScsiTask& task) {
  const absl::Span<const uint8_t> cdb = task.cdb();
  if (cdb.empty()) return IoOp::kOther;
  switch (static_cast<scsi::ScsiOp>(cdb[0])) {
    case scsi::ScsiOp::kRead6:
    case scsi::ScsiOp::kRead10:
    case scsi::ScsiOp::kRead12:
    case scsi::ScsiOp::kRead16:
      return IoOp::kRead;
    case scsi::ScsiOp::kWrite6:
    case scsi::ScsiOp::kWrite10:
    case scsi::ScsiOp::kWrite12:
    case scsi::ScsiOp::kWrite16:
    case scsi::ScsiOp::kWriteAndVerify10:
    case scsi::ScsiOp::kWriteAndVerify12:
    case scsi::ScsiOp::kWriteAndVerify16:
    case scsi::ScsiOp::kCompareAndWrite:
    case scsi::ScsiOp::kOrWrite16:
      return IoOp::kWrite;
    default:
      return IoOp::kOther;
  }
}

// The number of bytes the SCSI command itself transfers, when the CDB says so (block
// commands); nullopt for commands whose length depends on the device's answer.
std::optional<uint64_t> ScsiTransferLength(const Task& task) {
  if (task.unit == nullptr) return std::nullopt;
  scsi::CdbLimits limits;
  limits.capacity_blocks = uint64_t{1} << 62;
  limits.max_transfer_blocks = std::numeric_limits<uint32_t>::max();
  limits.max_write_same_blocks = std::numeric_limits<uint32_t>::max();
  limits.max_compare_and_write_blocks = 255;
  scsi::CdbParseResult parsed = scsi::ParseCdb(task.scsi.cdb(), limits);
  const auto* command = std::get_if<scsi::PreparedCommand>(&parsed);
  if (command == nullptr) return std::nullopt;
  const uint64_t block_size = task.unit->block_size();
  switch (command->kind) {
    case scsi::CommandKind::kRead:
    case scsi::CommandKind::kWrite:
    case scsi::CommandKind::kWriteAndVerify:
    case scsi::CommandKind::kOrWrite:
      return uint64_t{command->blocks} * block_size;
    case scsi::CommandKind::kCompareAndWrite:
      return 2 * uint64_t{command->blocks} * block_size;
    case scsi::CommandKind::kVerify:
      if (command->bytchk == 0) return 0;
      if (command->bytchk == 3) return block_size;
      return uint64_t{command->blocks} * block_size;
    case scsi::CommandKind::kWriteSame:
      // NDOB, or an UNMAP sent without data-out, transfers nothing.
      if (command->ndob || (command->unmap && task.expected_length == 0)) return 0;
      return block_size;
    case scsi::CommandKind::kUnmap:
      return command->parameter_list_length;
    default:
      return std::nullopt;
  }
}

// PostToSession runs `fn` on the connection's loop if the connection still has a session.
void PostToSession(std::weak_ptr<Connection> weak, EventLoop* loop,
                   absl::AnyInvocable<void(Session&) &&> fn) {
  loop->Post([weak = std::move(weak), fn = std::move(fn)]() mutable {
    std::shared_ptr<Connection> connection = weak.lock();
    if (connection == nullptr || connection->closed() || connection->session() == nullptr) {
      return;
    }
    std::move(fn)(*connection->session());
    connection->FlushIfPending();
  });
}

}  // namespace

// --- CommandWindow ----------------------------------------------------------------------

bool CommandWindow::InWindow(uint32_t cmd_sn) const {
  return SerialInWindow(cmd_sn, exp_cmd_sn_, max_cmd_sn_);
}

CommandWindow::Verdict CommandWindow::Offer(uint32_t cmd_sn, bool immediate, Work work) {
  if (immediate) {
    // §3.2.2.1: immediate delivery; the CmdSN is not advanced.
    std::move(work)();
    return Verdict::kRun;
  }
  if (!InWindow(cmd_sn)) return Verdict::kDropped;  // §4.2.2.1: silently ignored
  if (cmd_sn != exp_cmd_sn_) {
    if (held_.count(cmd_sn) > 0) return Verdict::kDropped;  // a duplicate
    held_.emplace(cmd_sn, std::move(work));
    return Verdict::kHeld;
  }
  ++exp_cmd_sn_;
  std::move(work)();
  RunHeld();
  return Verdict::kRun;
}

void CommandWindow::Consume(uint32_t cmd_sn) {
  if (!InWindow(cmd_sn)) return;
  if (cmd_sn != exp_cmd_sn_) {
    held_[cmd_sn] = [] {};
    return;
  }
  held_.erase(cmd_sn);
  ++exp_cmd_sn_;
  RunHeld();
}

void CommandWindow::RunHeld() {
  if (running_) return;  // the outer call keeps going
  running_ = true;
  for (auto it = held_.find(exp_cmd_sn_); it != held_.end(); it = held_.find(exp_cmd_sn_)) {
    Work work = std::move(it->second);
    held_.erase(it);
    ++exp_cmd_sn_;
    std::move(work)();
  }
  running_ = false;
}

void CommandWindow::Update(size_t outstanding) {
  const uint32_t free_slots =
      outstanding < kQueueDepth ? static_cast<uint32_t>(kQueueDepth - outstanding) : 0;
  const uint32_t candidate = exp_cmd_sn_ + free_slots - 1;
  // MaxCmdSN never moves back (§4.2.2.1): a full queue just stops opening the window.
  if (SerialGreater(candidate, max_cmd_sn_)) max_cmd_sn_ = candidate;
}

// --- Session ----------------------------------------------------------------------------

Session::Session(Connection* connection, Config config)
    : connection_(connection), config_(std::move(config)), window_(config_.exp_cmd_sn) {
  if (!discovery()) io_stats_ = connection_->host()->stats().ForTarget(target_name());
}

Session::~Session() = default;

std::shared_ptr<const scsi::ItNexus> Session::CurrentNexus() {
  Registry& registry = connection_->host()->registry();
  std::shared_ptr<const std::vector<uint64_t>> luns = registry.ReportedLuns(target_name());
  if (nexus_ == nullptr || luns != nexus_luns_) {
    auto nexus = std::make_shared<scsi::ItNexus>();
    nexus->id = config_.nexus_id;
    // The iSCSI initiator port name (RFC 7143 SCSI port names): "<name>,i,0x<ISID>".
    nexus->initiator_port_name = absl::StrCat(initiator_name(), ",i,0x", IsidHex(config_.isid));
    nexus->target_port = registry.PortIdentity(target_name());
    nexus->reported_luns = luns;
    nexus_ = std::move(nexus);
    nexus_luns_ = std::move(luns);
  }
  return nexus_;
}

uint32_t Session::NewTtt() {
  uint32_t ttt = next_ttt_++;
  if (ttt == kReservedTag) ttt = next_ttt_++;
  return ttt;
}

void Session::DataOutError(Task& task, absl::Span<const uint8_t> bhs, uint8_t asc, uint8_t ascq,
                           absl::string_view what) {
  LOG_EVERY_T(WARNING, 10) << connection_->LogPrefix() << " bad Data-Out for itt=" << task.itt
                           << ": " << what;
  connection_->SendReject(RejectReason::kProtocolError, bhs);
  if (!task.transport_failure.has_value()) task.transport_failure = std::make_pair(asc, ascq);
}

void Session::RememberDroppedItt(uint32_t itt) {
  if (!dropped_itts_.insert(itt).second) return;
  dropped_order_.push_back(itt);
  if (dropped_order_.size() > kMaxDroppedItts) {
    dropped_itts_.erase(dropped_order_.front());
    dropped_order_.pop_front();
  }
}

void Session::Ordered(uint32_t cmd_sn, bool immediate, CommandWindow::Work work) {
  if (window_.Offer(cmd_sn, immediate, std::move(work)) == CommandWindow::Verdict::kDropped) {
    VLOG(2) << connection_->LogPrefix() << " CmdSN " << cmd_sn << " outside ["
            << window_.exp_cmd_sn() << ", " << window_.max_cmd_sn() << "]: ignored";
  }
}

void Session::ConsumeCmdSnOf(absl::Span<const uint8_t> bhs) {
  if (bhs.size() < kBhsLength) return;
  const uint8_t opcode = bhs[0] & kOpcodeMask;
  const bool immediate = (bhs[0] & kImmediateBit) != 0;
  // A rejected command still used its CmdSN; consuming it keeps later commands flowing.
  if (IsCommandOpcode(opcode) && !immediate) window_.Consume(LoadBe32(bhs, 24));
}

void Session::HandleFramingReject(RejectReason reason, absl::Span<const uint8_t> bhs) {
  LOG_EVERY_T(WARNING, 10) << connection_->LogPrefix() << " rejecting a PDU (reason 0x"
                           << absl::StrFormat("%02x", static_cast<int>(reason)) << ")";
  connection_->SendReject(reason, bhs);
  ConsumeCmdSnOf(bhs);
}

void Session::HandlePdu(const ReceivedPdu& pdu) {
  if (shut_down_) return;
  if (discovery() && (pdu.opcode == Opcode::kScsiCommand || pdu.opcode == Opcode::kDataOut ||
                      pdu.opcode == Opcode::kTaskMgmtRequest || pdu.opcode == Opcode::kSnack)) {
    // §4.3 / §13.21: a discovery session carries only Text, NOP and Logout.
    HandleFramingReject(RejectReason::kProtocolError, pdu.bhs);
    return;
  }
  // §11.3.4 (ExpStatSN): the initiator acknowledges statuses up to ExpStatSN - 1; one
  // ahead of what we have sent is a confused peer. ERL 0 keeps no status for
  // retransmission, so this is only worth a (rate-limited) warning.
  const uint32_t exp_stat_sn = LoadBe32(pdu.bhs, 28);
  if (SerialGreater(exp_stat_sn, connection_->stat_sn())) {
    LOG_EVERY_T(WARNING, 30) << connection_->LogPrefix() << " ExpStatSN " << exp_stat_sn
                             << " is ahead of StatSN " << connection_->stat_sn();
  }
  auto reject = [&](RejectReason reason) { HandleFramingReject(reason, pdu.bhs); };
  switch (pdu.opcode) {
    case Opcode::kScsiCommand:
      HandleScsiCommand(pdu);
      return;
    case Opcode::kDataOut:
      HandleDataOut(pdu);
      return;
    case Opcode::kNopOut: {
      ParseResult<NopOut> parsed = ParseNopOut(pdu.bhs, pdu.data);
      if (parsed.fatal()) return connection_->Close(parsed.status().message());
      if (parsed.rejected()) return reject(parsed.reject_reason());
      if (!pdu.data_digest_ok) return reject(RejectReason::kDataDigestError);
      NopOut request = *parsed;
      request.data = {};
      std::vector<uint8_t> data(pdu.data.begin(), pdu.data.end());
      Ordered(request.cmd_sn, request.immediate_bit,
              [this, request, data = std::move(data)]() mutable {
                HandleNopOut(request, std::move(data));
              });
      return;
    }
    case Opcode::kTextRequest: {
      ParseResult<TextRequest> parsed = ParseTextRequest(pdu.bhs, pdu.data);
      if (parsed.fatal()) return connection_->Close(parsed.status().message());
      if (parsed.rejected()) return reject(parsed.reject_reason());
      if (!pdu.data_digest_ok) return reject(RejectReason::kDataDigestError);
      TextRequest request = *parsed;
      request.data = {};
      std::vector<uint8_t> data(pdu.data.begin(), pdu.data.end());
      Ordered(request.cmd_sn, request.immediate_bit,
              [this, request, data = std::move(data)]() mutable {
                HandleText(request, std::move(data));
              });
      return;
    }
    case Opcode::kTaskMgmtRequest: {
      ParseResult<TaskMgmtRequest> parsed = ParseTaskMgmtRequest(pdu.bhs, pdu.data);
      if (parsed.fatal()) return connection_->Close(parsed.status().message());
      if (parsed.rejected()) return reject(parsed.reject_reason());
      TaskMgmtRequest request = *parsed;
      Ordered(request.cmd_sn, request.immediate_bit,
              [this, request] { HandleTaskManagement(request); });
      return;
    }
    case Opcode::kLogoutRequest: {
      ParseResult<LogoutRequest> parsed = ParseLogoutRequest(pdu.bhs, pdu.data);
      if (parsed.fatal()) return connection_->Close(parsed.status().message());
      if (parsed.rejected()) return reject(parsed.reject_reason());
      LogoutRequest request = *parsed;
      Ordered(request.cmd_sn, request.immediate_bit, [this, request] { HandleLogout(request); });
      return;
    }
    case Opcode::kSnack: {
      // ERL 0: SNACK is not supported (ParseSnack rejects it with a protocol error).
      ParseResult<Snack> parsed =
          ParseSnack(pdu.bhs, pdu.data, static_cast<uint8_t>(config_.session.error_recovery_level));
      if (parsed.fatal()) return connection_->Close(parsed.status().message());
      return reject(parsed.rejected() ? parsed.reject_reason() : RejectReason::kProtocolError);
    }
    default:
      // A Login Request in the full feature phase, or anything else we cannot take here.
      return reject(RejectReason::kProtocolError);
  }
}

// --- SCSI Command and write data --------------------------------------------------------

void Session::HandleScsiCommand(const ReceivedPdu& pdu) {
  ParseResult<ScsiCommand> parsed = ParseScsiCommand(pdu.bhs, pdu.ahs, pdu.data);
  if (parsed.fatal()) return connection_->Close(parsed.status().message());
  if (parsed.rejected()) return HandleFramingReject(parsed.reject_reason(), pdu.bhs);
  const ScsiCommand& command = *parsed;
  const SessionParams& params = config_.session;
  VLOG(4) << connection_->LogPrefix() << " scsi command itt=" << command.itt
          << " cmd_sn=" << command.cmd_sn << " op=0x"
          << absl::StrFormat("%02x", static_cast<int>(command.cdb[0]))
          << " edtl=" << command.expected_data_transfer_length << " r=" << command.read_bit
          << " w=" << command.write_bit << " f=" << command.final_bit
          << " immediate_data=" << pdu.data.size();

  if (!command.immediate_bit && !window_.InWindow(command.cmd_sn)) {
    // §3.2.2.1: out-of-window commands are ignored; Data-Out that follows is discarded too.
    VLOG(2) << connection_->LogPrefix() << " CmdSN " << command.cmd_sn << " outside ["
            << window_.exp_cmd_sn() << ", " << window_.max_cmd_sn() << "]: command ignored";
    RememberDroppedItt(command.itt);
    return;
  }
  if (command.immediate_bit && tasks_.size() >= kQueueDepth) {
    // Immediate commands bypass the window, which is what bounds the tasks a session holds:
    // past a full queue they are refused (§11.17.1, Immediate Command Reject).
    return HandleFramingReject(RejectReason::kImmediateCommandReject, pdu.bhs);
  }
  if (tasks_.contains(command.itt)) {
    return HandleFramingReject(RejectReason::kTaskInProgress, pdu.bhs);
  }
  if (command.write_bit) {
    // §13.11 / §13.14: immediate data only when negotiated, and within FirstBurstLength.
    if ((!pdu.data.empty() && !params.immediate_data) ||
        pdu.data.size() > params.first_burst_length) {
      return HandleFramingReject(RejectReason::kProtocolError, pdu.bhs);
    }
  }

  auto task = std::make_shared<Task>();
  task->itt = command.itt;
  task->cmd_sn = command.cmd_sn;
  task->immediate = command.immediate_bit;
  task->lun_field = command.lun;
  task->read = command.read_bit;
  task->write = command.write_bit;
  task->expected_length = command.expected_data_transfer_length;
  task->arrived_ns = SteadyNanoseconds();
  if (std::optional<uint16_t> number = scsi::DecodeLun(command.lun)) {
    task->unit = connection_->host()->registry().FindLun(target_name(), *number);
  }
  scsi::ScsiTask& scsi_task = task->scsi;
  scsi_task.nexus = CurrentNexus();
  scsi_task.tag = command.itt;
  scsi_task.attribute = ToScsiAttribute(command.attr);
  if (command.read_bit && command.write_bit) {
    scsi_task.direction = scsi::DataDirection::kBidirectional;
  } else if (command.read_bit) {
    scsi_task.direction = scsi::DataDirection::kRead;
  } else if (command.write_bit) {
    scsi_task.direction = scsi::DataDirection::kWrite;
  }
  // The data-in the device may return: what the initiator will accept (§11.3.5; the
  // Bidirectional Read AHS for bidirectional commands).
  if (command.read_bit) {
    scsi_task.expected_transfer_length =
        command.write_bit ? command.bidi_read_expected_data_transfer_length.value_or(0)
                          : command.expected_data_transfer_length;
  }
  if (!scsi_task.SetCdb(command.Cdb())) {
    task->early_failure = scsi::SenseReason::kInvalidCommandOperationCode;
  }

  if (task->write) {
    const uint32_t cap = connection_->host()->options().max_connection_buffer_bytes;
    if (task->expected_length > cap) {
      // More than a connection may buffer: answer without the device, keep the stream in
      // sync by accounting (not storing) any unsolicited data.
      task->early_failure = scsi::SenseReason::kInvalidFieldInCdb;
      task->discard_data = true;
    } else {
      scsi_task.data_out.reserve(std::min<uint32_t>(task->expected_length, 1u << 20));
    }
    const uint32_t immediate = static_cast<uint32_t>(pdu.data.size());
    StoreData(*task, 0, pdu.data, pdu.data_digest_ok);
    task->received = immediate;
    task->unsolicited_next_offset = immediate;
    if (!params.initial_r2t && !command.final_bit) {
      // §13.10 / §13.14: unsolicited Data-Out follows, up to FirstBurstLength in total.
      task->unsolicited_end = std::min(params.first_burst_length, task->expected_length);
      task->unsolicited_done = immediate >= task->unsolicited_end;
    } else {
      task->unsolicited_end = immediate;
      task->unsolicited_done = true;
    }
    task->next_r2t_offset = immediate;
  }
  if (!pdu.data_digest_ok) {
    // §7.8: a data digest error on immediate data: Reject, and the task ends in CHECK
    // CONDITION once its data has been accounted for (no retry at ERL 0).
    connection_->SendReject(RejectReason::kDataDigestError, pdu.bhs);
    task->transport_failure = std::make_pair(0x47, 0x05);
  }
  tasks_[task->itt] = task;
  Ordered(command.cmd_sn, command.immediate_bit, [this, task] { Deliver(task); });
}

bool Session::StoreData(Task& task, uint32_t offset, absl::Span<const uint8_t> data,
                        bool digest_ok) {
  if (task.discard_data || !digest_ok || data.empty()) return false;
  scsi::IoBuffer& buffer = task.scsi.data_out;
  const size_t end = size_t{offset} + data.size();
  // Data arrives in order (the callers check offsets), so nothing below `offset` is left
  // unwritten; should a gap ever open, it reads as zeros rather than as old buffer bytes.
  if (buffer.size() < offset) buffer.resize(offset);
  if (buffer.size() < end) buffer.ResizeUninitialized(end);
  std::memcpy(buffer.data() + offset, data.data(), data.size());
  return true;
}

void Session::Deliver(const std::shared_ptr<Task>& task) {
  task->delivered = true;
  Proceed(task);
}

void Session::Proceed(const std::shared_ptr<Task>& task) {
  if (shut_down_ || task->submitted || task->aborted || !task->delivered) return;
  if (task->write) {
    if (!task->unsolicited_done) return;
    if (task->transport_failure.has_value()) {
      // §11.17.1: answer once every outstanding sequence has ended; solicit nothing more.
      if (task->r2ts.empty()) Submit(task);
      return;
    }
    if (task->received < task->expected_length) {
      if (StartSoliciting(task)) SendR2ts(*task);
      return;
    }
  }
  Submit(task);
}

bool Session::StartSoliciting(const std::shared_ptr<Task>& task) {
  if (task->soliciting) return true;
  const uint64_t budget = connection_->host()->options().max_connection_buffer_bytes;
  // One write always proceeds, so a single large one cannot stall the connection.
  if (soliciting_bytes_ > 0 && soliciting_bytes_ + task->expected_length > budget) {
    if (std::find(waiting_to_solicit_.begin(), waiting_to_solicit_.end(), task) ==
        waiting_to_solicit_.end()) {
      waiting_to_solicit_.push_back(task);
    }
    return false;
  }
  task->soliciting = true;
  soliciting_bytes_ += task->expected_length;
  return true;
}

void Session::StopSoliciting(Task& task) {
  if (!task.soliciting) return;
  task.soliciting = false;
  soliciting_bytes_ -= task.expected_length;
  // Admit waiting writes in arrival order while the budget allows.
  while (!waiting_to_solicit_.empty() && !shut_down_) {
    std::shared_ptr<Task> next = waiting_to_solicit_.front();
    if (next->aborted || next->submitted) {
      waiting_to_solicit_.pop_front();
      continue;
    }
    if (!StartSoliciting(next)) break;
    waiting_to_solicit_.pop_front();
    SendR2ts(*next);
  }
}

void Session::SendR2ts(Task& task) {
  const SessionParams& params = config_.session;
  const uint32_t max_outstanding = std::max<uint32_t>(1, params.max_outstanding_r2t);
  while (task.r2ts.size() < max_outstanding && task.next_r2t_offset < task.expected_length) {
    R2tState r2t;
    r2t.ttt = NewTtt();
    r2t.r2t_sn = task.next_r2t_sn++;
    r2t.offset = task.next_r2t_offset;
    // §13.13: a solicited burst is at most MaxBurstLength.
    r2t.length = std::min(params.max_burst_length, task.expected_length - task.next_r2t_offset);
    task.next_r2t_offset += r2t.length;

    R2t pdu;
    pdu.lun = task.lun_field;
    pdu.itt = task.itt;
    pdu.ttt = r2t.ttt;
    pdu.stat_sn = connection_->stat_sn();
    pdu.exp_cmd_sn = window_.exp_cmd_sn();
    pdu.max_cmd_sn = window_.max_cmd_sn();
    pdu.r2t_sn = r2t.r2t_sn;
    pdu.buffer_offset = r2t.offset;
    pdu.desired_data_transfer_length = r2t.length;
    connection_->SendPdu(EncodeR2t(pdu));
    task.r2ts.push_back(r2t);
  }
}

void Session::HandleDataOut(const ReceivedPdu& pdu) {
  ParseResult<DataOut> parsed = ParseDataOut(pdu.bhs, pdu.data);
  if (parsed.fatal()) return connection_->Close(parsed.status().message());
  if (parsed.rejected()) return HandleFramingReject(parsed.reject_reason(), pdu.bhs);
  const DataOut& data_out = *parsed;
  VLOG(4) << connection_->LogPrefix() << " data-out itt=" << data_out.itt << " ttt=" << data_out.ttt
          << " data_sn=" << data_out.data_sn << " offset=" << data_out.buffer_offset
          << " length=" << pdu.data.size() << " f=" << data_out.final_bit;

  auto it = tasks_.find(data_out.itt);
  if (it == tasks_.end()) {
    // Data for a task we ignored (out of window) or aborted is discarded quietly.
    if (dropped_itts_.contains(data_out.itt)) return;
    return HandleFramingReject(
        pdu.data_digest_ok ? RejectReason::kInvalidPduField : RejectReason::kDataDigestError,
        pdu.bhs);
  }
  std::shared_ptr<Task> task = it->second;
  if (!task->write || task->submitted) {
    return HandleFramingReject(RejectReason::kProtocolError, pdu.bhs);
  }
  const uint32_t length = static_cast<uint32_t>(pdu.data.size());
  const uint64_t end = uint64_t{data_out.buffer_offset} + length;

  // SPC-4 ASC 4Bh DATA PHASE ERROR and its qualifiers; RFC 7143 §11.4.7.2 for 0Ch/0Ch.
  constexpr uint8_t kDataPhaseError = 0x4b;
  constexpr uint8_t kInvalidTransferTag = 0x01;
  constexpr uint8_t kTooMuchWriteData = 0x02;
  constexpr uint8_t kDataOffsetError = 0x05;
  if (data_out.ttt == kReservedTag) {
    // Unsolicited data (§11.7.4: TTT 0xffffffff).
    if (task->unsolicited_done) {
      DataOutError(*task, pdu.bhs, 0x0c, 0x0c, "unexpected unsolicited data");
      return Proceed(task);
    }
    bool good = true;
    if (data_out.data_sn != task->unsolicited_data_sn) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, 0x00,
                   absl::StrCat("DataSN ", data_out.data_sn, " where ", task->unsolicited_data_sn,
                                " was expected"));
      good = false;
    } else if (data_out.buffer_offset != task->unsolicited_next_offset) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, kDataOffsetError, "BufferOffset out of order");
      good = false;
    } else if (end > task->unsolicited_end) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, kTooMuchWriteData,
                   "unsolicited data beyond FirstBurstLength");
      good = false;
    }
    if (good) StoreData(*task, data_out.buffer_offset, pdu.data, pdu.data_digest_ok);
    const uint32_t accounted =
        std::min(length, task->unsolicited_end -
                             std::min(task->unsolicited_end, task->unsolicited_next_offset));
    task->unsolicited_next_offset += accounted;
    task->received += accounted;
    task->unsolicited_data_sn = data_out.data_sn + 1;
    if (data_out.final_bit || task->unsolicited_next_offset >= task->unsolicited_end) {
      if (!data_out.final_bit && task->transport_failure == std::nullopt) {
        DataOutError(*task, pdu.bhs, kDataPhaseError, 0x00,
                     "unsolicited sequence ends without the F bit");
      }
      task->unsolicited_done = true;
      task->next_r2t_offset = task->unsolicited_next_offset;
    }
  } else {
    auto r2t = std::find_if(task->r2ts.begin(), task->r2ts.end(),
                            [&](const R2tState& r) { return r.ttt == data_out.ttt; });
    if (r2t == task->r2ts.end()) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, kInvalidTransferTag,
                   "unknown target transfer tag");
      return Proceed(task);
    }
    bool good = true;
    if (data_out.data_sn != r2t->next_data_sn) {
      DataOutError(
          *task, pdu.bhs, kDataPhaseError, 0x00,
          absl::StrCat("DataSN ", data_out.data_sn, " where ", r2t->next_data_sn, " was expected"));
      good = false;
    } else if (data_out.buffer_offset != r2t->offset + r2t->received) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, kDataOffsetError, "BufferOffset out of order");
      good = false;
    } else if (uint64_t{r2t->received} + length > r2t->length) {
      DataOutError(*task, pdu.bhs, kDataPhaseError, kTooMuchWriteData,
                   "data beyond the R2T's desired length");
      good = false;
    }
    if (good) StoreData(*task, data_out.buffer_offset, pdu.data, pdu.data_digest_ok);
    const uint32_t accounted = std::min(length, r2t->length - r2t->received);
    r2t->received += accounted;
    r2t->next_data_sn = data_out.data_sn + 1;
    task->received += accounted;
    if (data_out.final_bit || r2t->received == r2t->length) {
      if (good && (!data_out.final_bit || r2t->received != r2t->length)) {
        DataOutError(*task, pdu.bhs, kDataPhaseError, 0x00,
                     data_out.final_bit ? "sequence shorter than its R2T"
                                        : "sequence ends without the F bit");
      }
      task->r2ts.erase(r2t);
    }
  }
  if (!pdu.data_digest_ok) {
    // §7.8: no retransmission at ERL 0; the task fails once its data has been accounted.
    connection_->SendReject(RejectReason::kDataDigestError, pdu.bhs);
    if (!task->transport_failure.has_value()) task->transport_failure = std::make_pair(0x47, 0x05);
  }
  Proceed(task);
}

void Session::Submit(const std::shared_ptr<Task>& task) {
  task->submitted = true;
  if (task->early_failure.has_value() || task->transport_failure.has_value() ||
      task->unit == nullptr) {
    CompleteLocally(task);
    return;
  }
  std::weak_ptr<Connection> weak = connection_->weak_from_this();
  EventLoop* loop = connection_->loop();
  // The completion runs on a backing-store worker, or inline within Submit (quick commands,
  // cached READ/WRITE): either way it only hands the task back to the connection's loop.
  // `task = task` makes a non-const copy that the move below empties: the completion object
  // itself is destroyed on the worker after the logical unit counted the task out, and must
  // not hold the task's (and its unit's) last reference there.
  task->unit->Submit(task->scsi, [weak, loop, task = task](scsi::ScsiTask&) mutable {
    loop->Post([weak = std::move(weak), task = std::move(task)] {
      if (std::shared_ptr<Connection> connection = weak.lock()) {
        connection->OnTaskComplete(task);
      }
    });
  });
}

void Session::CompleteLocally(const std::shared_ptr<Task>& task) {
  scsi::ScsiTask& scsi_task = task->scsi;
  scsi_task.data_in.clear();
  if (task->early_failure.has_value()) {
    scsi_task.status = scsi::ScsiStatus::kCheckCondition;
    scsi_task.sense = FixedSense(*task->early_failure);
  } else if (task->transport_failure.has_value()) {
    scsi_task.status = scsi::ScsiStatus::kCheckCondition;
    scsi_task.sense =
        AbortedCommandSense(task->transport_failure->first, task->transport_failure->second);
  } else {
    AnswerMissingLun(*task);
  }
  OnTaskComplete(task);
}

void Session::AnswerMissingLun(Task& task) {
  // SPC-4 / SAM-5: a LUN that is not exported still answers INQUIRY (peripheral
  // qualifier 011b), REPORT LUNS and REQUEST SENSE; everything else gets LOGICAL UNIT NOT
  // SUPPORTED.
  scsi::ScsiTask& scsi_task = task.scsi;
  const absl::Span<const uint8_t> cdb = scsi_task.cdb();
  const auto op = static_cast<scsi::ScsiOp>(cdb[0]);
  std::vector<uint8_t> data;
  uint32_t allocation_length = 0;
  scsi_task.status = scsi::ScsiStatus::kGood;
  scsi_task.sense.clear();
  if (op == scsi::ScsiOp::kInquiry && (cdb[1] & 0x01) == 0) {
    allocation_length = LoadBe16(cdb, 3);
    data.assign(36, 0);
    data[0] = kPeripheralQualifierNotSupported;
    data[2] = 0x06;  // SPC-4
    data[3] = 0x02;  // response data format 2
    data[4] = static_cast<uint8_t>(data.size() - 5);
    const std::string_view ids = "ISCSICSIVIRTUAL-DISK    0001";
    std::memcpy(data.data() + 8, ids.data(), ids.size());
  } else if (op == scsi::ScsiOp::kReportLuns) {
    allocation_length = LoadBe32(cdb, 6);
    const auto& luns = scsi_task.nexus != nullptr && scsi_task.nexus->reported_luns != nullptr
                           ? *scsi_task.nexus->reported_luns
                           : std::vector<uint64_t>{};
    data = scsi::EncodeReportLunsData(luns);
  } else if (op == scsi::ScsiOp::kRequestSense) {
    allocation_length = cdb[4];
    data = FixedSense(scsi::SenseReason::kLogicalUnitNotSupported);
  } else {
    scsi_task.status = scsi::ScsiStatus::kCheckCondition;
    scsi_task.sense = FixedSense(scsi::SenseReason::kLogicalUnitNotSupported);
    return;
  }
  const size_t limit = std::min<size_t>(allocation_length, scsi_task.expected_transfer_length);
  if (data.size() > limit) data.resize(limit);
  scsi_task.data_in = std::move(data);
}

void Session::OnTaskComplete(const std::shared_ptr<Task>& task) {
  if (shut_down_) return;
  auto it = tasks_.find(task->itt);
  if (it != tasks_.end() && it->second == task) tasks_.erase(it);
  StopSoliciting(*task);
  window_.Update(tasks_.size());
  if (task->aborted) {
    // SAM-5 §7.2/§7.3: the issuing session hears nothing about a task it aborted; the TMF
    // response comes after the task is gone.
    if (task->abort_tmf_itt.has_value()) {
      SendTmfResponse(*task->abort_tmf_itt, TmfResponse::kFunctionComplete);
    }
    return;
  }
  SendTaskResponse(*task);
}

void Session::SendTaskResponse(Task& task) {
  scsi::ScsiTask& scsi_task = task.scsi;
  const uint8_t status = static_cast<uint8_t>(scsi_task.status);
  const bool good = scsi_task.status == scsi::ScsiStatus::kGood ||
                    scsi_task.status == scsi::ScsiStatus::kConditionMet;
  scsi::IoBuffer data_in;
  if (task.read) data_in = std::move(scsi_task.data_in);
  if (data_in.size() > scsi_task.expected_transfer_length) {
    data_in.resize(scsi_task.expected_transfer_length);
  }
  if (io_stats_ != nullptr) {
    const IoOp op = IoOpOf(scsi_task);
    const bool moved_data = good && op != IoOp::kOther;
    io_stats_->Record(op, good, moved_data && task.read ? data_in.size() : 0,
                      moved_data && task.write ? scsi_task.data_out.size() : 0,
                      SteadyNanoseconds() - task.arrived_ns);
  }

  // Residuals (§11.4.5): what the command transfers against what the initiator expected.
  bool overflow = false;
  bool underflow = false;
  uint32_t residual = 0;
  if (good) {
    const uint64_t expected = task.expected_length;
    uint64_t actual = expected;
    if (std::optional<uint64_t> length = ScsiTransferLength(task)) {
      actual = *length;
    } else if (task.read) {
      actual = data_in.size();
    }
    if (actual > expected) {
      overflow = true;
      residual = static_cast<uint32_t>(std::min<uint64_t>(actual - expected, UINT32_MAX));
    } else if (actual < expected) {
      underflow = true;
      residual = static_cast<uint32_t>(expected - actual);
    }
  }

  const bool has_sense = !scsi_task.sense.empty();
  const bool collapse = !data_in.empty() && !has_sense;  // S bit: status in the last Data-In
  const uint32_t max_segment =
      std::max<uint32_t>(512, config_.connection.initiator_max_recv_data_segment_length);
  const uint32_t max_burst = std::max<uint32_t>(512, config_.session.max_burst_length);
  auto owner = std::make_shared<const scsi::IoBuffer>(std::move(data_in));
  const scsi::IoBuffer& bytes = *owner;
  uint32_t data_sn = 0;
  uint32_t in_burst = 0;
  size_t offset = 0;
  while (offset < bytes.size()) {
    const uint32_t length = static_cast<uint32_t>(std::min<size_t>(
        {size_t{max_segment}, bytes.size() - offset, size_t{max_burst - in_burst}}));
    const bool last = offset + length == bytes.size();
    in_burst += length;
    const bool burst_end = in_burst == max_burst;
    if (burst_end) in_burst = 0;
    DataIn pdu;
    pdu.final_bit = last || burst_end;  // §11.7.1: F ends each Data-In sequence
    pdu.lun = task.lun_field;
    pdu.itt = task.itt;
    pdu.ttt = kReservedTag;
    pdu.data_sn = data_sn++;
    pdu.buffer_offset = static_cast<uint32_t>(offset);
    pdu.data_segment_length = length;
    if (last && collapse) {
      pdu.status_bit = true;
      pdu.status = status;
      pdu.stat_sn = connection_->TakeStatSn();
      pdu.residual_overflow_bit = overflow;
      pdu.residual_underflow_bit = underflow;
      pdu.residual_count = residual;
    }
    pdu.exp_cmd_sn = window_.exp_cmd_sn();
    pdu.max_cmd_sn = window_.max_cmd_sn();
    connection_->SendPdu(EncodeDataIn(pdu), absl::MakeConstSpan(bytes.data() + offset, length),
                         owner);
    offset += length;
  }
  if (collapse) return;

  std::vector<uint8_t> sense_data;
  if (has_sense) {
    // §11.4.7: SenseLength, then the sense data.
    sense_data.resize(2 + scsi_task.sense.size());
    StoreBe16(absl::MakeSpan(sense_data), 0, static_cast<uint16_t>(scsi_task.sense.size()));
    std::memcpy(sense_data.data() + 2, scsi_task.sense.data(), scsi_task.sense.size());
  }
  ScsiResponse response;
  response.response = kScsiResponseCommandCompleted;
  response.status = status;
  response.itt = task.itt;
  response.stat_sn = connection_->TakeStatSn();
  response.exp_cmd_sn = window_.exp_cmd_sn();
  response.max_cmd_sn = window_.max_cmd_sn();
  // §11.4.6: the number of R2T and Data-In PDUs sent for the command.
  response.exp_data_sn = data_sn + task.next_r2t_sn;
  response.residual_overflow_bit = overflow;
  response.residual_underflow_bit = underflow;
  response.residual_count = residual;
  response.data_segment_length = static_cast<uint32_t>(sense_data.size());
  connection_->SendPdu(EncodeScsiResponse(response), sense_data);
}

// --- NOP, Text, Logout --------------------------------------------------------------------

void Session::HandleNopOut(const NopOut& request, std::vector<uint8_t> data) {
  if (request.itt == kReservedTag) {
    // An answer to our ping (§11.18.3), or a ping that wants no answer.
    if (ping_ttt_.has_value() && request.ttt == *ping_ttt_) ping_ttt_.reset();
    return;
  }
  const uint32_t limit = config_.connection.initiator_max_recv_data_segment_length;
  if (data.size() > limit) data.resize(limit);
  NopIn pdu;
  pdu.lun = request.lun;
  pdu.itt = request.itt;
  pdu.ttt = kReservedTag;
  pdu.stat_sn = connection_->TakeStatSn();
  pdu.exp_cmd_sn = window_.exp_cmd_sn();
  pdu.max_cmd_sn = window_.max_cmd_sn();
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  connection_->SendPdu(EncodeNopIn(pdu), data);  // §11.19: the ping data echoed back
}

bool Session::OnTick(absl::Time now, absl::Time last_receive) {
  const int seconds = connection_->host()->options().nop_in_interval_seconds;
  if (seconds <= 0 || shut_down_) return true;
  const absl::Duration interval = absl::Seconds(seconds);
  if (ping_ttt_.has_value()) {
    if (last_receive > ping_sent_) {
      ping_ttt_.reset();  // anything from the peer shows it is alive
    } else if (now - ping_sent_ >= interval) {
      return false;
    }
    return true;
  }
  if (now - last_receive < interval) return true;
  NopIn pdu;
  pdu.itt = kReservedTag;
  pdu.ttt = NewTtt();
  pdu.stat_sn = connection_->stat_sn();  // §11.19: not advanced by an unsolicited NOP-In
  pdu.exp_cmd_sn = window_.exp_cmd_sn();
  pdu.max_cmd_sn = window_.max_cmd_sn();
  connection_->SendPdu(EncodeNopIn(pdu));
  ping_ttt_ = pdu.ttt;
  ping_sent_ = now;
  return true;
}

void Session::SendTextPiece(uint32_t itt, bool final_piece, uint32_t ttt, std::string piece) {
  TextResponse pdu;
  pdu.final_bit = final_piece;
  // §11.11.2: C=1 when more text follows (F is then 0); an empty answer to a continued
  // request has neither bit.
  pdu.continue_bit = !final_piece && !piece.empty();
  pdu.itt = itt;
  pdu.ttt = ttt;
  pdu.stat_sn = connection_->TakeStatSn();
  pdu.exp_cmd_sn = window_.exp_cmd_sn();
  pdu.max_cmd_sn = window_.max_cmd_sn();
  pdu.data_segment_length = static_cast<uint32_t>(piece.size());
  connection_->SendPdu(
      EncodeTextResponse(pdu),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(piece.data()), piece.size()));
}

std::vector<std::string> Session::SendTargetsAddresses() const {
  std::vector<std::string> addresses;
  const uint16_t tpgt = connection_->host()->options().portal_group_tag;
  for (const PortalAddress& portal : connection_->host()->portal_addresses()) {
    std::string host = portal.host;
    // A wildcard portal is announced with the address this connection reached.
    if (host.empty() || host == "0.0.0.0" || host == "::") host = connection_->local_host();
    if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
    addresses.push_back(absl::StrCat(host, ":", portal.port, ",", tpgt));
  }
  return addresses;
}

void Session::HandleText(const TextRequest& request, std::vector<uint8_t> data) {
  auto reject = [&] {
    TextRequest copy = request;
    copy.data_segment_length = 0;
    Bhs bhs = EncodeTextRequest(copy);
    connection_->SendReject(RejectReason::kProtocolError, bhs);
  };
  if (request.ttt != kReservedTag) {
    // §11.10.4: an empty request with our TTT asks for the next piece of our response.
    if (text_response_.has_value() && text_response_->ttt == request.ttt &&
        text_response_->itt == request.itt && !text_response_->pieces.empty()) {
      std::string piece = std::move(text_response_->pieces.front());
      text_response_->pieces.pop_front();
      const bool last = text_response_->pieces.empty();
      const uint32_t ttt = last ? kReservedTag : text_response_->ttt;
      if (last) text_response_.reset();
      SendTextPiece(request.itt, last, ttt, std::move(piece));
      return;
    }
    if (!text_request_.complete() && text_request_.size() > 0) {
      // A continued request (C=1) following our empty answer carries our TTT too.
    } else {
      return reject();
    }
  }
  // A request with TTT 0xffffffff starts a new exchange and drops an old one (§11.10.4).
  if (request.ttt == kReservedTag) text_response_.reset();
  const std::string_view segment(reinterpret_cast<const char*>(data.data()), data.size());
  if (!text_request_.Append(segment, request.continue_bit).ok()) {
    text_request_.Reset();
    return reject();
  }
  if (request.continue_bit) {
    SendTextPiece(request.itt, /*final_piece=*/false, NewTtt(), "");
    return;
  }
  absl::StatusOr<std::string> text = text_request_.Take();
  if (!text.ok()) return reject();
  absl::StatusOr<TextStepResult> result =
      NegotiateFullFeatureText(config_.session, &config_.connection, *text);
  if (!result.ok()) {
    LOG_EVERY_T(WARNING, 10) << connection_->LogPrefix()
                             << " bad text request: " << result.status().message();
    return reject();
  }
  TextPairs pairs = std::move(result->response);
  if (result->send_targets.has_value()) {
    Registry& registry = connection_->host()->registry();
    std::vector<std::string> names;
    switch (result->send_targets->scope) {
      case SendTargetsRequest::Scope::kAll:
        names = registry.VisibleTargets(initiator_name());
        break;
      case SendTargetsRequest::Scope::kSessionTarget:
        if (!discovery() && registry.Admits(target_name(), initiator_name())) {
          names.push_back(target_name());
        }
        break;
      case SendTargetsRequest::Scope::kNamedTarget:
        if (registry.Admits(result->send_targets->target_name, initiator_name()) &&
            (discovery() || result->send_targets->target_name == target_name())) {
          names.push_back(result->send_targets->target_name);
        }
        break;
    }
    const std::vector<std::string> addresses = SendTargetsAddresses();
    for (const std::string& name : names) AppendSendTargetsRecord(name, addresses, &pairs);
  }
  absl::StatusOr<std::vector<std::string>> pieces = SplitTextIntoSegments(
      EncodeTextPairs(pairs), config_.connection.initiator_max_recv_data_segment_length);
  if (!pieces.ok() || pieces->empty()) return reject();
  if (pieces->size() == 1) {
    SendTextPiece(request.itt, true, kReservedTag, std::move(pieces->front()));
    return;
  }
  // §11.11.4: a long response goes out in pieces, each released by an empty request that
  // carries this TTT.
  TextContinuation continuation;
  continuation.itt = request.itt;
  continuation.ttt = NewTtt();
  std::string first = std::move(pieces->front());
  for (size_t i = 1; i < pieces->size(); ++i)
    continuation.pieces.push_back(std::move((*pieces)[i]));
  const uint32_t ttt = continuation.ttt;
  text_response_ = std::move(continuation);
  SendTextPiece(request.itt, false, ttt, std::move(first));
}

void Session::HandleLogout(const LogoutRequest& request) {
  LogoutResponse response;
  response.itt = request.itt;
  response.response = LogoutResponseCode::kClosedSuccessfully;
  bool close = true;
  switch (request.reason_code) {
    case LogoutReason::kRemoveConnectionForRecovery:
      // ERL 0 has no connection recovery (§11.15.1).
      response.response = LogoutResponseCode::kConnectionRecoveryNotSupported;
      close = false;
      break;
    case LogoutReason::kCloseConnection:
      if (request.cid != config_.cid) {
        response.response = LogoutResponseCode::kCidNotFound;
        close = false;
      }
      break;
    case LogoutReason::kCloseSession:
      break;
  }
  if (!close || discovery()) {
    if (close) AbortLocalTasks(std::nullopt);
    response.stat_sn = connection_->TakeStatSn();
    response.exp_cmd_sn = window_.exp_cmd_sn();
    response.max_cmd_sn = window_.max_cmd_sn();
    connection_->SendPdu(EncodeLogoutResponse(response));
    if (close) connection_->CloseOrderly("logout");
    return;
  }
  // §11.14: the tasks still active are terminated implicitly; no response follows this. The
  // I_T nexus ends (its tasks, unit attentions and SPC-2 reservation, SPC-2 5.5.1) before the
  // initiator hears so: another initiator told "logged out" may at once take the
  // reservation. Nothing more is read from this connection meanwhile.
  AbortLocalTasks(std::nullopt);
  ++pending_management_;
  connection_->PauseInput(Connection::kPauseTaskManagement);
  std::vector<std::shared_ptr<scsi::LogicalUnit>> units =
      connection_->host()->registry().Luns(target_name());
  const uint64_t nexus_id = config_.nexus_id;
  std::weak_ptr<Connection> weak = connection_->weak_from_this();
  EventLoop* loop = connection_->loop();
  connection_->host()->management_pool().Schedule(
      [units = std::move(units), nexus_id, weak = std::move(weak), loop, response]() mutable {
        for (const std::shared_ptr<scsi::LogicalUnit>& unit : units) unit->RemoveNexus(nexus_id);
        PostToSession(std::move(weak), loop, [response](Session& session) mutable {
          session.FinishLogout(response);
        });
      });
}

void Session::FinishLogout(LogoutResponse response) {
  if (pending_management_ > 0) --pending_management_;  // input stays paused: we are closing
  response.stat_sn = connection_->TakeStatSn();
  response.exp_cmd_sn = window_.exp_cmd_sn();
  response.max_cmd_sn = window_.max_cmd_sn();
  connection_->SendPdu(EncodeLogoutResponse(response));
  connection_->CloseOrderly("logout");
}

// --- Task management ----------------------------------------------------------------------

void Session::SendTmfResponse(uint32_t itt, TmfResponse response) {
  TaskMgmtResponse pdu;
  pdu.response = response;
  pdu.itt = itt;
  pdu.stat_sn = connection_->TakeStatSn();
  pdu.exp_cmd_sn = window_.exp_cmd_sn();
  pdu.max_cmd_sn = window_.max_cmd_sn();
  connection_->SendPdu(EncodeTaskMgmtResponse(pdu));
}

void Session::DropTask(const std::shared_ptr<Task>& task) {
  auto it = tasks_.find(task->itt);
  if (it != tasks_.end() && it->second == task) tasks_.erase(it);
  task->aborted = true;
  StopSoliciting(*task);
  RememberDroppedItt(task->itt);
  // A task still waiting in the CmdSN window gives its CmdSN up.
  if (!task->delivered && !task->immediate) window_.Consume(task->cmd_sn);
  window_.Update(tasks_.size());
}

void Session::AbortLocalTasks(std::optional<uint64_t> lun_field) {
  std::vector<std::shared_ptr<Task>> affected;
  for (const auto& [itt, task] : tasks_) {
    if (!lun_field.has_value() || task->lun_field == *lun_field) affected.push_back(task);
  }
  for (const std::shared_ptr<Task>& task : affected) {
    if (task->submitted) {
      // In the logical unit: it completes (TASK ABORTED or its real status) unreported.
      task->aborted = true;
      task->scsi.RequestAbort();
    } else {
      DropTask(task);
    }
  }
}

void Session::HandleTaskManagement(const TaskMgmtRequest& request) {
  connection_->host()->stats().CountTaskManagement(static_cast<uint8_t>(request.function));
  Registry& registry = connection_->host()->registry();
  switch (request.function) {
    case TmfFunction::kAbortTask: {
      auto it = tasks_.find(request.referenced_task_tag);
      if (it != tasks_.end()) {
        std::shared_ptr<Task> task = it->second;
        if (!task->submitted) {
          DropTask(task);
          SendTmfResponse(request.itt, TmfResponse::kFunctionComplete);
        } else {
          task->aborted = true;
          task->abort_tmf_itt = request.itt;
          task->scsi.RequestAbort();
        }
        return;
      }
      // §11.6.1: a task we never saw whose RefCmdSN is inside the window and before the
      // TMF counts as received and aborted; otherwise it does not exist.
      if (window_.InWindow(request.ref_cmd_sn) && SerialLess(request.ref_cmd_sn, request.cmd_sn)) {
        window_.Consume(request.ref_cmd_sn);
        SendTmfResponse(request.itt, TmfResponse::kFunctionComplete);
      } else {
        SendTmfResponse(request.itt, TmfResponse::kTaskDoesNotExist);
      }
      return;
    }
    case TmfFunction::kAbortTaskSet:
    case TmfFunction::kClearTaskSet:
    case TmfFunction::kLogicalUnitReset: {
      std::shared_ptr<scsi::LogicalUnit> unit;
      if (std::optional<uint16_t> number = scsi::DecodeLun(request.lun)) {
        unit = registry.FindLun(target_name(), *number);
      }
      if (unit == nullptr) {
        SendTmfResponse(request.itt, TmfResponse::kLunDoesNotExist);
        return;
      }
      AbortLocalTasks(request.lun);
      RunManagement(request.itt, {unit}, request.function, /*close_after=*/false);
      return;
    }
    case TmfFunction::kTargetWarmReset:
    case TmfFunction::kTargetColdReset:
      LOG(INFO) << connection_->LogPrefix() << " target "
                << (request.function == TmfFunction::kTargetColdReset ? "cold" : "warm")
                << " reset of " << target_name();
      AbortLocalTasks(std::nullopt);
      RunManagement(request.itt, registry.Luns(target_name()), TmfFunction::kLogicalUnitReset,
                    /*close_after=*/request.function == TmfFunction::kTargetColdReset);
      return;
    case TmfFunction::kClearAca:
      SendTmfResponse(request.itt, TmfResponse::kFunctionNotSupported);
      return;
    case TmfFunction::kTaskReassign:
      // ERL 0: no task reassignment (§11.6.1).
      SendTmfResponse(request.itt, TmfResponse::kTaskAllegianceReassignmentNotSupported);
      return;
  }
  SendTmfResponse(request.itt, TmfResponse::kFunctionNotSupported);
}

void Session::RunManagement(uint32_t tmf_itt, std::vector<std::shared_ptr<scsi::LogicalUnit>> units,
                            TmfFunction function, bool close_after) {
  // The logical unit's task management waits for the affected tasks; it runs on the
  // management pool, and this connection reads nothing more until it is done, so no later
  // command can be caught by it.
  ++pending_management_;
  connection_->PauseInput(Connection::kPauseTaskManagement);
  const uint64_t nexus_id = config_.nexus_id;
  std::weak_ptr<Connection> weak = connection_->weak_from_this();
  EventLoop* loop = connection_->loop();
  connection_->host()->management_pool().Schedule([units = std::move(units), function, nexus_id,
                                                   weak = std::move(weak), loop, tmf_itt,
                                                   close_after]() mutable {
    for (const std::shared_ptr<scsi::LogicalUnit>& unit : units) {
      switch (function) {
        case TmfFunction::kAbortTaskSet:
          unit->AbortTaskSet(nexus_id);
          break;
        case TmfFunction::kClearTaskSet:
          unit->ClearTaskSet();
          break;
        default:
          unit->Reset();
          break;
      }
    }
    PostToSession(std::move(weak), loop, [tmf_itt, close_after](Session& session) {
      session.FinishManagement(tmf_itt, close_after);
    });
  });
}

void Session::FinishManagement(uint32_t tmf_itt, bool close_after) {
  if (pending_management_ > 0 && --pending_management_ == 0) {
    connection_->ResumeInput(Connection::kPauseTaskManagement);
  }
  SendTmfResponse(tmf_itt, TmfResponse::kFunctionComplete);
  if (close_after) connection_->CloseOrderly("target cold reset");
}

// --- Async events and shutdown ------------------------------------------------------------

void Session::SendScsiAsyncEvent(uint64_t lun, absl::Span<const uint8_t> sense) {
  if (discovery() || shut_down_) return;
  std::optional<uint64_t> field = scsi::EncodeLun(static_cast<uint32_t>(lun));
  if (!field.has_value()) return;
  std::vector<uint8_t> data(2 + sense.size());
  StoreBe16(absl::MakeSpan(data), 0, static_cast<uint16_t>(sense.size()));
  std::copy(sense.begin(), sense.end(), data.begin() + 2);
  AsyncMessage pdu;
  pdu.lun = *field;
  pdu.stat_sn = connection_->TakeStatSn();
  pdu.exp_cmd_sn = window_.exp_cmd_sn();
  pdu.max_cmd_sn = window_.max_cmd_sn();
  pdu.async_event = AsyncEvent::kScsiAsyncEvent;
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  connection_->SendPdu(EncodeAsyncMessage(pdu), data);
}

void Session::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [itt, task] : tasks_) {
    task->aborted = true;
    if (task->submitted) task->scsi.RequestAbort();
  }
  tasks_.clear();
  ConnectionHost* host = connection_->host();
  const uint16_t tsih = config_.tsih;
  host->SessionClosing(tsih);
  if (discovery()) {
    host->SessionGone(tsih);
    return;
  }
  // I_T nexus loss (SAM-5 §6.3.4): every logical unit of the target aborts the nexus's
  // tasks and forgets its unit attentions; the session is gone once they have.
  std::vector<std::shared_ptr<scsi::LogicalUnit>> units = host->registry().Luns(target_name());
  const uint64_t nexus_id = config_.nexus_id;
  host->management_pool().Schedule([units = std::move(units), nexus_id, host, tsih] {
    for (const std::shared_ptr<scsi::LogicalUnit>& unit : units) unit->RemoveNexus(nexus_id);
    host->SessionGone(tsih);
  });
}

}  // namespace iscsi_csi::target
