#include "node/host/mounter_linux.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

struct FlagEffect {
  unsigned long set;
  unsigned long clear;
};

const absl::flat_hash_map<std::string, FlagEffect>& FlagTable() {
  static const auto* table = new absl::flat_hash_map<std::string, FlagEffect>{
      {"ro", {MS_RDONLY, 0}},
      {"rw", {0, MS_RDONLY}},
      {"nosuid", {MS_NOSUID, 0}},
      {"suid", {0, MS_NOSUID}},
      {"nodev", {MS_NODEV, 0}},
      {"dev", {0, MS_NODEV}},
      {"noexec", {MS_NOEXEC, 0}},
      {"exec", {0, MS_NOEXEC}},
      {"sync", {MS_SYNCHRONOUS, 0}},
      {"async", {0, MS_SYNCHRONOUS}},
      {"dirsync", {MS_DIRSYNC, 0}},
      {"noatime", {MS_NOATIME, 0}},
      {"atime", {0, MS_NOATIME}},
      {"nodiratime", {MS_NODIRATIME, 0}},
      {"diratime", {0, MS_NODIRATIME}},
      {"relatime", {MS_RELATIME, 0}},
      {"norelatime", {0, MS_RELATIME}},
      {"strictatime", {MS_STRICTATIME, 0}},
      {"lazytime", {MS_LAZYTIME, 0}},
      {"nolazytime", {0, MS_LAZYTIME}},
      {"silent", {MS_SILENT, 0}},
      {"loud", {0, MS_SILENT}},
      {"defaults", {0, 0}},
  };
  return *table;
}

absl::Status Errno(absl::string_view what, int error) {
  std::string message = absl::StrCat(what, ": ", strerror(error));
  switch (error) {
    case EBUSY:
      return absl::FailedPreconditionError(message);
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

MountFlags ParseMountOptions(const std::vector<std::string>& options) {
  MountFlags out;
  std::vector<std::string> data;
  for (const std::string& option : options) {
    auto it = FlagTable().find(option);
    if (it == FlagTable().end()) {
      data.push_back(option);
      continue;
    }
    out.flags = (out.flags & ~it->second.clear) | it->second.set;
  }
  out.data = absl::StrJoin(data, ",");
  return out;
}

absl::StatusOr<std::vector<MountInfo>> ReadMountTable(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return ParseMountInfo(text.str());
}

LinuxMounter::LinuxMounter(std::string mountinfo_path)
    : mountinfo_path_(std::move(mountinfo_path)) {}

absl::Status LinuxMounter::Mount(const std::string& source, const std::string& target,
                                 const std::string& fs_type,
                                 const std::vector<std::string>& options) {
  MountFlags flags = ParseMountOptions(options);
  LOG(INFO) << "mount " << source << " at " << target << " (" << fs_type << ", "
            << absl::StrJoin(options, ",") << ")";
  if (mount(source.c_str(), target.c_str(), fs_type.c_str(), flags.flags,
            flags.data.empty() ? nullptr : flags.data.c_str()) != 0) {
    return Errno(absl::StrCat("mount ", source, " at ", target, " as ", fs_type), errno);
  }
  return absl::OkStatus();
}

absl::Status LinuxMounter::BindMount(const std::string& source, const std::string& target,
                                     bool read_only) {
  LOG(INFO) << "bind mount " << source << " at " << target << (read_only ? " (read-only)" : "");
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Errno(absl::StrCat("bind mount ", source, " at ", target), errno);
  }
  if (read_only &&
      mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    int error = errno;
    umount2(target.c_str(), MNT_DETACH);  // leave nothing half-done behind
    return Errno(absl::StrCat("remount ", target, " read-only"), error);
  }
  return absl::OkStatus();
}

absl::Status LinuxMounter::Unmount(const std::string& target) {
  LOG(INFO) << "unmount " << target;
  if (umount2(target.c_str(), UMOUNT_NOFOLLOW) != 0) {
    // EINVAL: not a mount point; ENOENT: nothing there. Both mean "already unmounted".
    if (errno == EINVAL || errno == ENOENT) return absl::OkStatus();
    if (errno == EBUSY) {
      return absl::FailedPreconditionError(absl::StrCat(
          "unmount ", target, ": busy (a process still has files open or its working "
          "directory there)"));
    }
    return Errno(absl::StrCat("unmount ", target), errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MountInfo>> LinuxMounter::List() {
  return ReadMountTable(mountinfo_path_);
}

CommandMounter::CommandMounter(CommandRunner& runner, std::string mountinfo_path)
    : runner_(runner), mountinfo_path_(std::move(mountinfo_path)) {}

absl::Status CommandMounter::Mount(const std::string& source, const std::string& target,
                                   const std::string& fs_type,
                                   const std::vector<std::string>& options) {
  Command command;
  command.argv = {"mount", "-t", fs_type};
  if (!options.empty()) {
    command.argv.push_back("-o");
    command.argv.push_back(absl::StrJoin(options, ","));
  }
  command.argv.push_back(source);
  command.argv.push_back(target);
  LOG(INFO) << command.ToString();
  absl::StatusOr<CommandResult> result = runner_.Run(command);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("mount ", source, " at ", target, " as ", fs_type,
                                            ": mount exited ", result->exit_code, ": ",
                                            Summarize(result->stderr_text)));
  }
  return absl::OkStatus();
}

absl::Status CommandMounter::BindMount(const std::string& source, const std::string& target,
                                       bool read_only) {
  Command bind;
  bind.argv = {"mount", "--bind", source, target};
  LOG(INFO) << bind.ToString();
  absl::StatusOr<CommandResult> result = runner_.Run(bind);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("bind mount ", source, " at ", target,
                                            ": mount exited ", result->exit_code, ": ",
                                            Summarize(result->stderr_text)));
  }
  if (!read_only) return absl::OkStatus();
  Command remount;
  remount.argv = {"mount", "-o", "remount,bind,ro", target};
  result = runner_.Run(remount);
  if (!result.ok() || result->exit_code != 0) {
    Command undo;
    undo.argv = {"umount", "-l", target};
    (void)runner_.Run(undo);
    if (!result.ok()) return result.status();
    return absl::InternalError(absl::StrCat("remount ", target, " read-only: mount exited ",
                                            result->exit_code, ": ",
                                            Summarize(result->stderr_text)));
  }
  return absl::OkStatus();
}

absl::Status CommandMounter::Unmount(const std::string& target) {
  absl::StatusOr<std::vector<MountInfo>> table = List();
  if (table.ok() && !FindMount(*table, target).has_value()) return absl::OkStatus();
  Command command;
  command.argv = {"umount", target};
  LOG(INFO) << command.ToString();
  absl::StatusOr<CommandResult> result = runner_.Run(command);
  if (!result.ok()) return result.status();
  if (result->exit_code == 0) return absl::OkStatus();
  const std::string& err = result->stderr_text;
  if (absl::StrContains(err, "not mounted") || absl::StrContains(err, "no mount point") ||
      absl::StrContains(err, "No such file")) {
    return absl::OkStatus();
  }
  if (absl::StrContains(err, "busy")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unmount ", target, ": busy (a process still has files open or its working "
        "directory there)"));
  }
  return absl::InternalError(absl::StrCat("unmount ", target, ": umount exited ",
                                          result->exit_code, ": ", Summarize(err)));
}

absl::StatusOr<std::vector<MountInfo>> CommandMounter::List() {
  return ReadMountTable(mountinfo_path_);
}

}  // namespace iscsi_csi::node
