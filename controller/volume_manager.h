// volume_manager: the logic of the CSI Controller service (CSI spec "Controller Service RPC"):
// provisioning volumes as sparse files in the pool, exporting them on the embedded target,
// per-node access (ACL + CHAP), snapshots, clones, expansion, listing and capacity. It speaks
// CSI messages in and out and returns absl::Status; controller_service is the thin gRPC
// adapter. Recover() reconciles catalogue, pool and target at start (see catalog.cc).
//
// Decisions (README "Controller"):
// - Idempotency by name (CreateVolume, CreateSnapshot) and by id (everything else): an
//   existing compatible object is returned as is; incompatible -> ALREADY_EXISTS.
// - Concurrency: one operation per volume id / volume name / snapshot id / snapshot name at a
//   time (OpLocks::TryAcquire); a second one gets ABORTED. Different volumes run in parallel.
// - Snapshots and clones are independent copies (reflink or sparse copy), so a volume with
//   snapshots can be deleted and a snapshot outlives its source.
// - Read-only: the target exports LUN 0 read-only or read-write for all initiators alike, so
//   the mode is decided by the publications: a publication is read-only when `readonly` is set
//   or its access mode is a reader-only one; every publication of a volume must agree (a
//   second node asking for the other mode gets FAILED_PRECONDITION); LUN 0 is re-exported in
//   the new mode only while no node is published.
// - CHAP: each volume gets mutual CHAP credentials at creation (CSPRNG), stored in the
//   catalogue, set on its target and handed out in publish_context. Controller-publish secrets
//   (chapUser/chapSecret[/chapTargetUser/chapTargetSecret]) replace them for the volume (kept
//   for later publishes and restarts) unless another node is published with different ones.
#ifndef ISCSI_CSI_CONTROLLER_VOLUME_MANAGER_H_
#define ISCSI_CSI_CONTROLLER_VOLUME_MANAGER_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/volume_context.h"
#include "controller/catalog.h"
#include "controller/controller_metrics.h"
#include "controller/export_backend.h"
#include "controller/op_locks.h"
#include "controller/params.h"
#include "controller/pool.h"
#include "csi.pb.h"

namespace iscsi_csi::controller {

struct VolumeManagerOptions {
  std::vector<std::string> portals;        // advertised, "host:port"
  std::optional<uint64_t> capacity_bytes;  // --capacity
  Topology topology;                       // --topology
  uint64_t default_volume_bytes = kDefaultVolumeBytes;
  ControllerMetrics* metrics = nullptr;  // optional, not owned
};

class VolumeManager {
 public:
  // Not owned; all must outlive the manager.
  VolumeManager(VolumeManagerOptions options, Catalog* catalog, Pool* pool, ExportBackend* exports);

  // Recover finishes or undoes what a crash interrupted, removes pool files without a record,
  // and exports every ready volume with its publications and CHAP. A volume that cannot be
  // exported (its file is missing, say) is logged and reported abnormal, not fatal.
  absl::Status Recover();

  absl::Status CreateVolume(const csi::v1::CreateVolumeRequest& request,
                            csi::v1::CreateVolumeResponse* response);
  absl::Status DeleteVolume(const csi::v1::DeleteVolumeRequest& request);
  absl::Status ControllerPublishVolume(const csi::v1::ControllerPublishVolumeRequest& request,
                                       csi::v1::ControllerPublishVolumeResponse* response);
  absl::Status ControllerUnpublishVolume(const csi::v1::ControllerUnpublishVolumeRequest& request);
  absl::Status ValidateVolumeCapabilities(const csi::v1::ValidateVolumeCapabilitiesRequest& request,
                                          csi::v1::ValidateVolumeCapabilitiesResponse* response);
  absl::Status ListVolumes(const csi::v1::ListVolumesRequest& request,
                           csi::v1::ListVolumesResponse* response);
  absl::Status GetCapacity(const csi::v1::GetCapacityRequest& request,
                           csi::v1::GetCapacityResponse* response);
  absl::Status CreateSnapshot(const csi::v1::CreateSnapshotRequest& request,
                              csi::v1::CreateSnapshotResponse* response);
  absl::Status DeleteSnapshot(const csi::v1::DeleteSnapshotRequest& request);
  absl::Status ListSnapshots(const csi::v1::ListSnapshotsRequest& request,
                             csi::v1::ListSnapshotsResponse* response);
  absl::Status ControllerExpandVolume(const csi::v1::ControllerExpandVolumeRequest& request,
                                      csi::v1::ControllerExpandVolumeResponse* response);
  absl::Status ControllerGetVolume(const csi::v1::ControllerGetVolumeRequest& request,
                                   csi::v1::ControllerGetVolumeResponse* response);

  // The controller capabilities we announce (ControllerGetCapabilities).
  static std::vector<csi::v1::ControllerServiceCapability::RPC::Type> Capabilities();

  // Test hook: called with a step name ("create:recorded", "create:file", "publish:recorded",
  // "snapshot:recorded", "expand:recorded") while the operation holds its locks, so a test
  // can park an RPC there and race another one against it, or fail the step.
  // May be called while RPCs run.
  void SetStepHookForTest(std::function<absl::Status(absl::string_view step)> hook) {
    absl::MutexLock lock(&hook_mu_);
    step_hook_ = std::move(hook);
  }

 private:
  // The volume's context (portals, IQN, LUN, WWN, block size, fs type).
  std::map<std::string, std::string> VolumeContext(const VolumeRecord& volume) const;
  void FillVolume(const VolumeRecord& volume, csi::v1::Volume* out) const;
  absl::StatusOr<ExportConfig> DesiredExport(const VolumeRecord& volume,
                                             const std::vector<PublicationRecord>& publications);
  absl::Status ApplyExport(const VolumeRecord& volume,
                           const std::vector<PublicationRecord>& publications);
  csi::v1::VolumeCondition Condition(const VolumeRecord& volume);
  absl::Status Step(absl::string_view step);
  // Undo* remove what exists of a volume/snapshot: export, files, row (best effort first, the
  // row last, so that a failure leaves the record for a retry or the next start).
  absl::Status UndoVolume(const VolumeRecord& volume);
  absl::Status UndoSnapshot(const SnapshotRecord& snapshot);
  absl::Status RecoverVolumes();
  absl::Status RecoverSnapshots();
  absl::Status RemoveOrphans();
  void NoteExportResult(const std::string& volume_id, const absl::Status& status);
  // RefreshMetrics updates the inventory gauges after a change (no-op without metrics).
  void RefreshMetrics();
  void CountCopy(CopyMethod method);
  void CountRecovery(absl::string_view action);

  const VolumeManagerOptions options_;
  Catalog* const catalog_;
  Pool* const pool_;
  ExportBackend* const exports_;
  OpLocks locks_;
  absl::Mutex hook_mu_;
  std::function<absl::Status(absl::string_view)> step_hook_ ABSL_GUARDED_BY(hook_mu_);

  absl::Mutex mu_;
  // Why a ready volume is not (correctly) exported; cleared by a successful export.
  std::map<std::string, std::string> export_errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_VOLUME_MANAGER_H_
