#include "node/host/sysfs.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace iscsi_csi::node {
namespace {

absl::Status BadDisk(absl::string_view disk) {
  return absl::InvalidArgumentError(absl::StrCat("'", disk, "' is not a block device name"));
}

}  // namespace

bool IsDiskName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != '!') {
      return false;
    }
  }
  return true;
}

Sysfs::Sysfs(std::string root) : root_(std::move(root)) {}

std::string Sysfs::Path(absl::string_view relative) const {
  return absl::StrCat(root_, "/", relative);
}

absl::StatusOr<std::string> Sysfs::Read(absl::string_view relative) const {
  const std::string path = Path(relative);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InternalError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  return content.str();
}

absl::StatusOr<std::string> Sysfs::ReadTrimmed(absl::string_view relative) const {
  absl::StatusOr<std::string> content = Read(relative);
  if (!content.ok()) return content.status();
  return std::string(absl::StripAsciiWhitespace(*content));
}

absl::Status Sysfs::Write(absl::string_view relative, absl::string_view content) const {
  const std::string path = Path(relative);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  }
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  return absl::OkStatus();
}

bool Sysfs::Exists(absl::string_view relative) const {
  std::error_code ec;
  return std::filesystem::exists(Path(relative), ec);
}

std::vector<std::string> Sysfs::List(absl::string_view relative) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(Path(relative), ec), end; !ec && it != end;
       it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<SysfsSession> Sysfs::IscsiSessions() const {
  std::vector<SysfsSession> sessions;
  for (const std::string& name : List("class/iscsi_session")) {
    SysfsSession session;
    if (!absl::StartsWith(name, "session") ||
        !absl::SimpleAtoi(absl::string_view(name).substr(7), &session.sid)) {
      continue;
    }
    const std::string dir = absl::StrCat("class/iscsi_session/", name);
    session.target_iqn = ReadTrimmed(dir + "/targetname").value_or("");
    session.iface = ReadTrimmed(dir + "/ifacename").value_or("");
    session.state = ReadTrimmed(dir + "/state").value_or("");
    const std::string conn = absl::StrCat("class/iscsi_connection/connection", session.sid, ":0");
    session.address = ReadTrimmed(conn + "/persistent_address").value_or("");
    if (session.address.empty()) session.address = ReadTrimmed(conn + "/address").value_or("");
    std::string port = ReadTrimmed(conn + "/persistent_port").value_or("");
    if (port.empty()) port = ReadTrimmed(conn + "/port").value_or("");
    (void)absl::SimpleAtoi(port, &session.port);
    sessions.push_back(std::move(session));
  }
  std::sort(sessions.begin(), sessions.end(),
            [](const SysfsSession& a, const SysfsSession& b) { return a.sid < b.sid; });
  return sessions;
}

std::vector<std::string> Sysfs::SessionDisks(int sid) const {
  std::vector<std::string> disks;
  const std::string device = absl::StrCat("class/iscsi_session/session", sid, "/device");
  for (const std::string& target : List(device)) {
    if (!absl::StartsWith(target, "target")) continue;
    for (const std::string& hctl : List(absl::StrCat(device, "/", target))) {
      std::vector<absl::string_view> parts = absl::StrSplit(hctl, ':');
      if (parts.size() != 4) continue;
      for (const std::string& disk : List(absl::StrCat(device, "/", target, "/", hctl, "/block"))) {
        disks.push_back(disk);
      }
    }
  }
  return disks;
}

absl::StatusOr<std::string> Sysfs::SessionDisk(int sid, int lun) const {
  const std::string device = absl::StrCat("class/iscsi_session/session", sid, "/device");
  if (!Exists(device)) {
    return absl::NotFoundError(absl::StrCat("iSCSI session ", sid, " does not exist"));
  }
  for (const std::string& target : List(device)) {
    if (!absl::StartsWith(target, "target")) continue;
    for (const std::string& hctl : List(absl::StrCat(device, "/", target))) {
      std::vector<absl::string_view> parts = absl::StrSplit(hctl, ':');
      int found_lun = -1;
      if (parts.size() != 4 || !absl::SimpleAtoi(parts[3], &found_lun) || found_lun != lun) {
        continue;
      }
      std::vector<std::string> disks = List(absl::StrCat(device, "/", target, "/", hctl, "/block"));
      if (!disks.empty()) return disks.front();
    }
  }
  return absl::NotFoundError(
      absl::StrCat("iSCSI session ", sid, " has no disk for LUN ", lun, " yet"));
}

bool Sysfs::DiskExists(absl::string_view disk) const {
  return IsDiskName(disk) && Exists(absl::StrCat("block/", disk));
}

absl::StatusOr<uint64_t> Sysfs::DiskSizeBytes(absl::string_view disk) const {
  if (!IsDiskName(disk)) return BadDisk(disk);
  absl::StatusOr<std::string> sectors = ReadTrimmed(absl::StrCat("block/", disk, "/size"));
  if (!sectors.ok()) return sectors.status();
  uint64_t count = 0;
  if (!absl::SimpleAtoi(*sectors, &count)) {
    return absl::InternalError(absl::StrCat("block/", disk, "/size holds '", *sectors, "'"));
  }
  return count * 512;  // sysfs counts 512-byte sectors whatever the logical block size
}

absl::StatusOr<std::string> Sysfs::DiskVpd83(absl::string_view disk) const {
  if (!IsDiskName(disk)) return BadDisk(disk);
  return Read(absl::StrCat("block/", disk, "/device/vpd_pg83"));
}

absl::StatusOr<std::string> Sysfs::DiskDeviceNumber(absl::string_view disk) const {
  if (!IsDiskName(disk)) return BadDisk(disk);
  return ReadTrimmed(absl::StrCat("block/", disk, "/dev"));
}

absl::StatusOr<std::string> Sysfs::DiskState(absl::string_view disk) const {
  if (!IsDiskName(disk)) return BadDisk(disk);
  return ReadTrimmed(absl::StrCat("block/", disk, "/device/state"));
}

absl::Status Sysfs::DeleteDisk(absl::string_view disk) const {
  if (!IsDiskName(disk)) return BadDisk(disk);
  return Write(absl::StrCat("block/", disk, "/device/delete"), "1");
}

}  // namespace iscsi_csi::node
