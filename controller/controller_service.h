// controller_service: the CSI Controller gRPC service, a thin adapter: each RPC hands the
// request to VolumeManager and converts its absl::Status once (ToGrpcStatus). Until the
// controller has loaded its state (Controller::Start), RPCs answer UNAVAILABLE. GetSnapshot,
// ControllerModifyVolume and the group-snapshot RPCs are not announced and stay UNIMPLEMENTED
// (the generated base class's answer).
#ifndef ISCSI_CSI_CONTROLLER_CONTROLLER_SERVICE_H_
#define ISCSI_CSI_CONTROLLER_CONTROLLER_SERVICE_H_

#include <atomic>

#include "controller/volume_manager.h"
#include "csi.grpc.pb.h"

namespace iscsi_csi::controller {

class ControllerService final : public csi::v1::Controller::Service {
 public:
  ControllerService() = default;
  // SetManager makes the service answer through `manager` (not owned; null: UNAVAILABLE).
  void SetManager(VolumeManager* manager) { manager_.store(manager, std::memory_order_release); }

  grpc::Status CreateVolume(grpc::ServerContext* context,
                            const csi::v1::CreateVolumeRequest* request,
                            csi::v1::CreateVolumeResponse* response) override;
  grpc::Status DeleteVolume(grpc::ServerContext* context,
                            const csi::v1::DeleteVolumeRequest* request,
                            csi::v1::DeleteVolumeResponse* response) override;
  grpc::Status ControllerPublishVolume(grpc::ServerContext* context,
                                       const csi::v1::ControllerPublishVolumeRequest* request,
                                       csi::v1::ControllerPublishVolumeResponse* response) override;
  grpc::Status ControllerUnpublishVolume(
      grpc::ServerContext* context, const csi::v1::ControllerUnpublishVolumeRequest* request,
      csi::v1::ControllerUnpublishVolumeResponse* response) override;
  grpc::Status ValidateVolumeCapabilities(
      grpc::ServerContext* context, const csi::v1::ValidateVolumeCapabilitiesRequest* request,
      csi::v1::ValidateVolumeCapabilitiesResponse* response) override;
  grpc::Status ListVolumes(grpc::ServerContext* context, const csi::v1::ListVolumesRequest* request,
                           csi::v1::ListVolumesResponse* response) override;
  grpc::Status GetCapacity(grpc::ServerContext* context, const csi::v1::GetCapacityRequest* request,
                           csi::v1::GetCapacityResponse* response) override;
  grpc::Status ControllerGetCapabilities(
      grpc::ServerContext* context, const csi::v1::ControllerGetCapabilitiesRequest* request,
      csi::v1::ControllerGetCapabilitiesResponse* response) override;
  grpc::Status CreateSnapshot(grpc::ServerContext* context,
                              const csi::v1::CreateSnapshotRequest* request,
                              csi::v1::CreateSnapshotResponse* response) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext* context,
                              const csi::v1::DeleteSnapshotRequest* request,
                              csi::v1::DeleteSnapshotResponse* response) override;
  grpc::Status ListSnapshots(grpc::ServerContext* context,
                             const csi::v1::ListSnapshotsRequest* request,
                             csi::v1::ListSnapshotsResponse* response) override;
  grpc::Status ControllerExpandVolume(grpc::ServerContext* context,
                                      const csi::v1::ControllerExpandVolumeRequest* request,
                                      csi::v1::ControllerExpandVolumeResponse* response) override;
  grpc::Status ControllerGetVolume(grpc::ServerContext* context,
                                   const csi::v1::ControllerGetVolumeRequest* request,
                                   csi::v1::ControllerGetVolumeResponse* response) override;

 private:
  // Manager: the manager, or null before the state is loaded.
  VolumeManager* Manager() const { return manager_.load(std::memory_order_acquire); }

  std::atomic<VolumeManager*> manager_{nullptr};
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CONTROLLER_SERVICE_H_
