#include "controller/controller_service.h"

#include "common/status_convert.h"

namespace iscsi_csi::controller {
namespace {

grpc::Status NotReady() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the controller is still loading its catalogue; retry shortly");
}

}  // namespace

// Each RPC: answer UNAVAILABLE before the state is loaded, else delegate and convert once.
#define ISCSI_CSI_DELEGATE(call)             \
  VolumeManager* manager = Manager();        \
  if (manager == nullptr) return NotReady(); \
  return ToGrpcStatus(manager->call)

grpc::Status ControllerService::CreateVolume(grpc::ServerContext*,
                                             const csi::v1::CreateVolumeRequest* request,
                                             csi::v1::CreateVolumeResponse* response) {
  ISCSI_CSI_DELEGATE(CreateVolume(*request, response));
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext*,
                                             const csi::v1::DeleteVolumeRequest* request,
                                             csi::v1::DeleteVolumeResponse*) {
  ISCSI_CSI_DELEGATE(DeleteVolume(*request));
}

grpc::Status ControllerService::ControllerPublishVolume(
    grpc::ServerContext*, const csi::v1::ControllerPublishVolumeRequest* request,
    csi::v1::ControllerPublishVolumeResponse* response) {
  ISCSI_CSI_DELEGATE(ControllerPublishVolume(*request, response));
}

grpc::Status ControllerService::ControllerUnpublishVolume(
    grpc::ServerContext*, const csi::v1::ControllerUnpublishVolumeRequest* request,
    csi::v1::ControllerUnpublishVolumeResponse*) {
  ISCSI_CSI_DELEGATE(ControllerUnpublishVolume(*request));
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    grpc::ServerContext*, const csi::v1::ValidateVolumeCapabilitiesRequest* request,
    csi::v1::ValidateVolumeCapabilitiesResponse* response) {
  ISCSI_CSI_DELEGATE(ValidateVolumeCapabilities(*request, response));
}

grpc::Status ControllerService::ListVolumes(grpc::ServerContext*,
                                            const csi::v1::ListVolumesRequest* request,
                                            csi::v1::ListVolumesResponse* response) {
  ISCSI_CSI_DELEGATE(ListVolumes(*request, response));
}

grpc::Status ControllerService::GetCapacity(grpc::ServerContext*,
                                            const csi::v1::GetCapacityRequest* request,
                                            csi::v1::GetCapacityResponse* response) {
  ISCSI_CSI_DELEGATE(GetCapacity(*request, response));
}

grpc::Status ControllerService::ControllerGetCapabilities(
    grpc::ServerContext*, const csi::v1::ControllerGetCapabilitiesRequest*,
    csi::v1::ControllerGetCapabilitiesResponse* response) {
  // Static: answered even while the state loads.
  for (auto type : VolumeManager::Capabilities()) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::CreateSnapshot(grpc::ServerContext*,
                                               const csi::v1::CreateSnapshotRequest* request,
                                               csi::v1::CreateSnapshotResponse* response) {
  ISCSI_CSI_DELEGATE(CreateSnapshot(*request, response));
}

grpc::Status ControllerService::DeleteSnapshot(grpc::ServerContext*,
                                               const csi::v1::DeleteSnapshotRequest* request,
                                               csi::v1::DeleteSnapshotResponse*) {
  ISCSI_CSI_DELEGATE(DeleteSnapshot(*request));
}

grpc::Status ControllerService::ListSnapshots(grpc::ServerContext*,
                                              const csi::v1::ListSnapshotsRequest* request,
                                              csi::v1::ListSnapshotsResponse* response) {
  ISCSI_CSI_DELEGATE(ListSnapshots(*request, response));
}

grpc::Status ControllerService::ControllerExpandVolume(
    grpc::ServerContext*, const csi::v1::ControllerExpandVolumeRequest* request,
    csi::v1::ControllerExpandVolumeResponse* response) {
  ISCSI_CSI_DELEGATE(ControllerExpandVolume(*request, response));
}

grpc::Status ControllerService::ControllerGetVolume(
    grpc::ServerContext*, const csi::v1::ControllerGetVolumeRequest* request,
    csi::v1::ControllerGetVolumeResponse* response) {
  ISCSI_CSI_DELEGATE(ControllerGetVolume(*request, response));
}

#undef ISCSI_CSI_DELEGATE

}  // namespace iscsi_csi::controller
