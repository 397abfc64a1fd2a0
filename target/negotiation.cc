// negotiation: target side of login and text negotiation (RFC 7143 §6.2, §6.3, §12, §13;
// RFC 7144 §2.1; RFC 7145 §6). See negotiation.h for the contracts.
#include "target/negotiation.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace iscsi_csi::target {
namespace {

constexpr uint64_t kMaxDataSegmentLength = (1u << 24) - 1;  // 2^24 - 1 (§13.12-13.14)

enum class KeyId : uint8_t {
  kAuthMethod,
  kChapA,
  kChapI,
  kChapC,
  kChapN,
  kChapR,
  kHeaderDigest,
  kDataDigest,
  kMaxConnections,
  kSendTargets,
  kTargetName,
  kInitiatorName,
  kSessionType,
  kInitiatorAlias,
  kTargetAlias,
  kTargetAddress,
  kTargetPortalGroupTag,
  kInitialR2T,
  kImmediateData,
  kMaxRecvDataSegmentLength,
  kMaxBurstLength,
  kFirstBurstLength,
  kDefaultTime2Wait,
  kDefaultTime2Retain,
  kMaxOutstandingR2T,
  kDataPDUInOrder,
  kDataSequenceInOrder,
  kErrorRecoveryLevel,
  kTaskReporting,
  kIscsiProtocolLevel,
  kRdmaExtensions,
  kTargetRecvDataSegmentLength,
  kInitiatorRecvDataSegmentLength,
  kMaxOutstandingUnexpectedPDUs,
  kOFMarker,
  kIFMarker,
  kOFMarkInt,
  kIFMarkInt,
};

// Where a key may be sent by the initiator.
enum class KeyClass : uint8_t {
  kSecurity,     // §12: security negotiation stage only
  kIdentity,     // first Login Request only (IO declarations)
  kAnyStage,     // any login stage and FFP (InitiatorAlias, use ALL)
  kOperational,  // operational negotiation stage only
  kFfpOnly,      // Text Requests in the Full Feature Phase (SendTargets, FFPO)
  kTargetOnly,   // "Senders: Target": the initiator may not send it
};

// The result function of §6.2.2 / §13.
enum class Rule : uint8_t { kNone, kMin, kMax, kOr, kAnd, kList, kDeclarative, kIrrelevant,
                            kReject };

struct KeySpec {
  std::string_view name;
  KeyId id;
  KeyClass key_class;
  Rule rule;
  uint64_t lo;
  uint64_t hi;
  bool leading_only;             // "LO"
  bool irrelevant_in_discovery;  // "Irrelevant when: SessionType=Discovery"
  bool allowed_in_ffp;           // use ALL/FFPO for an initiator
  int order;                     // evaluation order inside one request (dependencies)
};

constexpr uint64_t kNoLimit = 0;

// clang-format off
constexpr std::array<KeySpec, 38> kKeySpecs = {{
  // §12 security keys.
  {keys::kAuthMethod, KeyId::kAuthMethod, KeyClass::kSecurity, Rule::kList, 0, kNoLimit, false, false, false, 0},
  {keys::kChapA, KeyId::kChapA, KeyClass::kSecurity, Rule::kNone, 0, kNoLimit, false, false, false, 0},
  {keys::kChapI, KeyId::kChapI, KeyClass::kSecurity, Rule::kNone, 0, kNoLimit, false, false, false, 0},
  {keys::kChapC, KeyId::kChapC, KeyClass::kSecurity, Rule::kNone, 0, kNoLimit, false, false, false, 0},
  {keys::kChapN, KeyId::kChapN, KeyClass::kSecurity, Rule::kNone, 0, kNoLimit, false, false, false, 0},
  {keys::kChapR, KeyId::kChapR, KeyClass::kSecurity, Rule::kNone, 0, kNoLimit, false, false, false, 0},
  // §13 keys.
  {keys::kHeaderDigest, KeyId::kHeaderDigest, KeyClass::kOperational, Rule::kList, 0, kNoLimit, false, false, false, 1},
  {keys::kDataDigest, KeyId::kDataDigest, KeyClass::kOperational, Rule::kList, 0, kNoLimit, false, false, false, 1},
  {keys::kMaxConnections, KeyId::kMaxConnections, KeyClass::kOperational, Rule::kMin, 1, 65535, true, true, false, 1},
  {keys::kSendTargets, KeyId::kSendTargets, KeyClass::kFfpOnly, Rule::kNone, 0, kNoLimit, false, false, true, 1},
  {keys::kTargetName, KeyId::kTargetName, KeyClass::kIdentity, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kInitiatorName, KeyId::kInitiatorName, KeyClass::kIdentity, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kSessionType, KeyId::kSessionType, KeyClass::kIdentity, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kInitiatorAlias, KeyId::kInitiatorAlias, KeyClass::kAnyStage, Rule::kDeclarative, 0, kNoLimit, false, false, true, 0},
  {keys::kTargetAlias, KeyId::kTargetAlias, KeyClass::kTargetOnly, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kTargetAddress, KeyId::kTargetAddress, KeyClass::kTargetOnly, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kTargetPortalGroupTag, KeyId::kTargetPortalGroupTag, KeyClass::kTargetOnly, Rule::kDeclarative, 0, kNoLimit, false, false, false, 0},
  {keys::kInitialR2T, KeyId::kInitialR2T, KeyClass::kOperational, Rule::kOr, 0, kNoLimit, true, true, false, 1},
  {keys::kImmediateData, KeyId::kImmediateData, KeyClass::kOperational, Rule::kAnd, 0, kNoLimit, true, true, false, 1},
  {keys::kMaxRecvDataSegmentLength, KeyId::kMaxRecvDataSegmentLength, KeyClass::kOperational, Rule::kDeclarative, 512, kMaxDataSegmentLength, false, false, true, 1},
  {keys::kMaxBurstLength, KeyId::kMaxBurstLength, KeyClass::kOperational, Rule::kMin, 512, kMaxDataSegmentLength, true, true, false, 2},
  {keys::kFirstBurstLength, KeyId::kFirstBurstLength, KeyClass::kOperational, Rule::kMin, 512, kMaxDataSegmentLength, true, true, false, 3},
  {keys::kDefaultTime2Wait, KeyId::kDefaultTime2Wait, KeyClass::kOperational, Rule::kMax, 0, 3600, true, false, false, 1},
  {keys::kDefaultTime2Retain, KeyId::kDefaultTime2Retain, KeyClass::kOperational, Rule::kMin, 0, 3600, true, false, false, 1},
  {keys::kMaxOutstandingR2T, KeyId::kMaxOutstandingR2T, KeyClass::kOperational, Rule::kMin, 1, 65535, true, true, false, 1},
  {keys::kDataPDUInOrder, KeyId::kDataPDUInOrder, KeyClass::kOperational, Rule::kOr, 0, kNoLimit, true, true, false, 1},
  {keys::kDataSequenceInOrder, KeyId::kDataSequenceInOrder, KeyClass::kOperational, Rule::kOr, 0, kNoLimit, true, true, false, 1},
  {keys::kErrorRecoveryLevel, KeyId::kErrorRecoveryLevel, KeyClass::kOperational, Rule::kMin, 0, 2, true, false, false, 1},
  {keys::kTaskReporting, KeyId::kTaskReporting, KeyClass::kOperational, Rule::kList, 0, kNoLimit, true, true, false, 1},
  {keys::kIscsiProtocolLevel, KeyId::kIscsiProtocolLevel, KeyClass::kOperational, Rule::kMin, 0, 31, true, true, false, 1},
  // RFC 7145: we have no RDMA, so RDMAExtensions is always No and the keys that depend on
  // it are Irrelevant ("Irrelevant when: RDMAExtensions=No").
  {keys::kRdmaExtensions, KeyId::kRdmaExtensions, KeyClass::kOperational, Rule::kAnd, 0, kNoLimit, true, true, false, 0},
  {keys::kTargetRecvDataSegmentLength, KeyId::kTargetRecvDataSegmentLength, KeyClass::kOperational, Rule::kIrrelevant, 0, kNoLimit, false, false, false, 1},
  {keys::kInitiatorRecvDataSegmentLength, KeyId::kInitiatorRecvDataSegmentLength, KeyClass::kOperational, Rule::kIrrelevant, 0, kNoLimit, false, false, false, 1},
  {keys::kMaxOutstandingUnexpectedPDUs, KeyId::kMaxOutstandingUnexpectedPDUs, KeyClass::kOperational, Rule::kIrrelevant, 0, kNoLimit, true, false, false, 1},
  // RFC 7143 "Obsoleted Keys": answer Reject (SHOULD for the markers, MUST for the
  // intervals).
  {keys::kOFMarker, KeyId::kOFMarker, KeyClass::kOperational, Rule::kReject, 0, kNoLimit, false, false, false, 1},
  {keys::kIFMarker, KeyId::kIFMarker, KeyClass::kOperational, Rule::kReject, 0, kNoLimit, false, false, false, 1},
  {keys::kOFMarkInt, KeyId::kOFMarkInt, KeyClass::kOperational, Rule::kReject, 0, kNoLimit, false, false, false, 1},
  {keys::kIFMarkInt, KeyId::kIFMarkInt, KeyClass::kOperational, Rule::kReject, 0, kNoLimit, false, false, false, 1},
}};
// clang-format on

constexpr bool EveryKeyHasOneRow() {
  for (size_t i = 0; i < kKeySpecs.size(); ++i) {
    if (kKeySpecs[i].name.empty() || static_cast<size_t>(kKeySpecs[i].id) != i) return false;
  }
  return true;
}
static_assert(EveryKeyHasOneRow(), "kKeySpecs must list every KeyId once, in KeyId order");

const KeySpec* FindKey(std::string_view name) {
  for (const KeySpec& spec : kKeySpecs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const KeySpec& SpecFor(KeyId id) {
  for (const KeySpec& spec : kKeySpecs) {
    if (spec.id == id) return spec;
  }
  return kKeySpecs[0];  // unreachable: every KeyId has a row
}

// Keys of the SRP (§12.1.2) and Kerberos (§12.1.1) methods, which we never select.
bool IsOtherAuthKey(std::string_view key) {
  return key.starts_with("SRP_") || key.starts_with("KRB_") || key == "TargetAuth";
}

// Debian's Abseil keeps its own string_view type; bridge for StrCat.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view DigestName(DigestType d) { return d == DigestType::kCrc32c ? "CRC32C" : "None"; }

std::optional<DigestType> ParseDigest(std::string_view v) {
  if (v == "CRC32C") return DigestType::kCrc32c;
  if (v == kValueNone) return DigestType::kNone;
  return std::nullopt;
}

std::string YesNo(bool b) { return std::string(b ? kValueYes : kValueNo); }

std::optional<uint64_t> ParseInRange(std::string_view value, const KeySpec& spec) {
  std::optional<uint64_t> n = ParseNumericalValue(value);
  if (!n || *n < spec.lo || *n > spec.hi) return std::nullopt;
  return n;
}

uint32_t* NumericField(KeyId id, SessionParams& s) {
  switch (id) {
    case KeyId::kMaxConnections:
      return &s.max_connections;
    case KeyId::kMaxBurstLength:
      return &s.max_burst_length;
    case KeyId::kFirstBurstLength:
      return &s.first_burst_length;
    case KeyId::kDefaultTime2Wait:
      return &s.default_time2wait;
    case KeyId::kDefaultTime2Retain:
      return &s.default_time2retain;
    case KeyId::kMaxOutstandingR2T:
      return &s.max_outstanding_r2t;
    case KeyId::kErrorRecoveryLevel:
      return &s.error_recovery_level;
    case KeyId::kIscsiProtocolLevel:
      return &s.iscsi_protocol_level;
    default:
      return nullptr;
  }
}

uint64_t PolicyNumber(KeyId id, const TargetPolicy& p) {
  switch (id) {
    case KeyId::kMaxConnections:
      return p.max_connections;
    case KeyId::kMaxBurstLength:
      return p.max_burst_length;
    case KeyId::kFirstBurstLength:
      return p.first_burst_length;
    case KeyId::kDefaultTime2Wait:
      return p.default_time2wait;
    case KeyId::kDefaultTime2Retain:
      return p.default_time2retain;
    case KeyId::kMaxOutstandingR2T:
      return p.max_outstanding_r2t;
    case KeyId::kErrorRecoveryLevel:
      return p.error_recovery_level;
    case KeyId::kIscsiProtocolLevel:
      return p.iscsi_protocol_level;
    default:
      return 0;
  }
}

bool* BoolField(KeyId id, SessionParams& s) {
  switch (id) {
    case KeyId::kInitialR2T:
      return &s.initial_r2t;
    case KeyId::kImmediateData:
      return &s.immediate_data;
    case KeyId::kDataPDUInOrder:
      return &s.data_pdu_in_order;
    case KeyId::kDataSequenceInOrder:
      return &s.data_sequence_in_order;
    case KeyId::kRdmaExtensions:
      return &s.rdma_extensions;
    default:
      return nullptr;
  }
}

bool PolicyBool(KeyId id, const TargetPolicy& p) {
  switch (id) {
    case KeyId::kInitialR2T:
      return p.initial_r2t;
    case KeyId::kImmediateData:
      return p.immediate_data;
    case KeyId::kDataPDUInOrder:
      return p.data_pdu_in_order;
    case KeyId::kDataSequenceInOrder:
      return p.data_sequence_in_order;
    default:
      return false;  // RDMAExtensions: we have no RDMA
  }
}

const std::vector<DigestType>& PolicyDigests(KeyId id, const TargetPolicy& p) {
  return id == KeyId::kHeaderDigest ? p.header_digests : p.data_digests;
}

DigestType* DigestField(KeyId id, ConnectionParams& c) {
  return id == KeyId::kHeaderDigest ? &c.header_digest : &c.data_digest;
}

bool Contains(const std::vector<DigestType>& v, DigestType d) {
  return std::find(v.begin(), v.end(), d) != v.end();
}

std::string StageName(LoginStage stage) {
  switch (stage) {
    case LoginStage::kSecurityNegotiation:
      return "security";
    case LoginStage::kLoginOperationalNegotiation:
      return "operational";
    case LoginStage::kFullFeaturePhase:
      return "full feature";
  }
  return "unknown";
}

}  // namespace

absl::Status ValidateTargetPolicy(const TargetPolicy& p) {
  auto in = [](uint64_t v, uint64_t lo, uint64_t hi) { return v >= lo && v <= hi; };
  if (!in(p.max_recv_data_segment_length, 512, kMaxDataSegmentLength)) {
    return absl::InvalidArgumentError("policy: MaxRecvDataSegmentLength outside 512..2^24-1");
  }
  if (!in(p.max_burst_length, 512, kMaxDataSegmentLength)) {
    return absl::InvalidArgumentError("policy: MaxBurstLength outside 512..2^24-1");
  }
  if (!in(p.first_burst_length, 512, kMaxDataSegmentLength) ||
      p.first_burst_length > p.max_burst_length) {
    return absl::InvalidArgumentError(
        "policy: FirstBurstLength outside 512..MaxBurstLength (RFC 7143 13.14)");
  }
  if (!in(p.max_outstanding_r2t, 1, 65535)) {
    return absl::InvalidArgumentError("policy: MaxOutstandingR2T outside 1..65535");
  }
  if (!in(p.max_connections, 1, 65535)) {
    return absl::InvalidArgumentError("policy: MaxConnections outside 1..65535");
  }
  if (p.error_recovery_level != 0) {
    return absl::InvalidArgumentError("policy: only ErrorRecoveryLevel 0 is implemented");
  }
  if (p.default_time2wait > 3600 || p.default_time2retain > 3600) {
    return absl::InvalidArgumentError("policy: DefaultTime2Wait/Retain outside 0..3600");
  }
  if (p.header_digests.empty() || p.data_digests.empty()) {
    return absl::InvalidArgumentError("policy: digest lists must not be empty");
  }
  if (p.iscsi_protocol_level > 1) {
    return absl::InvalidArgumentError("policy: iSCSIProtocolLevel above 1 is not implemented");
  }
  return absl::OkStatus();
}

LoginNegotiator::LoginNegotiator(LoginNegotiatorOptions options) : options_(std::move(options)) {}

LoginStepResult LoginNegotiator::Failure(LoginStatus status, std::string reason,
                                         TextPairs response) {
  failed_ = true;
  failure_ = LoginStepResult{};
  failure_.failure = status;
  failure_.reason = std::move(reason);
  failure_.response = std::move(response);
  VLOG(1) << "login negotiation failed (" << static_cast<int>(status.status_class) << "/"
          << static_cast<int>(status.status_detail) << "): " << failure_.reason;
  return failure_;
}

LoginStepResult LoginNegotiator::ProcessRequest(LoginStage current_stage, bool transit,
                                                LoginStage next_stage, std::string_view text) {
  if (failed_) return failure_;
  if (complete_) return Failure(kLoginInitiatorError, "login request after login completed");
  if (current_stage != LoginStage::kSecurityNegotiation &&
      current_stage != LoginStage::kLoginOperationalNegotiation) {
    return Failure(kLoginInitiatorError, "login request with an invalid current stage");
  }
  if (transit && (static_cast<int>(next_stage) <= static_cast<int>(current_stage) ||
                  (next_stage != LoginStage::kLoginOperationalNegotiation &&
                   next_stage != LoginStage::kFullFeaturePhase))) {
    return Failure(kLoginInitiatorError, "login request with an invalid next stage");
  }
  if (!ValidateTargetPolicy(options_.policy).ok()) {
    return Failure(kLoginTargetError, "target policy is invalid");
  }

  absl::StatusOr<TextPairs> parsed = ParseTextPairs(text);
  if (!parsed.ok()) {
    return Failure(kLoginInitiatorError, std::string(parsed.status().message()));
  }
  const TextPairs& pairs = *parsed;

  // §6.3: a key may not be declared or negotiated twice in a login, except to answer a
  // key we proposed.
  for (const TextPair& pair : pairs) {
    if (seen_keys_.contains(pair.key) && !pending_proposals_.contains(pair.key)) {
      return Failure(kLoginInitiatorError,
                     absl::StrCat("key ", pair.key, " sent again during the login"));
    }
  }

  TextPairs declarations;
  const bool first_request = !first_request_done_;
  if (first_request) {
    if (std::optional<LoginStepResult> f = HandleIdentity(pairs, &declarations)) return *f;
    first_request_done_ = true;
  }

  // Check where each key may appear; collect the operational ones.
  std::vector<std::optional<std::string>> answers(pairs.size());
  std::vector<std::pair<const KeySpec*, size_t>> operational;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const TextPair& pair = pairs[i];
    const KeySpec* spec = FindKey(pair.key);
    if (spec == nullptr) {
      if (IsOtherAuthKey(pair.key)) {
        return Failure(kLoginInitiatorError,
                       absl::StrCat("key ", pair.key, " belongs to an authentication method "
                                                      "that was not selected"));
      }
      // Unknown, X- (private) and X# (public extension) keys (§6.2, §13.22).
      answers[i] = std::string(kValueNotUnderstood);
      continue;
    }
    switch (spec->key_class) {
      case KeyClass::kIdentity:
        if (!first_request) {
          return Failure(kLoginInitiatorError,
                         absl::StrCat(pair.key, " is only allowed in the first login request"));
        }
        break;
      case KeyClass::kAnyStage:
        if (!first_request) {
          if (IsLocalNameValue(pair.value) && !IsReservedAnswer(pair.value)) {
            session_.initiator_alias = pair.value;
            identity_.initiator_alias = pair.value;
          } else {
            answers[i] = std::string(kValueReject);
          }
        } else if (!IsLocalNameValue(pair.value) || IsReservedAnswer(pair.value)) {
          answers[i] = std::string(kValueReject);
        }
        break;
      case KeyClass::kSecurity:
        if (current_stage != LoginStage::kSecurityNegotiation) {
          return Failure(kLoginInitiatorError,
                         absl::StrCat("security key ", pair.key, " sent in the ",
                                      StageName(current_stage), " stage"));
        }
        break;
      case KeyClass::kOperational:
        if (current_stage != LoginStage::kLoginOperationalNegotiation) {
          return Failure(kLoginInitiatorError,
                         absl::StrCat("operational key ", pair.key, " sent in the ",
                                      StageName(current_stage), " stage"));
        }
        if (spec->leading_only && !options_.leading_connection) {
          return Failure(kLoginInitiatorError,
                         absl::StrCat("leading-only key ", pair.key,
                                      " sent on a non-leading connection"));
        }
        operational.emplace_back(spec, i);
        break;
      case KeyClass::kFfpOnly:
        return Failure(kLoginInitiatorError,
                       absl::StrCat(pair.key, " is only allowed in the full feature phase"));
      case KeyClass::kTargetOnly:
        return Failure(kLoginInitiatorError,
                       absl::StrCat(pair.key, " may only be sent by the target"));
    }
  }

  TextPairs security_response;
  if (current_stage == LoginStage::kSecurityNegotiation) {
    if (std::optional<LoginStepResult> f = HandleSecurity(pairs, transit, &security_response)) {
      return *f;
    }
  } else {
    // Operational stage: the security stage must have been completed or skipped legally.
    if (RequiresAuthentication() && !auth_done_) {
      return Failure(kLoginAuthenticationFailure,
                     "operational stage reached without authentication");
    }
    auth_done_ = true;
    std::stable_sort(operational.begin(), operational.end(),
                     [](const auto& a, const auto& b) { return a.first->order < b.first->order; });
    for (const auto& [spec, index] : operational) {
      const TextPair& pair = pairs[index];
      std::optional<LoginStepResult> f;
      if (pending_proposals_.contains(pair.key)) {
        f = AcceptProposalAnswer(pair);
      } else {
        f = AnswerOperational(pair, &answers[index]);
      }
      if (f) return *f;
    }
  }
  for (const TextPair& pair : pairs) seen_keys_.insert(pair.key);

  LoginStepResult result;
  result.response = std::move(declarations);
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (answers[i]) result.response.push_back({pairs[i].key, *answers[i]});
  }
  for (TextPair& p : security_response) result.response.push_back(std::move(p));
  if (current_stage == LoginStage::kLoginOperationalNegotiation && !declared_max_recv_) {
    // §13.12: MaxRecvDataSegmentLength is declared by each side for what it receives.
    declared_max_recv_ = true;
    connection_.target_max_recv_data_segment_length =
        options_.policy.max_recv_data_segment_length;
    result.response.push_back({std::string(keys::kMaxRecvDataSegmentLength),
                               std::to_string(options_.policy.max_recv_data_segment_length)});
  }

  if (!transit) return result;
  if (current_stage == LoginStage::kSecurityNegotiation) {
    result.transit_allowed = auth_done_;
  } else {
    if (!pending_proposals_.empty()) {
      return Failure(kLoginInitiatorError,
                     absl::StrCat("initiator did not answer ", pending_proposals_.begin()->first,
                                  " proposed by the target"));
    }
    const size_t before = result.response.size();
    if (next_stage == LoginStage::kFullFeaturePhase) ProposeKeys(&result.response);
    result.transit_allowed = result.response.size() == before;
  }
  if (result.transit_allowed && next_stage == LoginStage::kFullFeaturePhase) {
    if (std::optional<LoginStepResult> f = FinishChecks()) return *f;
    complete_ = true;
    result.complete = true;
  }
  return result;
}

std::optional<LoginStepResult> LoginNegotiator::HandleIdentity(const TextPairs& pairs,
                                                               TextPairs* declarations) {
  const TextPair* initiator_name = nullptr;
  const TextPair* target_name = nullptr;
  const TextPair* session_type = nullptr;
  const TextPair* alias = nullptr;
  for (const TextPair& p : pairs) {
    if (p.key == keys::kInitiatorName) initiator_name = &p;
    if (p.key == keys::kTargetName) target_name = &p;
    if (p.key == keys::kSessionType) session_type = &p;
    if (p.key == keys::kInitiatorAlias) alias = &p;
  }
  // §13.21: SessionType defaults to Normal.
  if (session_type != nullptr) {
    if (IsReservedAnswer(session_type->value)) {
      return Failure(kLoginInitiatorError, "SessionType carries a reserved value");
    }
    if (session_type->value == "Discovery") {
      identity_.session_type = SessionType::kDiscovery;
    } else if (session_type->value == "Normal") {
      identity_.session_type = SessionType::kNormal;
    } else {
      return Failure(kLoginSessionTypeNotSupported, "unknown SessionType");
    }
  }
  // §13.5: InitiatorName is required in the first Login Request of every connection.
  if (initiator_name == nullptr) {
    return Failure(kLoginMissingParameter, "InitiatorName missing from the first login request");
  }
  if (absl::Status s = ValidateIscsiName(initiator_name->value); !s.ok()) {
    return Failure(kLoginInitiatorError, absl::StrCat("InitiatorName: ", s.message()));
  }
  identity_.initiator_name = initiator_name->value;
  // §13.4: TargetName is required unless this is a discovery session.
  if (identity_.session_type == SessionType::kNormal) {
    if (target_name == nullptr) {
      return Failure(kLoginMissingParameter,
                     "TargetName missing from the first login request of a normal session");
    }
    if (absl::Status s = ValidateIscsiName(target_name->value); !s.ok()) {
      return Failure(kLoginInitiatorError, absl::StrCat("TargetName: ", s.message()));
    }
    identity_.target_name = target_name->value;
  }
  if (alias != nullptr && IsLocalNameValue(alias->value) && !IsReservedAnswer(alias->value)) {
    identity_.initiator_alias = alias->value;
  }

  session_.session_type = identity_.session_type;
  session_.initiator_name = identity_.initiator_name;
  session_.initiator_alias = identity_.initiator_alias;
  session_.target_name = identity_.target_name;

  access_ = options_.resolver ? options_.resolver(identity_) : TargetAccess{};
  if (access_.refusal.has_value() && !access_.refusal->ok()) {
    return Failure(*access_.refusal, "target resolver refused the login");
  }
  if (access_.chap.has_value() && !ValidateChapConfig(*access_.chap).ok()) {
    return Failure(kLoginTargetError, "CHAP configuration of the target is invalid");
  }
  if (identity_.session_type == SessionType::kNormal) {
    // §13.9: declared in the response to the first Login Request naming a target.
    session_.target_portal_group_tag = options_.target_portal_group_tag;
    declarations->push_back({std::string(keys::kTargetPortalGroupTag),
                             std::to_string(options_.target_portal_group_tag)});
    if (!access_.target_alias.empty() && IsLocalNameValue(access_.target_alias)) {
      declarations->push_back({std::string(keys::kTargetAlias), access_.target_alias});
    }
  }
  return std::nullopt;
}

std::optional<LoginStepResult> LoginNegotiator::HandleSecurity(const TextPairs& pairs,
                                                               bool transit,
                                                               TextPairs* response) {
  bool progressed = false;
  ChapKeys chap_keys;
  for (const TextPair& p : pairs) {
    if (p.key == keys::kChapA) chap_keys.chap_a = p.value;
    if (p.key == keys::kChapI) chap_keys.chap_i = p.value;
    if (p.key == keys::kChapC) chap_keys.chap_c = p.value;
    if (p.key == keys::kChapN) chap_keys.chap_n = p.value;
    if (p.key == keys::kChapR) chap_keys.chap_r = p.value;
    if (p.key != keys::kAuthMethod) continue;

    // §12.1: AuthMethod is a list; we pick the first offered method we accept.
    if (IsReservedAnswer(p.value)) {
      return Failure(kLoginInitiatorError, "AuthMethod carries a reserved value");
    }
    std::optional<AuthMethod> chosen;
    for (std::string_view item : SplitListValue(p.value)) {
      if (item == "CHAP" && access_.chap.has_value()) {
        chosen = AuthMethod::kChap;
      } else if (item == kValueNone && !access_.chap.has_value()) {
        chosen = AuthMethod::kNone;
      }
      if (chosen) break;
    }
    if (!chosen) {
      return Failure(kLoginAuthenticationFailure, "no acceptable AuthMethod offered",
                     TextPairs{{std::string(keys::kAuthMethod), std::string(kValueReject)}});
    }
    auth_method_agreed_ = true;
    progressed = true;
    session_.auth_method = *chosen;
    response->push_back({std::string(keys::kAuthMethod),
                         *chosen == AuthMethod::kChap ? std::string("CHAP")
                                                      : std::string(kValueNone)});
    if (*chosen == AuthMethod::kNone) {
      auth_done_ = true;
    } else {
      chap_.emplace(*access_.chap, options_.random);
    }
  }

  if (!chap_keys.empty()) {
    if (!chap_.has_value() || auth_done_) {
      return Failure(kLoginInitiatorError, "CHAP keys without AuthMethod=CHAP in progress");
    }
    ChapStepResult step = chap_->Step(chap_keys);
    for (TextPair& p : step.response) response->push_back(std::move(p));
    switch (step.outcome) {
      case ChapOutcome::kFailed:
        return Failure(step.failure == ChapFailure::kInternalError ? kLoginTargetError
                                                                   : kLoginAuthenticationFailure,
                       absl::StrCat("chap: ", Av(ChapFailureName(step.failure))), *response);
      case ChapOutcome::kContinue:
        progressed = true;
        break;
      case ChapOutcome::kAuthenticated:
        auth_done_ = true;
        session_.chap_algorithm = chap_->algorithm();
        session_.mutual_chap = chap_->mutual();
        break;
    }
  }

  if (transit && !auth_done_) {
    if (!auth_method_agreed_ && !RequiresAuthentication()) {
      // No authentication offered and none required: leaving the stage is fine.
      auth_done_ = true;
      session_.auth_method = AuthMethod::kNone;
    } else if (!progressed) {
      return Failure(kLoginAuthenticationFailure,
                     "initiator left the security stage before authenticating");
    }
  }
  return std::nullopt;
}

std::optional<LoginStepResult> LoginNegotiator::AnswerOperational(
    const TextPair& pair, std::optional<std::string>* answer) {
  const KeySpec& spec = *FindKey(pair.key);
  const TargetPolicy& policy = options_.policy;
  // §6.2: Reject, Irrelevant and NotUnderstood are answers, never proposals.
  if (IsReservedAnswer(pair.value)) {
    return Failure(kLoginInitiatorError,
                   absl::StrCat(pair.key, " proposed with a reserved value"));
  }
  if (session_.session_type == SessionType::kDiscovery && spec.irrelevant_in_discovery) {
    *answer = std::string(kValueIrrelevant);
    return std::nullopt;
  }
  const std::string reject(kValueReject);
  switch (spec.rule) {
    case Rule::kIrrelevant:
      *answer = std::string(kValueIrrelevant);
      return std::nullopt;
    case Rule::kReject:
      *answer = reject;
      return std::nullopt;
    case Rule::kList: {
      if (spec.id == KeyId::kTaskReporting) {
        // §13.23: we implement the RFC 3720 semantics only.
        std::vector<std::string_view> items = SplitListValue(pair.value);
        const bool ok = std::find(items.begin(), items.end(), "RFC3720") != items.end();
        *answer = ok ? std::string("RFC3720") : reject;
        if (ok) session_.task_reporting = "RFC3720";
        return std::nullopt;
      }
      // HeaderDigest / DataDigest: first item of the initiator's list that we accept
      // (§6.2.1); unknown items are ignored.
      const std::vector<DigestType>& allowed = PolicyDigests(spec.id, policy);
      for (std::string_view item : SplitListValue(pair.value)) {
        std::optional<DigestType> d = ParseDigest(item);
        if (d && Contains(allowed, *d)) {
          *DigestField(spec.id, connection_) = *d;
          *answer = std::string(DigestName(*d));
          return std::nullopt;
        }
      }
      *answer = reject;
      return std::nullopt;
    }
    case Rule::kDeclarative: {
      // MaxRecvDataSegmentLength, the only declarative operational key.
      std::optional<uint64_t> n = ParseInRange(pair.value, spec);
      if (!n) {
        *answer = reject;
      } else {
        connection_.initiator_max_recv_data_segment_length = static_cast<uint32_t>(*n);
      }
      return std::nullopt;
    }
    case Rule::kOr:
    case Rule::kAnd: {
      std::optional<bool> b = ParseBooleanValue(pair.value);
      if (!b) {
        *answer = reject;
        return std::nullopt;
      }
      const bool ours = PolicyBool(spec.id, policy);
      const bool result = spec.rule == Rule::kOr ? (*b || ours) : (*b && ours);
      *BoolField(spec.id, session_) = result;
      *answer = YesNo(result);
      return std::nullopt;
    }
    case Rule::kMin:
    case Rule::kMax: {
      std::optional<uint64_t> n = ParseInRange(pair.value, spec);
      if (!n) {
        *answer = reject;  // §6.2.2: an inadmissible value may be answered with Reject
        return std::nullopt;
      }
      if (spec.id == KeyId::kFirstBurstLength) {
        // §13.14: Irrelevant when InitialR2T=Yes and ImmediateData=No (both evaluated
        // before this key).
        if (session_.initial_r2t && !session_.immediate_data) {
          *answer = std::string(kValueIrrelevant);
          return std::nullopt;
        }
      }
      const uint64_t ours = PolicyNumber(spec.id, policy);
      uint64_t result = spec.rule == Rule::kMin ? std::min(*n, ours) : std::max(*n, ours);
      if (spec.id == KeyId::kFirstBurstLength) {
        // FirstBurstLength MUST NOT exceed MaxBurstLength: select the admissible value.
        result = std::min<uint64_t>(result, session_.max_burst_length);
        first_burst_negotiated_ = true;
      }
      *NumericField(spec.id, session_) = static_cast<uint32_t>(result);
      *answer = std::to_string(result);
      return std::nullopt;
    }
    case Rule::kNone:
      break;
  }
  *answer = std::string(kValueNotUnderstood);
  return std::nullopt;
}

std::optional<LoginStepResult> LoginNegotiator::AcceptProposalAnswer(const TextPair& pair) {
  const KeySpec& spec = *FindKey(pair.key);
  const std::string proposed = pending_proposals_[pair.key];
  pending_proposals_.erase(pair.key);
  // A reserved answer completes the negotiation; the RFC default stays in force.
  if (IsReservedAnswer(pair.value)) return std::nullopt;
  const std::string violation =
      absl::StrCat("answer for ", pair.key, " violates its selection rule (RFC 7143 6.2.2)");
  switch (spec.rule) {
    case Rule::kList: {
      std::optional<DigestType> d = ParseDigest(pair.value);
      std::vector<std::string_view> offered = SplitListValue(proposed);
      if (!d || std::find(offered.begin(), offered.end(), pair.value) == offered.end()) {
        return Failure(kLoginInitiatorError, violation);
      }
      *DigestField(spec.id, connection_) = *d;
      return std::nullopt;
    }
    case Rule::kOr:
    case Rule::kAnd: {
      std::optional<bool> b = ParseBooleanValue(pair.value);
      const bool ours = proposed == kValueYes;
      // OR with our Yes can only be Yes; AND with our No can only be No.
      if (!b || (spec.rule == Rule::kOr && ours && !*b) ||
          (spec.rule == Rule::kAnd && !ours && *b)) {
        return Failure(kLoginInitiatorError, violation);
      }
      *BoolField(spec.id, session_) = *b;
      return std::nullopt;
    }
    case Rule::kMin:
    case Rule::kMax: {
      std::optional<uint64_t> n = ParseInRange(pair.value, spec);
      const uint64_t ours = ParseNumericalValue(proposed).value_or(0);
      if (!n || (spec.rule == Rule::kMin && *n > ours) ||
          (spec.rule == Rule::kMax && *n < ours)) {
        return Failure(kLoginInitiatorError, violation);
      }
      if (spec.id == KeyId::kFirstBurstLength) first_burst_negotiated_ = true;
      *NumericField(spec.id, session_) = static_cast<uint32_t>(*n);
      return std::nullopt;
    }
    default:
      break;
  }
  return std::nullopt;
}

void LoginNegotiator::ProposeKeys(TextPairs* response) {
  const TargetPolicy& policy = options_.policy;
  auto propose = [&](std::string_view key, std::string value) {
    const std::string k(key);
    if (seen_keys_.contains(k) || proposed_keys_.contains(k)) return;
    proposed_keys_.insert(k);
    pending_proposals_[k] = value;
    response->push_back({k, std::move(value)});
  };
  // Digests: when our policy refuses None (the default), we must ask for a digest.
  for (KeyId id : {KeyId::kHeaderDigest, KeyId::kDataDigest}) {
    const std::vector<DigestType>& allowed = PolicyDigests(id, policy);
    if (Contains(allowed, DigestType::kNone)) continue;
    std::vector<std::string> names;
    for (DigestType d : allowed) names.emplace_back(DigestName(d));
    propose(id == KeyId::kHeaderDigest ? keys::kHeaderDigest : keys::kDataDigest,
            absl::StrJoin(names, ","));
  }
  if (!policy.propose_unoffered_keys || session_.session_type != SessionType::kNormal ||
      !options_.leading_connection) {
    return;
  }
  SessionParams defaults;  // the RFC defaults
  bool initial_r2t = session_.initial_r2t;
  bool immediate_data = session_.immediate_data;
  for (KeyId id : {KeyId::kInitialR2T, KeyId::kImmediateData, KeyId::kDataPDUInOrder,
                   KeyId::kDataSequenceInOrder}) {
    const KeySpec& spec = SpecFor(id);
    const bool ours = PolicyBool(id, policy);
    if (ours == *BoolField(id, defaults)) continue;
    if (seen_keys_.contains(spec.name)) continue;
    propose(spec.name, YesNo(ours));
    if (id == KeyId::kInitialR2T) initial_r2t = ours;
    if (id == KeyId::kImmediateData) immediate_data = ours;
  }
  uint64_t max_burst = session_.max_burst_length;
  for (KeyId id : {KeyId::kMaxBurstLength, KeyId::kFirstBurstLength, KeyId::kMaxOutstandingR2T,
                   KeyId::kDefaultTime2Wait, KeyId::kDefaultTime2Retain, KeyId::kMaxConnections,
                   KeyId::kIscsiProtocolLevel}) {
    const KeySpec& spec = SpecFor(id);
    if (seen_keys_.contains(spec.name)) continue;
    uint64_t ours = PolicyNumber(id, policy);
    if (id == KeyId::kFirstBurstLength) {
      if (initial_r2t && !immediate_data) continue;  // Irrelevant (§13.14)
      ours = std::min(ours, max_burst);
    }
    if (ours == *NumericField(id, defaults)) continue;
    if (id == KeyId::kMaxBurstLength) max_burst = ours;
    propose(spec.name, std::to_string(ours));
  }
}

std::optional<LoginStepResult> LoginNegotiator::FinishChecks() {
  if (RequiresAuthentication() && !auth_done_) {
    return Failure(kLoginAuthenticationFailure, "login completing without authentication");
  }
  if (!Contains(options_.policy.header_digests, connection_.header_digest) ||
      !Contains(options_.policy.data_digests, connection_.data_digest)) {
    return Failure(kLoginInitiatorError, "negotiated digest is not allowed by the target policy");
  }
  if (session_.session_type == SessionType::kNormal &&
      !(session_.initial_r2t && !session_.immediate_data) &&
      session_.first_burst_length > session_.max_burst_length) {
    if (first_burst_negotiated_) {
      return Failure(kLoginInitiatorError,
                     "FirstBurstLength exceeds MaxBurstLength (RFC 7143 13.14)");
    }
    // The default (65536) exceeds a smaller negotiated MaxBurstLength: clamp it.
    session_.first_burst_length = session_.max_burst_length;
  }
  return std::nullopt;
}

absl::StatusOr<TextStepResult> NegotiateFullFeatureText(const SessionParams& session,
                                                        ConnectionParams* connection,
                                                        std::string_view text) {
  absl::StatusOr<TextPairs> parsed = ParseTextPairs(text);
  if (!parsed.ok()) return parsed.status();
  TextStepResult result;
  for (const TextPair& pair : *parsed) {
    const KeySpec* spec = FindKey(pair.key);
    if (spec == nullptr) {
      if (IsOtherAuthKey(pair.key)) {
        result.response.push_back({pair.key, std::string(kValueReject)});
      } else {
        result.response.push_back({pair.key, std::string(kValueNotUnderstood)});
      }
      continue;
    }
    if (IsReservedAnswer(pair.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("text request: ", pair.key, " proposed with a reserved value"));
    }
    if (!spec->allowed_in_ffp) {
      // Login-only keys, or keys only the target may send (§13 "Use" / "Senders").
      result.response.push_back({pair.key, std::string(kValueReject)});
      continue;
    }
    switch (spec->id) {
      case KeyId::kSendTargets: {
        SendTargetsRequest request;
        if (pair.value == "All") {
          // §13.3: "All" belongs to discovery sessions.
          if (session.session_type != SessionType::kDiscovery) {
            result.response.push_back({pair.key, std::string(kValueReject)});
            continue;
          }
          request.scope = SendTargetsRequest::Scope::kAll;
        } else if (pair.value.empty()) {
          request.scope = SendTargetsRequest::Scope::kSessionTarget;
        } else {
          if (!ValidateIscsiName(pair.value).ok()) {
            result.response.push_back({pair.key, std::string(kValueReject)});
            continue;
          }
          request.scope = SendTargetsRequest::Scope::kNamedTarget;
          request.target_name = pair.value;
        }
        result.send_targets = std::move(request);
        break;
      }
      case KeyId::kMaxRecvDataSegmentLength: {
        std::optional<uint64_t> n = ParseInRange(pair.value, *spec);
        if (!n) {
          result.response.push_back({pair.key, std::string(kValueReject)});
        } else if (connection != nullptr) {
          connection->initiator_max_recv_data_segment_length = static_cast<uint32_t>(*n);
        }
        break;
      }
      case KeyId::kInitiatorAlias:
        if (!IsLocalNameValue(pair.value)) {
          result.response.push_back({pair.key, std::string(kValueReject)});
        }
        break;
      default:
        result.response.push_back({pair.key, std::string(kValueReject)});
        break;
    }
  }
  return result;
}

void AppendSendTargetsRecord(std::string_view target_name,
                             absl::Span<const std::string> addresses, TextPairs* out) {
  out->push_back({std::string(keys::kTargetName), std::string(target_name)});
  for (const std::string& address : addresses) {
    out->push_back({std::string(keys::kTargetAddress), address});
  }
}

}  // namespace iscsi_csi::target
