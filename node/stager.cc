#include "node/stager.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_convert.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "node/host/vpd.h"

namespace iscsi_csi::node {
namespace {

absl::Status Busy(absl::string_view volume_id) {
  return absl::AbortedError(absl::StrCat("an operation on volume ", volume_id,
                                         " is already in progress; retry later"));
}

bool SamePath(absl::string_view a, absl::string_view b) {
  return NormalizePath(a) == NormalizePath(b);
}

StagingRecord::AccessType RecordAccess(AccessType type) {
  return type == AccessType::kBlock ? StagingRecord::BLOCK : StagingRecord::MOUNT;
}

// Differences lists what a new stage request changes about a staged volume.
std::vector<std::string> Differences(const StagingRecord& record, const StageRequest& request) {
  std::vector<std::string> diff;
  if (record.target_iqn() != request.target.target_iqn) {
    diff.push_back(absl::StrCat("target ", record.target_iqn(), " -> ", request.target.target_iqn));
  }
  if (static_cast<int>(record.lun()) != request.target.lun) {
    diff.push_back(absl::StrCat("lun ", record.lun(), " -> ", request.target.lun));
  }
  if (record.wwn() != request.target.wwn) {
    diff.push_back(absl::StrCat("wwn ", record.wwn(), " -> ", request.target.wwn));
  }
  if (record.access_type() != RecordAccess(request.access_type)) {
    diff.push_back(request.access_type == AccessType::kBlock ? "mount -> block" : "block -> mount");
  } else if (request.access_type == AccessType::kMount) {
    if (record.fs_type() != request.fs_type) {
      diff.push_back(absl::StrCat("fsType ", record.fs_type(), " -> ", request.fs_type));
    }
    std::vector<std::string> flags(record.mount_flags().begin(), record.mount_flags().end());
    if (flags != request.mount_flags) {
      diff.push_back(absl::StrCat("mount flags [", absl::StrJoin(flags, ","), "] -> [",
                                  absl::StrJoin(request.mount_flags, ","), "]"));
    }
  }
  if (record.read_only() != request.read_only) diff.push_back("read-only access mode changed");
  return diff;
}

void FillRecord(const StageRequest& request, StagingRecord& record) {
  record.set_volume_id(request.volume_id);
  record.set_staging_target_path(NormalizePath(request.staging_path));
  record.set_target_iqn(request.target.target_iqn);
  record.clear_portals();
  for (const Portal& portal : request.target.portals) record.add_portals(portal.ToString());
  record.set_lun(static_cast<uint32_t>(request.target.lun));
  record.set_wwn(request.target.wwn);
  record.set_access_type(RecordAccess(request.access_type));
  record.set_fs_type(request.access_type == AccessType::kMount ? request.fs_type : "");
  record.clear_mount_flags();
  for (const std::string& flag : request.mount_flags) record.add_mount_flags(flag);
  record.set_read_only(request.read_only);
}

// MountOptions: the options a staging mount gets.
std::vector<std::string> MountOptions(const StagingRecord& record) {
  std::vector<std::string> options(record.mount_flags().begin(), record.mount_flags().end());
  if (record.read_only()) options.push_back("ro");
  // Snapshots and clones are block copies, so their xfs UUIDs repeat; without nouuid the second
  // one to be mounted on a node fails.
  if (record.fs_type() == "xfs") options.push_back("nouuid");
  return options;
}

absl::Status CreateFileIfMissing(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("create parent of ", path, ": ", ec.message()));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0660);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", path, ": ", strerror(errno)));
  close(fd);
  return absl::OkStatus();
}

absl::Status CreateDirIfMissing(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory ", path, ": ", ec.message()));
  if (!std::filesystem::is_directory(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace

Stager::Stager(Host host, StagingStore* store, StagerOptions options)
    : host_(host),
      store_(store),
      options_(std::move(options)),
      iscsiadm_(*host_.runner, options_.command_timeout),
      formatter_(*host_.runner, options_.command_timeout),
      slow_formatter_(*host_.runner, options_.format_timeout),
      waiter_(*host_.sysfs, *host_.clock, options_.dev_root, options_.poll_interval) {}

std::string Stager::DevicePath(const std::string& disk) const {
  return absl::StrCat(options_.dev_root, "/", disk);
}

DiskLocation Stager::LocationOf(const StagingRecord& record) const {
  DiskLocation location;
  location.target_iqn = record.target_iqn();
  location.iface = options_.iface;
  location.lun = static_cast<int>(record.lun());
  absl::StatusOr<Portal> portal = ParsePortal(
      record.logged_in_portal().empty() && record.portals_size() > 0 ? record.portals(0)
                                                                      : record.logged_in_portal());
  if (portal.ok()) location.portal = *portal;
  return location;
}

std::optional<NodeRecordRef> Stager::NodeRefFor(const StagingRecord& record,
                                                absl::string_view portal) const {
  absl::StatusOr<Portal> parsed = ParsePortal(portal);
  if (!parsed.ok()) return std::nullopt;
  return NodeRecordRef{record.target_iqn(), *parsed, options_.iface};
}

absl::Status Stager::VerifyWwn(const std::string& disk, const std::string& wwn,
                               const std::string& volume_id, const std::string& target_iqn,
                               int lun) {
  absl::StatusOr<std::string> page = host_.sysfs->DiskVpd83(disk);
  if (absl::IsNotFound(page.status())) {
    // Kernels without vpd_pg83 in sysfs: ask the device directly.
    Command command;
    command.argv = {"sg_vpd", "--page=di", "--raw", DevicePath(disk)};
    command.timeout = options_.command_timeout;
    absl::StatusOr<CommandResult> result = host_.runner->Run(command);
    if (!result.ok()) return WithContext(result.status(), absl::StrCat("read VPD 0x83 of ", disk));
    if (result->exit_code != 0) {
      return absl::InternalError(absl::StrCat("read VPD 0x83 of ", disk, ": sg_vpd exited ",
                                              result->exit_code, ": ",
                                              Summarize(result->stderr_text)));
    }
    page = result->stdout_text;
  }
  if (!page.ok()) return WithContext(page.status(), absl::StrCat("read VPD 0x83 of ", disk));
  absl::StatusOr<std::string> naa = LogicalUnitNaa(*page);
  if (!naa.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "disk ", disk, " (", target_iqn, " LUN ", lun, ") cannot be verified: ",
        naa.status().message()));
  }
  if (*naa != wwn) {
    return absl::FailedPreconditionError(absl::StrCat(
        "disk ", disk, " at ", target_iqn, " LUN ", lun, " reports WWN ", *naa, " but volume ",
        volume_id, " has WWN ", wwn,
        ": the target serves another logical unit there (stale volume context or a reused "
        "target name); nothing was mounted and the session was logged out"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Stager::OtherUsers(const std::string& disk,
                                                            const std::string& except_path) {
  std::vector<std::string> users;
  absl::StatusOr<std::string> number = host_.sysfs->DiskDeviceNumber(disk);
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
  for (const MountInfo& m : mounts) {
    if (m.mount_point == NormalizePath(except_path)) continue;
    const bool same_fs = number.ok() && m.device_number == *number;
    const bool device_node = m.root == absl::StrCat("/", disk) &&
                             (m.fs_type == "devtmpfs" || m.fs_type == "tmpfs");
    if (same_fs || device_node) users.push_back(m.mount_point);
  }
  return users;
}

absl::StatusOr<bool> Stager::HealthyStaged(const StagingRecord& record) {
  const std::string& disk = record.disk();
  if (disk.empty() || !host_.sysfs->DiskExists(disk)) return false;
  if (!waiter_.FindSession(LocationOf(record)).has_value()) return false;
  absl::StatusOr<std::string> page = host_.sysfs->DiskVpd83(disk);
  if (page.ok()) {
    absl::StatusOr<std::string> naa = LogicalUnitNaa(*page);
    if (!naa.ok() || *naa != record.wwn()) return false;
  }
  if (record.access_type() == StagingRecord::BLOCK) return true;
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
  std::optional<MountInfo> mounted = FindMount(mounts, record.staging_target_path());
  if (!mounted.has_value()) return false;
  absl::StatusOr<std::string> number = host_.sysfs->DiskDeviceNumber(disk);
  if (number.ok() && mounted->device_number != *number) {
    return absl::AlreadyExistsError(absl::StrCat(
        "staging path ", record.staging_target_path(), " has ", mounted->source,
        " mounted, not volume ", record.volume_id(), "'s disk ", disk));
  }
  return true;
}

absl::Status Stager::Stage(const StageRequest& request) {
  std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(request.volume_id);
  if (!guard.has_value()) return Busy(request.volume_id);
  const std::string staging = NormalizePath(request.staging_path);

  ASSIGN_OR_RETURN(std::vector<StagingRecord> records, store_->List());
  std::optional<StagingRecord> existing;
  for (const StagingRecord& r : records) {
    if (r.volume_id() == request.volume_id) {
      existing = r;
    } else if (SamePath(r.staging_target_path(), staging)) {
      return absl::AlreadyExistsError(absl::StrCat("staging path ", staging,
                                                   " already holds volume ", r.volume_id()));
    }
  }

  bool was_staged = false;
  if (existing.has_value()) {
    if (!SamePath(existing->staging_target_path(), staging)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "volume ", request.volume_id, " is already staged at ",
          existing->staging_target_path(), "; unstage it there before staging it at ", staging));
    }
    std::vector<std::string> diff = Differences(*existing, request);
    if (existing->state() == StagingRecord::STAGED) {
      if (!diff.empty()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "volume ", request.volume_id, " is staged at ", staging,
            " with different parameters (", absl::StrJoin(diff, "; "), ")"));
      }
      ASSIGN_OR_RETURN(bool healthy, HealthyStaged(*existing));
      if (healthy) {
        VLOG(1) << "stage " << request.volume_id << ": already staged at " << staging;
        return absl::OkStatus();
      }
      LOG(WARNING) << "stage " << request.volume_id
                   << ": staged earlier, but its session, disk or mount is gone; repairing";
      was_staged = true;
    } else if (!diff.empty()) {
      LOG(INFO) << "stage " << request.volume_id << ": undoing an unfinished stage with other "
                << "parameters (" << absl::StrJoin(diff, "; ") << ")";
      RETURN_IF_ERROR(UndoStage(*existing));
      existing.reset();
    }
  } else if (request.access_type == AccessType::kMount) {
    ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
    if (std::optional<MountInfo> m = FindMount(mounts, staging); m.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "staging path ", staging, " already has ", m->source, " (", m->fs_type,
          ") mounted, which this plugin did not stage; unmount it or use another path"));
    }
  }

  StagingRecord record = existing.value_or(StagingRecord());
  FillRecord(request, record);
  if (!was_staged) record.set_state(StagingRecord::STAGING);
  RETURN_IF_ERROR(store_->Write(record));

  absl::Status staged = DoStage(request, record);
  if (!staged.ok()) {
    if (!was_staged) {
      if (absl::Status undone = UndoStage(record); !undone.ok()) {
        LOG(ERROR) << "stage " << request.volume_id << ": clean-up after failure failed: "
                   << undone.message() << " (the record stays; reconciliation retries)";
      }
    }
    return staged;
  }
  record.set_state(StagingRecord::STAGED);
  RETURN_IF_ERROR(store_->Write(record));
  LOG(INFO) << "stage " << request.volume_id << ": staged " << record.disk() << " at " << staging;
  return absl::OkStatus();
}

absl::Status Stager::LoginAny(const StageRequest& request, StagingRecord& record) {
  absl::Status last = absl::InvalidArgumentError("no portal");
  for (const Portal& portal : request.target.portals) {
    NodeRecordRef node{request.target.target_iqn, portal, options_.iface};
    RETURN_IF_ERROR(iscsiadm_.EnsureNodeRecord(node, request.target.chap));
    absl::Status login = iscsiadm_.Login(node);
    if (login.ok()) {
      record.set_logged_in_portal(portal.ToString());
      LOG(INFO) << "stage " << request.volume_id << ": logged in to " << node.target_iqn
                << " at " << portal.ToString() << " as " << options_.initiator_iqn;
      return absl::OkStatus();
    }
    // Credentials, ACLs and host set-up are the same through every portal: stop at once.
    if (!absl::IsUnavailable(login) && !absl::IsInternal(login)) return login;
    LOG(WARNING) << "stage " << request.volume_id << ": " << login.message()
                 << (request.target.portals.size() > 1 ? "; trying the next portal" : "");
    if (absl::Status st = iscsiadm_.DeleteNodeRecord(node); !st.ok()) {
      LOG(WARNING) << "stage " << request.volume_id << ": " << st.message();
    }
    last = login;
  }
  return last;
}

absl::Status Stager::DoStage(const StageRequest& request, StagingRecord& record) {
  RETURN_IF_ERROR(iscsiadm_.EnsureIface(options_.iface, options_.initiator_iqn));
  RETURN_IF_ERROR(LoginAny(request, record));
  RETURN_IF_ERROR(store_->Write(record));
  ASSIGN_OR_RETURN(std::string disk,
                   waiter_.WaitForDisk(LocationOf(record), options_.device_timeout));
  RETURN_IF_ERROR(VerifyWwn(disk, record.wwn(), record.volume_id(), record.target_iqn(),
                            static_cast<int>(record.lun())));
  record.set_disk(disk);
  RETURN_IF_ERROR(store_->Write(record));
  if (request.access_type == AccessType::kBlock) return absl::OkStatus();
  return EnsureFilesystemMounted(record, /*allow_mkfs=*/true);
}

absl::Status Stager::EnsureFilesystemMounted(const StagingRecord& record, bool allow_mkfs) {
  const std::string& staging = record.staging_target_path();
  const std::string device = DevicePath(record.disk());
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
  if (std::optional<MountInfo> m = FindMount(mounts, staging); m.has_value()) {
    absl::StatusOr<std::string> number = host_.sysfs->DiskDeviceNumber(record.disk());
    if (number.ok() && m->device_number == *number) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("staging path ", staging, " already has ",
                                                 m->source, " mounted, not ", device));
  }
  RETURN_IF_ERROR(CreateDirIfMissing(staging));
  std::vector<std::string> users =
      OtherUsers(record.disk(), staging).value_or(std::vector<std::string>());
  if (!users.empty()) {
    // Still mounted elsewhere (a publish survived the loss of the staging mount): the kernel
    // shares the superblock, so mount it again without probing, checking or formatting.
    LOG(INFO) << device << " is still mounted at " << absl::StrJoin(users, ", ")
              << "; mounting it at " << staging << " as well";
    return host_.mounter->Mount(device, staging, record.fs_type(), MountOptions(record));
  }
  ASSIGN_OR_RETURN(DeviceContent content, formatter_.Probe(device));
  const std::string& fs_type = record.fs_type();
  if (content.blank) {
    if (record.read_only()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", record.volume_id(), " is blank and its access mode is read-only: there is "
          "no filesystem to mount and a read-only volume is never formatted"));
    }
    if (!allow_mkfs) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", record.volume_id(), " was staged with a filesystem but ", device,
          " is blank now; not formatting it again"));
    }
    RETURN_IF_ERROR(slow_formatter_.Mkfs(device, fs_type));
  } else {
    const bool compatible =
        content.type == fs_type ||
        (fs_type == "ext4" && (content.type == "ext3" || content.type == "ext2"));
    if (!compatible) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", record.volume_id(), " holds ", content.Describe(), ", not the requested ",
          fs_type, "; the plugin never formats a device that has data: request fsType ",
          content.type.empty() ? "matching the data" : content.type,
          " or wipe the volume"));
    }
    if (!record.read_only()) RETURN_IF_ERROR(slow_formatter_.Check(device, fs_type));
  }
  return host_.mounter->Mount(device, staging, fs_type, MountOptions(record));
}

absl::Status Stager::LogoutUnlessShared(const StagingRecord& record, absl::string_view portal) {
  std::optional<NodeRecordRef> node = NodeRefFor(record, portal);
  if (!node.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<StagingRecord> records, store_->List());
  for (const StagingRecord& other : records) {
    if (other.volume_id() == record.volume_id() || other.target_iqn() != record.target_iqn()) {
      continue;
    }
    LOG(INFO) << "volume " << record.volume_id() << ": keeping the session to "
              << record.target_iqn() << ", volume " << other.volume_id() << " uses it too";
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(iscsiadm_.Logout(*node));
  return iscsiadm_.DeleteNodeRecord(*node);
}

absl::Status Stager::UndoStage(const StagingRecord& record) {
  if (record.access_type() == StagingRecord::MOUNT && !record.disk().empty()) {
    ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
    std::optional<MountInfo> m = FindMount(mounts, record.staging_target_path());
    absl::StatusOr<std::string> number = host_.sysfs->DiskDeviceNumber(record.disk());
    if (m.has_value() && number.ok() && m->device_number == *number) {
      RETURN_IF_ERROR(host_.mounter->Unmount(record.staging_target_path()));
    }
  }
  for (const std::string& portal : record.portals()) {
    RETURN_IF_ERROR(LogoutUnlessShared(record, portal));
  }
  return store_->Delete(record.volume_id());
}

absl::Status Stager::FinishUnstage(StagingRecord& record) {
  const std::string& disk = record.disk();
  if (!disk.empty() && host_.sysfs->DiskExists(disk)) {
    absl::Status same = VerifyWwn(disk, record.wwn(), record.volume_id(), record.target_iqn(),
                                  static_cast<int>(record.lun()));
    if (same.ok()) {
      RETURN_IF_ERROR(formatter_.FlushBuffers(DevicePath(disk)));
      if (absl::Status st = host_.sysfs->DeleteDisk(disk); !st.ok()) {
        LOG(WARNING) << "unstage " << record.volume_id() << ": " << st.message()
                     << " (logout removes the disk anyway)";
      }
    } else {
      LOG(WARNING) << "unstage " << record.volume_id() << ": " << disk
                   << " now belongs to another device; leaving it alone";
    }
  }
  for (const std::string& portal : record.portals()) {
    RETURN_IF_ERROR(LogoutUnlessShared(record, portal));
  }
  RETURN_IF_ERROR(store_->Delete(record.volume_id()));
  LOG(INFO) << "unstage " << record.volume_id() << ": logged out and removed";
  return absl::OkStatus();
}

absl::Status Stager::Unstage(const std::string& volume_id, const std::string& staging_path) {
  std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(volume_id);
  if (!guard.has_value()) return Busy(volume_id);
  const std::string staging = NormalizePath(staging_path);
  ASSIGN_OR_RETURN(std::optional<StagingRecord> found, store_->Read(volume_id));
  if (!found.has_value()) {
    // Nothing recorded: an earlier unstage finished, or the volume was never staged here.
    ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
    if (FindMount(mounts, staging).has_value()) {
      LOG(WARNING) << "unstage " << volume_id << ": no record, but " << staging
                   << " is a mount point; unmounting it";
      RETURN_IF_ERROR(host_.mounter->Unmount(staging));
    }
    return absl::OkStatus();
  }
  StagingRecord record = *std::move(found);
  if (!SamePath(record.staging_target_path(), staging)) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, " is staged at ", record.staging_target_path(),
                     ", not at ", staging));
  }
  if (record.state() != StagingRecord::UNSTAGING) {
    if (!record.disk().empty()) {
      ASSIGN_OR_RETURN(std::vector<std::string> users, OtherUsers(record.disk(), staging));
      if (!users.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "volume ", volume_id, " is still published at ", absl::StrJoin(users, ", "),
            "; NodeUnpublishVolume must come first"));
      }
    }
    if (record.access_type() == StagingRecord::MOUNT) {
      // Busy -> FailedPrecondition with nothing changed: the retry starts from the same place.
      RETURN_IF_ERROR(host_.mounter->Unmount(staging));
    }
    record.set_state(StagingRecord::UNSTAGING);
    RETURN_IF_ERROR(store_->Write(record));
  }
  return FinishUnstage(record);
}

absl::Status Stager::Publish(const PublishRequest& request) {
  std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(request.volume_id);
  if (!guard.has_value()) return Busy(request.volume_id);
  ASSIGN_OR_RETURN(std::optional<StagingRecord> found, store_->Read(request.volume_id));
  if (!found.has_value() || found->state() != StagingRecord::STAGED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", request.volume_id, " is not staged on this node; NodeStageVolume must "
        "succeed first"));
  }
  const StagingRecord& record = *found;
  const std::string staging = NormalizePath(request.staging_path);
  if (!SamePath(record.staging_target_path(), staging)) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", request.volume_id,
                                                      " is staged at ", record.staging_target_path(),
                                                      ", not at ", staging));
  }
  if (record.access_type() != RecordAccess(request.access_type)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", request.volume_id, " is staged as a ",
        record.access_type() == StagingRecord::BLOCK ? "block" : "mount",
        " volume; publish it the same way"));
  }
  const bool read_only = request.read_only || record.read_only();
  const std::string target = NormalizePath(request.target_path);
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
  std::optional<MountInfo> at_target = FindMount(mounts, target);

  if (record.access_type() == StagingRecord::MOUNT) {
    std::optional<MountInfo> staged = FindMount(mounts, staging);
    if (!staged.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "staging path ", staging, " of volume ", request.volume_id,
          " is not mounted; NodeStageVolume must run again"));
    }
    if (at_target.has_value()) {
      if (at_target->device_number == staged->device_number && at_target->root == staged->root &&
          at_target->ReadOnly() == read_only) {
        return absl::OkStatus();
      }
      return absl::AlreadyExistsError(absl::StrCat(
          "target path ", target, " already has a different mount (", at_target->source, ", ",
          at_target->ReadOnly() ? "ro" : "rw", ")"));
    }
    RETURN_IF_ERROR(CreateDirIfMissing(target));
    return host_.mounter->BindMount(staging, target, read_only);
  }

  // Raw block: bind the verified device node onto a file at the target path.
  const std::string& disk = record.disk();
  if (disk.empty() || !host_.sysfs->DiskExists(disk)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "disk of volume ", request.volume_id, " is gone (session lost?); NodeStageVolume must "
        "run again"));
  }
  RETURN_IF_ERROR(VerifyWwn(disk, record.wwn(), record.volume_id(), record.target_iqn(),
                            static_cast<int>(record.lun())));
  if (at_target.has_value()) {
    absl::StatusOr<std::string> number = host_.sysfs->DiskDeviceNumber(disk);
    const bool same = at_target->root == absl::StrCat("/", disk) ||
                      (number.ok() && at_target->device_number == *number);
    if (same && at_target->ReadOnly() == read_only) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("target path ", target,
                                                 " already has a different mount (",
                                                 at_target->source, at_target->root, ")"));
  }
  RETURN_IF_ERROR(CreateFileIfMissing(target));
  return host_.mounter->BindMount(DevicePath(disk), target, read_only);
}

absl::Status Stager::Unpublish(const std::string& volume_id, const std::string& target_path) {
  std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(volume_id);
  if (!guard.has_value()) return Busy(volume_id);
  const std::string target = NormalizePath(target_path);
  // Mounts can stack; take them all off (bounded, in case the table lies).
  for (int i = 0; i < 16; ++i) {
    ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
    if (!FindMount(mounts, target).has_value()) break;
    RETURN_IF_ERROR(host_.mounter->Unmount(target));
  }
  std::error_code ec;
  std::filesystem::remove(target, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target path ", target, " is not a mount point and cannot be removed (", ec.message(),
        "); refusing to delete what the plugin did not create"));
  }
  return absl::OkStatus();
}

absl::StatusOr<VolumeStats> Stager::Stats(const std::string& volume_id,
                                          const std::string& volume_path) {
  const std::string path = NormalizePath(volume_path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("volume path ", path, " does not exist"));
  }
  ASSIGN_OR_RETURN(std::optional<StagingRecord> found, store_->Read(volume_id));
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrCat("volume ", volume_id, " is not staged on this node"));
  }
  const StagingRecord& record = *found;
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, host_.mounter->List());
  std::optional<MountInfo> mounted = FindMount(mounts, path);
  const std::string& disk = record.disk();
  const bool disk_present = !disk.empty() && host_.sysfs->DiskExists(disk);

  VolumeStats stats;
  stats.block = record.access_type() == StagingRecord::BLOCK;
  if (!stats.block) {
    if (!mounted.has_value()) {
      return absl::NotFoundError(
          absl::StrCat(path, " is not a mount point of volume ", volume_id));
    }
    absl::StatusOr<std::string> number = disk_present ? host_.sysfs->DiskDeviceNumber(disk)
                                                      : absl::NotFoundError("no disk");
    if (number.ok() && mounted->device_number != *number) {
      return absl::NotFoundError(absl::StrCat(path, " does not hold volume ", volume_id));
    }
    struct statvfs fs {};
    if (statvfs(path.c_str(), &fs) != 0) {
      return absl::InternalError(absl::StrCat("statvfs ", path, ": ", strerror(errno)));
    }
    const int64_t unit = static_cast<int64_t>(fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize);
    stats.bytes_total = static_cast<int64_t>(fs.f_blocks) * unit;
    stats.bytes_available = static_cast<int64_t>(fs.f_bavail) * unit;
    stats.bytes_used = static_cast<int64_t>(fs.f_blocks - fs.f_bfree) * unit;
    stats.inodes_total = static_cast<int64_t>(fs.f_files);
    stats.inodes_free = static_cast<int64_t>(fs.f_ffree);
    stats.inodes_used = static_cast<int64_t>(fs.f_files - fs.f_ffree);
  } else if (disk_present) {
    ASSIGN_OR_RETURN(uint64_t size, host_.sysfs->DiskSizeBytes(disk));
    stats.bytes_total = static_cast<int64_t>(size);
  }

  // Health, worst first.
  std::optional<SysfsSession> session = waiter_.FindSession(LocationOf(record));
  if (!session.has_value()) {
    stats.abnormal = true;
    stats.condition = absl::StrCat("no iSCSI session to ", record.target_iqn(), " at ",
                                   LocationOf(record).portal.ToString(),
                                   " (logged out or lost); I/O to the volume fails");
  } else if (session->state != "LOGGED_IN") {
    stats.abnormal = true;
    stats.condition = absl::StrCat("iSCSI session ", session->sid, " to ", record.target_iqn(),
                                   " is ", session->state,
                                   " (target unreachable; the kernel keeps retrying)");
  } else if (!disk_present) {
    stats.abnormal = true;
    stats.condition = absl::StrCat("disk ", disk, " of the volume is gone");
  } else if (std::string state = host_.sysfs->DiskState(disk).value_or("running");
             state != "running") {
    stats.abnormal = true;
    stats.condition = absl::StrCat("disk ", disk, " is ", state);
  } else if (std::optional<MountInfo> staged = FindMount(mounts, record.staging_target_path());
             !stats.block && !record.read_only() &&
             ((staged.has_value() && staged->ReadOnly()) ||
              HasOption(mounted->super_options, "ro"))) {
    stats.abnormal = true;
    stats.condition = absl::StrCat(
        "the filesystem is read-only although the volume is writable (the kernel remounts it "
        "read-only after I/O or metadata errors; check the node's kernel log and run fsck)");
  } else {
    stats.condition = "volume is healthy";
  }
  return stats;
}

absl::StatusOr<int64_t> Stager::Expand(const std::string& volume_id,
                                       const std::string& volume_path, int64_t required_bytes,
                                       int64_t limit_bytes) {
  std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(volume_id);
  if (!guard.has_value()) return Busy(volume_id);
  std::error_code ec;
  if (!std::filesystem::exists(volume_path, ec)) {
    return absl::NotFoundError(absl::StrCat("volume path ", volume_path, " does not exist"));
  }
  ASSIGN_OR_RETURN(std::optional<StagingRecord> found, store_->Read(volume_id));
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrCat("volume ", volume_id, " is not staged on this node"));
  }
  const StagingRecord& record = *found;
  if (record.state() != StagingRecord::STAGED) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, " is not fully staged; stage it before expanding"));
  }
  const std::string& disk = record.disk();
  if (disk.empty() || !host_.sysfs->DiskExists(disk)) {
    return absl::FailedPreconditionError(
        absl::StrCat("disk of volume ", volume_id, " is gone; cannot expand"));
  }
  ASSIGN_OR_RETURN(uint64_t before, host_.sysfs->DiskSizeBytes(disk));
  if (limit_bytes > 0 && static_cast<uint64_t>(limit_bytes) < before) {
    return absl::OutOfRangeError(absl::StrCat("volume ", volume_id, " is already ", before,
                                              " bytes, more than the limit ", limit_bytes));
  }
  std::optional<SysfsSession> session = waiter_.FindSession(LocationOf(record));
  if (!session.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, " has no iSCSI session to rescan; it must be staged again"));
  }
  RETURN_IF_ERROR(iscsiadm_.RescanSession(session->sid));
  ASSIGN_OR_RETURN(uint64_t size,
                   waiter_.WaitForSize(disk, static_cast<uint64_t>(std::max<int64_t>(0, required_bytes)),
                                       options_.device_timeout));
  if (record.access_type() == StagingRecord::MOUNT) {
    if (record.read_only()) {
      LOG(INFO) << "expand " << volume_id << ": read-only volume, filesystem left as is";
    } else {
      RETURN_IF_ERROR(slow_formatter_.Grow(DevicePath(disk), record.fs_type(),
                                           record.staging_target_path()));
    }
  }
  LOG(INFO) << "expand " << volume_id << ": " << before << " -> " << size << " bytes";
  return static_cast<int64_t>(size);
}

absl::Status Stager::RestoreStaged(StagingRecord& record) {
  const std::string& volume_id = record.volume_id();
  DiskLocation location = LocationOf(record);
  if (!waiter_.FindSession(location).has_value()) {
    LOG(WARNING) << "reconcile " << volume_id << ": session to " << record.target_iqn()
                 << " is gone; logging in again";
    RETURN_IF_ERROR(iscsiadm_.EnsureIface(options_.iface, options_.initiator_iqn));
    std::optional<NodeRecordRef> node = NodeRefFor(record, location.portal.ToString());
    if (!node.has_value()) return absl::InternalError("record has no usable portal");
    // The node record still holds the CHAP settings; the record never does.
    RETURN_IF_ERROR(iscsiadm_.Login(*node));
  }
  ASSIGN_OR_RETURN(std::string disk, waiter_.WaitForDisk(location, options_.device_timeout));
  RETURN_IF_ERROR(VerifyWwn(disk, record.wwn(), volume_id, record.target_iqn(),
                            static_cast<int>(record.lun())));
  if (disk != record.disk()) {
    LOG(INFO) << "reconcile " << volume_id << ": disk is now " << disk << " (was "
              << record.disk() << ")";
    record.set_disk(disk);
    RETURN_IF_ERROR(store_->Write(record));
  }
  if (record.access_type() == StagingRecord::MOUNT) {
    RETURN_IF_ERROR(EnsureFilesystemMounted(record, /*allow_mkfs=*/false));
  }
  return absl::OkStatus();
}

absl::Status Stager::CleanupOrphans(const std::vector<StagingRecord>& records) {
  std::set<std::string> known;
  for (const StagingRecord& r : records) known.insert(r.target_iqn());
  ASSIGN_OR_RETURN(std::vector<IscsiSession> sessions, iscsiadm_.ListSessions());
  std::set<std::pair<std::string, std::string>> kept;  // (target, portal) still in use
  for (const IscsiSession& session : sessions) {
    if (session.iface != options_.iface || known.count(session.target_iqn) > 0) continue;
    std::vector<std::string> users;
    for (const ScsiDevice& device : session.devices) {
      if (device.disk.empty()) continue;
      absl::StatusOr<std::vector<std::string>> u = OtherUsers(device.disk, "");
      if (u.ok()) users.insert(users.end(), u->begin(), u->end());
    }
    if (!users.empty()) {
      LOG(WARNING) << "reconcile: session " << session.sid << " to " << session.target_iqn
                   << " has no staging record but is mounted at " << absl::StrJoin(users, ", ")
                   << "; leaving it alone";
      kept.insert({session.target_iqn, session.portal.ToString()});
      continue;
    }
    LOG(INFO) << "reconcile: logging out orphan session " << session.sid << " to "
              << session.target_iqn << " at " << session.portal.ToString();
    NodeRecordRef node{session.target_iqn, session.portal, options_.iface};
    if (absl::Status st = iscsiadm_.Logout(node); !st.ok()) {
      LOG(WARNING) << "reconcile: " << st.message();
      kept.insert({session.target_iqn, session.portal.ToString()});
    }
  }
  ASSIGN_OR_RETURN(std::vector<NodeRecordRef> nodes, iscsiadm_.ListNodeRecords());
  for (const NodeRecordRef& node : nodes) {
    if (node.iface != options_.iface || known.count(node.target_iqn) > 0 ||
        kept.count({node.target_iqn, node.portal.ToString()}) > 0) {
      continue;
    }
    LOG(INFO) << "reconcile: deleting orphan node record " << node.target_iqn << " "
              << node.portal.ToString();
    if (absl::Status st = iscsiadm_.DeleteNodeRecord(node); !st.ok()) {
      LOG(WARNING) << "reconcile: " << st.message();
    }
  }
  return absl::OkStatus();
}

absl::Status Stager::Reconcile() {
  RETURN_IF_ERROR(store_->Init());
  ASSIGN_OR_RETURN(std::vector<StagingRecord> records, store_->List());
  LOG(INFO) << "reconcile: " << records.size() << " staging record(s)";
  std::vector<StagingRecord> remaining;
  for (StagingRecord& record : records) {
    std::optional<VolumeLocks::Guard> guard = locks_.TryAcquire(record.volume_id());
    if (!guard.has_value()) continue;  // an RPC got there first; it owns the volume now
    absl::Status st;
    switch (record.state()) {
      case StagingRecord::STAGING:
        LOG(INFO) << "reconcile " << record.volume_id() << ": undoing an unfinished stage";
        st = UndoStage(record);
        if (!st.ok()) remaining.push_back(record);
        break;
      case StagingRecord::UNSTAGING:
        LOG(INFO) << "reconcile " << record.volume_id() << ": finishing an interrupted unstage";
        st = FinishUnstage(record);
        if (!st.ok()) remaining.push_back(record);
        break;
      case StagingRecord::STAGED:
        st = RestoreStaged(record);
        remaining.push_back(record);
        break;
      default:
        LOG(WARNING) << "reconcile " << record.volume_id() << ": record in unknown state "
                     << record.state() << "; leaving it";
        remaining.push_back(record);
        break;
    }
    if (!st.ok()) {
      LOG(ERROR) << "reconcile " << record.volume_id() << ": " << st.message()
                 << " (left for the CO's next call)";
    }
  }
  return CleanupOrphans(remaining);
}

}  // namespace iscsi_csi::node
