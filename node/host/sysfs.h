// sysfs: the node plugin's read (and two writes) of /sys, under a configurable root so unit tests
// point it at a fake tree. What it knows:
//   class/iscsi_session/session<sid>/{targetname,ifacename,state}  one iSCSI session
//   class/iscsi_session/session<sid>/device/target<h>:<c>:<t>/<h>:<c>:<t>:<lun>/block/<disk>
//   class/iscsi_connection/connection<sid>:0/{persistent_address,persistent_port}
//   block/<disk>/{size,dev}  block/<disk>/device/{vpd_pg83,state,delete,rescan}
#ifndef ISCSI_CSI_NODE_HOST_SYSFS_H_
#define ISCSI_CSI_NODE_HOST_SYSFS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi::node {

// An iSCSI session as sysfs shows it.
struct SysfsSession {
  int sid = 0;
  std::string target_iqn;
  std::string iface;  // open-iscsi iface name ("iscsi-csi"); empty on old kernels
  std::string state;  // "LOGGED_IN", "FAILED", "FREE"
  std::string address;  // persistent (configured) portal address
  int port = 0;
};

class Sysfs {
 public:
  explicit Sysfs(std::string root = "/sys");
  const std::string& root() const { return root_; }

  // Read returns a file's bytes; NotFound when it does not exist.
  absl::StatusOr<std::string> Read(absl::string_view relative) const;
  // ReadTrimmed is Read without surrounding whitespace.
  absl::StatusOr<std::string> ReadTrimmed(absl::string_view relative) const;
  absl::Status Write(absl::string_view relative, absl::string_view content) const;
  bool Exists(absl::string_view relative) const;
  // List returns the sorted entry names of a directory (empty when it does not exist).
  std::vector<std::string> List(absl::string_view relative) const;

  // IscsiSessions lists every iSCSI session of the host, sorted by sid.
  std::vector<SysfsSession> IscsiSessions() const;
  // SessionDisk returns the block device name ("sdb") of LUN `lun` of session `sid`; NotFound
  // while the kernel has not attached it (yet).
  absl::StatusOr<std::string> SessionDisk(int sid, int lun) const;
  // SessionDisks lists every disk of the session.
  std::vector<std::string> SessionDisks(int sid) const;

  bool DiskExists(absl::string_view disk) const;
  absl::StatusOr<uint64_t> DiskSizeBytes(absl::string_view disk) const;
  absl::StatusOr<std::string> DiskVpd83(absl::string_view disk) const;
  // DiskDeviceNumber: "major:minor", as mountinfo shows it.
  absl::StatusOr<std::string> DiskDeviceNumber(absl::string_view disk) const;
  // DiskState: the SCSI device state ("running", "offline", "transport-offline", "blocked").
  absl::StatusOr<std::string> DiskState(absl::string_view disk) const;
  // DeleteDisk asks the SCSI midlayer to remove the device (device/delete).
  absl::Status DeleteDisk(absl::string_view disk) const;

 private:
  std::string Path(absl::string_view relative) const;
  const std::string root_;
};

// IsDiskName: a bare kernel block device name ("sdb", "loop0"), safe to put in a path.
bool IsDiskName(absl::string_view name);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_SYSFS_H_
