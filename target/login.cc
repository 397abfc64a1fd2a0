// LoginHandler: Login Request PDUs in, Login Response PDUs out (RFC 7143 §6.3, §11.12,
// §11.13). See login.h.
#include "target/login.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "target/bytes.h"

namespace iscsi_csi::target {
namespace {

constexpr uint8_t kStageSecurity = static_cast<uint8_t>(LoginStage::kSecurityNegotiation);
constexpr uint8_t kStageOperational =
    static_cast<uint8_t>(LoginStage::kLoginOperationalNegotiation);
constexpr uint8_t kStageFullFeature = static_cast<uint8_t>(LoginStage::kFullFeaturePhase);

}  // namespace

LoginHandler::LoginHandler(LoginHandlerOptions options)
    : options_(std::move(options)),
      negotiator_([this] {
        LoginNegotiatorOptions n;
        n.policy = options_.policy;
        n.target_portal_group_tag = options_.target_portal_group_tag;
        n.leading_connection = true;
        n.random = options_.random;
        // The resolver is wrapped so that it sees the first request's ISID and TSIH.
        n.resolver = [this](const LoginIdentity& identity) -> TargetAccess {
          if (!options_.resolver || !negotiated_request_.has_value()) return TargetAccess{};
          return options_.resolver(identity, *negotiated_request_);
        };
        return n;
      }()),
      stat_sn_(options_.initial_stat_sn) {}

LoginResponsePdu LoginHandler::MakeResponse(const LoginRequest& request, bool transit,
                                            bool continue_bit, uint8_t csg, uint8_t nsg,
                                            uint16_t tsih, LoginStatus status, std::string data) {
  LoginResponse pdu;
  pdu.transit_bit = transit;
  pdu.continue_bit = continue_bit;
  pdu.csg = csg;
  pdu.nsg = transit ? nsg : 0;
  pdu.version_max = kIscsiVersion;
  pdu.version_active = kIscsiVersion;
  pdu.isid = request.isid;
  pdu.tsih = tsih;
  pdu.itt = request.itt;
  // §11.13.3: the first response carries the initial StatSN, each later one the next.
  pdu.stat_sn = stat_sn_++;
  pdu.exp_cmd_sn = request.cmd_sn;
  pdu.max_cmd_sn = request.cmd_sn + options_.command_window - 1;
  pdu.status_class = status.status_class;
  pdu.status_detail = status.status_detail;
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  LoginResponsePdu out;
  out.bhs = EncodeLoginResponse(pdu);
  out.data = std::move(data);
  return out;
}

LoginHandler::Step LoginHandler::Fail(const LoginRequest* request, LoginStatus status,
                                      std::string reason, std::string data) {
  failed_ = true;
  Step step;
  step.outcome = Outcome::kFailed;
  step.failure = status;
  step.reason = std::move(reason);
  LoginRequest fallback;
  const LoginRequest& r = request != nullptr ? *request : fallback;
  step.responses.push_back(MakeResponse(r, /*transit=*/false, /*continue_bit=*/false, r.csg, 0,
                                        r.tsih, status, std::move(data)));
  return step;
}

LoginHandler::Step LoginHandler::HandleMalformed(absl::Span<const uint8_t> bhs) {
  // Recover what the response must echo from the raw header (§11.12 offsets).
  LoginRequest r;
  if (bhs.size() >= kBhsLength) {
    std::copy_n(bhs.begin() + 8, 6, r.isid.begin());
    r.tsih = LoadBe16(bhs, 14);
    r.itt = LoadBe32(bhs, 16);
    r.cmd_sn = LoadBe32(bhs, 24);
    r.csg = (bhs[1] >> 2) & 0x03;
  }
  return Fail(&r, kLoginInitiatorError, "malformed login request");
}

LoginHandler::Step LoginHandler::SendNextPiece(const LoginRequest& request) {
  Step step;
  std::string piece = std::move(pending_pieces_.front());
  pending_pieces_.pop_front();
  const bool last = pending_pieces_.empty();
  if (!last) {
    // §11.13.2: C=1 means more text follows; T must then be 0.
    step.responses.push_back(MakeResponse(request, false, true, pending_csg_, 0, request.tsih,
                                          kLoginSuccess, std::move(piece)));
    step.outcome = Outcome::kContinue;
    return step;
  }
  const bool final_response = pending_final_;
  const uint16_t tsih = final_response ? tsih_ : request.tsih;
  step.responses.push_back(MakeResponse(request, pending_transit_, false, pending_csg_,
                                        pending_nsg_, tsih, kLoginSuccess, std::move(piece)));
  if (pending_transit_) current_stage_ = pending_nsg_;
  step.outcome = final_response ? Outcome::kComplete : Outcome::kContinue;
  return step;
}

std::string LoginHandler::DropRepeatedIdentity(const std::string& text) const {
  // libiscsi repeats InitiatorName and SessionType in the operational stage after a
  // security stage that ended with AuthMethod=None. §6.2 forbids redeclaring keys; a repeat
  // with the value already declared changes nothing, so it is dropped here (like LIO
  // tolerates it) and a different value still reaches the negotiator, which refuses it.
  absl::StatusOr<TextPairs> pairs = ParseTextPairs(text);
  if (!pairs.ok()) return text;
  const LoginIdentity& identity = negotiator_.identity();
  const std::string session_type =
      identity.session_type == SessionType::kDiscovery ? "Discovery" : "Normal";
  TextPairs kept;
  for (TextPair& pair : *pairs) {
    const bool repeat =
        (pair.key == keys::kInitiatorName && pair.value == identity.initiator_name) ||
        (pair.key == keys::kTargetName && pair.value == identity.target_name) ||
        (pair.key == keys::kSessionType && pair.value == session_type);
    if (!repeat) kept.push_back(std::move(pair));
  }
  if (kept.size() == pairs->size()) return text;
  return EncodeTextPairs(kept);
}

LoginHandler::Step LoginHandler::HandleRequest(const LoginRequest& request) {
  if (failed_) return Fail(&request, kLoginInitiatorError, "login request after a failure");
  if (!started_) {
    started_ = true;
    isid_ = request.isid;
    request_tsih_ = request.tsih;
    cid_ = request.cid;
    current_stage_ = request.csg;
    // §11.12.4/§11.13.4: we speak version 0 only.
    if (request.version_min > kIscsiVersion || request.version_max < request.version_min) {
      return Fail(&request, kLoginUnsupportedVersion, "unsupported iSCSI version range");
    }
    if (request.csg != kStageSecurity && request.csg != kStageOperational) {
      return Fail(&request, kLoginInitiatorError, "first login request in an invalid stage");
    }
  } else if (request.isid != isid_ || request.tsih != request_tsih_ || request.cid != cid_) {
    // §6.3: ISID, TSIH and CID stay the same for the whole login.
    return Fail(&request, kLoginInitiatorError, "ISID, TSIH or CID changed during the login");
  }
  cmd_sn_ = request.cmd_sn;

  if (!pending_pieces_.empty()) {
    // §6.2: while our response is split, the initiator answers each piece with an empty
    // request in the same stage.
    if (request.data_segment_length != 0 || request.continue_bit || request.csg != pending_csg_) {
      return Fail(&request, kLoginInitiatorError,
                  "non-empty login request while a response was being continued");
    }
    return SendNextPiece(request);
  }

  if (request.csg != current_stage_) {
    return Fail(&request, kLoginInitiatorError,
                absl::StrCat("login request in stage ", static_cast<int>(request.csg),
                             " while in stage ", static_cast<int>(current_stage_)));
  }

  const std::string_view segment(reinterpret_cast<const char*>(request.data.data()),
                                 request.data.size());
  if (absl::Status status = accumulator_.Append(segment, request.continue_bit); !status.ok()) {
    accumulator_.Reset();
    return Fail(&request, kLoginInitiatorError, "login request text too long");
  }
  if (request.continue_bit) {
    // §11.12.2 / §6.2: acknowledge a continued request with an empty response.
    Step step;
    step.responses.push_back(
        MakeResponse(request, false, false, request.csg, 0, request.tsih, kLoginSuccess, ""));
    return step;
  }
  absl::StatusOr<std::string> text = accumulator_.Take();
  if (!text.ok()) return Fail(&request, kLoginInitiatorError, "incomplete login request text");
  if (VLOG_IS_ON(4)) {
    // Key names only: values may carry CHAP material.
    std::string names;
    for (absl::string_view pair : absl::StrSplit(*text, '\0', absl::SkipEmpty())) {
      absl::StrAppend(&names, " ", pair.substr(0, pair.find('=')));
    }
    VLOG(4) << "login request csg=" << static_cast<int>(request.csg) << " t=" << request.transit_bit
            << " nsg=" << static_cast<int>(request.nsg) << " keys:" << names;
  }

  if (!negotiated_request_.has_value()) {
    negotiated_request_ = request;
    negotiated_request_->data = {};  // the header fields only; the buffer is not ours
  } else {
    *text = DropRepeatedIdentity(*text);
  }
  LoginStepResult result =
      negotiator_.ProcessRequest(static_cast<LoginStage>(request.csg), request.transit_bit,
                                 static_cast<LoginStage>(request.nsg), *text);
  if (result.failure.has_value()) {
    // A failure may carry pairs (e.g. "AuthMethod=Reject"); they go along when they fit.
    std::string data = EncodeTextPairs(result.response);
    if (data.size() > kLoginMaxDataSegmentLength) data.clear();
    return Fail(&request, *result.failure, result.reason, std::move(data));
  }

  absl::StatusOr<std::vector<std::string>> pieces =
      SplitTextIntoSegments(EncodeTextPairs(result.response), kLoginMaxDataSegmentLength);
  if (!pieces.ok()) return Fail(&request, kLoginTargetError, "cannot split the login response");
  pending_pieces_.assign(pieces->begin(), pieces->end());
  pending_transit_ = request.transit_bit && result.transit_allowed;
  pending_csg_ = request.csg;
  pending_nsg_ = request.nsg;
  pending_final_ = result.complete;
  if (result.complete) {
    CHECK(pending_transit_ && pending_nsg_ == kStageFullFeature)
        << "negotiation completed without a transition to the full feature phase";
    negotiated_request_ = request;
    negotiated_request_->data = {};
    Step step;
    step.outcome = Outcome::kNegotiated;
    return step;
  }
  return SendNextPiece(request);
}

LoginHandler::Step LoginHandler::Finish(uint16_t tsih) {
  CHECK(negotiated_request_.has_value() && pending_final_) << "Finish before negotiation";
  // §11.13.4: a new session's TSIH appears only in the Login Final-Response; a connection
  // joining a session echoes the TSIH it sent.
  tsih_ = request_tsih_ != 0 ? request_tsih_ : tsih;
  return SendNextPiece(*negotiated_request_);
}

}  // namespace iscsi_csi::target
