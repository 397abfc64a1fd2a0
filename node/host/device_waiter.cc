#include "node/host/device_waiter.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace iscsi_csi::node {

std::string ByPathName(const DiskLocation& location) {
  return absl::StrCat("ip-", location.portal.ToString(), "-iscsi-", location.target_iqn, "-lun-",
                      location.lun);
}

DeviceWaiter::DeviceWaiter(const Sysfs& sysfs, Clock& clock, std::string dev_root,
                           absl::Duration poll_interval)
    : sysfs_(sysfs), clock_(clock), dev_root_(std::move(dev_root)), poll_interval_(poll_interval) {}

std::optional<SysfsSession> DeviceWaiter::FindSession(const DiskLocation& location) const {
  for (const SysfsSession& session : sysfs_.IscsiSessions()) {
    if (session.target_iqn != location.target_iqn) continue;
    if (!session.iface.empty() && session.iface != location.iface) continue;
    if (!session.address.empty() &&
        (session.address != location.portal.host || session.port != location.portal.port)) {
      continue;
    }
    return session;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> DeviceWaiter::FindDisk(const DiskLocation& location) const {
  if (std::optional<SysfsSession> session = FindSession(location); session.has_value()) {
    // Our session is there: its disk is the only candidate. (A by-path link could name the same
    // LUN reached through someone else's session, whose disk we must never take over.)
    absl::StatusOr<std::string> disk = sysfs_.SessionDisk(session->sid, location.lun);
    if (disk.ok()) return disk;
    return absl::NotFoundError(absl::StrCat("no disk yet for LUN ", location.lun, " of ",
                                            location.target_iqn, " at ",
                                            location.portal.ToString()));
  }
  // No session matched in sysfs (a kernel with another layout): trust udev's link instead.
  const std::filesystem::path link =
      std::filesystem::path(dev_root_) / "disk" / "by-path" / ByPathName(location);
  std::error_code ec;
  std::filesystem::path points_to = std::filesystem::read_symlink(link, ec);
  if (!ec) {
    std::string disk = points_to.filename().string();
    if (IsDiskName(disk) && sysfs_.DiskExists(disk)) return disk;
  }
  return absl::NotFoundError(absl::StrCat("no disk yet for LUN ", location.lun, " of ",
                                          location.target_iqn, " at ",
                                          location.portal.ToString()));
}

absl::StatusOr<std::string> DeviceWaiter::WaitForDisk(const DiskLocation& location,
                                                      absl::Duration timeout) {
  const absl::Time deadline = clock_.Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> disk = FindDisk(location);
    if (disk.ok()) return disk;
    if (clock_.Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "LUN ", location.lun, " of ", location.target_iqn, " at ", location.portal.ToString(),
          " did not appear as a disk within ", absl::FormatDuration(timeout),
          " after login (does the target export that LUN? is sd_mod loaded?)"));
    }
    clock_.SleepFor(poll_interval_);
  }
}

absl::StatusOr<uint64_t> DeviceWaiter::WaitForSize(const std::string& disk, uint64_t min_bytes,
                                                   absl::Duration timeout) {
  const absl::Time deadline = clock_.Now() + timeout;
  while (true) {
    absl::StatusOr<uint64_t> size = sysfs_.DiskSizeBytes(disk);
    if (!size.ok()) return size.status();
    if (*size >= min_bytes) return size;
    if (clock_.Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          disk, " still reports ", *size, " bytes ", absl::FormatDuration(timeout),
          " after the rescan, less than the ", min_bytes,
          " requested (has ControllerExpandVolume finished?)"));
    }
    clock_.SleepFor(poll_interval_);
  }
}

}  // namespace iscsi_csi::node
