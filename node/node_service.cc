#include "node/node_service.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_convert.h"
#include "common/status_macros.h"
#include "common/volume_context.h"
#include "node/host/vpd.h"

namespace iscsi_csi::node {
namespace {

using csi::v1::NodeServiceCapability;
using csi::v1::VolumeCapability;
using Mode = csi::v1::VolumeCapability::AccessMode::Mode;

using ContextMap = google::protobuf::Map<std::string, std::string>;

std::string Get(const ContextMap& map, const char* key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

absl::Status Required(absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
}

absl::Status ValidatePath(absl::string_view field, const std::string& path) {
  if (path.empty()) return Required(field);
  if (path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", path, "' must be an absolute path"));
  }
  if (path.find('\0') != std::string::npos || path.size() > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a usable path"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVolumeId(const std::string& volume_id) {
  if (volume_id.empty()) return Required("volume_id");
  if (volume_id.size() > 128) {
    return absl::InvalidArgumentError("volume_id is longer than 128 bytes");
  }
  return absl::OkStatus();
}

bool ReaderOnly(Mode mode) {
  return mode == VolumeCapability::AccessMode::SINGLE_NODE_READER_ONLY ||
         mode == VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
}

bool MultiNodeWriter(Mode mode) {
  return mode == VolumeCapability::AccessMode::MULTI_NODE_SINGLE_WRITER ||
         mode == VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER;
}

struct ParsedCapability {
  AccessType access_type = AccessType::kMount;
  std::string fs_type;
  std::vector<std::string> mount_flags;
  bool read_only = false;
};

absl::StatusOr<ParsedCapability> ParseCapability(bool has_capability,
                                                 const VolumeCapability& capability) {
  if (!has_capability) return Required("volume_capability");
  if (!capability.has_access_mode() ||
      capability.access_mode().mode() == VolumeCapability::AccessMode::UNKNOWN) {
    return Required("volume_capability.access_mode");
  }
  const Mode mode = capability.access_mode().mode();
  if (!VolumeCapability::AccessMode::Mode_IsValid(mode)) {
    return absl::InvalidArgumentError(absl::StrCat("access mode ", mode, " is unknown"));
  }
  ParsedCapability parsed;
  parsed.read_only = ReaderOnly(mode);
  if (capability.has_block()) {
    parsed.access_type = AccessType::kBlock;
    return parsed;
  }
  if (!capability.has_mount()) {
    return absl::InvalidArgumentError("volume_capability must be block or mount");
  }
  if (MultiNodeWriter(mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "access mode ", VolumeCapability::AccessMode::Mode_Name(mode),
        " is not supported for mount volumes: ext4 and xfs cannot be written from several "
        "nodes (use a block volume with a cluster-aware application)"));
  }
  const std::string& fs_type = capability.mount().fs_type();
  parsed.fs_type = fs_type.empty() ? "ext4" : fs_type;
  if (parsed.fs_type != "ext4" && parsed.fs_type != "xfs") {
    return absl::InvalidArgumentError(absl::StrCat(
        "fsType '", fs_type, "' is not supported; use ext4 (the default) or xfs"));
  }
  for (const std::string& flag : capability.mount().mount_flags()) {
    if (flag.empty() || flag.find_first_of(" \t\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("mount flag '", flag, "' is empty or contains whitespace"));
    }
    for (absl::string_view forbidden : {"bind", "rbind", "remount", "move", "make-shared"}) {
      if (flag == forbidden) {
        return absl::InvalidArgumentError(
            absl::StrCat("mount flag '", flag, "' is managed by the plugin and not allowed"));
      }
    }
    parsed.mount_flags.push_back(flag);
  }
  return parsed;
}

}  // namespace

absl::StatusOr<VolumeTarget> ParseVolumeTarget(const ContextMap& volume_context,
                                               const ContextMap& publish_context) {
  VolumeTarget target;
  target.target_iqn = Get(volume_context, kCtxTargetIqn);
  if (target.target_iqn.empty()) return Required(absl::StrCat("volume_context.", kCtxTargetIqn));
  if (!absl::StartsWith(target.target_iqn, "iqn.") && !absl::StartsWith(target.target_iqn, "eui.") &&
      !absl::StartsWith(target.target_iqn, "naa.")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume_context.", kCtxTargetIqn, " '", target.target_iqn, "' is not an iSCSI name"));
  }
  if (target.target_iqn.size() > 223 ||
      target.target_iqn.find_first_of(" \t\n,") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume_context.", kCtxTargetIqn, " is not a valid iSCSI name"));
  }
  const std::string portals = Get(volume_context, kCtxPortals);
  if (portals.empty()) return Required(absl::StrCat("volume_context.", kCtxPortals));
  absl::StatusOr<std::vector<Portal>> parsed_portals = ParsePortalList(portals);
  if (!parsed_portals.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("volume_context.", kCtxPortals, ": ",
                                                   parsed_portals.status().message()));
  }
  target.portals = *std::move(parsed_portals);
  const std::string lun = Get(volume_context, kCtxLun);
  if (lun.empty()) return Required(absl::StrCat("volume_context.", kCtxLun));
  if (!absl::SimpleAtoi(lun, &target.lun) || target.lun < 0 || target.lun > 16383) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume_context.", kCtxLun, " '", lun, "' is not a LUN (0-16383)"));
  }
  const std::string wwn = Get(volume_context, kCtxWwn);
  if (wwn.empty()) return Required(absl::StrCat("volume_context.", kCtxWwn));
  absl::StatusOr<std::string> normalized = NormalizeWwn(wwn);
  if (!normalized.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume_context.", kCtxWwn, ": ", normalized.status().message()));
  }
  target.wwn = *normalized;

  ChapCredentials& chap = target.chap;
  chap.user = Get(publish_context, kPubChapUser);
  chap.secret = Get(publish_context, kPubChapSecret);
  chap.target_user = Get(publish_context, kPubChapTargetUser);
  chap.target_secret = Get(publish_context, kPubChapTargetSecret);
  if (chap.user.empty() != chap.secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("publish_context must carry both ",
                                                   kPubChapUser, " and ", kPubChapSecret,
                                                   " or neither"));
  }
  if (chap.target_user.empty() != chap.target_secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("publish_context must carry both ",
                                                   kPubChapTargetUser, " and ",
                                                   kPubChapTargetSecret, " or neither"));
  }
  if (chap.mutual() && !chap.enabled()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "publish_context has mutual CHAP (", kPubChapTargetUser, ") without one-way CHAP (",
        kPubChapUser, ")"));
  }
  return target;
}

absl::StatusOr<StageRequest> ParseStageRequest(const csi::v1::NodeStageVolumeRequest& request) {
  RETURN_IF_ERROR(ValidateVolumeId(request.volume_id()));
  RETURN_IF_ERROR(ValidatePath("staging_target_path", request.staging_target_path()));
  // A StorageClass may name the filesystem only in its parameters (fsType), which the controller
  // records in the volume context; a fs_type in the capability itself wins.
  csi::v1::VolumeCapability requested = request.volume_capability();
  if (requested.has_mount() && requested.mount().fs_type().empty()) {
    auto it = request.volume_context().find(kCtxFsType);
    if (it != request.volume_context().end()) requested.mutable_mount()->set_fs_type(it->second);
  }
  ASSIGN_OR_RETURN(ParsedCapability capability,
                   ParseCapability(request.has_volume_capability(), requested));
  ASSIGN_OR_RETURN(VolumeTarget target,
                   ParseVolumeTarget(request.volume_context(), request.publish_context()));
  StageRequest stage;
  stage.volume_id = request.volume_id();
  stage.staging_path = request.staging_target_path();
  stage.target = std::move(target);
  stage.access_type = capability.access_type;
  stage.fs_type = capability.fs_type;
  stage.mount_flags = std::move(capability.mount_flags);
  stage.read_only = capability.read_only;
  return stage;
}

absl::StatusOr<PublishRequest> ParsePublishRequest(
    const csi::v1::NodePublishVolumeRequest& request) {
  RETURN_IF_ERROR(ValidateVolumeId(request.volume_id()));
  RETURN_IF_ERROR(ValidatePath("target_path", request.target_path()));
  RETURN_IF_ERROR(ValidatePath("staging_target_path", request.staging_target_path()));
  ASSIGN_OR_RETURN(ParsedCapability capability,
                   ParseCapability(request.has_volume_capability(),
                                   request.volume_capability()));
  PublishRequest publish;
  publish.volume_id = request.volume_id();
  publish.staging_path = request.staging_target_path();
  publish.target_path = request.target_path();
  publish.access_type = capability.access_type;
  publish.read_only = request.readonly() || capability.read_only;
  return publish;
}

absl::StatusOr<std::map<std::string, std::string>> ParseTopology(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> topology;
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("topology segment '", item, "' must be KEY=VALUE"));
    }
    const std::string key = item.substr(0, eq);
    if (topology.count(key) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("topology key '", key, "' is given twice"));
    }
    topology[key] = item.substr(eq + 1);
  }
  return topology;
}

NodeService::NodeService(Stager* stager, NodeServiceOptions options, NodeMetrics* metrics)
    : stager_(stager), options_(std::move(options)), metrics_(metrics) {}

absl::Status NodeService::CheckReady() const {
  if (ready_.load(std::memory_order_acquire)) return absl::OkStatus();
  return absl::UnavailableError(
      "the node plugin is still reconciling its state after start-up; retry shortly");
}

grpc::Status NodeService::NodeStageVolume(grpc::ServerContext*,
                                          const csi::v1::NodeStageVolumeRequest* request,
                                          csi::v1::NodeStageVolumeResponse*) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReady());
    ASSIGN_OR_RETURN(StageRequest stage, ParseStageRequest(*request));
    return WithContext(stager_->Stage(stage), absl::StrCat("stage ", request->volume_id()));
  }();
  if (metrics_ != nullptr) metrics_->StageResult(status);
  return ToGrpcStatus(status);
}

grpc::Status NodeService::NodeUnstageVolume(grpc::ServerContext*,
                                            const csi::v1::NodeUnstageVolumeRequest* request,
                                            csi::v1::NodeUnstageVolumeResponse*) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReady());
    RETURN_IF_ERROR(ValidateVolumeId(request->volume_id()));
    RETURN_IF_ERROR(ValidatePath("staging_target_path", request->staging_target_path()));
    return WithContext(stager_->Unstage(request->volume_id(), request->staging_target_path()),
                       absl::StrCat("unstage ", request->volume_id()));
  }();
  if (metrics_ != nullptr) metrics_->UnstageResult(status);
  return ToGrpcStatus(status);
}

grpc::Status NodeService::NodePublishVolume(grpc::ServerContext*,
                                            const csi::v1::NodePublishVolumeRequest* request,
                                            csi::v1::NodePublishVolumeResponse*) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReady());
    ASSIGN_OR_RETURN(PublishRequest publish, ParsePublishRequest(*request));
    return WithContext(stager_->Publish(publish), absl::StrCat("publish ", request->volume_id()));
  }();
  return ToGrpcStatus(status);
}

grpc::Status NodeService::NodeUnpublishVolume(grpc::ServerContext*,
                                              const csi::v1::NodeUnpublishVolumeRequest* request,
                                              csi::v1::NodeUnpublishVolumeResponse*) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReady());
    RETURN_IF_ERROR(ValidateVolumeId(request->volume_id()));
    RETURN_IF_ERROR(ValidatePath("target_path", request->target_path()));
    return WithContext(stager_->Unpublish(request->volume_id(), request->target_path()),
                       absl::StrCat("unpublish ", request->volume_id()));
  }();
  return ToGrpcStatus(status);
}

grpc::Status NodeService::NodeGetVolumeStats(grpc::ServerContext*,
                                             const csi::v1::NodeGetVolumeStatsRequest* request,
                                             csi::v1::NodeGetVolumeStatsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(ValidateVolumeId(request->volume_id()));
    RETURN_IF_ERROR(ValidatePath("volume_path", request->volume_path()));
    ASSIGN_OR_RETURN(VolumeStats stats,
                     stager_->Stats(request->volume_id(), request->volume_path()));
    csi::v1::VolumeUsage* bytes = response->add_usage();
    bytes->set_unit(csi::v1::VolumeUsage::BYTES);
    bytes->set_total(stats.bytes_total);
    if (!stats.block) {
      bytes->set_available(stats.bytes_available);
      bytes->set_used(stats.bytes_used);
      csi::v1::VolumeUsage* inodes = response->add_usage();
      inodes->set_unit(csi::v1::VolumeUsage::INODES);
      inodes->set_total(stats.inodes_total);
      inodes->set_available(stats.inodes_free);
      inodes->set_used(stats.inodes_used);
    }
    response->mutable_volume_condition()->set_abnormal(stats.abnormal);
    response->mutable_volume_condition()->set_message(stats.condition);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(WithContext(status, absl::StrCat("stats ", request->volume_id())));
}

grpc::Status NodeService::NodeExpandVolume(grpc::ServerContext*,
                                           const csi::v1::NodeExpandVolumeRequest* request,
                                           csi::v1::NodeExpandVolumeResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReady());
    RETURN_IF_ERROR(ValidateVolumeId(request->volume_id()));
    RETURN_IF_ERROR(ValidatePath("volume_path", request->volume_path()));
    const int64_t required = request->capacity_range().required_bytes();
    const int64_t limit = request->capacity_range().limit_bytes();
    if (required < 0 || limit < 0 || (limit > 0 && required > limit)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "capacity_range is inconsistent (required_bytes ", required, ", limit_bytes ", limit,
          ")"));
    }
    ASSIGN_OR_RETURN(int64_t size, stager_->Expand(request->volume_id(), request->volume_path(),
                                                   required, limit));
    response->set_capacity_bytes(size);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(WithContext(status, absl::StrCat("expand ", request->volume_id())));
}

grpc::Status NodeService::NodeGetCapabilities(grpc::ServerContext*,
                                              const csi::v1::NodeGetCapabilitiesRequest*,
                                              csi::v1::NodeGetCapabilitiesResponse* response) {
  for (NodeServiceCapability::RPC::Type type :
       {NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME,
        NodeServiceCapability::RPC::GET_VOLUME_STATS, NodeServiceCapability::RPC::EXPAND_VOLUME,
        NodeServiceCapability::RPC::VOLUME_CONDITION,
        NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status NodeService::NodeGetInfo(grpc::ServerContext*, const csi::v1::NodeGetInfoRequest*,
                                      csi::v1::NodeGetInfoResponse* response) {
  response->set_node_id(options_.node_id);
  response->set_max_volumes_per_node(options_.max_volumes_per_node);
  if (!options_.topology.empty()) {
    auto* segments = response->mutable_accessible_topology()->mutable_segments();
    for (const auto& [key, value] : options_.topology) (*segments)[key] = value;
  }
  return grpc::Status::OK;
}

}  // namespace iscsi_csi::node
