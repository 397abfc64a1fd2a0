// Connection: socket I/O, PDU framing, the login phase and the hand-off to Session (see
// connection.h).
#include "target/connection.h"

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "target/session.h"

namespace iscsi_csi::target {
namespace {

constexpr size_t kReceiveBufferBytes = 64 * 1024;
// Reads per readiness event before yielding to the other connections of the loop.
constexpr int kMaxReadsPerEvent = 16;
constexpr size_t kMaxIovecsPerWrite = 256;

uint32_t RandomStatSn() {
  uint32_t value = 0;
  if (getrandom(&value, sizeof(value), GRND_NONBLOCK) != sizeof(value)) {
    value = static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()));
  }
  return value;
}

std::string IsidHex(const std::array<uint8_t, 6>& isid) {
  std::string out;
  for (uint8_t b : isid) absl::StrAppendFormat(&out, "%02x", b);
  return out;
}

}  // namespace

// --- OutPdu -------------------------------------------------------------------------------

OutPdu::OutPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
               std::shared_ptr<const void> owner, const DigestSettings& digests)
    : header_(header.begin(), header.end()), owner_(std::move(owner)) {
  if (owner_ == nullptr && !data.empty()) {
    copied_.assign(data.begin(), data.end());
    data = copied_;
  }
  const absl::Span<const uint8_t> pieces[] = {data};
  absl::Status status = BuildPduIovecs(header_, pieces, digests, &iov_);
  // Our encoders set DataSegmentLength from the data we pass: a mismatch is our bug.
  CHECK(status.ok()) << "building an outgoing PDU: " << status;
}

// --- Connection ---------------------------------------------------------------------------

Connection::Connection(ConnectionHost* host, EventLoop* loop, int fd, uint64_t id, std::string peer,
                       std::string local_host)
    : host_(host),
      loop_(loop),
      fd_(fd),
      id_(id),
      peer_(std::move(peer)),
      local_host_(std::move(local_host)),
      max_buffer_bytes_(std::max<uint32_t>(host->options().max_connection_buffer_bytes, 1u << 20)),
      created_(absl::Now()),
      rx_buffer_(kReceiveBufferBytes),
      last_receive_(absl::Now()) {
  framing_.max_recv_data_segment_length = kLoginMaxDataSegmentLength;
}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

std::string Connection::LogPrefix() const {
  return absl::StrCat("conn=", id_, " initiator=", initiator_name_.empty() ? "-" : initiator_name_);
}

absl::Status Connection::Start() {
  LoginHandlerOptions options;
  options.policy = host_->options().policy;
  options.target_portal_group_tag = host_->options().portal_group_tag;
  options.initial_stat_sn = RandomStatSn();
  options.command_window = kQueueDepth;
  options.resolver = [this](const LoginIdentity& identity,
                            const LoginRequest& request) -> TargetAccess {
    initiator_name_ = identity.initiator_name;
    TargetAccess access;
    if (identity.session_type == SessionType::kNormal) {
      access = host_->registry().ResolveNormalLogin(identity.target_name, identity.initiator_name);
      if (access.refusal.has_value()) return access;
      // Too many CHAP failures lately: refused before any exchange (no secret is tried).
      if (access.chap.has_value() &&
          host_->chap_throttle().LockedOut(identity.initiator_name) > absl::ZeroDuration()) {
        rate_limited_ = true;
        access.refusal = kLoginAuthenticationFailure;
        return access;
      }
    }
    if (request.tsih != 0) {
      // §6.3.1: a non-zero TSIH adds a connection to a session; we allow one.
      access.refusal = host_->CheckAddConnection(
          SessionKey{identity.initiator_name, request.isid, identity.target_name}, request.tsih);
    }
    return access;
  };
  login_ = std::make_unique<LoginHandler>(std::move(options));
  registered_events_ = EPOLLIN | EPOLLRDHUP;
  return loop_->Add(fd_, registered_events_, shared_from_this());
}

void Connection::OnEvents(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLERR | EPOLLHUP)) {
    CloseInternal("socket error or hang-up", true);
    return;
  }
  if (events & EPOLLOUT) Flush();
  if (!closed_ && (events & (EPOLLIN | EPOLLRDHUP))) ReadSome();
  FlushIfPending();
}

void Connection::ReadSome() {
  for (int i = 0; i < kMaxReadsPerEvent && !closed_ && paused_ == 0; ++i) {
    if (rx_begin_ < rx_end_ && !ConsumeBuffered()) return;
    const ssize_t n = read(fd_, rx_buffer_.data(), rx_buffer_.size());
    if (n > 0) {
      rx_begin_ = 0;
      rx_end_ = static_cast<size_t>(n);
      last_receive_ = absl::Now();
      if (!ConsumeBuffered()) return;
      continue;
    }
    if (n == 0) {
      CloseInternal("peer closed the connection", true);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    CloseInternal(absl::StrCat("read: ", std::strerror(errno)), true);
    return;
  }
}

void Connection::ProcessInput() {
  if (closed_ || paused_ != 0) return;
  if (rx_begin_ < rx_end_) ConsumeBuffered();
  FlushIfPending();
}

void Connection::ResetRx() {
  rx_state_ = RxState::kBhs;
  pdu_.clear();
  pdu_need_ = kBhsLength;
  skip_left_ = 0;
}

bool Connection::FinishSkip() {
  const RejectReason reason = frame_.reject_reason.value_or(RejectReason::kProtocolError);
  if (phase_ != Phase::kFullFeature || session_ == nullptr) {
    // During login only well-formed Login Requests are acceptable.
    CloseInternal("unacceptable PDU during login", false);
    return false;
  }
  session_->HandleFramingReject(reason, absl::MakeConstSpan(pdu_.data(), kBhsLength));
  ResetRx();
  return !closed_;
}

bool Connection::ConsumeBuffered() {
  if (pdu_need_ == 0) ResetRx();
  while (rx_begin_ < rx_end_) {
    if (closed_ || paused_ != 0) return false;
    const size_t available = rx_end_ - rx_begin_;
    if (rx_state_ == RxState::kSkip) {
      const size_t take = std::min(available, skip_left_);
      rx_begin_ += take;
      skip_left_ -= take;
      if (skip_left_ == 0 && !FinishSkip()) return false;
      continue;
    }
    const size_t take = std::min(available, pdu_need_ - pdu_.size());
    pdu_.insert(pdu_.end(), rx_buffer_.begin() + rx_begin_, rx_buffer_.begin() + rx_begin_ + take);
    rx_begin_ += take;
    // Advance through every stage whose bytes are complete (stages may be empty).
    while (!closed_ && rx_state_ != RxState::kSkip && pdu_.size() == pdu_need_) {
      if (rx_state_ == RxState::kBhs) {
        absl::StatusOr<PduFrame> frame = FramePdu(pdu_, framing_, PduSender::kInitiator);
        if (!frame.ok()) {
          CloseInternal(frame.status().message(), false);
          return false;
        }
        frame_ = *frame;
        if (phase_ != Phase::kFullFeature &&
            (frame_.opcode != Opcode::kLoginRequest || frame_.reject_reason.has_value())) {
          // §6.3: only Login Requests (within the 8192-byte login limit) are acceptable
          // before the full feature phase; anything else ends the connection at once.
          LOG_EVERY_T(WARNING, 10) << LogPrefix() << " peer=" << peer_ << " sent opcode 0x"
                                   << absl::StrFormat("%02x", static_cast<int>(frame_.opcode))
                                   << " during login; closing";
          CloseInternal("unacceptable PDU during login", false);
          return false;
        }
        rx_state_ = RxState::kHeaderRest;
        pdu_need_ = kBhsLength + frame_.ahs_length + frame_.header_digest_length;
      } else if (rx_state_ == RxState::kHeaderRest) {
        if (frame_.header_digest_length > 0) {
          const size_t header_length = frame_.HeaderLength();
          absl::Status status = CheckHeaderDigest(
              absl::MakeConstSpan(pdu_.data(), header_length),
              absl::MakeConstSpan(pdu_.data() + header_length, frame_.header_digest_length));
          if (!status.ok()) {
            // §7.8: at ERL 0 a header digest error leaves the framing untrusted.
            LOG_EVERY_T(WARNING, 10)
                << LogPrefix() << " " << status.message() << "; closing the connection";
            host_->stats().CountDigestError(/*header=*/true);
            CloseInternal(status.message(), false);
            return false;
          }
        }
        const size_t rest =
            size_t{frame_.data_segment_length} + frame_.padding_length + frame_.data_digest_length;
        if (frame_.reject_reason.has_value()) {
          // Read past the data segment without keeping it, then answer with Reject.
          rx_state_ = RxState::kSkip;
          skip_left_ = rest;
          if (skip_left_ == 0 && !FinishSkip()) return false;
        } else {
          rx_state_ = RxState::kData;
          pdu_need_ = pdu_.size() + rest;
        }
      } else {
        OnFramedPdu();
        if (!closed_) ResetRx();
      }
    }
  }
  return !closed_ && paused_ == 0;
}

void Connection::OnFramedPdu() {
  ReceivedPdu pdu;
  pdu.opcode = frame_.opcode;
  pdu.immediate = frame_.immediate;
  const uint8_t* base = pdu_.data();
  pdu.bhs = absl::MakeConstSpan(base, kBhsLength);
  pdu.ahs = absl::MakeConstSpan(base + kBhsLength, frame_.ahs_length);
  const size_t data_offset = frame_.HeaderLength() + frame_.header_digest_length;
  pdu.data = absl::MakeConstSpan(base + data_offset, frame_.data_segment_length);
  if (frame_.data_digest_length > 0) {
    const size_t padded = size_t{frame_.data_segment_length} + frame_.padding_length;
    pdu.data_digest_ok =
        DataDigestMatches(absl::MakeConstSpan(base + data_offset, padded),
                          absl::MakeConstSpan(base + data_offset + padded, kDigestLength));
    if (!pdu.data_digest_ok) {
      host_->stats().CountDigestError(/*header=*/false);
      LOG_EVERY_T(WARNING, 10) << LogPrefix() << " data digest error on opcode 0x"
                               << absl::StrFormat("%02x", static_cast<int>(pdu.opcode));
    }
  }
  switch (phase_) {
    case Phase::kLogin:
      HandleLoginPdu(pdu);
      break;
    case Phase::kFullFeature:
      session_->HandlePdu(pdu);
      break;
    case Phase::kWaitingForSession:
    case Phase::kClosed:
      break;
  }
}

void Connection::HandleLoginPdu(const ReceivedPdu& pdu) {
  if (pdu.opcode != Opcode::kLoginRequest) {
    // §6.3 / §11.12: a new connection starts with a Login Request; anything else (or any
    // other PDU during login) ends it without an answer.
    LOG_EVERY_T(WARNING, 10) << LogPrefix() << " peer=" << peer_ << " sent opcode 0x"
                             << absl::StrFormat("%02x", static_cast<int>(pdu.opcode))
                             << " during login; closing";
    CloseInternal("non-login PDU during login", false);
    return;
  }
  ParseResult<LoginRequest> parsed = ParseLoginRequest(pdu.bhs, pdu.data);
  if (parsed.fatal()) {
    CloseInternal(parsed.status().message(), false);
    return;
  }
  if (parsed.rejected()) {
    ApplyLoginStep(login_->HandleMalformed(pdu.bhs));
    return;
  }
  ApplyLoginStep(login_->HandleRequest(*parsed));
}

void Connection::ApplyLoginStep(LoginHandler::Step step) {
  for (const LoginResponsePdu& response : step.responses) {
    SendPdu(response.bhs,
            absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(response.data.data()),
                                response.data.size()));
  }
  switch (step.outcome) {
    case LoginHandler::Outcome::kContinue:
      return;
    case LoginHandler::Outcome::kFailed: {
      const LoginStatus status = step.failure.value_or(kLoginInitiatorError);
      const LoginIdentity& identity = login_->identity();
      if (rate_limited_) {
        host_->stats().CountLogin(LoginResult::kRateLimited);
      } else {
        const LoginResult result = LoginResultFor(status.status_class, status.status_detail);
        host_->stats().CountLogin(result);
        if (result == LoginResult::kAuthFailure && !identity.initiator_name.empty()) {
          host_->chap_throttle().Failure(identity.initiator_name);
        }
      }
      LOG_EVERY_T(WARNING, 5) << "login failed " << LogPrefix() << " target="
                              << (identity.target_name.empty() ? "-" : identity.target_name)
                              << " peer=" << peer_
                              << absl::StrFormat(" status=0x%02x%02x", status.status_class,
                                                 status.status_detail)
                              << ": " << step.reason;
      CloseAfterFlush("login failed");
      return;
    }
    case LoginHandler::Outcome::kNegotiated: {
      phase_ = Phase::kWaitingForSession;
      PauseInput(kPauseLoginWait);
      const LoginIdentity& identity = login_->identity();
      SessionInfo info;
      info.target_iqn = identity.target_name;
      info.initiator_name = identity.initiator_name;
      info.isid = IsidHex(login_->isid());
      info.peer = peer_;
      info.discovery = identity.session_type == SessionType::kDiscovery;
      std::weak_ptr<Connection> weak = weak_from_this();
      tsih_ = host_->RegisterSession(
          SessionKey{identity.initiator_name, login_->isid(), identity.target_name},
          std::move(info), weak, loop_, [weak](uint16_t tsih) {
            if (std::shared_ptr<Connection> connection = weak.lock()) {
              connection->OnSessionReady(tsih);
            }
          });
      registered_session_ = true;
      return;
    }
    case LoginHandler::Outcome::kComplete:
      EnterFullFeature();
      return;
  }
}

void Connection::OnSessionReady(uint16_t tsih) {
  if (closed_) return;
  phase_ = Phase::kLogin;
  ApplyLoginStep(login_->Finish(tsih));
  ResumeInput(kPauseLoginWait);
  FlushIfPending();
}

void Connection::EnterFullFeature() {
  const SessionParams& params = login_->session_params();
  const ConnectionParams& connection_params = login_->connection_params();
  phase_ = Phase::kFullFeature;
  stat_sn_ = login_->next_stat_sn();
  // §11.12 / §13.1: digests and our MaxRecvDataSegmentLength apply from the first PDU of
  // the full feature phase.
  tx_digests_.header_digest = connection_params.header_digest == DigestType::kCrc32c;
  tx_digests_.data_digest = connection_params.data_digest == DigestType::kCrc32c;
  framing_.digests = tx_digests_;
  framing_.max_recv_data_segment_length = connection_params.target_max_recv_data_segment_length;

  Session::Config config;
  config.session = params;
  config.connection = connection_params;
  config.tsih = tsih_;
  config.isid = login_->isid();
  config.cid = login_->cid();
  config.exp_cmd_sn = login_->cmd_sn();
  config.nexus_id = host_->NextNexusId();
  session_ = std::make_unique<Session>(this, std::move(config));
  host_->stats().CountLogin(LoginResult::kSuccess);
  if (params.auth_method == AuthMethod::kChap) host_->chap_throttle().Success(initiator_name_);
  LOG(INFO) << "login " << LogPrefix()
            << " target=" << (params.target_name.empty() ? "-" : params.target_name)
            << " isid=" << IsidHex(login_->isid()) << " tsih=" << tsih_ << " peer=" << peer_
            << " type=" << (params.session_type == SessionType::kDiscovery ? "discovery" : "normal")
            << (params.auth_method == AuthMethod::kChap
                    ? (params.mutual_chap ? " auth=mutual-chap" : " auth=chap")
                    : " auth=none");
  login_.reset();
}

// --- Output -------------------------------------------------------------------------------

void Connection::SendPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
                         std::shared_ptr<const void> owner) {
  if (closed_ || close_after_flush_) return;
  auto pdu = std::make_unique<OutPdu>(header, data, std::move(owner), tx_digests_);
  tx_bytes_ += pdu->total_length();
  tx_queue_.push_back(std::move(pdu));
  if (tx_bytes_ > max_buffer_bytes_) PauseInput(kPauseBackPressure);
}

void Connection::SendReject(RejectReason reason, absl::Span<const uint8_t> bhs) {
  Reject pdu;
  pdu.reason = reason;
  pdu.stat_sn = TakeStatSn();
  if (session_ != nullptr) {
    pdu.exp_cmd_sn = session_->exp_cmd_sn();
    pdu.max_cmd_sn = session_->max_cmd_sn();
  }
  pdu.data_segment_length = kBhsLength;
  SendPdu(EncodeReject(pdu), bhs.subspan(0, std::min<size_t>(bhs.size(), kBhsLength)));
}

void Connection::FlushIfPending() {
  if (!closed_ && !tx_queue_.empty() && !want_write_) Flush();
}

void Connection::Flush() {
  if (closed_) return;
  want_write_ = false;
  std::vector<struct iovec> iov;
  while (!tx_queue_.empty()) {
    iov.clear();
    for (const std::unique_ptr<OutPdu>& pdu : tx_queue_) {
      size_t skip = pdu->written;
      for (const struct iovec& v : pdu->iovecs()) {
        if (skip >= v.iov_len) {
          skip -= v.iov_len;
          continue;
        }
        iov.push_back({static_cast<uint8_t*>(v.iov_base) + skip, v.iov_len - skip});
        skip = 0;
      }
      if (iov.size() >= kMaxIovecsPerWrite) break;
    }
    struct msghdr message {};
    message.msg_iov = iov.data();
    message.msg_iovlen = std::min(iov.size(), size_t{IOV_MAX});
    const ssize_t n = sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        want_write_ = true;
        break;
      }
      CloseInternal(absl::StrCat("write: ", std::strerror(errno)), true);
      return;
    }
    size_t left = static_cast<size_t>(n);
    while (left > 0 && !tx_queue_.empty()) {
      OutPdu& front = *tx_queue_.front();
      const size_t remaining = front.total_length() - front.written;
      if (left < remaining) {
        front.written += left;
        left = 0;
      } else {
        left -= remaining;
        tx_bytes_ -= front.total_length();
        tx_queue_.pop_front();
      }
    }
  }
  if (tx_queue_.empty() && close_after_flush_) {
    CloseInternal(close_reason_, true);
    return;
  }
  if ((paused_ & kPauseBackPressure) && tx_bytes_ <= max_buffer_bytes_ / 2) {
    ResumeInput(kPauseBackPressure);
  }
  UpdateEvents();
}

void Connection::UpdateEvents() {
  if (closed_) return;
  uint32_t events = 0;
  if (paused_ == 0 && !close_after_flush_) events |= EPOLLIN | EPOLLRDHUP;
  if (want_write_) events |= EPOLLOUT;
  if (events == registered_events_) return;
  registered_events_ = events;
  if (absl::Status status = loop_->Modify(fd_, events); !status.ok()) {
    CloseInternal(status.message(), true);
  }
}

void Connection::PauseInput(uint32_t reason) {
  paused_ |= reason;
  UpdateEvents();
}

void Connection::ResumeInput(uint32_t reason) {
  const uint32_t before = paused_;
  paused_ &= ~reason;
  if (before == 0 || paused_ != 0 || closed_) return;
  UpdateEvents();
  // Bytes already read wait in the receive buffer: process them from the loop.
  std::weak_ptr<Connection> weak = weak_from_this();
  loop_->Post([weak] {
    if (std::shared_ptr<Connection> connection = weak.lock()) connection->ProcessInput();
  });
}

// --- Closing, timers, posted work -----------------------------------------------------------

void Connection::Close(absl::string_view why) { CloseInternal(why, true); }

void Connection::CloseAfterFlush(absl::string_view why) {
  if (closed_ || close_after_flush_) return;
  close_after_flush_ = true;
  close_reason_ = std::string(why);
  UpdateEvents();
  if (tx_queue_.empty()) {
    CloseInternal(close_reason_, true);
  } else {
    FlushIfPending();
  }
}

void Connection::CloseInternal(absl::string_view why, bool log_info) {
  if (closed_) return;
  closed_ = true;
  phase_ = Phase::kClosed;
  loop_->Remove(fd_);
  shutdown(fd_, SHUT_RDWR);
  close(fd_);
  fd_ = -1;
  tx_queue_.clear();
  tx_bytes_ = 0;
  if (session_ != nullptr) {
    if (!orderly_close_) host_->stats().CountDroppedConnection();
    if (log_info) {
      LOG(INFO) << "session closed " << LogPrefix()
                << " target=" << (session_->target_name().empty() ? "-" : session_->target_name())
                << " tsih=" << session_->tsih() << " peer=" << peer_ << ": " << why;
    }
    session_->Shutdown();
  } else if (registered_session_) {
    host_->SessionClosing(tsih_);
    host_->SessionGone(tsih_);
  } else {
    VLOG(1) << LogPrefix() << " peer=" << peer_ << " closed during login: " << why;
  }
  host_->ConnectionClosed(id_);
}

void Connection::OnTick(absl::Time now) {
  if (closed_) return;
  if (phase_ == Phase::kLogin || phase_ == Phase::kWaitingForSession) {
    if (now - created_ > host_->options().login_timeout) {
      LOG_EVERY_T(WARNING, 10) << LogPrefix() << " peer=" << peer_ << " login timed out";
      host_->stats().CountLogin(LoginResult::kProtocolError);
      CloseInternal("login timed out", false);
    }
    return;
  }
  if (session_ != nullptr && !session_->OnTick(now, last_receive_)) {
    LOG_EVERY_T(WARNING, 10) << LogPrefix() << " peer=" << peer_
                             << " did not answer NOP-In; closing";
    CloseInternal("no answer to NOP-In", true);
    return;
  }
  FlushIfPending();
}

void Connection::OnTaskComplete(const std::shared_ptr<Task>& task) {
  if (closed_ || session_ == nullptr) return;
  session_->OnTaskComplete(task);
  FlushIfPending();
}

void Connection::SendScsiAsyncEvent(uint64_t lun, std::vector<uint8_t> sense) {
  if (closed_ || session_ == nullptr) return;
  session_->SendScsiAsyncEvent(lun, sense);
  FlushIfPending();
}

}  // namespace iscsi_csi::target
