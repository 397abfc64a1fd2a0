#include "controller/chap_credentials.h"

#include "absl/strings/str_cat.h"
#include "common/volume_context.h"
#include "controller/volume_id.h"
#include "target/chap.h"

namespace iscsi_csi::controller {
namespace {

constexpr size_t kGeneratedSecretBytes = 16;

absl::Status CheckSecretLength(absl::string_view key, const std::string& value) {
  if (value.size() < target::kMinChapSecretLength || value.size() > target::kMaxChapSecretLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret ", key, " must be ", target::kMinChapSecretLength, " to ",
                     target::kMaxChapSecretLength, " bytes long (RFC 7143 9.2.1)"));
  }
  return absl::OkStatus();
}

const std::string* Find(const google::protobuf::Map<std::string, std::string>& map,
                        const char* key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

bool ChapCredentials::SameSecretsAs(const ChapCredentials& other) const {
  return user == other.user && secret == other.secret && target_user == other.target_user &&
         target_secret == other.target_secret;
}

absl::StatusOr<ChapCredentials> GenerateChapCredentials(absl::string_view volume_id) {
  ChapCredentials chap;
  chap.user = absl::StrCat(volume_id, "-initiator");
  chap.target_user = absl::StrCat(volume_id, "-target");
  absl::StatusOr<std::string> secret = RandomHex(kGeneratedSecretBytes);
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::string> target_secret = RandomHex(kGeneratedSecretBytes);
  if (!target_secret.ok()) return target_secret.status();
  if (*secret == *target_secret) return absl::InternalError("CSPRNG repeated itself");
  chap.secret = *std::move(secret);
  chap.target_secret = *std::move(target_secret);
  chap.origin = ChapOrigin::kGenerated;
  return chap;
}

absl::StatusOr<std::optional<ChapCredentials>> ChapFromSecrets(
    const google::protobuf::Map<std::string, std::string>& secrets) {
  const std::string* user = Find(secrets, kPubChapUser);
  const std::string* secret = Find(secrets, kPubChapSecret);
  const std::string* target_user = Find(secrets, kPubChapTargetUser);
  const std::string* target_secret = Find(secrets, kPubChapTargetSecret);
  if (user == nullptr && secret == nullptr && target_user == nullptr && target_secret == nullptr) {
    return std::nullopt;
  }
  if (user == nullptr || secret == nullptr || user->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("secrets: CHAP needs both ", kPubChapUser, " and ", kPubChapSecret));
  }
  if ((target_user == nullptr) != (target_secret == nullptr) ||
      (target_user != nullptr && target_user->empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secrets: mutual CHAP needs both ", kPubChapTargetUser, " and ", kPubChapTargetSecret));
  }
  if (absl::Status st = CheckSecretLength(kPubChapSecret, *secret); !st.ok()) return st;
  ChapCredentials chap;
  chap.user = *user;
  chap.secret = *secret;
  if (target_user != nullptr) {
    if (absl::Status st = CheckSecretLength(kPubChapTargetSecret, *target_secret); !st.ok()) {
      return st;
    }
    if (*target_secret == *secret) {
      return absl::InvalidArgumentError(absl::StrCat("secrets: ", kPubChapTargetSecret,
                                                     " must differ from ", kPubChapSecret,
                                                     " (RFC 7143 9.2.1)"));
    }
    chap.target_user = *target_user;
    chap.target_secret = *target_secret;
  }
  chap.origin = ChapOrigin::kPublishSecrets;
  return chap;
}

void AddToPublishContext(const ChapCredentials& chap,
                         google::protobuf::Map<std::string, std::string>* publish_context) {
  (*publish_context)[kPubChapUser] = chap.user;
  (*publish_context)[kPubChapSecret] = chap.secret;
  if (!chap.target_user.empty()) {
    (*publish_context)[kPubChapTargetUser] = chap.target_user;
    (*publish_context)[kPubChapTargetSecret] = chap.target_secret;
  }
}

target::TargetChap ToTargetChap(const ChapCredentials& chap) {
  target::TargetChap out;
  out.initiator = target::ChapSecretPair{chap.user, chap.secret};
  if (!chap.target_user.empty()) {
    out.target = target::ChapSecretPair{chap.target_user, chap.target_secret};
  }
  return out;
}

}  // namespace iscsi_csi::controller
