// Connection: one iSCSI TCP connection on an event loop. It owns the socket, the receive
// state machine that frames PDUs (RFC 7143 §11.2: BHS, AHS, header digest, data segment,
// padding, data digest; §7.8 digest errors), the send queue (whole PDUs written with writev,
// never from two threads), the login phase (LoginHandler) and, once in the full feature
// phase, the Session that handles every other PDU. It also enforces the login timeout.
//
// Threading: everything here runs on the connection's loop thread. Backing-store
// completions and management results arrive as closures posted to that loop holding a
// weak_ptr to the connection.
//
// Back-pressure: a connection stops reading from its socket while its queued output exceeds
// TargetOptions::max_connection_buffer_bytes (and while a task management function that
// waits for the logical unit is in progress), and resumes when the output has drained to
// half of it. Memory per connection is therefore bounded by one received PDU, the output
// bound, and the tasks the CmdSN window admits.
#ifndef ISCSI_CSI_TARGET_CONNECTION_H_
#define ISCSI_CSI_TARGET_CONNECTION_H_

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "target/backend/worker_pool.h"
#include "target/event_loop.h"
#include "target/login.h"
#include "target/protocol.h"
#include "target/registry.h"
#include "target/stats.h"
#include "target/chap_throttle.h"
#include "target/target.h"

namespace iscsi_csi::target {

class Connection;
class Session;
struct Task;

// What identifies a session for reinstatement (RFC 7143 §4.4.3, §6.3.5): the initiator
// name, the ISID and the target (empty for discovery).
struct SessionKey {
  std::string initiator_name;
  std::array<uint8_t, 6> isid{};
  std::string target_name;

  friend bool operator==(const SessionKey&, const SessionKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const SessionKey& key) {
    return H::combine(std::move(h), key.initiator_name, key.isid, key.target_name);
  }
};

// ConnectionHost: what a connection needs from the target around it (Target::Impl).
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual Registry& registry() = 0;
  virtual TargetStats& stats() = 0;
  virtual ChapThrottle& chap_throttle() = 0;
  virtual const TargetOptions& options() const = 0;
  virtual std::vector<PortalAddress> portal_addresses() const = 0;
  // Runs blocking management work (task management waits, nexus teardown) off the loops.
  virtual backend::WorkerPool& management_pool() = 0;
  virtual uint64_t NextNexusId() = 0;
  // CheckAddConnection answers a login with a non-zero TSIH (a connection joining a
  // session): too many connections when the session exists (MaxConnections=1), session
  // does not exist otherwise.
  virtual LoginStatus CheckAddConnection(const SessionKey& key, uint16_t tsih) = 0;
  // RegisterSession records a session whose login negotiation completed. An existing
  // session with the same key is closed first (session reinstatement); `ready` is posted to
  // `loop` with the new TSIH once that older session is gone.
  // Returns the TSIH assigned to the new session.
  virtual uint16_t RegisterSession(const SessionKey& key, SessionInfo info,
                                   std::weak_ptr<Connection> connection, EventLoop* loop,
                                   absl::AnyInvocable<void(uint16_t) &&> ready) = 0;
  // SessionClosing hides a session from ListSessions; SessionGone forgets it once its tasks
  // are finished (any thread).
  virtual void SessionClosing(uint16_t tsih) = 0;
  virtual void SessionGone(uint16_t tsih) = 0;
  // ConnectionClosed: the connection with this id has closed its socket (loop thread).
  virtual void ConnectionClosed(uint64_t id) = 0;
};

// One received PDU, pointing into the connection's receive buffer.
struct ReceivedPdu {
  Opcode opcode = Opcode::kNopOut;
  bool immediate = false;
  absl::Span<const uint8_t> bhs;
  absl::Span<const uint8_t> ahs;
  absl::Span<const uint8_t> data;
  bool data_digest_ok = true;
};

// OutPdu: an encoded PDU in a send queue, with its iovecs (header, digests, padding) and
// whatever keeps its data alive.
class OutPdu {
 public:
  // `data` is borrowed from `owner` when given, copied otherwise.
  OutPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
         std::shared_ptr<const void> owner, const DigestSettings& digests);
  OutPdu(const OutPdu&) = delete;
  OutPdu& operator=(const OutPdu&) = delete;

  absl::Span<const struct iovec> iovecs() const { return iov_.iovecs(); }
  size_t total_length() const { return iov_.total_length(); }
  size_t written = 0;

 private:
  std::vector<uint8_t> header_;
  std::vector<uint8_t> copied_;
  std::shared_ptr<const void> owner_;
  PduIovecs iov_;
};

class Connection final : public EventLoop::Handler,
                         public std::enable_shared_from_this<Connection> {
 public:
  // Reasons to stop reading from the socket (a bit mask).
  static constexpr uint32_t kPauseBackPressure = 1;
  static constexpr uint32_t kPauseTaskManagement = 2;
  static constexpr uint32_t kPauseLoginWait = 4;

  Connection(ConnectionHost* host, EventLoop* loop, int fd, uint64_t id, std::string peer,
             std::string local_host);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Start registers the socket with the loop (loop thread).
  absl::Status Start();

  void OnEvents(uint32_t events) override;
  void OnTick(absl::Time now) override;

  // --- loop thread, used by Session ---
  // SendPdu queues a PDU; `data` is borrowed from `owner` when given, copied otherwise.
  void SendPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data = {},
               std::shared_ptr<const void> owner = nullptr);
  // SendReject answers a PDU with Reject (§11.17); its data segment is the offending BHS.
  void SendReject(RejectReason reason, absl::Span<const uint8_t> bhs);
  uint32_t TakeStatSn() { return stat_sn_++; }
  uint32_t stat_sn() const { return stat_sn_; }
  // Close drops queued output and closes now; CloseAfterFlush sends what is queued first
  // (and stops reading meanwhile). Both are idempotent.
  void Close(absl::string_view why);
  void CloseAfterFlush(absl::string_view why);
  // CloseOrderly: CloseAfterFlush for a close the initiator asked for (Logout, TARGET COLD
  // RESET); anything else that ends a full-feature connection counts as dropped.
  void CloseOrderly(absl::string_view why) {
    orderly_close_ = true;
    CloseAfterFlush(why);
  }
  void PauseInput(uint32_t reason);
  void ResumeInput(uint32_t reason);
  // FlushIfPending writes queued output; callers at the top of a loop callback use it.
  void FlushIfPending();

  // Posted from other threads.
  void OnTaskComplete(const std::shared_ptr<Task>& task);
  void SendScsiAsyncEvent(uint64_t lun, std::vector<uint8_t> sense);

  bool closed() const { return closed_; }
  uint64_t id() const { return id_; }
  EventLoop* loop() const { return loop_; }
  ConnectionHost* host() const { return host_; }
  const std::string& peer() const { return peer_; }
  const std::string& local_host() const { return local_host_; }
  const std::string& initiator_name() const { return initiator_name_; }
  Session* session() const { return session_.get(); }
  // "conn=<id> initiator=<iqn>" for data-path log lines.
  std::string LogPrefix() const;

 private:
  enum class Phase { kLogin, kWaitingForSession, kFullFeature, kClosed };
  enum class RxState { kBhs, kHeaderRest, kData, kSkip };

  void ReadSome();
  void ProcessInput();
  // Consumes bytes from rx_buffer_ into the PDU state machine; false when the connection
  // closed or input was paused.
  bool ConsumeBuffered();
  // FinishSkip answers a PDU whose data segment was skipped; false when closed.
  bool FinishSkip();
  void OnFramedPdu();
  void HandleLoginPdu(const ReceivedPdu& pdu);
  void ApplyLoginStep(LoginHandler::Step step);
  void OnSessionReady(uint16_t tsih);
  void Flush();
  void EnterFullFeature();
  void UpdateEvents();
  void ResetRx();
  void CloseInternal(absl::string_view why, bool log_info);

  ConnectionHost* const host_;
  EventLoop* const loop_;
  int fd_;
  const uint64_t id_;
  const std::string peer_;
  const std::string local_host_;
  const uint32_t max_buffer_bytes_;
  const absl::Time created_;

  Phase phase_ = Phase::kLogin;
  bool closed_ = false;
  bool close_after_flush_ = false;
  bool orderly_close_ = false;
  std::string close_reason_;
  uint32_t paused_ = 0;
  uint32_t registered_events_ = 0;
  bool want_write_ = false;  // the socket refused bytes: wait for EPOLLOUT
  std::string initiator_name_;

  // Receive side.
  std::vector<uint8_t> rx_buffer_;
  size_t rx_begin_ = 0;
  size_t rx_end_ = 0;
  RxState rx_state_ = RxState::kBhs;
  std::vector<uint8_t> pdu_;  // BHS, AHS, header digest, data, padding, data digest
  size_t pdu_need_ = 0;       // bytes pdu_ must reach before the next step
  size_t skip_left_ = 0;
  PduFrame frame_;
  FramingParams framing_;
  absl::Time last_receive_;

  // Send side.
  std::deque<std::unique_ptr<OutPdu>> tx_queue_;
  size_t tx_bytes_ = 0;
  DigestSettings tx_digests_;
  uint32_t stat_sn_ = 0;

  std::unique_ptr<LoginHandler> login_;
  std::unique_ptr<Session> session_;
  uint16_t tsih_ = 0;
  bool registered_session_ = false;
  bool rate_limited_ = false;  // this login was refused by the CHAP throttle
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_CONNECTION_H_
