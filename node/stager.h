// stager: the node plugin's logic. It turns "stage volume V at path P" into host steps (open-iscsi
// iface and node record, login, wait for the disk, verify its WWN, mkfs if blank, check, mount),
// tears them down again, publishes by bind mount, reports usage and health, grows volumes, and
// after a restart reconciles its staging records with the sessions and mounts the host really has.
// node_service is the thin gRPC adapter in front of it (validation, proto <-> structs).
//
// Idempotency (observe, then act): every step first looks at the host (mountinfo, sysfs, iscsiadm
// exit codes 15/21) and does nothing when the result is already there. A repeated stage of a
// healthy STAGED volume with the same arguments returns OK without touching iscsiadm.
//
// Crash safety: the staging record is written STAGING before the first host side effect, STAGED
// only after the mount; UNSTAGING after the unmount and deleted only after logout. Reconcile (at
// start, before Probe turns ready) undoes STAGING, finishes UNSTAGING, re-logs-in and remounts
// STAGED volumes whose session or mount went away, and logs out sessions and deletes node records
// of this plugin's iface that no record explains (unless their disk is still mounted somewhere).
//
// Error codes (DESIGN.md §4 plus these choices):
//   WWN mismatch -> FailedPrecondition (the target serves another LU at that LUN; retrying will
//   not help until the volume context or the target is fixed). Existing filesystem other than the
//   requested fsType, ambiguous signatures, blank volume staged read-only -> FailedPrecondition
//   (never format a device that holds data). Portal unreachable -> Unavailable (transient).
//   Busy unmount, publish before stage, unstage while still published -> FailedPrecondition.
#ifndef ISCSI_CSI_NODE_STAGER_H_
#define ISCSI_CSI_NODE_STAGER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node/host/clock.h"
#include "node/host/command_runner.h"
#include "node/host/device_waiter.h"
#include "node/host/formatter.h"
#include "node/host/iscsiadm.h"
#include "node/host/mounter.h"
#include "node/host/sysfs.h"
#include "staging.pb.h"
#include "node/staging_store.h"
#include "node/volume_locks.h"

namespace iscsi_csi::node {

enum class AccessType { kMount, kBlock };

// Where a volume lives and how to log in (from volume_context and publish_context).
struct VolumeTarget {
  std::string target_iqn;
  std::vector<Portal> portals;
  int lun = 0;
  std::string wwn;  // normalized lower-case hex
  ChapCredentials chap;
};

struct StageRequest {
  std::string volume_id;
  std::string staging_path;
  VolumeTarget target;
  AccessType access_type = AccessType::kMount;
  std::string fs_type;  // "ext4" or "xfs" for kMount
  std::vector<std::string> mount_flags;
  bool read_only = false;  // the access mode is a reader-only one
};

struct PublishRequest {
  std::string volume_id;
  std::string staging_path;
  std::string target_path;
  AccessType access_type = AccessType::kMount;
  bool read_only = false;
};

struct VolumeStats {
  bool block = false;
  int64_t bytes_total = 0;
  int64_t bytes_available = 0;
  int64_t bytes_used = 0;
  int64_t inodes_total = 0;
  int64_t inodes_free = 0;
  int64_t inodes_used = 0;
  bool abnormal = false;
  std::string condition;
};

struct StagerOptions {
  std::string initiator_iqn;       // from InitiatorIqnForNode(--node-id)
  std::string iface = "iscsi-csi";  // kIscsiIface
  std::string dev_root = "/dev";
  absl::Duration device_timeout = absl::Seconds(30);  // disk after login, size after rescan
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Minutes(2);  // iscsiadm, blkid, blockdev, sg_vpd
  absl::Duration format_timeout = absl::Minutes(10);  // mkfs, fsck, resize2fs, xfs_growfs
};

// The host the stager works on (not owned).
struct Host {
  CommandRunner* runner = nullptr;
  Mounter* mounter = nullptr;
  const Sysfs* sysfs = nullptr;
  Clock* clock = nullptr;
};

class Stager {
 public:
  Stager(Host host, StagingStore* store, StagerOptions options);

  // Stage / Unstage / Publish / Unpublish / Stats / Expand implement the Node RPCs on validated
  // input; every one takes the volume's lock (Aborted when busy).
  absl::Status Stage(const StageRequest& request);
  absl::Status Unstage(const std::string& volume_id, const std::string& staging_path);
  absl::Status Publish(const PublishRequest& request);
  absl::Status Unpublish(const std::string& volume_id, const std::string& target_path);
  absl::StatusOr<VolumeStats> Stats(const std::string& volume_id, const std::string& volume_path);
  // Expand rescans, waits for the device to reach `required_bytes` and grows the filesystem;
  // returns the device size.
  absl::StatusOr<int64_t> Expand(const std::string& volume_id, const std::string& volume_path,
                                 int64_t required_bytes, int64_t limit_bytes);

  // Reconcile brings host and records together after a start (see the file comment). Per-volume
  // problems are logged and left for the CO's retries; only a failure to read the records or to
  // list sessions fails it.
  absl::Status Reconcile();

 private:
  absl::Status DoStage(const StageRequest& request, StagingRecord& record);
  absl::Status LoginAny(const StageRequest& request, StagingRecord& record);
  absl::Status EnsureFilesystemMounted(const StagingRecord& record, bool allow_mkfs);
  absl::Status UndoStage(const StagingRecord& record);
  absl::Status FinishUnstage(StagingRecord& record);
  absl::Status RestoreStaged(StagingRecord& record);
  absl::Status VerifyWwn(const std::string& disk, const std::string& wwn,
                         const std::string& volume_id, const std::string& target_iqn, int lun);
  absl::StatusOr<bool> HealthyStaged(const StagingRecord& record);
  absl::Status LogoutUnlessShared(const StagingRecord& record, absl::string_view portal);
  absl::StatusOr<std::vector<std::string>> OtherUsers(const std::string& disk,
                                                      const std::string& except_path);
  absl::Status CleanupOrphans(const std::vector<StagingRecord>& records);

  std::string DevicePath(const std::string& disk) const;
  DiskLocation LocationOf(const StagingRecord& record) const;
  std::optional<NodeRecordRef> NodeRefFor(const StagingRecord& record,
                                          absl::string_view portal) const;

  Host host_;
  StagingStore* store_;
  const StagerOptions options_;
  Iscsiadm iscsiadm_;
  Formatter formatter_;
  Formatter slow_formatter_;
  DeviceWaiter waiter_;
  VolumeLocks locks_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_STAGER_H_
