// negotiation: the target side of iSCSI login and text negotiation.
//
// Implements RFC 7143 §6.2 (text mode negotiation: list, simple-value, Boolean and
// numerical rules, Reject / Irrelevant / NotUnderstood), §6.3 (login stages, no
// redeclaration), §12 (AuthMethod, with CHAP delegated to chap.h) and every key of §13,
// plus iSCSIProtocolLevel (RFC 7144 §2.1) and the iSER keys (RFC 7145 §6), which we answer
// as a target without RDMA. The policy (our limits and preferences) is a struct passed in.
//
// The login state machine (PDUs, CSG/NSG, TSIH, StatSN) lives elsewhere. It feeds the
// complete key=value text of each Login Request (continuation PDUs already joined with
// TextAccumulator) to LoginNegotiator::ProcessRequest and sends back the response pairs,
// or a Login reject with the returned LoginStatus.
#ifndef ISCSI_CSI_TARGET_NEGOTIATION_H_
#define ISCSI_CSI_TARGET_NEGOTIATION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "target/chap.h"
#include "target/text_params.h"

namespace iscsi_csi::target {

// Login Response status (RFC 7143 §11.13.5): class and detail.
struct LoginStatus {
  uint8_t status_class = 0;
  uint8_t status_detail = 0;

  bool ok() const { return status_class == 0; }
  friend bool operator==(const LoginStatus&, const LoginStatus&) = default;
};
inline constexpr LoginStatus kLoginSuccess{0x00, 0x00};
inline constexpr LoginStatus kLoginInitiatorError{0x02, 0x00};
inline constexpr LoginStatus kLoginAuthenticationFailure{0x02, 0x01};
inline constexpr LoginStatus kLoginAuthorizationFailure{0x02, 0x02};
inline constexpr LoginStatus kLoginNotFound{0x02, 0x03};
inline constexpr LoginStatus kLoginTargetRemoved{0x02, 0x04};
inline constexpr LoginStatus kLoginUnsupportedVersion{0x02, 0x05};
inline constexpr LoginStatus kLoginTooManyConnections{0x02, 0x06};
inline constexpr LoginStatus kLoginMissingParameter{0x02, 0x07};
inline constexpr LoginStatus kLoginCannotIncludeInSession{0x02, 0x08};
inline constexpr LoginStatus kLoginSessionTypeNotSupported{0x02, 0x09};
inline constexpr LoginStatus kLoginSessionDoesNotExist{0x02, 0x0a};
inline constexpr LoginStatus kLoginInvalidDuringLogin{0x02, 0x0b};
inline constexpr LoginStatus kLoginTargetError{0x03, 0x00};
inline constexpr LoginStatus kLoginServiceUnavailable{0x03, 0x01};
inline constexpr LoginStatus kLoginOutOfResources{0x03, 0x02};

enum class SessionType : uint8_t { kNormal, kDiscovery };

// Login stages as carried in CSG/NSG (RFC 7143 §11.12.3).
enum class LoginStage : uint8_t {
  kSecurityNegotiation = 0,
  kLoginOperationalNegotiation = 1,
  kFullFeaturePhase = 3,
};

enum class DigestType : uint8_t { kNone, kCrc32c };
enum class AuthMethod : uint8_t { kNone, kChap };

// Session-wide results; every field starts at the RFC default (what applies when a key is
// never negotiated).
struct SessionParams {
  SessionType session_type = SessionType::kNormal;
  std::string initiator_name;
  std::string initiator_alias;
  std::string target_name;  // empty for discovery sessions
  uint16_t target_portal_group_tag = 0;
  AuthMethod auth_method = AuthMethod::kNone;
  std::optional<ChapAlgorithm> chap_algorithm;
  bool mutual_chap = false;

  uint32_t max_connections = 1;             // §13.2, Minimum
  bool initial_r2t = true;                  // §13.10, OR
  bool immediate_data = true;               // §13.11, AND
  uint32_t max_burst_length = 262144;       // §13.13, Minimum
  uint32_t first_burst_length = 65536;      // §13.14, Minimum, <= MaxBurstLength
  uint32_t default_time2wait = 2;           // §13.15, Maximum
  uint32_t default_time2retain = 20;        // §13.16, Minimum
  uint32_t max_outstanding_r2t = 1;         // §13.17, Minimum
  bool data_pdu_in_order = true;            // §13.18, OR
  bool data_sequence_in_order = true;       // §13.19, OR
  uint32_t error_recovery_level = 0;        // §13.20, Minimum
  uint32_t iscsi_protocol_level = 0;        // RFC 7144 §2.1, Minimum
  std::string task_reporting = "RFC3720";   // §13.23
  bool rdma_extensions = false;             // RFC 7145, AND
};

// Per-connection results.
struct ConnectionParams {
  DigestType header_digest = DigestType::kNone;  // §13.1
  DigestType data_digest = DigestType::kNone;    // §13.1
  // MaxRecvDataSegmentLength declared by the initiator: the most we may put in one PDU's
  // data segment towards it (§13.12; 8192 until declared).
  uint32_t initiator_max_recv_data_segment_length = 8192;
  // What we declared; the initiator assumes 8192 until it sees our declaration.
  uint32_t target_max_recv_data_segment_length = 8192;
};

// TargetPolicy: our offered limits and preferences.
struct TargetPolicy {
  uint32_t max_recv_data_segment_length = 262144;
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 262144;
  uint32_t max_outstanding_r2t = 1;
  bool immediate_data = true;
  bool initial_r2t = false;
  uint32_t max_connections = 1;
  uint32_t error_recovery_level = 0;  // only 0 is implemented
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
  // Digests we accept, in our order of preference (used when we propose). The initiator's
  // order decides among accepted values (§6.2.1). Leaving kNone out requires digests: we
  // then propose them if the initiator did not offer any, and a login that skips the
  // operational stage, or settles on None, fails with kLoginInitiatorError.
  std::vector<DigestType> header_digests = {DigestType::kCrc32c, DigestType::kNone};
  std::vector<DigestType> data_digests = {DigestType::kCrc32c, DigestType::kNone};
  uint32_t iscsi_protocol_level = 1;  // RFC 7143 is level 1
  // When the initiator asks to leave the operational stage of a Normal session without
  // having offered a key whose RFC default differs from our preference (e.g. InitialR2T,
  // MaxBurstLength), propose it and hold the transition until it is answered. Off by
  // default: open-iscsi offers all of them, and it treats unsolicited keys as answers.
  bool propose_unoffered_keys = false;
};

// ValidateTargetPolicy checks the policy against the RFC ranges (and ErrorRecoveryLevel 0,
// the only level implemented).
absl::Status ValidateTargetPolicy(const TargetPolicy& policy);

// Who is logging in to what: known after the first Login Request.
struct LoginIdentity {
  SessionType session_type = SessionType::kNormal;
  std::string initiator_name;
  std::string initiator_alias;
  std::string target_name;  // empty for discovery
};

// TargetAccess: the resolver's verdict for an identity.
struct TargetAccess {
  // Refuse the login with this status (e.g. kLoginNotFound, kLoginAuthorizationFailure).
  std::optional<LoginStatus> refusal;
  // CHAP the initiator must pass; nullopt means AuthMethod=None is accepted (and CHAP,
  // having no credentials, is not offered).
  std::optional<ChapConfig> chap;
  // Declared as TargetAlias in the first response of a Normal session when not empty.
  std::string target_alias;
};
using TargetResolver = std::function<TargetAccess(const LoginIdentity&)>;

struct LoginNegotiatorOptions {
  TargetPolicy policy;
  // Declared in the first response of a Normal session (§13.9).
  uint16_t target_portal_group_tag = 1;
  // False for a connection joining an existing session (non-zero TSIH): LO keys are then
  // refused (§13: "LO" keys are only allowed on the leading connection).
  bool leading_connection = true;
  // Empty: every target exists and no authentication is required.
  TargetResolver resolver;
  // Empty: OpenSSL RAND_bytes. Injected by tests for deterministic CHAP challenges.
  RandomSource random;
};

struct LoginStepResult {
  // Set when the login must fail: send a Login Response with this status and close.
  std::optional<LoginStatus> failure;
  // Pairs for the Login Response (may accompany a failure, e.g. "CHAP_A=Reject").
  TextPairs response;
  // Whether the target may set T=1 in this response. False while authentication is still
  // in progress or while our proposals wait for answers.
  bool transit_allowed = false;
  // True once the login may enter the Full Feature Phase (the request had T=1, NSG=3 and
  // every check passed): session_params()/connection_params() are final.
  bool complete = false;
  // Why the login failed, for logs (key names and rule, never values or secrets).
  std::string reason;
};

// LoginNegotiator: negotiation state for one connection's login.
class LoginNegotiator {
 public:
  explicit LoginNegotiator(LoginNegotiatorOptions options);

  // ProcessRequest handles the text of one complete Login Request. `current_stage` is
  // CSG, `transit` the T bit and `next_stage` NSG. After a failure every later call
  // returns the same failure.
  LoginStepResult ProcessRequest(LoginStage current_stage, bool transit, LoginStage next_stage,
                                 std::string_view text);

  const SessionParams& session_params() const { return session_; }
  const ConnectionParams& connection_params() const { return connection_; }
  const LoginIdentity& identity() const { return identity_; }
  bool authenticated() const { return auth_done_; }

 private:
  LoginStepResult Failure(LoginStatus status, std::string reason, TextPairs response = {});
  std::optional<LoginStepResult> HandleIdentity(const TextPairs& pairs, TextPairs* declarations);
  std::optional<LoginStepResult> HandleSecurity(const TextPairs& pairs, bool transit,
                                                TextPairs* response);
  std::optional<LoginStepResult> AnswerOperational(const TextPair& pair,
                                                   std::optional<std::string>* answer);
  std::optional<LoginStepResult> AcceptProposalAnswer(const TextPair& pair);
  bool RequiresAuthentication() const { return access_.chap.has_value(); }
  void ProposeKeys(TextPairs* response);
  std::optional<LoginStepResult> FinishChecks();

  LoginNegotiatorOptions options_;
  SessionParams session_;
  ConnectionParams connection_;
  LoginIdentity identity_;
  TargetAccess access_;
  std::optional<ChapTargetSession> chap_;

  bool first_request_done_ = false;
  bool complete_ = false;
  bool failed_ = false;
  LoginStepResult failure_;
  bool auth_method_agreed_ = false;
  bool auth_done_ = false;
  bool declared_max_recv_ = false;
  bool first_burst_negotiated_ = false;
  // Keys the initiator has sent during this login (originated or answered).
  std::set<std::string, std::less<>> seen_keys_;
  // Keys we proposed and the value we proposed, awaiting the initiator's answer.
  std::map<std::string, std::string, std::less<>> pending_proposals_;
  std::set<std::string, std::less<>> proposed_keys_;
};

// What a SendTargets request asks for (RFC 7143 §13.3, Appendix C).
struct SendTargetsRequest {
  enum class Scope : uint8_t { kAll, kSessionTarget, kNamedTarget };
  Scope scope = Scope::kSessionTarget;
  std::string target_name;  // for kNamedTarget
};

struct TextStepResult {
  TextPairs response;
  // Set when the request carried SendTargets; the caller appends the TargetName /
  // TargetAddress records (AppendSendTargetsRecord) after `response`.
  std::optional<SendTargetsRequest> send_targets;
};

// NegotiateFullFeatureText answers a Text Request in the Full Feature Phase. Only keys
// whose use is ALL or FFPO are honoured (SendTargets, MaxRecvDataSegmentLength,
// InitiatorAlias); login-only keys and keys the initiator may not send are answered
// Reject, unknown keys NotUnderstood. A malformed request (bad text, a repeated key, a
// reserved value used as a proposal) returns InvalidArgument: a protocol error for the
// connection layer (Reject PDU).
absl::StatusOr<TextStepResult> NegotiateFullFeatureText(const SessionParams& session,
                                                        ConnectionParams* connection,
                                                        std::string_view text);

// AppendSendTargetsRecord adds "TargetName=<name>" followed by one "TargetAddress=" per
// address ("host:port,tpgt", §13.8) to a SendTargets response.
void AppendSendTargetsRecord(std::string_view target_name,
                             absl::Span<const std::string> addresses, TextPairs* out);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_NEGOTIATION_H_
