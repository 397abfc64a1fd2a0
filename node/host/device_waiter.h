// device_waiter: finds the SCSI disk a login produced and waits, bounded by an injected Clock,
// for it to appear or to grow. The kernel scans LUNs asynchronously after iscsiadm --login
// returns, and reports a new capacity only after a rescan, so both are polls.
//
// Lookup: the session's host/channel/target/lun in sysfs (no udev needed); only when sysfs shows
// no matching session, the udev link /dev/disk/by-path/ip-<portal>-iscsi-<iqn>-lun-<lun>.
// Neither proves identity: callers verify the disk's VPD 0x83 WWN before using it.
#ifndef ISCSI_CSI_NODE_HOST_DEVICE_WAITER_H_
#define ISCSI_CSI_NODE_HOST_DEVICE_WAITER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node/host/clock.h"
#include "node/host/iscsiadm.h"
#include "node/host/sysfs.h"

namespace iscsi_csi::node {

struct DiskLocation {
  std::string target_iqn;
  Portal portal;
  std::string iface;
  int lun = 0;
};

// ByPathName: "ip-10.0.0.5:3260-iscsi-<iqn>-lun-0", the name udev gives the link.
std::string ByPathName(const DiskLocation& location);

class DeviceWaiter {
 public:
  DeviceWaiter(const Sysfs& sysfs, Clock& clock, std::string dev_root,
               absl::Duration poll_interval = absl::Milliseconds(200));

  // FindSession returns the sysfs session for the location's target, portal and iface.
  std::optional<SysfsSession> FindSession(const DiskLocation& location) const;
  // FindDisk looks once; NotFound when the disk is not there (yet).
  absl::StatusOr<std::string> FindDisk(const DiskLocation& location) const;
  // WaitForDisk polls FindDisk until it succeeds or `timeout` passes (DeadlineExceeded).
  absl::StatusOr<std::string> WaitForDisk(const DiskLocation& location, absl::Duration timeout);
  // WaitForSize polls the disk's size until it is at least `min_bytes` (DeadlineExceeded
  // otherwise) and returns it.
  absl::StatusOr<uint64_t> WaitForSize(const std::string& disk, uint64_t min_bytes,
                                       absl::Duration timeout);

 private:
  const Sysfs& sysfs_;
  Clock& clock_;
  const std::string dev_root_;
  const absl::Duration poll_interval_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_DEVICE_WAITER_H_
