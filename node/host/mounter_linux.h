// mounter_linux: the two real Mounters. LinuxMounter calls mount(2)/umount2(2) in the plugin's
// own mount namespace (a privileged container with the kubelet directory shared Bidirectional,
// or a plugin running on the host). CommandMounter runs mount(8)/umount(8) through a
// CommandRunner, so with --host-exec=nsenter the mounts land in the host's namespace, and
// reads the host's table from /proc/1/mountinfo.
#ifndef ISCSI_CSI_NODE_HOST_MOUNTER_LINUX_H_
#define ISCSI_CSI_NODE_HOST_MOUNTER_LINUX_H_

#include <string>
#include <vector>

#include "node/host/command_runner.h"
#include "node/host/mounter.h"

namespace iscsi_csi::node {

// MountFlags: mount(8)-style options split into mount(2) flags and the filesystem data string.
struct MountFlags {
  unsigned long flags = 0;  // MS_*
  std::string data;         // filesystem-specific, comma separated ("nouuid,discard")
};
MountFlags ParseMountOptions(const std::vector<std::string>& options);

class LinuxMounter final : public Mounter {
 public:
  explicit LinuxMounter(std::string mountinfo_path = "/proc/self/mountinfo");

  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fs_type, const std::vector<std::string>& options) override;
  absl::Status BindMount(const std::string& source, const std::string& target,
                         bool read_only) override;
  absl::Status Unmount(const std::string& target) override;
  absl::StatusOr<std::vector<MountInfo>> List() override;

 private:
  const std::string mountinfo_path_;
};

class CommandMounter final : public Mounter {
 public:
  CommandMounter(CommandRunner& runner, std::string mountinfo_path);

  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fs_type, const std::vector<std::string>& options) override;
  absl::Status BindMount(const std::string& source, const std::string& target,
                         bool read_only) override;
  absl::Status Unmount(const std::string& target) override;
  absl::StatusOr<std::vector<MountInfo>> List() override;

 private:
  CommandRunner& runner_;
  const std::string mountinfo_path_;
};

// ReadMountTable reads and parses a mountinfo file.
absl::StatusOr<std::vector<MountInfo>> ReadMountTable(const std::string& path);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_MOUNTER_LINUX_H_
