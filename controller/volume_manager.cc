#include "controller/volume_manager.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_convert.h"
#include "common/status_macros.h"
#include "common/volume_context.h"
#include "controller/volume_id.h"
#include "glog/logging.h"
#include "target/standalone/standalone.h"

namespace iscsi_csi::controller {
namespace {

using AccessMode = csi::v1::VolumeCapability::AccessMode;
using RpcType = csi::v1::ControllerServiceCapability::RPC;

std::string VolumeKey(absl::string_view id) { return absl::StrCat("volume/", id); }
std::string VolumeNameKey(absl::string_view name) { return absl::StrCat("volume-name/", name); }
std::string SnapshotKey(absl::string_view id) { return absl::StrCat("snapshot/", id); }
std::string SnapshotNameKey(absl::string_view name) { return absl::StrCat("snapshot-name/", name); }

absl::Status Busy(absl::string_view what) {
  return absl::AbortedError(absl::StrCat("an operation on ", what, " is in progress; retry later"));
}

absl::Status Required(absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
}

std::string WwnHex(absl::string_view volume_id) {
  const std::array<uint8_t, 16> wwn = target::DeriveNaaWwn(volume_id);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(wwn.data()), wwn.size()));
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

bool EffectiveReadOnly(bool readonly, int access_mode) {
  return readonly || AccessModeIsReadOnly(static_cast<AccessMode::Mode>(access_mode));
}

std::string ModeName(int mode) {
  return AccessMode::Mode_Name(static_cast<AccessMode::Mode>(mode));
}

std::string AccessTypesName(uint32_t types) {
  std::vector<std::string> names;
  if (types & kAccessBlock) names.push_back("block");
  if (types & kAccessMount) names.push_back("mount");
  return names.empty() ? "no" : absl::StrJoin(names, "+");
}

// The content source of a request, flattened.
struct RequestedSource {
  SourceKind kind = SourceKind::kNone;
  std::string id;
};

absl::StatusOr<RequestedSource> ParseContentSource(const csi::v1::CreateVolumeRequest& request) {
  RequestedSource source;
  if (!request.has_volume_content_source()) return source;
  const csi::v1::VolumeContentSource& content = request.volume_content_source();
  switch (content.type_case()) {
    case csi::v1::VolumeContentSource::kSnapshot:
      if (content.snapshot().snapshot_id().empty()) {
        return Required("volume_content_source.snapshot.snapshot_id");
      }
      source.kind = SourceKind::kSnapshot;
      source.id = content.snapshot().snapshot_id();
      return source;
    case csi::v1::VolumeContentSource::kVolume:
      if (content.volume().volume_id().empty()) {
        return Required("volume_content_source.volume.volume_id");
      }
      source.kind = SourceKind::kVolume;
      source.id = content.volume().volume_id();
      return source;
    case csi::v1::VolumeContentSource::TYPE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("volume_content_source must name a snapshot or a volume");
}

// Incompatibility returns why an existing volume does not satisfy a repeated CreateVolume
// (CSI: ALREADY_EXISTS), or nullopt when it does.
std::optional<std::string> Incompatibility(const VolumeRecord& existing,
                                           const csi::v1::CreateVolumeRequest& request,
                                           const CapabilitySummary& summary,
                                           const RequestedSource& source) {
  const csi::v1::CapacityRange* range =
      request.has_capacity_range() ? &request.capacity_range() : nullptr;
  if (!CapacityFits(range, existing.capacity_bytes)) {
    return absl::StrCat("it has ", existing.capacity_bytes,
                        " bytes, outside the requested capacity_range");
  }
  if (summary.access_types != existing.access_types) {
    return absl::StrCat("it was created for ", AccessTypesName(existing.access_types),
                        " access, not ", AccessTypesName(summary.access_types));
  }
  if (WithoutMetadata(ToParameterMap(request.parameters())) !=
      WithoutMetadata(existing.parameters)) {
    return std::string("it was created with other parameters");
  }
  if (!summary.mount_fs_type.empty() && !existing.fs_type.empty() &&
      summary.mount_fs_type != existing.fs_type) {
    return absl::StrCat("it was created for ", existing.fs_type, ", not ", summary.mount_fs_type);
  }
  if (source.kind != existing.source_kind || source.id != existing.source_id) {
    return std::string("it was created from another volume_content_source");
  }
  return std::nullopt;
}

}  // namespace

VolumeManager::VolumeManager(VolumeManagerOptions options, Catalog* catalog, Pool* pool,
                             ExportBackend* exports)
    : options_(std::move(options)), catalog_(catalog), pool_(pool), exports_(exports) {}

std::vector<RpcType::Type> VolumeManager::Capabilities() {
  return {RpcType::CREATE_DELETE_VOLUME,
          RpcType::PUBLISH_UNPUBLISH_VOLUME,
          RpcType::LIST_VOLUMES,
          RpcType::LIST_VOLUMES_PUBLISHED_NODES,
          RpcType::GET_CAPACITY,
          RpcType::CREATE_DELETE_SNAPSHOT,
          RpcType::LIST_SNAPSHOTS,
          RpcType::CLONE_VOLUME,
          RpcType::EXPAND_VOLUME,
          RpcType::PUBLISH_READONLY,
          RpcType::GET_VOLUME,
          RpcType::VOLUME_CONDITION,
          RpcType::SINGLE_NODE_MULTI_WRITER};
}

absl::Status VolumeManager::Step(absl::string_view step) {
  std::function<absl::Status(absl::string_view)> hook;
  {
    absl::MutexLock lock(&hook_mu_);
    hook = step_hook_;
  }
  // Called unlocked: a hook may park this operation while another one runs its own steps.
  return hook ? hook(step) : absl::OkStatus();
}

std::map<std::string, std::string> VolumeManager::VolumeContext(const VolumeRecord& volume) const {
  std::map<std::string, std::string> context = {
      {kCtxPortals, absl::StrJoin(options_.portals, ",")},
      {kCtxTargetIqn, TargetIqnForVolume(volume.id)},
      {kCtxLun, std::string("0")},
      {kCtxWwn, WwnHex(volume.id)},
      {kCtxBlockSize, absl::StrCat(volume.block_size)},
  };
  if (!volume.fs_type.empty()) context.emplace(kCtxFsType, volume.fs_type);
  return context;
}

void VolumeManager::FillVolume(const VolumeRecord& volume, csi::v1::Volume* out) const {
  out->set_volume_id(volume.id);
  out->set_capacity_bytes(static_cast<int64_t>(volume.capacity_bytes));
  for (const auto& [key, value] : VolumeContext(volume))
    (*out->mutable_volume_context())[key] = value;
  switch (volume.source_kind) {
    case SourceKind::kSnapshot:
      out->mutable_content_source()->mutable_snapshot()->set_snapshot_id(volume.source_id);
      break;
    case SourceKind::kVolume:
      out->mutable_content_source()->mutable_volume()->set_volume_id(volume.source_id);
      break;
    case SourceKind::kNone:
      break;
  }
  if (!options_.topology.empty()) {
    csi::v1::Topology* topology = out->add_accessible_topology();
    for (const auto& [key, value] : options_.topology) (*topology->mutable_segments())[key] = value;
  }
}

absl::StatusOr<ExportConfig> VolumeManager::DesiredExport(
    const VolumeRecord& volume, const std::vector<PublicationRecord>& publications) {
  ExportConfig config;
  config.iqn = TargetIqnForVolume(volume.id);
  config.backing_file = pool_->VolumePath(volume.id);
  config.block_size = volume.block_size;
  config.serial = target::DeriveSerial(volume.id);
  config.naa_wwn = target::DeriveNaaWwn(volume.id);
  config.read_only =
      !publications.empty() &&
      std::all_of(publications.begin(), publications.end(), [](const PublicationRecord& p) {
        return EffectiveReadOnly(p.readonly, p.access_mode);
      });
  for (const PublicationRecord& publication : publications) {
    ASSIGN_OR_RETURN(std::string initiator, InitiatorIqnForNode(publication.node_id));
    config.initiators.insert(std::move(initiator));
  }
  ASSIGN_OR_RETURN(config.chap, catalog_->GetChap(volume.id));
  return config;
}

void VolumeManager::NoteExportResult(const std::string& volume_id, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    export_errors_.erase(volume_id);
  } else {
    export_errors_[volume_id] = std::string(status.message());
  }
}

void VolumeManager::RefreshMetrics() {
  if (options_.metrics == nullptr) return;
  if (absl::StatusOr<CatalogInventory> inventory = catalog_->Inventory(); inventory.ok()) {
    options_.metrics->SetInventory(*inventory);
  }
  if (absl::StatusOr<uint64_t> free_bytes = pool_->FreeBytes(); free_bytes.ok()) {
    options_.metrics->SetPoolFreeBytes(*free_bytes);
  }
  absl::MutexLock lock(&mu_);
  options_.metrics->SetAbnormalVolumes(static_cast<int>(export_errors_.size()));
}

void VolumeManager::CountCopy(CopyMethod method) {
  if (options_.metrics != nullptr) options_.metrics->CountCopy(method);
}

void VolumeManager::CountRecovery(absl::string_view action) {
  if (options_.metrics != nullptr) options_.metrics->CountRecoveryAction(action);
}

absl::Status VolumeManager::ApplyExport(const VolumeRecord& volume,
                                        const std::vector<PublicationRecord>& publications) {
  absl::StatusOr<ExportConfig> config = DesiredExport(volume, publications);
  absl::Status status = config.ok() ? exports_->Export(*config) : config.status();
  NoteExportResult(volume.id, status);
  return status;
}

csi::v1::VolumeCondition VolumeManager::Condition(const VolumeRecord& volume) {
  csi::v1::VolumeCondition condition;
  const std::string path = pool_->VolumePath(volume.id);
  absl::StatusOr<std::optional<uint64_t>> size = pool_->FileSize(path);
  condition.set_abnormal(true);
  if (!size.ok()) {
    condition.set_message(absl::StrCat("cannot check the backing file: ", size.status().message()));
    return condition;
  }
  if (!size->has_value()) {
    condition.set_message(absl::StrCat("the backing file ", path, " is missing"));
    return condition;
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = export_errors_.find(volume.id); it != export_errors_.end()) {
      condition.set_message(absl::StrCat("export failed: ", it->second));
      return condition;
    }
  }
  const std::string iqn = TargetIqnForVolume(volume.id);
  if (!exports_->IsExported(iqn)) {
    condition.set_message(absl::StrCat("the volume is not exported on the target as ", iqn));
    return condition;
  }
  condition.set_abnormal(false);
  condition.set_message(absl::StrCat("exported as LUN 0 of ", iqn));
  return condition;
}

absl::Status VolumeManager::UndoVolume(const VolumeRecord& volume) {
  RETURN_IF_ERROR(exports_->Unexport(TargetIqnForVolume(volume.id)));
  const std::string path = pool_->VolumePath(volume.id);
  RETURN_IF_ERROR(pool_->Remove(Pool::TempPath(path)));
  RETURN_IF_ERROR(pool_->Remove(path));
  RETURN_IF_ERROR(catalog_->DeleteVolume(volume.id));
  absl::MutexLock lock(&mu_);
  export_errors_.erase(volume.id);
  return absl::OkStatus();
}

absl::Status VolumeManager::UndoSnapshot(const SnapshotRecord& snapshot) {
  const std::string path = pool_->SnapshotPath(snapshot.id);
  RETURN_IF_ERROR(pool_->Remove(Pool::TempPath(path)));
  RETURN_IF_ERROR(pool_->Remove(path));
  return catalog_->DeleteSnapshot(snapshot.id);
}

// --- Recovery -----------------------------------------------------------------------------

absl::Status VolumeManager::Recover() {
  RETURN_IF_ERROR(pool_->Init());
  RETURN_IF_ERROR(RecoverSnapshots());
  RETURN_IF_ERROR(RecoverVolumes());
  RETURN_IF_ERROR(RemoveOrphans());
  RefreshMetrics();
  return absl::OkStatus();
}

absl::Status VolumeManager::RecoverVolumes() {
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, catalog_->ListVolumes("", 0, false));
  int exported = 0;
  int broken = 0;
  for (VolumeRecord& volume : volumes) {
    const std::string path = pool_->VolumePath(volume.id);
    ASSIGN_OR_RETURN(std::optional<uint64_t> size, pool_->FileSize(path));
    if (volume.state == RecordState::kCreating) {
      if (!size.has_value()) {
        LOG(INFO) << "recover: undoing the interrupted creation of " << volume.id << " ("
                  << volume.name << ")";
        RETURN_IF_ERROR(UndoVolume(volume));
        CountRecovery("undone");
        continue;
      }
      CountRecovery("finished");
      LOG(INFO) << "recover: finishing the interrupted creation of " << volume.id << " ("
                << volume.name << ")";
      RETURN_IF_ERROR(catalog_->SetVolumeState(volume.id, RecordState::kReady));
      volume.state = RecordState::kReady;
    } else if (volume.state == RecordState::kDeleting) {
      LOG(INFO) << "recover: finishing the interrupted deletion of " << volume.id;
      RETURN_IF_ERROR(UndoVolume(volume));
      CountRecovery("finished");
      continue;
    }
    if (!size.has_value()) {
      LOG(ERROR) << "recover: volume " << volume.id << " (" << volume.name
                 << ") has no backing file " << path << "; not exported";
      NoteExportResult(volume.id, absl::NotFoundError(absl::StrCat(path, " is missing")));
      ++broken;
      continue;
    }
    if (*size < volume.capacity_bytes) {
      LOG(INFO) << "recover: finishing the interrupted expansion of " << volume.id << " to "
                << volume.capacity_bytes << " bytes";
      RETURN_IF_ERROR(pool_->Grow(path, volume.capacity_bytes));
      CountRecovery("finished");
    } else if (*size > volume.capacity_bytes) {
      RETURN_IF_ERROR(catalog_->SetVolumeCapacity(volume.id, *size, std::nullopt));
      volume.capacity_bytes = *size;
    }
    ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications,
                     catalog_->Publications(volume.id));
    if (absl::Status st = ApplyExport(volume, publications); !st.ok()) {
      LOG(ERROR) << "recover: cannot export " << volume.id << ": " << st.message();
      ++broken;
      continue;
    }
    ++exported;
  }
  LOG(INFO) << "recover: exported " << exported << " volume(s)"
            << (broken > 0 ? absl::StrCat(", ", broken, " could not be exported") : "");
  return absl::OkStatus();
}

absl::Status VolumeManager::RecoverSnapshots() {
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snapshots,
                   catalog_->ListSnapshots("", 0, "", false));
  for (const SnapshotRecord& snapshot : snapshots) {
    if (snapshot.state == RecordState::kReady) continue;
    ASSIGN_OR_RETURN(std::optional<uint64_t> size,
                     pool_->FileSize(pool_->SnapshotPath(snapshot.id)));
    if (snapshot.state == RecordState::kCreating && size.has_value()) {
      LOG(INFO) << "recover: finishing the interrupted snapshot " << snapshot.id;
      RETURN_IF_ERROR(catalog_->MarkSnapshotReady(snapshot.id, snapshot.created));
      CountRecovery("finished");
      continue;
    }
    LOG(INFO) << "recover: removing the "
              << (snapshot.state == RecordState::kCreating ? "unfinished" : "half-deleted")
              << " snapshot " << snapshot.id;
    RETURN_IF_ERROR(UndoSnapshot(snapshot));
    CountRecovery(snapshot.state == RecordState::kCreating ? "undone" : "finished");
  }
  return absl::OkStatus();
}

absl::Status VolumeManager::RemoveOrphans() {
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, catalog_->ListVolumes("", 0, false));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snapshots,
                   catalog_->ListSnapshots("", 0, "", false));
  std::set<std::string> keep;
  for (const VolumeRecord& volume : volumes) keep.insert(volume.id + ".img");
  for (const SnapshotRecord& snapshot : snapshots) keep.insert(snapshot.id + ".img");
  for (const std::string& dir : {pool_->volumes_dir(), pool_->snapshots_dir()}) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, pool_->ListFiles(dir));
    for (const std::string& name : names) {
      if (keep.contains(name)) continue;
      const bool ours =
          (absl::StartsWith(name, kVolumeIdPrefix) || absl::StartsWith(name, kSnapshotIdPrefix)) &&
          (absl::EndsWith(name, ".img") || absl::EndsWith(name, ".img.tmp"));
      if (!ours) {
        LOG(WARNING) << "recover: leaving " << dir << "/" << name << " alone (not ours)";
        continue;
      }
      LOG(INFO) << "recover: removing " << dir << "/" << name << ", which has no record";
      RETURN_IF_ERROR(pool_->Remove(absl::StrCat(dir, "/", name)));
      CountRecovery("orphan_removed");
    }
  }
  return absl::OkStatus();
}

// --- CreateVolume / DeleteVolume ------------------------------------------------------------

absl::Status VolumeManager::CreateVolume(const csi::v1::CreateVolumeRequest& request,
                                         csi::v1::CreateVolumeResponse* response) {
  RETURN_IF_ERROR(CheckName(request.name(), "name"));
  ASSIGN_OR_RETURN(CapabilitySummary summary,
                   SummarizeCapabilities(request.volume_capabilities(), "volume_capabilities"));
  const ParameterMap parameters = ToParameterMap(request.parameters());
  ASSIGN_OR_RETURN(VolumeParameters params, ParseVolumeParameters(parameters));
  if (!params.fs_type.empty() && !summary.mount_fs_type.empty() &&
      params.fs_type != summary.mount_fs_type) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume_capabilities: mount.fs_type '", summary.mount_fs_type,
                     "' disagrees with parameters ", kParamFsType, " '", params.fs_type, "'"));
  }
  if (!request.mutable_parameters().empty()) {
    return absl::InvalidArgumentError(
        "mutable_parameters are not supported (no MODIFY_VOLUME capability)");
  }
  const csi::v1::CapacityRange* range =
      request.has_capacity_range() ? &request.capacity_range() : nullptr;
  if (range != nullptr) RETURN_IF_ERROR(CheckCapacityRange(*range, "capacity_range"));
  RETURN_IF_ERROR(CheckAccessibility(options_.topology, request.accessibility_requirements()));
  ASSIGN_OR_RETURN(RequestedSource source, ParseContentSource(request));

  std::optional<OpLocks::Guard> name_lock = locks_.TryAcquire(VolumeNameKey(request.name()));
  if (!name_lock) return Busy(absl::StrCat("volume name '", request.name(), "'"));

  ASSIGN_OR_RETURN(std::optional<VolumeRecord> existing,
                   catalog_->FindVolumeByName(request.name()));
  if (existing.has_value()) {
    std::optional<OpLocks::Guard> id_lock = locks_.TryAcquire(VolumeKey(existing->id));
    if (!id_lock) return Busy(absl::StrCat("volume ", existing->id));
    if (existing->state == RecordState::kDeleting) {
      return absl::AbortedError(absl::StrCat("volume name '", request.name(), "' (", existing->id,
                                             ") is being deleted; retry later"));
    }
    if (existing->state == RecordState::kReady) {
      if (std::optional<std::string> why = Incompatibility(*existing, request, summary, source)) {
        return absl::AlreadyExistsError(absl::StrCat("volume name '", request.name(),
                                                     "' exists as ", existing->id, " but ", *why));
      }
      FillVolume(*existing, response->mutable_volume());
      return absl::OkStatus();
    }
    // A creation that failed half-way without cleaning up: start again.
    LOG(WARNING) << "create volume '" << request.name() << "': removing the unfinished "
                 << existing->id;
    RETURN_IF_ERROR(UndoVolume(*existing));
  }

  // Resolve the content source (locked, so it cannot be deleted while we copy it).
  std::optional<OpLocks::Guard> source_lock;
  std::string source_path;
  uint64_t source_size = 0;
  uint32_t source_block_size = 0;
  std::string source_fs_type;
  if (source.kind == SourceKind::kSnapshot) {
    source_lock = locks_.TryAcquire(SnapshotKey(source.id));
    if (!source_lock) return Busy(absl::StrCat("snapshot ", source.id));
    std::optional<SnapshotRecord> snapshot;
    if (IsSnapshotId(source.id)) {
      ASSIGN_OR_RETURN(snapshot, catalog_->GetSnapshot(source.id));
    }
    if (!snapshot.has_value() || snapshot->state != RecordState::kReady) {
      return absl::NotFoundError(
          absl::StrCat("volume_content_source: snapshot ", source.id, " does not exist"));
    }
    source_path = pool_->SnapshotPath(snapshot->id);
    source_size = snapshot->size_bytes;
    source_block_size = snapshot->block_size;
    source_fs_type = snapshot->fs_type;
  } else if (source.kind == SourceKind::kVolume) {
    source_lock = locks_.TryAcquire(VolumeKey(source.id));
    if (!source_lock) return Busy(absl::StrCat("volume ", source.id));
    std::optional<VolumeRecord> volume;
    if (IsVolumeId(source.id)) {
      ASSIGN_OR_RETURN(volume, catalog_->GetVolume(source.id));
    }
    if (!volume.has_value() || volume->state != RecordState::kReady) {
      return absl::NotFoundError(
          absl::StrCat("volume_content_source: volume ", source.id, " does not exist"));
    }
    source_path = pool_->VolumePath(volume->id);
    source_size = volume->capacity_bytes;
    source_block_size = volume->block_size;
    source_fs_type = volume->fs_type;
  }

  VolumeRecord volume;
  volume.name = request.name();
  volume.access_types = summary.access_types;
  volume.parameters = parameters;
  volume.source_kind = source.kind;
  volume.source_id = source.id;
  volume.block_size = params.block_size != 0 ? params.block_size : kDefaultBlockSize;
  volume.fs_type = !params.fs_type.empty() ? params.fs_type : summary.mount_fs_type;
  if (source.kind != SourceKind::kNone) {
    // A filesystem made for one logical block size may not mount on another (xfs), and the
    // data is the source's: inherit both, refuse explicit contradictions (CSI: source
    // incompatible -> INVALID_ARGUMENT).
    if (params.block_size != 0 && params.block_size != source_block_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: ", kParamBlockSize, " ", params.block_size, " differs from the ",
          source_block_size, " of volume_content_source ", source.id));
    }
    volume.block_size = source_block_size;
    if (!volume.fs_type.empty() && !source_fs_type.empty() && volume.fs_type != source_fs_type) {
      return absl::InvalidArgumentError(absl::StrCat("fsType ", volume.fs_type,
                                                     " differs from the ", source_fs_type,
                                                     " of volume_content_source ", source.id));
    }
    if (volume.fs_type.empty()) volume.fs_type = source_fs_type;
  }
  ASSIGN_OR_RETURN(volume.capacity_bytes, ChooseCapacity(range, volume.block_size, source_size,
                                                         source.kind != SourceKind::kNone
                                                             ? source_size
                                                             : options_.default_volume_bytes));
  ASSIGN_OR_RETURN(uint64_t free_bytes, pool_->FreeBytes());
  if (volume.capacity_bytes > free_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the pool has ", free_bytes, " bytes free; the volume needs ", volume.capacity_bytes));
  }
  ASSIGN_OR_RETURN(volume.id, NewVolumeId());
  std::optional<OpLocks::Guard> id_lock = locks_.TryAcquire(VolumeKey(volume.id));
  if (!id_lock) return Busy(absl::StrCat("volume ", volume.id));
  volume.state = RecordState::kCreating;
  volume.created = absl::Now();
  ASSIGN_OR_RETURN(ChapCredentials chap, GenerateChapCredentials(volume.id));

  // 1. record, 2. file, 3. export, 4. ready (catalog.cc).
  RETURN_IF_ERROR(catalog_->InsertVolume(volume, chap, options_.capacity_bytes));
  auto undo = [&](absl::Status status) {
    if (absl::Status st = UndoVolume(volume); !st.ok()) {
      LOG(ERROR) << "create volume " << volume.id << ": cleaning up failed (the next start "
                 << "finishes it): " << st.message();
    }
    return status;
  };
  if (absl::Status st = Step("create:recorded"); !st.ok()) return undo(st);
  const std::string path = pool_->VolumePath(volume.id);
  std::string how = "empty";
  if (source.kind == SourceKind::kNone) {
    if (absl::Status st = pool_->CreateSparse(path, volume.capacity_bytes); !st.ok()) {
      return undo(WithContext(st, absl::StrCat("create volume ", volume.id)));
    }
  } else {
    absl::StatusOr<CopyMethod> method = pool_->Copy(source_path, path, volume.capacity_bytes);
    if (!method.ok()) {
      return undo(WithContext(method.status(),
                              absl::StrCat("create volume ", volume.id, " from ", source.id)));
    }
    how = absl::StrCat("from ", source.id, " by ", CopyMethodName(*method));
    CountCopy(*method);
  }
  if (absl::Status st = Step("create:file"); !st.ok()) return undo(st);
  if (absl::Status st = ApplyExport(volume, {}); !st.ok()) return undo(st);
  if (absl::Status st = catalog_->SetVolumeState(volume.id, RecordState::kReady); !st.ok()) {
    return undo(st);
  }
  volume.state = RecordState::kReady;
  LOG(INFO) << "created volume " << volume.id << " name='" << volume.name
            << "' capacity=" << volume.capacity_bytes << " block_size=" << volume.block_size << " ("
            << how << ")";
  FillVolume(volume, response->mutable_volume());
  RefreshMetrics();
  return absl::OkStatus();
}

absl::Status VolumeManager::DeleteVolume(const csi::v1::DeleteVolumeRequest& request) {
  if (request.volume_id().empty()) return Required("volume_id");
  std::optional<OpLocks::Guard> lock = locks_.TryAcquire(VolumeKey(request.volume_id()));
  if (!lock) return Busy(absl::StrCat("volume ", request.volume_id()));
  if (!IsVolumeId(request.volume_id())) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<VolumeRecord> volume, catalog_->GetVolume(request.volume_id()));
  if (!volume.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications, catalog_->Publications(volume->id));
  if (!publications.empty()) {
    std::vector<std::string> nodes;
    for (const PublicationRecord& p : publications) nodes.push_back(p.node_id);
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume->id, " is still published to node(s) ", absl::StrJoin(nodes, ", ")));
  }
  if (volume->state != RecordState::kDeleting) {
    RETURN_IF_ERROR(catalog_->SetVolumeState(volume->id, RecordState::kDeleting));
  }
  RETURN_IF_ERROR(UndoVolume(*volume));
  LOG(INFO) << "deleted volume " << volume->id << " name='" << volume->name << "'";
  RefreshMetrics();
  return absl::OkStatus();
}

// --- Publish / Unpublish --------------------------------------------------------------------

absl::Status VolumeManager::ControllerPublishVolume(
    const csi::v1::ControllerPublishVolumeRequest& request,
    csi::v1::ControllerPublishVolumeResponse* response) {
  if (request.volume_id().empty()) return Required("volume_id");
  if (request.node_id().empty()) return Required("node_id");
  if (!request.has_volume_capability()) return Required("volume_capability");
  RETURN_IF_ERROR(CheckCapabilitySupported(request.volume_capability(), "volume_capability"));
  absl::StatusOr<std::string> initiator = InitiatorIqnForNode(request.node_id());
  if (!initiator.ok()) return WithContext(initiator.status(), "node_id");
  ASSIGN_OR_RETURN(std::optional<ChapCredentials> secrets, ChapFromSecrets(request.secrets()));

  std::optional<OpLocks::Guard> lock = locks_.TryAcquire(VolumeKey(request.volume_id()));
  if (!lock) return Busy(absl::StrCat("volume ", request.volume_id()));
  std::optional<VolumeRecord> volume;
  if (IsVolumeId(request.volume_id())) {
    ASSIGN_OR_RETURN(volume, catalog_->GetVolume(request.volume_id()));
  }
  if (!volume.has_value() || volume->state != RecordState::kReady) {
    return absl::NotFoundError(absl::StrCat("volume ", request.volume_id(), " does not exist"));
  }
  const csi::v1::VolumeCapability& capability = request.volume_capability();
  if (capability.has_mount() && !capability.mount().fs_type().empty() && !volume->fs_type.empty() &&
      capability.mount().fs_type() != volume->fs_type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume_capability.mount.fs_type '", capability.mount().fs_type(), "' differs from the ",
        volume->fs_type, " volume ", volume->id, " was created for"));
  }
  const int mode = capability.access_mode().mode();
  const uint32_t type = capability.has_block() ? kAccessBlock : kAccessMount;
  const bool read_only = EffectiveReadOnly(request.readonly(), mode);

  ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications, catalog_->Publications(volume->id));
  const PublicationRecord* same_node = nullptr;
  std::vector<std::string> other_nodes;
  for (const PublicationRecord& p : publications) {
    if (p.node_id == request.node_id()) {
      same_node = &p;
      continue;
    }
    other_nodes.push_back(p.node_id);
    if (AccessModeIsSingleNode(static_cast<AccessMode::Mode>(mode)) ||
        AccessModeIsSingleNode(static_cast<AccessMode::Mode>(p.access_mode))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", volume->id, " is published to node ", p.node_id, " (", ModeName(p.access_mode),
          "); ", ModeName(mode), " allows one node at a time"));
    }
    if (EffectiveReadOnly(p.readonly, p.access_mode) != read_only) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", volume->id, " is published ",
                       read_only ? "read-write" : "read-only", " to node ", p.node_id,
                       "; the target exports a volume read-only or read-write to all nodes alike"));
    }
  }
  if (same_node != nullptr && (same_node->readonly != request.readonly() ||
                               same_node->access_mode != mode || same_node->access_type != type)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume ", volume->id, " is already published to node ", request.node_id(), " with ",
        ModeName(same_node->access_mode), same_node->readonly ? ", readonly" : "",
        same_node->access_type == kAccessBlock ? ", block" : ", mount"));
  }

  ASSIGN_OR_RETURN(ChapCredentials chap, catalog_->GetChap(volume->id));
  if (secrets.has_value() && !secrets->SameSecretsAs(chap)) {
    if (!other_nodes.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", volume->id, " is published to node(s) ", absl::StrJoin(other_nodes, ", "),
          " with other CHAP credentials than the request's secrets"));
    }
    RETURN_IF_ERROR(catalog_->SetChap(volume->id, *secrets));
    chap = *secrets;
    LOG(INFO) << "volume " << volume->id << ": CHAP credentials taken from the publish secrets";
  }

  std::vector<PublicationRecord> desired = publications;
  if (same_node == nullptr) {
    PublicationRecord publication;
    publication.volume_id = volume->id;
    publication.node_id = request.node_id();
    publication.readonly = request.readonly();
    publication.access_mode = mode;
    publication.access_type = type;
    RETURN_IF_ERROR(catalog_->AddPublication(publication));
    desired.push_back(publication);
  }
  absl::Status status = Step("publish:recorded");
  if (status.ok()) status = ApplyExport(*volume, desired);
  if (!status.ok()) {
    if (same_node == nullptr) {
      (void)catalog_->RemovePublication(volume->id, request.node_id());
      (void)ApplyExport(*volume, publications);
    }
    return status;
  }
  AddToPublishContext(chap, response->mutable_publish_context());
  if (same_node == nullptr) {
    LOG(INFO) << "published volume " << volume->id << " to node " << request.node_id() << " ("
              << *initiator << ", " << ModeName(mode) << (read_only ? ", read-only" : "") << ")";
    RefreshMetrics();
  }
  return absl::OkStatus();
}

absl::Status VolumeManager::ControllerUnpublishVolume(
    const csi::v1::ControllerUnpublishVolumeRequest& request) {
  if (request.volume_id().empty()) return Required("volume_id");
  std::optional<OpLocks::Guard> lock = locks_.TryAcquire(VolumeKey(request.volume_id()));
  if (!lock) return Busy(absl::StrCat("volume ", request.volume_id()));
  // CSI: an unknown volume or node is assumed unpublished -> OK.
  if (!IsVolumeId(request.volume_id())) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<VolumeRecord> volume, catalog_->GetVolume(request.volume_id()));
  if (!volume.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications, catalog_->Publications(volume->id));

  std::set<std::string> leaving;  // node ids
  if (request.node_id().empty()) {
    for (const PublicationRecord& p : publications) leaving.insert(p.node_id);
  } else {
    leaving.insert(request.node_id());
  }
  std::set<std::string> initiators;
  for (const PublicationRecord& p : publications) {
    if (leaving.contains(p.node_id)) continue;
    ASSIGN_OR_RETURN(std::string initiator, InitiatorIqnForNode(p.node_id));
    initiators.insert(std::move(initiator));
  }
  // 1. revoke (the ACL change closes the sessions of initiators no longer admitted), 2. close
  // what is left of them explicitly, 3. forget the publication (catalog.cc).
  const std::string iqn = TargetIqnForVolume(volume->id);
  if (exports_->IsExported(iqn)) RETURN_IF_ERROR(exports_->SetInitiators(iqn, initiators));
  for (const std::string& node_id : leaving) {
    absl::StatusOr<std::string> initiator = InitiatorIqnForNode(node_id);
    if (initiator.ok()) exports_->CloseSessions(iqn, *initiator);
  }
  for (const PublicationRecord& p : publications) {
    if (!leaving.contains(p.node_id)) continue;
    RETURN_IF_ERROR(catalog_->RemovePublication(volume->id, p.node_id));
    LOG(INFO) << "unpublished volume " << volume->id << " from node " << p.node_id;
  }
  RefreshMetrics();
  return absl::OkStatus();
}

// --- Validate / List / Get / Capacity -------------------------------------------------------

absl::Status VolumeManager::ValidateVolumeCapabilities(
    const csi::v1::ValidateVolumeCapabilitiesRequest& request,
    csi::v1::ValidateVolumeCapabilitiesResponse* response) {
  if (request.volume_id().empty()) return Required("volume_id");
  if (request.volume_capabilities().empty()) return Required("volume_capabilities");
  for (int i = 0; i < request.volume_capabilities_size(); ++i) {
    RETURN_IF_ERROR(CheckCapabilityWellFormed(request.volume_capabilities(i),
                                              absl::StrCat("volume_capabilities[", i, "]")));
  }
  std::optional<VolumeRecord> volume;
  if (IsVolumeId(request.volume_id())) {
    ASSIGN_OR_RETURN(volume, catalog_->GetVolume(request.volume_id()));
  }
  if (!volume.has_value() || volume->state != RecordState::kReady) {
    return absl::NotFoundError(absl::StrCat("volume ", request.volume_id(), " does not exist"));
  }
  auto refuse = [response](std::string message) {
    response->clear_confirmed();
    response->set_message(std::move(message));
    return absl::OkStatus();
  };
  // The CO may add keys of its own (csi-provisioner adds its identity to PV attributes): only
  // ours must agree.
  for (const auto& [key, value] : VolumeContext(*volume)) {
    auto it = request.volume_context().find(key);
    if (it != request.volume_context().end() && it->second != value) {
      return refuse(absl::StrCat("volume_context[", key, "] does not match the volume's"));
    }
  }
  if (!request.mutable_parameters().empty()) {
    return refuse("mutable_parameters are not supported");
  }
  if (!request.parameters().empty()) {
    const ParameterMap parameters = ToParameterMap(request.parameters());
    if (absl::StatusOr<VolumeParameters> parsed = ParseVolumeParameters(parameters); !parsed.ok()) {
      return refuse(std::string(parsed.status().message()));
    }
    if (WithoutMetadata(parameters) != WithoutMetadata(volume->parameters)) {
      return refuse("parameters differ from those the volume was created with");
    }
  }
  for (int i = 0; i < request.volume_capabilities_size(); ++i) {
    const csi::v1::VolumeCapability& capability = request.volume_capabilities(i);
    const std::string field = absl::StrCat("volume_capabilities[", i, "]");
    if (absl::Status st = CheckCapabilitySupported(capability, field); !st.ok()) {
      return refuse(std::string(st.message()));
    }
    if (capability.has_mount() && !capability.mount().fs_type().empty() &&
        !volume->fs_type.empty() && capability.mount().fs_type() != volume->fs_type) {
      return refuse(absl::StrCat(field, ".mount.fs_type '", capability.mount().fs_type(),
                                 "' differs from the volume's ", volume->fs_type));
    }
  }
  csi::v1::ValidateVolumeCapabilitiesResponse::Confirmed* confirmed = response->mutable_confirmed();
  *confirmed->mutable_volume_context() = request.volume_context();
  *confirmed->mutable_volume_capabilities() = request.volume_capabilities();
  *confirmed->mutable_parameters() = request.parameters();
  return absl::OkStatus();
}

absl::Status VolumeManager::ListVolumes(const csi::v1::ListVolumesRequest& request,
                                        csi::v1::ListVolumesResponse* response) {
  if (request.max_entries() < 0) {
    return absl::InvalidArgumentError("max_entries must not be negative");
  }
  if (!request.starting_token().empty() && !IsVolumeId(request.starting_token())) {
    return absl::AbortedError(absl::StrCat("starting_token '", request.starting_token(),
                                           "' is not valid; start again without one"));
  }
  const int max = request.max_entries();
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes,
                   catalog_->ListVolumes(request.starting_token(), max > 0 ? max + 1 : 0, true));
  if (max > 0 && volumes.size() > static_cast<size_t>(max)) {
    volumes.resize(static_cast<size_t>(max));
    response->set_next_token(volumes.back().id);
  }
  for (const VolumeRecord& volume : volumes) {
    csi::v1::ListVolumesResponse::Entry* entry = response->add_entries();
    FillVolume(volume, entry->mutable_volume());
    ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications,
                     catalog_->Publications(volume.id));
    for (const PublicationRecord& p : publications) {
      entry->mutable_status()->add_published_node_ids(p.node_id);
    }
    *entry->mutable_status()->mutable_volume_condition() = Condition(volume);
  }
  return absl::OkStatus();
}

absl::Status VolumeManager::ControllerGetVolume(const csi::v1::ControllerGetVolumeRequest& request,
                                                csi::v1::ControllerGetVolumeResponse* response) {
  if (request.volume_id().empty()) return Required("volume_id");
  std::optional<VolumeRecord> volume;
  if (IsVolumeId(request.volume_id())) {
    ASSIGN_OR_RETURN(volume, catalog_->GetVolume(request.volume_id()));
  }
  if (!volume.has_value() || volume->state != RecordState::kReady) {
    return absl::NotFoundError(absl::StrCat("volume ", request.volume_id(), " does not exist"));
  }
  FillVolume(*volume, response->mutable_volume());
  ASSIGN_OR_RETURN(std::vector<PublicationRecord> publications, catalog_->Publications(volume->id));
  for (const PublicationRecord& p : publications) {
    response->mutable_status()->add_published_node_ids(p.node_id);
  }
  *response->mutable_status()->mutable_volume_condition() = Condition(*volume);
  return absl::OkStatus();
}

absl::Status VolumeManager::GetCapacity(const csi::v1::GetCapacityRequest& request,
                                        csi::v1::GetCapacityResponse* response) {
  ASSIGN_OR_RETURN(VolumeParameters params,
                   ParseVolumeParameters(ToParameterMap(request.parameters())));
  bool usable = true;
  for (int i = 0; i < request.volume_capabilities_size(); ++i) {
    const std::string field = absl::StrCat("volume_capabilities[", i, "]");
    RETURN_IF_ERROR(CheckCapabilityWellFormed(request.volume_capabilities(i), field));
    if (!CheckCapabilitySupported(request.volume_capabilities(i), field).ok()) usable = false;
  }
  if (request.has_accessible_topology() && !options_.topology.empty() &&
      !TopologyCovers(options_.topology, request.accessible_topology())) {
    usable = false;  // not our segment: we cannot provision there
  }
  uint64_t available = 0;
  if (usable) {
    ASSIGN_OR_RETURN(available, pool_->FreeBytes());
    if (options_.capacity_bytes.has_value()) {
      ASSIGN_OR_RETURN(uint64_t provisioned, catalog_->ProvisionedBytes());
      const uint64_t left =
          provisioned >= *options_.capacity_bytes ? 0 : *options_.capacity_bytes - provisioned;
      available = std::min(available, left);
    }
  }
  const uint32_t block_size = params.block_size != 0 ? params.block_size : kDefaultBlockSize;
  response->set_available_capacity(static_cast<int64_t>(available));
  response->mutable_maximum_volume_size()->set_value(
      static_cast<int64_t>(available / block_size * block_size));
  return absl::OkStatus();
}

// --- Snapshots ------------------------------------------------------------------------------

namespace {

void FillSnapshot(const SnapshotRecord& snapshot, csi::v1::Snapshot* out) {
  out->set_snapshot_id(snapshot.id);
  out->set_source_volume_id(snapshot.source_volume_id);
  out->set_size_bytes(static_cast<int64_t>(snapshot.size_bytes));
  SetTimestamp(snapshot.created, out->mutable_creation_time());
  out->set_ready_to_use(snapshot.state == RecordState::kReady);
}

}  // namespace

absl::Status VolumeManager::CreateSnapshot(const csi::v1::CreateSnapshotRequest& request,
                                           csi::v1::CreateSnapshotResponse* response) {
  if (request.source_volume_id().empty()) return Required("source_volume_id");
  RETURN_IF_ERROR(CheckName(request.name(), "name"));
  RETURN_IF_ERROR(ParseSnapshotParameters(ToParameterMap(request.parameters())));

  std::optional<OpLocks::Guard> name_lock = locks_.TryAcquire(SnapshotNameKey(request.name()));
  if (!name_lock) return Busy(absl::StrCat("snapshot name '", request.name(), "'"));
  ASSIGN_OR_RETURN(std::optional<SnapshotRecord> existing,
                   catalog_->FindSnapshotByName(request.name()));
  if (existing.has_value()) {
    if (existing->source_volume_id != request.source_volume_id()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "snapshot name '", request.name(), "' exists as ", existing->id, " of volume ",
          existing->source_volume_id, ", not of ", request.source_volume_id()));
    }
    std::optional<OpLocks::Guard> id_lock = locks_.TryAcquire(SnapshotKey(existing->id));
    if (!id_lock) return Busy(absl::StrCat("snapshot ", existing->id));
    if (existing->state == RecordState::kReady) {
      FillSnapshot(*existing, response->mutable_snapshot());
      return absl::OkStatus();
    }
    if (existing->state == RecordState::kDeleting) {
      return absl::AbortedError(absl::StrCat("snapshot ", existing->id, " is being deleted"));
    }
    LOG(WARNING) << "create snapshot '" << request.name() << "': removing the unfinished "
                 << existing->id;
    RETURN_IF_ERROR(UndoSnapshot(*existing));
  }

  std::optional<OpLocks::Guard> volume_lock =
      locks_.TryAcquire(VolumeKey(request.source_volume_id()));
  if (!volume_lock) return Busy(absl::StrCat("volume ", request.source_volume_id()));
  std::optional<VolumeRecord> volume;
  if (IsVolumeId(request.source_volume_id())) {
    ASSIGN_OR_RETURN(volume, catalog_->GetVolume(request.source_volume_id()));
  }
  if (!volume.has_value() || volume->state != RecordState::kReady) {
    return absl::NotFoundError(
        absl::StrCat("source_volume_id: volume ", request.source_volume_id(), " does not exist"));
  }
  const std::string volume_path = pool_->VolumePath(volume->id);
  ASSIGN_OR_RETURN(uint64_t allocated, pool_->AllocatedBytes(volume_path));
  ASSIGN_OR_RETURN(uint64_t free_bytes, pool_->FreeBytes());
  if (allocated > free_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the pool has ", free_bytes, " bytes free; a copy of ", volume->id, " needs ", allocated));
  }

  SnapshotRecord snapshot;
  ASSIGN_OR_RETURN(snapshot.id, NewSnapshotId());
  std::optional<OpLocks::Guard> id_lock = locks_.TryAcquire(SnapshotKey(snapshot.id));
  if (!id_lock) return Busy(absl::StrCat("snapshot ", snapshot.id));
  snapshot.name = request.name();
  snapshot.source_volume_id = volume->id;
  snapshot.size_bytes = volume->capacity_bytes;
  snapshot.block_size = volume->block_size;
  snapshot.fs_type = volume->fs_type;
  snapshot.state = RecordState::kCreating;
  snapshot.created = absl::Now();
  RETURN_IF_ERROR(catalog_->InsertSnapshot(snapshot, options_.capacity_bytes));
  auto undo = [&](absl::Status status) {
    if (absl::Status st = UndoSnapshot(snapshot); !st.ok()) {
      LOG(ERROR) << "create snapshot " << snapshot.id << ": cleaning up failed (the next start "
                 << "finishes it): " << st.message();
    }
    return status;
  };
  if (absl::Status st = Step("snapshot:recorded"); !st.ok()) return undo(st);
  // The cut: every write the target acknowledged before this point is in the copy.
  const absl::Time cut = absl::Now();
  absl::StatusOr<CopyMethod> method = pool_->Copy(volume_path, pool_->SnapshotPath(snapshot.id), 0);
  if (!method.ok()) {
    return undo(WithContext(method.status(), absl::StrCat("snapshot ", volume->id)));
  }
  if (absl::Status st = catalog_->MarkSnapshotReady(snapshot.id, cut); !st.ok()) return undo(st);
  CountCopy(*method);
  snapshot.state = RecordState::kReady;
  snapshot.created = cut;
  LOG(INFO) << "created snapshot " << snapshot.id << " name='" << snapshot.name << "' of "
            << volume->id << " (" << CopyMethodName(*method) << ")";
  FillSnapshot(snapshot, response->mutable_snapshot());
  RefreshMetrics();
  return absl::OkStatus();
}

absl::Status VolumeManager::DeleteSnapshot(const csi::v1::DeleteSnapshotRequest& request) {
  if (request.snapshot_id().empty()) return Required("snapshot_id");
  std::optional<OpLocks::Guard> lock = locks_.TryAcquire(SnapshotKey(request.snapshot_id()));
  if (!lock) return Busy(absl::StrCat("snapshot ", request.snapshot_id()));
  if (!IsSnapshotId(request.snapshot_id())) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<SnapshotRecord> snapshot,
                   catalog_->GetSnapshot(request.snapshot_id()));
  if (!snapshot.has_value()) return absl::OkStatus();
  if (snapshot->state != RecordState::kDeleting) {
    RETURN_IF_ERROR(catalog_->SetSnapshotState(snapshot->id, RecordState::kDeleting));
  }
  RETURN_IF_ERROR(UndoSnapshot(*snapshot));
  LOG(INFO) << "deleted snapshot " << snapshot->id << " name='" << snapshot->name << "'";
  RefreshMetrics();
  return absl::OkStatus();
}

absl::Status VolumeManager::ListSnapshots(const csi::v1::ListSnapshotsRequest& request,
                                          csi::v1::ListSnapshotsResponse* response) {
  if (request.max_entries() < 0) {
    return absl::InvalidArgumentError("max_entries must not be negative");
  }
  if (!request.starting_token().empty() && !IsSnapshotId(request.starting_token())) {
    return absl::AbortedError(absl::StrCat("starting_token '", request.starting_token(),
                                           "' is not valid; start again without one"));
  }
  if (!request.snapshot_id().empty()) {
    if (!IsSnapshotId(request.snapshot_id())) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<SnapshotRecord> snapshot,
                     catalog_->GetSnapshot(request.snapshot_id()));
    if (snapshot.has_value() && snapshot->state == RecordState::kReady &&
        (request.source_volume_id().empty() ||
         snapshot->source_volume_id == request.source_volume_id())) {
      FillSnapshot(*snapshot, response->add_entries()->mutable_snapshot());
    }
    return absl::OkStatus();
  }
  const int max = request.max_entries();
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snapshots,
                   catalog_->ListSnapshots(request.starting_token(), max > 0 ? max + 1 : 0,
                                           request.source_volume_id(), true));
  if (max > 0 && snapshots.size() > static_cast<size_t>(max)) {
    snapshots.resize(static_cast<size_t>(max));
    response->set_next_token(snapshots.back().id);
  }
  for (const SnapshotRecord& snapshot : snapshots) {
    FillSnapshot(snapshot, response->add_entries()->mutable_snapshot());
  }
  return absl::OkStatus();
}

// --- Expansion ------------------------------------------------------------------------------

absl::Status VolumeManager::ControllerExpandVolume(
    const csi::v1::ControllerExpandVolumeRequest& request,
    csi::v1::ControllerExpandVolumeResponse* response) {
  if (request.volume_id().empty()) return Required("volume_id");
  if (!request.has_capacity_range()) return Required("capacity_range");
  const csi::v1::CapacityRange& range = request.capacity_range();
  RETURN_IF_ERROR(CheckCapacityRange(range, "capacity_range"));
  if (range.required_bytes() == 0 && range.limit_bytes() == 0) {
    return Required("capacity_range.required_bytes or limit_bytes");
  }
  if (request.has_volume_capability()) {
    RETURN_IF_ERROR(CheckCapabilitySupported(request.volume_capability(), "volume_capability"));
  }
  std::optional<OpLocks::Guard> lock = locks_.TryAcquire(VolumeKey(request.volume_id()));
  if (!lock) return Busy(absl::StrCat("volume ", request.volume_id()));
  std::optional<VolumeRecord> volume;
  if (IsVolumeId(request.volume_id())) {
    ASSIGN_OR_RETURN(volume, catalog_->GetVolume(request.volume_id()));
  }
  if (!volume.has_value() || volume->state != RecordState::kReady) {
    return absl::NotFoundError(absl::StrCat("volume ", request.volume_id(), " does not exist"));
  }
  const uint64_t limit = static_cast<uint64_t>(range.limit_bytes());
  const uint64_t block = volume->block_size;
  uint64_t wanted = static_cast<uint64_t>(range.required_bytes());
  wanted = (wanted + block - 1) / block * block;
  if (limit > 0 && wanted > limit) {
    return absl::OutOfRangeError(absl::StrCat("capacity_range: ", wanted,
                                              " bytes (rounded up to the block size ", block,
                                              ") exceed limit_bytes ", limit));
  }
  if (limit > 0 && volume->capacity_bytes > limit) {
    return absl::OutOfRangeError(absl::StrCat("capacity_range: volume ", volume->id, " has ",
                                              volume->capacity_bytes,
                                              " bytes, more than limit_bytes; it cannot shrink"));
  }
  const uint64_t target_bytes = std::max(wanted, volume->capacity_bytes);
  if (target_bytes > volume->capacity_bytes) {
    ASSIGN_OR_RETURN(uint64_t free_bytes, pool_->FreeBytes());
    if (target_bytes - volume->capacity_bytes > free_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the pool has ", free_bytes, " bytes free; growing ", volume->id, " needs ",
                       target_bytes - volume->capacity_bytes));
    }
    // 1. record (checked against --capacity), 2. grow the file, 3. resize the LUN.
    RETURN_IF_ERROR(catalog_->SetVolumeCapacity(volume->id, target_bytes, options_.capacity_bytes));
    RETURN_IF_ERROR(Step("expand:recorded"));
  }
  // Also when nothing grew: a retry after a failure half-way finishes the job.
  RETURN_IF_ERROR(pool_->Grow(pool_->VolumePath(volume->id), target_bytes));
  const std::string iqn = TargetIqnForVolume(volume->id);
  if (exports_->IsExported(iqn)) RETURN_IF_ERROR(exports_->Resize(iqn, target_bytes));
  if (target_bytes > volume->capacity_bytes) {
    LOG(INFO) << "expanded volume " << volume->id << " from " << volume->capacity_bytes << " to "
              << target_bytes << " bytes";
    RefreshMetrics();
  }
  response->set_capacity_bytes(static_cast<int64_t>(target_bytes));
  const bool block_access = request.has_volume_capability()
                                ? request.volume_capability().has_block()
                                : (volume->access_types & kAccessMount) == 0;
  response->set_node_expansion_required(!block_access);
  return absl::OkStatus();
}

}  // namespace iscsi_csi::controller
