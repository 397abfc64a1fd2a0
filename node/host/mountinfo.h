// mountinfo: parser for /proc/<pid>/mountinfo (proc(5)), the mount table the node plugin trusts
// over any state file. Fields are space separated; the kernel escapes space, tab, newline and
// backslash in paths as octal (\040, \011, \012, \134).
#ifndef ISCSI_CSI_NODE_HOST_MOUNTINFO_H_
#define ISCSI_CSI_NODE_HOST_MOUNTINFO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi::node {

struct MountInfo {
  int mount_id = 0;
  int parent_id = 0;
  std::string device_number;  // "major:minor" of the filesystem (st_dev)
  std::string root;           // path inside the filesystem that is mounted ("/" or "/sdb")
  std::string mount_point;    // where, unescaped
  std::string mount_options;  // per-mount: "rw,relatime"
  std::string fs_type;        // "ext4", "xfs", "devtmpfs"
  std::string source;         // "/dev/sdb"
  std::string super_options;  // per-superblock: "rw,errors=remount-ro"

  // ReadOnly: the mount or its superblock is read-only ("ro" in either option list).
  bool ReadOnly() const;
};

// UnescapeMountPath turns the kernel's octal escapes back into bytes.
std::string UnescapeMountPath(absl::string_view escaped);

// ParseMountInfo parses a whole mountinfo file. InvalidArgument names the first malformed line.
absl::StatusOr<std::vector<MountInfo>> ParseMountInfo(absl::string_view text);

// HasOption: whether the comma-separated `options` list contains `option` exactly.
bool HasOption(absl::string_view options, absl::string_view option);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_MOUNTINFO_H_
