// formatter: filesystem and block-device tools: blkid (is the disk blank?), mkfs.ext4 /
// mkfs.xfs, the pre-mount check, online grow (resize2fs / xfs_growfs) and blockdev --flushbufs.
//
// Policy:
//  - mkfs only when `blkid -p` finds no signature at all (exit 2); a partition table, LVM or any
//    filesystem other than the requested one is never overwritten.
//  - ext4 gets `fsck.ext4 -p` (preen: fixes what is safe without a human) before every mount;
//    exit 0-2 proceeds, 4 (errors left) refuses the mount. xfs is not checked: it replays its
//    log at mount and xfs_repair -n would only report, slowly.
#ifndef ISCSI_CSI_NODE_HOST_FORMATTER_H_
#define ISCSI_CSI_NODE_HOST_FORMATTER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node/host/command_runner.h"

namespace iscsi_csi::node {

// What blkid found on a device.
struct DeviceContent {
  bool blank = false;
  std::string type;    // TYPE: "ext4", "xfs", "LVM2_member", "swap"
  std::string usage;   // USAGE: "filesystem", "raid", "other"
  std::string pttype;  // PTTYPE: "gpt", "dos" (a partition table)
  // Describe: "ext4 filesystem", "gpt partition table", "nothing".
  std::string Describe() const;
};

// ParseBlkidExport parses `blkid -o export` output (KEY=value lines).
std::map<std::string, std::string> ParseBlkidExport(absl::string_view text);

class Formatter {
 public:
  Formatter(CommandRunner& runner, absl::Duration timeout);

  // Probe runs `blkid -p -o export <device>` (low-level probe, no cache). Exit 2 = blank;
  // exit 8 (ambivalent: several signatures) is FailedPrecondition.
  absl::StatusOr<DeviceContent> Probe(const std::string& device);
  // Mkfs makes an ext4 (`mkfs.ext4 -F -q`) or xfs (`mkfs.xfs -q`, which itself refuses to
  // overwrite a signature) filesystem.
  absl::Status Mkfs(const std::string& device, const std::string& fs_type);
  // Check runs the pre-mount check of the policy above.
  absl::Status Check(const std::string& device, const std::string& fs_type);
  // Grow grows a mounted filesystem to fill its device: resize2fs <device> for ext4,
  // xfs_growfs <mount point> for xfs.
  absl::Status Grow(const std::string& device, const std::string& fs_type,
                    const std::string& mount_point);
  // FlushBuffers: `blockdev --flushbufs <device>` (dirty pages out before the disk goes away).
  absl::Status FlushBuffers(const std::string& device);

 private:
  absl::StatusOr<CommandResult> Run(std::vector<Arg> argv);
  CommandRunner& runner_;
  const absl::Duration timeout_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_FORMATTER_H_
