// chap: target side of CHAP (RFC 1994, RFC 7143 §12.1.3 and §9.2.1). See chap.h.
#include "target/chap.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace iscsi_csi::target {
namespace {

struct EvpMdDeleter {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdPtr = std::unique_ptr<EVP_MD, EvpMdDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

EvpMdPtr FetchDigest(ChapAlgorithm algorithm) {
  const std::string name(ChapAlgorithmName(algorithm));
  return EvpMdPtr(EVP_MD_fetch(nullptr, name.c_str(), nullptr));
}

bool IsKnownAlgorithm(uint64_t number) {
  return number == static_cast<uint64_t>(ChapAlgorithm::kMd5) ||
         number == static_cast<uint64_t>(ChapAlgorithm::kSha1) ||
         number == static_cast<uint64_t>(ChapAlgorithm::kSha256) ||
         number == static_cast<uint64_t>(ChapAlgorithm::kSha3_256);
}

// Debian's Abseil keeps its own string_view type; bridge for StrCat.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status CheckCredentials(const ChapCredentials& creds, std::string_view role) {
  if (creds.name.empty() || creds.name.size() > kMaxSimpleValueLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("chap ", Av(role), " name must have 1..255 bytes"));
  }
  if (creds.secret.size() < kMinChapSecretLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chap ", Av(role), " secret is shorter than 12 bytes (96 bits, RFC 7143 9.2.1)"));
  }
  if (creds.secret.size() > kMaxChapSecretLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("chap ", Av(role), " secret is longer than 255 bytes"));
  }
  return absl::OkStatus();
}

size_t ChallengeLength(const ChapConfig& config, ChapAlgorithm algorithm) {
  if (config.challenge_length != 0) return config.challenge_length;
  return std::max(kMinChapChallengeLength, ChapDigestLength(algorithm));
}

}  // namespace

size_t ChapDigestLength(ChapAlgorithm algorithm) {
  switch (algorithm) {
    case ChapAlgorithm::kMd5:
      return 16;
    case ChapAlgorithm::kSha1:
      return 20;
    case ChapAlgorithm::kSha256:
    case ChapAlgorithm::kSha3_256:
      return 32;
  }
  return 0;
}

std::string_view ChapAlgorithmName(ChapAlgorithm algorithm) {
  switch (algorithm) {
    case ChapAlgorithm::kMd5:
      return "MD5";
    case ChapAlgorithm::kSha1:
      return "SHA1";
    case ChapAlgorithm::kSha256:
      return "SHA256";
    case ChapAlgorithm::kSha3_256:
      return "SHA3-256";
  }
  return "unknown";
}

bool ChapAlgorithmAvailable(ChapAlgorithm algorithm) {
  return FetchDigest(algorithm) != nullptr;
}

ChapSecret& ChapSecret::operator=(const ChapSecret& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
  }
  return *this;
}

ChapSecret::ChapSecret(ChapSecret&& other) noexcept : value_(other.value_) { other.Wipe(); }

ChapSecret& ChapSecret::operator=(ChapSecret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
    other.Wipe();
  }
  return *this;
}

ChapSecret::~ChapSecret() { Wipe(); }

void ChapSecret::Wipe() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

absl::Status ValidateChapConfig(const ChapConfig& config) {
  if (absl::Status s = CheckCredentials(config.initiator, "initiator"); !s.ok()) return s;
  if (config.target.has_value()) {
    if (absl::Status s = CheckCredentials(*config.target, "target"); !s.ok()) return s;
    // §9.2.1: a secret used to authenticate the initiator MUST NOT authenticate the target.
    if (config.target->secret.size() == config.initiator.secret.size() &&
        CRYPTO_memcmp(config.target->secret.value().data(),
                      config.initiator.secret.value().data(),
                      config.initiator.secret.size()) == 0) {
      return absl::InvalidArgumentError(
          "chap initiator and target secrets must differ (RFC 7143 9.2.1)");
    }
  } else if (config.require_mutual) {
    return absl::InvalidArgumentError("chap require_mutual needs target credentials");
  }
  if (config.algorithms.empty()) {
    return absl::InvalidArgumentError("chap algorithm list is empty");
  }
  for (ChapAlgorithm a : config.algorithms) {
    if (!IsKnownAlgorithm(static_cast<uint64_t>(a))) {
      return absl::InvalidArgumentError("chap algorithm list has an unknown algorithm");
    }
    if (!ChapAlgorithmAvailable(a)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chap algorithm ", Av(ChapAlgorithmName(a)), " is not available in OpenSSL"));
    }
  }
  if (config.challenge_length != 0 && (config.challenge_length < kMinChapChallengeLength ||
                                       config.challenge_length > kMaxChapBinaryLength)) {
    return absl::InvalidArgumentError("chap challenge length must be 16..1024 bytes");
  }
  return absl::OkStatus();
}

RandomSource OpenSslRandomSource() {
  return [](absl::Span<uint8_t> out) -> absl::Status {
    if (out.empty()) return absl::OkStatus();
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      return absl::InternalError("RAND_bytes failed");
    }
    return absl::OkStatus();
  };
}

absl::StatusOr<std::vector<uint8_t>> ComputeChapResponse(ChapAlgorithm algorithm,
                                                         uint8_t identifier,
                                                         std::string_view secret,
                                                         absl::Span<const uint8_t> challenge) {
  EvpMdPtr md = FetchDigest(algorithm);
  if (md == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("digest ", Av(ChapAlgorithmName(algorithm)), " unavailable"));
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::vector<uint8_t> out(static_cast<size_t>(EVP_MD_get_size(md.get())));
  unsigned int out_len = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), md.get(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), &identifier, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), challenge.data(), challenge.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &out_len) != 1 || out_len != out.size()) {
    return absl::InternalError("chap digest computation failed");
  }
  return out;
}

std::string_view ChapFailureName(ChapFailure failure) {
  switch (failure) {
    case ChapFailure::kNone:
      return "none";
    case ChapFailure::kUnexpectedKey:
      return "unexpected key";
    case ChapFailure::kMissingKey:
      return "missing key";
    case ChapFailure::kEmptyAlgorithmList:
      return "empty CHAP_A";
    case ChapFailure::kNoCommonAlgorithm:
      return "no common algorithm";
    case ChapFailure::kMalformedValue:
      return "malformed value";
    case ChapFailure::kWrongName:
      return "wrong CHAP_N";
    case ChapFailure::kWrongResponseLength:
      return "wrong CHAP_R length";
    case ChapFailure::kWrongResponse:
      return "wrong CHAP_R";
    case ChapFailure::kMutualNotConfigured:
      return "mutual CHAP not configured";
    case ChapFailure::kMutualRequired:
      return "mutual CHAP required";
    case ChapFailure::kIncompleteMutual:
      return "CHAP_I without CHAP_C or the reverse";
    case ChapFailure::kReflectedChallenge:
      return "reflected challenge";
    case ChapFailure::kInternalError:
      return "internal error";
  }
  return "unknown";
}

ChapTargetSession::ChapTargetSession(ChapConfig config, RandomSource random)
    : config_(std::move(config)),
      random_(random ? std::move(random) : OpenSslRandomSource()),
      config_valid_(ValidateChapConfig(config_).ok()) {}

ChapStepResult ChapTargetSession::Fail(ChapFailure failure, TextPairs response) {
  state_ = State::kFailed;
  ChapStepResult result;
  result.outcome = ChapOutcome::kFailed;
  result.failure = failure;
  result.response = std::move(response);
  return result;
}

ChapStepResult ChapTargetSession::Step(const ChapKeys& keys) {
  if (!config_valid_) return Fail(ChapFailure::kInternalError);
  switch (state_) {
    case State::kAwaitAlgorithms:
      return SelectAlgorithm(keys);
    case State::kAwaitResponse:
      return VerifyResponse(keys);
    case State::kAuthenticated:
    case State::kFailed:
      break;
  }
  return Fail(ChapFailure::kUnexpectedKey);
}

ChapStepResult ChapTargetSession::SelectAlgorithm(const ChapKeys& keys) {
  if (keys.chap_i || keys.chap_c || keys.chap_n || keys.chap_r) {
    return Fail(ChapFailure::kUnexpectedKey);
  }
  if (!keys.chap_a) return Fail(ChapFailure::kMissingKey);
  if (keys.chap_a->empty()) return Fail(ChapFailure::kEmptyAlgorithmList);

  // Collect the offered algorithms we know; unknown or malformed items are ignored
  // (§6.2.1: "If an acceptor does not understand any particular value in a list, it MUST
  // ignore it").
  std::vector<uint64_t> offered;
  for (std::string_view item : SplitListValue(*keys.chap_a)) {
    if (item.size() > kMaxSimpleValueLength) continue;
    if (std::optional<uint64_t> n = ParseNumericalValue(item); n && IsKnownAlgorithm(*n)) {
      offered.push_back(*n);
    }
  }
  for (ChapAlgorithm ours : config_.algorithms) {
    if (std::find(offered.begin(), offered.end(), static_cast<uint64_t>(ours)) ==
        offered.end()) {
      continue;
    }
    algorithm_ = ours;
    break;
  }
  if (!algorithm_) {
    // §12.1.3: the target answers Reject / refuses with "Authentication Failure".
    return Fail(ChapFailure::kNoCommonAlgorithm,
                TextPairs{{std::string(keys::kChapA), std::string(kValueReject)}});
  }

  challenge_.assign(ChallengeLength(config_, *algorithm_), 0);
  uint8_t identifier = 0;
  if (!random_(absl::Span<uint8_t>(&identifier, 1)).ok() ||
      !random_(absl::MakeSpan(challenge_)).ok()) {
    return Fail(ChapFailure::kInternalError);
  }
  identifier_ = identifier;
  state_ = State::kAwaitResponse;
  ChapStepResult result;
  result.outcome = ChapOutcome::kContinue;
  result.response = {
      {std::string(keys::kChapA), std::to_string(static_cast<int>(*algorithm_))},
      {std::string(keys::kChapI), std::to_string(identifier_)},
      {std::string(keys::kChapC), EncodeHexConstant(challenge_)},
  };
  return result;
}

ChapStepResult ChapTargetSession::VerifyResponse(const ChapKeys& keys) {
  if (keys.chap_a) return Fail(ChapFailure::kUnexpectedKey);
  if (!keys.chap_n || !keys.chap_r) return Fail(ChapFailure::kMissingKey);
  if (keys.chap_i.has_value() != keys.chap_c.has_value()) {
    return Fail(ChapFailure::kIncompleteMutual);
  }
  const size_t digest_length = ChapDigestLength(*algorithm_);

  // Decode everything (bounded) before any cryptographic work.
  std::optional<std::vector<uint8_t>> response =
      ParseBinaryValue(*keys.chap_r, kMaxChapBinaryLength);
  if (!response) return Fail(ChapFailure::kMalformedValue);
  if (response->size() != digest_length) return Fail(ChapFailure::kWrongResponseLength);

  const bool mutual_requested = keys.chap_i.has_value();
  uint8_t peer_identifier = 0;
  std::vector<uint8_t> peer_challenge;
  if (mutual_requested) {
    std::optional<uint64_t> id = ParseNumericalValue(*keys.chap_i);
    if (!id || *id > 255) return Fail(ChapFailure::kMalformedValue);
    peer_identifier = static_cast<uint8_t>(*id);
    std::optional<std::vector<uint8_t>> challenge =
        ParseBinaryValue(*keys.chap_c, kMaxChapBinaryLength);
    if (!challenge || challenge->empty()) return Fail(ChapFailure::kMalformedValue);
    peer_challenge = std::move(*challenge);
  }

  if (*keys.chap_n != config_.initiator.name) return Fail(ChapFailure::kWrongName);
  absl::StatusOr<std::vector<uint8_t>> expected = ComputeChapResponse(
      *algorithm_, identifier_, config_.initiator.secret.value(), challenge_);
  if (!expected.ok()) return Fail(ChapFailure::kInternalError);
  if (CRYPTO_memcmp(expected->data(), response->data(), digest_length) != 0) {
    return Fail(ChapFailure::kWrongResponse);
  }

  ChapStepResult result;
  if (mutual_requested) {
    if (!config_.target) return Fail(ChapFailure::kMutualNotConfigured);
    // §12.1.3: a challenge equal to the one we sent would make us answer our own
    // challenge (reflection attack); refuse it.
    if (peer_challenge == challenge_) return Fail(ChapFailure::kReflectedChallenge);
    absl::StatusOr<std::vector<uint8_t>> ours = ComputeChapResponse(
        *algorithm_, peer_identifier, config_.target->secret.value(), peer_challenge);
    if (!ours.ok()) return Fail(ChapFailure::kInternalError);
    result.response = {
        {std::string(keys::kChapN), config_.target->name},
        {std::string(keys::kChapR), EncodeHexConstant(*ours)},
    };
    mutual_ = true;
  } else if (config_.require_mutual) {
    return Fail(ChapFailure::kMutualRequired);
  }
  state_ = State::kAuthenticated;
  result.outcome = ChapOutcome::kAuthenticated;
  VLOG(2) << "chap: initiator authenticated with " << ChapAlgorithmName(*algorithm_)
          << (mutual_ ? " (mutual)" : "");
  return result;
}

}  // namespace iscsi_csi::target
