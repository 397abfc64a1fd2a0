// chap_credentials: the mutual CHAP credentials of a volume's target. Generated per volume at
// CreateVolume from the CSPRNG and kept in the catalogue; replaced by the controller-publish
// secrets (chapUser, chapSecret, chapTargetUser, chapTargetSecret: the publish_context keys of
// common/volume_context.h) when a ControllerPublishVolume request carries them. Secrets never
// appear in logs or status messages.
#ifndef ISCSI_CSI_CONTROLLER_CHAP_CREDENTIALS_H_
#define ISCSI_CSI_CONTROLLER_CHAP_CREDENTIALS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "target/target.h"

namespace iscsi_csi::controller {

enum class ChapOrigin { kGenerated, kPublishSecrets };

struct ChapCredentials {
  std::string user;  // the initiator's CHAP_N (one-way: node -> target)
  std::string secret;
  std::string target_user;  // ours, for mutual CHAP (target -> node); may be empty
  std::string target_secret;
  ChapOrigin origin = ChapOrigin::kGenerated;

  // Same names and secrets (the origin does not matter).
  bool SameSecretsAs(const ChapCredentials& other) const;
};

// GenerateChapCredentials makes mutual credentials for `volume_id`: user names derived from the
// id, secrets of 32 hex digits (128 bits from RAND_bytes), different in each direction.
absl::StatusOr<ChapCredentials> GenerateChapCredentials(absl::string_view volume_id);

// ChapFromSecrets reads the controller-publish secrets. nullopt when none of the four keys is
// present; InvalidArgument (naming the key, never the value) for half a pair, a target pair
// without the initiator pair, a secret outside 12..255 bytes (RFC 7143 §9.2.1), or the same
// secret in both directions. Other keys are ignored (the CO may pass unrelated secrets).
absl::StatusOr<std::optional<ChapCredentials>> ChapFromSecrets(
    const google::protobuf::Map<std::string, std::string>& secrets);

// AddToPublishContext writes the credentials under the publish_context keys.
void AddToPublishContext(const ChapCredentials& chap,
                         google::protobuf::Map<std::string, std::string>* publish_context);

// ToTargetChap converts to the target facade's settings.
target::TargetChap ToTargetChap(const ChapCredentials& chap);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CHAP_CREDENTIALS_H_
