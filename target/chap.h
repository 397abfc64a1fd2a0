// chap: the target side of CHAP authentication during the iSCSI security negotiation.
//
// Implements RFC 1994 as profiled by RFC 7143 §12.1.3 (CHAP_A, CHAP_I, CHAP_C, CHAP_N,
// CHAP_R) and the CHAP rules of RFC 7143 §9.2.1 (secrets of at least 96 bits without IPsec,
// different secrets per direction, no reflected challenges). Algorithms 5 (MD5), 6 (SHA-1),
// 7 (SHA-256) and 8 (SHA3-256) are the numbers open-iscsi and LIO use; the digests come
// from OpenSSL 3 EVP, challenges from RAND_bytes, comparisons from CRYPTO_memcmp.
//
// Secrets never appear in logs, status messages or debug output. Values received from the
// network are length-checked before they are decoded and never reach a CHECK.
#ifndef ISCSI_CSI_TARGET_CHAP_H_
#define ISCSI_CSI_TARGET_CHAP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "target/text_params.h"

namespace iscsi_csi::target {

// CHAP algorithm numbers as sent in CHAP_A (PPP "CHAP algorithm" registry values).
enum class ChapAlgorithm : uint8_t {
  kMd5 = 5,
  kSha1 = 6,
  kSha256 = 7,
  kSha3_256 = 8,
};

// ChapDigestLength is the response length in bytes: 16, 20, 32, 32.
size_t ChapDigestLength(ChapAlgorithm algorithm);
// ChapAlgorithmName: "MD5", "SHA1", "SHA256", "SHA3-256" (OpenSSL names).
std::string_view ChapAlgorithmName(ChapAlgorithm algorithm);
// ChapAlgorithmAvailable reports whether this OpenSSL can compute the digest (an OpenSSL
// in FIPS mode, for example, has no MD5).
bool ChapAlgorithmAvailable(ChapAlgorithm algorithm);

// RFC 7143 §9.2.1: without IPsec a CHAP secret must carry at least 96 bits.
inline constexpr size_t kMinChapSecretLength = 12;
inline constexpr size_t kMaxChapSecretLength = 255;
// RFC 7143 §12.1.3: the binary length of CHAP_C and CHAP_R must not exceed 1024 bytes.
inline constexpr size_t kMaxChapBinaryLength = 1024;
inline constexpr size_t kMinChapChallengeLength = 16;

// ChapSecret holds secret bytes, wipes them on destruction and has no printing support.
class ChapSecret {
 public:
  ChapSecret() = default;
  explicit ChapSecret(std::string value) : value_(std::move(value)) {}
  ChapSecret(const ChapSecret&) = default;
  ChapSecret& operator=(const ChapSecret&);
  ChapSecret(ChapSecret&&) noexcept;
  ChapSecret& operator=(ChapSecret&&) noexcept;
  ~ChapSecret();

  const std::string& value() const { return value_; }
  size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }

 private:
  void Wipe();
  std::string value_;
};

// ChapCredentials: a CHAP name (CHAP_N, not secret) and its secret.
struct ChapCredentials {
  std::string name;
  ChapSecret secret;
};

// ChapConfig: what one target (or the discovery portal) demands.
struct ChapConfig {
  // The name and secret the initiator must prove (its CHAP_N / CHAP_R).
  ChapCredentials initiator;
  // Our name and secret, used when the initiator asks us to authenticate (mutual CHAP).
  // Without it, an initiator that sends CHAP_I/CHAP_C is refused.
  std::optional<ChapCredentials> target;
  // Refuse initiators that do not challenge us (requires `target`).
  bool require_mutual = false;
  // Algorithms we accept, strongest first: we answer with the first one in this list that
  // the initiator offered (RFC 7143 §12.1.3 lets us pick "one of" the offered ones).
  std::vector<ChapAlgorithm> algorithms = {ChapAlgorithm::kSha3_256, ChapAlgorithm::kSha256,
                                           ChapAlgorithm::kSha1, ChapAlgorithm::kMd5};
  // Bytes of our CHAP_C; 0 picks max(16, digest length).
  size_t challenge_length = 0;
};

// ValidateChapConfig refuses, at configuration time: empty or over-long names, secrets
// shorter than 12 bytes (96 bits, RFC 7143 §9.2.1; we never run under IPsec) or longer
// than 255, the same secret in both directions (§9.2.1 "MUST NOT"), require_mutual without
// target credentials, an empty algorithm list or one this OpenSSL cannot compute, and a
// challenge length outside 16..1024. Messages never contain a secret.
absl::Status ValidateChapConfig(const ChapConfig& config);

// RandomSource fills `out` with unpredictable bytes. Tests inject a deterministic one.
using RandomSource = std::function<absl::Status(absl::Span<uint8_t> out)>;
// OpenSslRandomSource draws from RAND_bytes.
RandomSource OpenSslRandomSource();

// ComputeChapResponse returns H(identifier || secret || challenge) (RFC 1994 §4.1).
absl::StatusOr<std::vector<uint8_t>> ComputeChapResponse(ChapAlgorithm algorithm,
                                                         uint8_t identifier,
                                                         std::string_view secret,
                                                         absl::Span<const uint8_t> challenge);

// The CHAP keys found in one Login Request (raw values, not yet decoded).
struct ChapKeys {
  std::optional<std::string> chap_a;
  std::optional<std::string> chap_i;
  std::optional<std::string> chap_c;
  std::optional<std::string> chap_n;
  std::optional<std::string> chap_r;

  bool empty() const { return !chap_a && !chap_i && !chap_c && !chap_n && !chap_r; }
};

// Why an exchange failed; for logs and metrics (never carries secret material).
enum class ChapFailure : uint8_t {
  kNone = 0,
  kUnexpectedKey,          // a CHAP key at the wrong step (e.g. CHAP_R before CHAP_A)
  kMissingKey,             // CHAP_A, CHAP_N or CHAP_R absent where required
  kEmptyAlgorithmList,     // "CHAP_A="
  kNoCommonAlgorithm,      // none of the offered algorithms is acceptable
  kMalformedValue,         // not a number / not hex or base64 / over the length bounds
  kWrongName,              // CHAP_N is not the configured initiator name
  kWrongResponseLength,    // CHAP_R is not exactly one digest long
  kWrongResponse,          // CHAP_R does not match
  kMutualNotConfigured,    // the initiator challenged us but we have no target secret
  kMutualRequired,         // we require mutual CHAP and the initiator did not challenge us
  kIncompleteMutual,       // only one of CHAP_I / CHAP_C
  kReflectedChallenge,     // the initiator's CHAP_C equals ours (§12.1.3, §9.2.1)
  kInternalError,          // random source or digest failure (a target error, 0x0300)
};
std::string_view ChapFailureName(ChapFailure failure);

enum class ChapOutcome : uint8_t {
  kContinue,       // challenge sent; expect CHAP_N/CHAP_R in the next request
  kAuthenticated,  // the initiator is authenticated (and, for mutual, our answer is ready)
  kFailed,         // refuse the login: authentication failure (0x0201), or 0x0300 if
                   // `failure` is kInternalError
};

struct ChapStepResult {
  ChapOutcome outcome = ChapOutcome::kFailed;
  ChapFailure failure = ChapFailure::kNone;
  // Pairs for the Login Response: CHAP_A/CHAP_I/CHAP_C after step one, CHAP_N/CHAP_R
  // after a mutual step two, "CHAP_A=Reject" when no algorithm is acceptable.
  TextPairs response;
};

// ChapTargetSession runs one CHAP exchange for one connection's login:
//   step 1: CHAP_A=<A1,A2,...>           -> CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
//   step 2: CHAP_N=<N> CHAP_R=<R>        -> authenticated
//      or:  ... CHAP_I=<I'> CHAP_C=<C'>  -> CHAP_N=<our name> CHAP_R=<our response>
// Any failure is final.
class ChapTargetSession {
 public:
  // `config` should have passed ValidateChapConfig; an invalid one fails every exchange
  // with kInternalError. `random` may be empty (OpenSSL RAND_bytes is used).
  ChapTargetSession(ChapConfig config, RandomSource random);

  // Step feeds the CHAP keys of one complete Login Request.
  ChapStepResult Step(const ChapKeys& keys);

  bool authenticated() const { return state_ == State::kAuthenticated; }
  bool failed() const { return state_ == State::kFailed; }
  // The algorithm chosen in step 1, once known.
  std::optional<ChapAlgorithm> algorithm() const { return algorithm_; }
  // True once the initiator asked for, and received, our mutual answer.
  bool mutual() const { return mutual_; }

 private:
  enum class State : uint8_t { kAwaitAlgorithms, kAwaitResponse, kAuthenticated, kFailed };

  ChapStepResult SelectAlgorithm(const ChapKeys& keys);
  ChapStepResult VerifyResponse(const ChapKeys& keys);
  ChapStepResult Fail(ChapFailure failure, TextPairs response = {});

  ChapConfig config_;
  RandomSource random_;
  bool config_valid_;
  State state_ = State::kAwaitAlgorithms;
  std::optional<ChapAlgorithm> algorithm_;
  uint8_t identifier_ = 0;
  std::vector<uint8_t> challenge_;
  bool mutual_ = false;
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_CHAP_H_
