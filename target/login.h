// LoginHandler: the PDU side of one connection's login phase (RFC 7143 §6.3, §11.12,
// §11.13). It checks the version range, the CSG/NSG/T/C rules, ISID/TSIH/CID consistency,
// joins continued requests (C=1) with TextAccumulator and acknowledges each with an empty
// response, feeds the joined text to LoginNegotiator, and sends long responses in pieces
// of at most 8192 bytes (the MaxRecvDataSegmentLength that applies during login, §13.12)
// with C=1, each released by an empty Login Request. It assigns StatSN (the first response
// carries the initial value, every later response the next one).
//
// Pure protocol logic: no sockets. The connection sends the returned PDUs, registers the
// session when negotiation completes (kNegotiated) and then calls Finish with the TSIH; the
// Login Final-Response (T=1, NSG=FFP) is the only one that carries a new session's TSIH.
#ifndef ISCSI_CSI_TARGET_LOGIN_H_
#define ISCSI_CSI_TARGET_LOGIN_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "target/protocol.h"

namespace iscsi_csi::target {

// The only iSCSI version there is (RFC 7143 §11.12.4).
inline constexpr uint8_t kIscsiVersion = 0;
// The login-phase limit on a data segment in either direction (RFC 7143 §13.12).
inline constexpr uint32_t kLoginMaxDataSegmentLength = 8192;

struct LoginResponsePdu {
  Bhs bhs{};
  std::string data;
};

struct LoginHandlerOptions {
  TargetPolicy policy;
  uint16_t target_portal_group_tag = 1;
  uint32_t initial_stat_sn = 0;
  // MaxCmdSN announced = CmdSN + command_window - 1.
  uint32_t command_window = 64;
  // Decides on the identity found in the first request; gets that request too (ISID,
  // TSIH) so that it can refuse a connection for an existing or unknown session.
  std::function<TargetAccess(const LoginIdentity&, const LoginRequest&)> resolver;
  RandomSource random;  // empty: OpenSSL
};

class LoginHandler {
 public:
  enum class Outcome {
    kContinue,    // send the responses, wait for the next Login Request
    kFailed,      // send the responses (a Login reject), then close
    kNegotiated,  // negotiation done: register the session, then call Finish(tsih)
    kComplete,    // the final response is among these responses: full feature phase
  };
  struct Step {
    std::vector<LoginResponsePdu> responses;
    Outcome outcome = Outcome::kContinue;
    std::optional<LoginStatus> failure;
    std::string reason;  // for logs; never secrets
  };

  explicit LoginHandler(LoginHandlerOptions options);

  // HandleRequest processes one Login Request PDU that parsed cleanly.
  Step HandleRequest(const LoginRequest& request);
  // HandleMalformed answers a Login Request that ParseLoginRequest rejected (initiator
  // error, RFC 7143 §11.13.5).
  Step HandleMalformed(absl::Span<const uint8_t> bhs);
  // Finish follows kNegotiated: sends the (first piece of the) final response with `tsih`.
  Step Finish(uint16_t tsih);

  // After kComplete:
  const SessionParams& session_params() const { return negotiator_.session_params(); }
  const ConnectionParams& connection_params() const { return negotiator_.connection_params(); }
  const LoginIdentity& identity() const { return negotiator_.identity(); }
  uint32_t next_stat_sn() const { return stat_sn_; }
  // The CmdSN of the login requests: the first command of the session uses it.
  uint32_t cmd_sn() const { return cmd_sn_; }
  const std::array<uint8_t, 6>& isid() const { return isid_; }
  uint16_t request_tsih() const { return request_tsih_; }
  uint16_t cid() const { return cid_; }
  bool started() const { return started_; }

 private:
  Step Fail(const LoginRequest* request, LoginStatus status, std::string reason,
            std::string data = "");
  LoginResponsePdu MakeResponse(const LoginRequest& request, bool transit, bool continue_bit,
                                uint8_t csg, uint8_t nsg, uint16_t tsih, LoginStatus status,
                                std::string data);
  // Removes identity keys repeated with the value of the first request (see login.cc).
  std::string DropRepeatedIdentity(const std::string& text) const;
  // Sends the next pending piece of a split response.
  Step SendNextPiece(const LoginRequest& request);

  LoginHandlerOptions options_;
  LoginNegotiator negotiator_;
  TextAccumulator accumulator_;

  bool started_ = false;
  bool failed_ = false;
  std::array<uint8_t, 6> isid_{};
  uint16_t request_tsih_ = 0;
  uint16_t cid_ = 0;
  uint32_t cmd_sn_ = 0;
  uint32_t stat_sn_ = 0;
  uint8_t current_stage_ = 0;

  // A response being sent in pieces (§6.2 / C bit), and how its last piece ends.
  std::deque<std::string> pending_pieces_;
  bool pending_transit_ = false;
  uint8_t pending_csg_ = 0;
  uint8_t pending_nsg_ = 0;
  bool pending_final_ = false;  // the last piece is the Login Final-Response
  uint16_t tsih_ = 0;
  std::optional<LoginRequest> negotiated_request_;  // the request completing negotiation
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_LOGIN_H_
