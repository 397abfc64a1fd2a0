// mounter: mount, bind mount, unmount and list, behind an interface so the staging logic runs
// against a fake mount table in unit tests. Two implementations live in mounter_linux: the
// mount(2)/umount2(2) one (the plugin's own mount namespace, /proc/self/mountinfo) and the
// mount(8)/umount(8) one that goes through a CommandRunner (for --host-exec=nsenter, where the
// host's mount namespace and /proc/1/mountinfo are what count).
#ifndef ISCSI_CSI_NODE_HOST_MOUNTER_H_
#define ISCSI_CSI_NODE_HOST_MOUNTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/host/mountinfo.h"

namespace iscsi_csi::node {

class Mounter {
 public:
  virtual ~Mounter() = default;

  // Mount mounts the filesystem on `source` (a block device) at `target` (an existing
  // directory) with `options` as mount(8) spells them ("ro", "noatime", "nouuid").
  virtual absl::Status Mount(const std::string& source, const std::string& target,
                             const std::string& fs_type,
                             const std::vector<std::string>& options) = 0;

  // BindMount makes `source` (a directory or a device node) visible at `target` (an existing
  // directory or file); `read_only` remounts the bind read-only.
  virtual absl::Status BindMount(const std::string& source, const std::string& target,
                                 bool read_only) = 0;

  // Unmount removes the topmost mount at `target`. OK when nothing is mounted there or the path
  // does not exist; FailedPrecondition when the kernel says the mount is busy.
  virtual absl::Status Unmount(const std::string& target) = 0;

  // List returns the current mount table.
  virtual absl::StatusOr<std::vector<MountInfo>> List() = 0;
};

// NormalizePath drops "." components, duplicate and trailing slashes (no symlink resolution:
// the path may not exist), so it compares equal to a mountinfo mount point.
std::string NormalizePath(absl::string_view path);

// FindMount returns the topmost mount at `path` (the last listed), if any.
std::optional<MountInfo> FindMount(const std::vector<MountInfo>& mounts, absl::string_view path);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_MOUNTER_H_
