// volume_id: the identifiers the controller hands out. Volume ids are "vol-" and snapshot ids
// "snap-" followed by 16 lower-case hex digits from OpenSSL's CSPRNG: short, unique in
// practice (64 bits), and valid inside an IQN (RFC 3722 allows letters, digits, '-', '.', ':'),
// so the target of volume V is TargetIqnForVolume(V) without any escaping.
#ifndef ISCSI_CSI_CONTROLLER_VOLUME_ID_H_
#define ISCSI_CSI_CONTROLLER_VOLUME_ID_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi::controller {

inline constexpr char kVolumeIdPrefix[] = "vol-";
inline constexpr char kSnapshotIdPrefix[] = "snap-";

// RandomHex returns 2 * `bytes` lower-case hex digits from RAND_bytes. Internal when the
// CSPRNG fails (it never falls back to a weaker source).
absl::StatusOr<std::string> RandomHex(size_t bytes);

absl::StatusOr<std::string> NewVolumeId();
absl::StatusOr<std::string> NewSnapshotId();

// IsVolumeId / IsSnapshotId: true when `text` has the exact shape we generate. Used to refuse
// foreign paging tokens and to skip catalogue look-ups for ids we cannot have made.
bool IsVolumeId(absl::string_view text);
bool IsSnapshotId(absl::string_view text);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_VOLUME_ID_H_
