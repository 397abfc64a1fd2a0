#include "tests/fakes/fake_host.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "node/host/vpd.h"

namespace iscsi_csi::testing {
namespace {

namespace fs = std::filesystem;
using node::CommandResult;

CommandResult Exit(int code, std::string out = "", std::string err = "") {
  return CommandResult{code, std::move(out), std::move(err)};
}

std::string UniqueRoot() {
  static int counter = 0;
  std::string root = absl::StrCat(::testing::TempDir(), "/fakehost_", getpid(), "_", counter++);
  fs::remove_all(root);
  fs::create_directories(root);
  return root;
}

std::string HostOf(const std::string& portal) {
  if (absl::StartsWith(portal, "[")) return portal.substr(1, portal.find(']') - 1);
  return portal.substr(0, portal.rfind(':'));
}

std::string PortOf(const std::string& portal) { return portal.substr(portal.rfind(':') + 1); }

}  // namespace

std::string BuildVpd83(const std::string& naa_hex) {
  std::string naa = node::HexDecode(naa_hex).value();
  std::string body;
  // NAA, logical unit, binary.
  body += std::string{0x01, 0x03, 0x00, static_cast<char>(naa.size())} + naa;
  // Relative target port 1 (iSCSI protocol 5, PIV, association target port).
  body += std::string{0x51, static_cast<char>(0x94), 0x00, 0x04, 0x00, 0x00, 0x00, 0x01};
  // SCSI name string of the target port.
  std::string name = "iqn.2026-11.io.iscsi-csi:target,t,0x0001";
  name.push_back('\0');
  while (name.size() % 4 != 0) name.push_back('\0');
  body += std::string{0x53, static_cast<char>(0x98), 0x00, static_cast<char>(name.size())} + name;
  std::string page = {0x00, static_cast<char>(0x83), static_cast<char>(body.size() >> 8),
                      static_cast<char>(body.size() & 0xff)};
  return page + body;
}

FakeHost::FakeHost() : root_(UniqueRoot()), sysfs_(root_ + "/sys") {
  fs::create_directories(sys_root() + "/class/iscsi_session");
  fs::create_directories(sys_root() + "/class/iscsi_connection");
  fs::create_directories(sys_root() + "/block");
  fs::create_directories(dev_root() + "/disk/by-path");
  mounter_.set_device_number_of([this](const std::string& device) {
    return DeviceNumber(fs::path(device).filename().string());
  });
  clock_.set_on_sleep([this] { OnSleep(); });
  Install();
}

FakeHost::~FakeHost() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void FakeHost::WriteFile(const std::string& relative, const std::string& content) {
  const fs::path path = fs::path(sys_root()) / relative;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string FakeHost::DiskArg(const std::string& path) {
  return fs::path(path).filename().string();
}

void FakeHost::AddTarget(FakeTarget target) {
  absl::MutexLock lock(&mu_);
  content_[target.iqn] = target.initial_content;
  targets_[target.iqn] = std::move(target);
}

std::string& FakeHost::ContentOf(const std::string& disk) {
  return content_[disk_target_[disk]];
}

void FakeHost::UpdateTarget(const std::string& iqn,
                            const std::function<void(FakeTarget&)>& change) {
  absl::MutexLock lock(&mu_);
  change(targets_.at(iqn));
}

void FakeHost::AddIface(const std::string& name, const std::string& initiator) {
  absl::MutexLock lock(&mu_);
  ifaces_[name] = initiator;
}

void FakeHost::AddNodeRecord(const FakeNodeRecord& record) {
  absl::MutexLock lock(&mu_);
  records_.push_back(record);
}

int FakeHost::AddSession(const std::string& target, const std::string& portal,
                         const std::string& iface) {
  absl::MutexLock lock(&mu_);
  return StartSession(target, portal, iface);
}

int FakeHost::StartSession(const std::string& target, const std::string& portal,
                           const std::string& iface) {
  FakeSession session;
  session.sid = next_sid_++;
  session.host = next_host_++;
  session.target = target;
  session.portal = portal;
  session.iface = iface;
  const std::string dir = absl::StrCat("class/iscsi_session/session", session.sid);
  WriteFile(dir + "/targetname", target + "\n");
  WriteFile(dir + "/ifacename", iface + "\n");
  WriteFile(dir + "/state", "LOGGED_IN\n");
  fs::create_directories(fs::path(sys_root()) / dir / "device");
  const std::string conn = absl::StrCat("class/iscsi_connection/connection", session.sid, ":0");
  WriteFile(conn + "/persistent_address", HostOf(portal) + "\n");
  WriteFile(conn + "/persistent_port", PortOf(portal) + "\n");
  auto it = targets_.find(target);
  if (it != targets_.end()) session.pending_sleeps = it->second.disk_after_sleeps;
  sessions_.push_back(session);
  if (it != targets_.end() && !it->second.never_attach && session.pending_sleeps == 0) {
    AttachDisk(sessions_.back());
  }
  return session.sid;
}

void FakeHost::AttachDisk(FakeSession& session) {
  auto it = targets_.find(session.target);
  FakeTarget target = it != targets_.end() ? it->second : FakeTarget{};
  if (it == targets_.end()) target.wwn = "600140500000000000000000000000ff";
  const int n = next_disk_++;
  session.disk = absl::StrCat("sd", std::string(1, static_cast<char>('a' + n)));
  const std::string hctl = absl::StrCat(session.host, ":0:0:", target.lun);
  WriteFile(absl::StrCat("class/iscsi_session/session", session.sid, "/device/target",
                         session.host, ":0:0/", hctl, "/block/", session.disk, "/stat"),
            "0\n");
  const std::string block = absl::StrCat("block/", session.disk);
  WriteFile(block + "/size", absl::StrCat(target.size_bytes / 512, "\n"));
  WriteFile(block + "/dev", absl::StrCat("8:", 16 * n, "\n"));
  vpd_[session.disk] = BuildVpd83(target.wwn);
  WriteFile(block + "/device/vpd_pg83", vpd_[session.disk]);
  WriteFile(block + "/device/state", "running\n");
  WriteFile(block + "/device/delete", "");
  std::ofstream(fs::path(dev_root()) / session.disk) << "";
  disk_target_[session.disk] = session.target;
}

void FakeHost::EndSession(int sid) {
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->sid != sid) continue;
    std::error_code ec;
    fs::remove_all(fs::path(sys_root()) / absl::StrCat("class/iscsi_session/session", sid), ec);
    fs::remove_all(fs::path(sys_root()) / absl::StrCat("class/iscsi_connection/connection", sid, ":0"),
                   ec);
    if (!it->disk.empty()) {
      fs::remove_all(fs::path(sys_root()) / "block" / it->disk, ec);
      fs::remove(fs::path(dev_root()) / it->disk, ec);
    }
    sessions_.erase(it);
    return;
  }
}

void FakeHost::OnSleep() {
  absl::MutexLock lock(&mu_);
  for (FakeSession& session : sessions_) {
    if (!session.disk.empty() || session.pending_sleeps <= 0) continue;
    if (--session.pending_sleeps == 0) AttachDisk(session);
  }
}

void FakeHost::DropSession(int sid) {
  absl::MutexLock lock(&mu_);
  EndSession(sid);
}

void FakeHost::SetSessionState(int sid, const std::string& state) {
  WriteFile(absl::StrCat("class/iscsi_session/session", sid, "/state"), state + "\n");
}

void FakeHost::RemoveDisk(const std::string& disk) {
  std::error_code ec;
  fs::remove_all(fs::path(sys_root()) / "block" / disk, ec);
}

void FakeHost::SetDiskState(const std::string& disk, const std::string& state) {
  WriteFile(absl::StrCat("block/", disk, "/device/state"), state + "\n");
}

void FakeHost::set_fsck_exit(int code) {
  absl::MutexLock lock(&mu_);
  fsck_exit_ = code;
}

void FakeHost::set_flush_exit(int code) {
  absl::MutexLock lock(&mu_);
  flush_exit_ = code;
}

std::vector<FakeNodeRecord> FakeHost::node_records() {
  absl::MutexLock lock(&mu_);
  return records_;
}

std::optional<FakeNodeRecord> FakeHost::NodeRecord(const std::string& target,
                                                   const std::string& portal) {
  for (const FakeNodeRecord& r : node_records()) {
    if (r.target == target && r.portal == portal) return r;
  }
  return std::nullopt;
}

std::vector<FakeSession> FakeHost::sessions() {
  absl::MutexLock lock(&mu_);
  return sessions_;
}

std::optional<FakeSession> FakeHost::SessionFor(const std::string& target) {
  for (const FakeSession& s : sessions()) {
    if (s.target == target) return s;
  }
  return std::nullopt;
}

std::string FakeHost::IfaceInitiator(const std::string& iface) {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(iface);
  return it == ifaces_.end() ? "<none>" : it->second;
}

std::string FakeHost::Content(const std::string& disk) {
  absl::MutexLock lock(&mu_);
  return ContentOf(disk);
}

std::string FakeHost::DeviceNumber(const std::string& disk) {
  return sysfs_.DiskDeviceNumber(disk).value_or("0:0");
}

void FakeHost::Install() {
  runner_.On({"iscsiadm"}, [this](const std::vector<std::string>& argv) { return Iscsiadm(argv); });
  runner_.On({"blkid"}, [this](const std::vector<std::string>& argv) {
    const std::string disk = DiskArg(argv.back());
    if (!sysfs_.DiskExists(disk)) return Exit(2);
    const std::string content = Content(disk);
    if (content.empty()) return Exit(2);
    if (content == "ambivalent") return Exit(8, "", "ambivalent result");
    if (content == "gpt") {
      return Exit(0, absl::StrCat("DEVNAME=", argv.back(), "\nPTUUID=1234\nPTTYPE=gpt\n"));
    }
    return Exit(0, absl::StrCat("DEVNAME=", argv.back(), "\nUUID=0c2f1e6a-0000-4000-8000-000000000001\n",
                                "BLOCK_SIZE=4096\nTYPE=", content, "\nUSAGE=filesystem\n"));
  });
  for (const char* mkfs : {"mkfs.ext4", "mkfs.xfs"}) {
    const std::string type = absl::string_view(mkfs).substr(5) == "ext4" ? "ext4" : "xfs";
    runner_.On({mkfs}, [this, type](const std::vector<std::string>& argv) {
      absl::MutexLock lock(&mu_);
      std::string& content = ContentOf(DiskArg(argv.back()));
      if (type == "xfs" && !content.empty()) {
        return Exit(1, "", "mkfs.xfs: appears to contain an existing filesystem");
      }
      content = type;
      return Exit(0);
    });
  }
  runner_.On({"fsck.ext4"}, [this](const std::vector<std::string>&) {
    absl::MutexLock lock(&mu_);
    return Exit(fsck_exit_, fsck_exit_ == 4 ? "/dev/sdb: UNEXPECTED INCONSISTENCY" : "");
  });
  runner_.OnResult({"resize2fs"}, 0, "The filesystem is now 524288 (4k) blocks long.\n");
  runner_.OnResult({"xfs_growfs"}, 0);
  runner_.On({"blockdev"}, [this](const std::vector<std::string>&) {
    absl::MutexLock lock(&mu_);
    return Exit(flush_exit_, "", flush_exit_ == 0 ? "" : "blockdev: ioctl error");
  });
  runner_.On({"sg_vpd"}, [this](const std::vector<std::string>& argv) {
    // sg_vpd asks the device itself, so it answers even where sysfs has no vpd_pg83.
    const std::string disk = DiskArg(argv.back());
    absl::MutexLock lock(&mu_);
    if (!sysfs_.DiskExists(disk) || vpd_.count(disk) == 0) {
      return Exit(15, "", "sg_vpd: error opening file: No such device");
    }
    return Exit(0, vpd_[disk]);
  });
}

absl::StatusOr<CommandResult> FakeHost::Iscsiadm(const std::vector<std::string>& argv) {
  std::map<std::string, std::string> opts;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--login" || a == "--logout" || a == "-R") {
      opts[a] = "1";
    } else if (i + 1 < argv.size()) {
      opts[a] = argv[++i];
    }
  }
  absl::MutexLock lock(&mu_);
  const std::string mode = opts["-m"];
  if (mode == "iface") return IfaceMode(opts);
  if (mode == "node") return NodeMode(opts);
  if (mode == "session") return SessionMode(opts);
  return Exit(7, "", "iscsiadm: invalid mode");
}

CommandResult FakeHost::IfaceMode(const std::map<std::string, std::string>& opts) {
  const std::string name = opts.at("-I");
  auto it = ifaces_.find(name);
  const std::string op = opts.count("-o") ? opts.at("-o") : "";
  if (op.empty()) {
    if (it == ifaces_.end()) {
      return Exit(6, "", absl::StrCat("iSCSI ERROR: Failed to open /etc/iscsi/ifaces/", name));
    }
    return Exit(0, absl::StrCat("# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = ", name,
                                "\niface.transport_name = tcp\niface.initiatorname = ",
                                it->second.empty() ? "<empty>" : it->second,
                                "\n# END RECORD\n"));
  }
  if (op == "new") {
    if (it == ifaces_.end()) ifaces_[name] = "";
    return Exit(0, absl::StrCat("New interface ", name, " added\n"));
  }
  if (op == "update") {
    if (it == ifaces_.end()) return Exit(6);
    if (opts.at("-n") == "iface.initiatorname") it->second = opts.at("-v");
    return Exit(0, absl::StrCat(name, " updated.\n"));
  }
  if (op == "delete") {
    if (it == ifaces_.end()) return Exit(6);
    ifaces_.erase(it);
    return Exit(0);
  }
  return Exit(7);
}

CommandResult FakeHost::NodeMode(const std::map<std::string, std::string>& opts) {
  if (opts.count("-T") == 0) {
    // Listing.
    if (records_.empty()) return Exit(21, "", "iscsiadm: No records found\n");
    std::string out;
    for (const FakeNodeRecord& r : records_) {
      absl::StrAppend(&out, "Target: ", r.target, "\n\tPortal: ", r.portal, ",-1\n\t\tIface Name: ",
                      r.iface, "\n");
    }
    return Exit(0, out);
  }
  const std::string target = opts.at("-T");
  const std::string portal = opts.at("-p");
  const std::string iface = opts.count("-I") ? opts.at("-I") : "default";
  auto record = std::find_if(records_.begin(), records_.end(), [&](const FakeNodeRecord& r) {
    return r.target == target && r.portal == portal && r.iface == iface;
  });
  if (opts.count("--login")) return Login(opts);
  if (opts.count("--logout")) {
    for (const FakeSession& s : sessions_) {
      if (s.target == target && s.portal == portal && s.iface == iface) {
        EndSession(s.sid);
        return Exit(0, "Logout of [sid: 1] successful.\n");
      }
    }
    return Exit(21, "", "iscsiadm: No matching sessions found\n");
  }
  const std::string op = opts.count("-o") ? opts.at("-o") : "";
  if (op == "new") {
    if (ifaces_.count(iface) == 0 && iface != "default") {
      return Exit(6, "", absl::StrCat("iscsiadm: Could not read iface ", iface));
    }
    FakeNodeRecord fresh{target, portal, iface, {{"node.startup", "automatic"}}};
    if (record != records_.end()) {
      *record = fresh;
    } else {
      records_.push_back(fresh);
    }
    return Exit(0, "New iSCSI node added\n");
  }
  if (record == records_.end()) return Exit(21, "", "iscsiadm: No records found\n");
  if (op == "update") {
    record->settings[opts.at("-n")] = opts.at("-v");
    return Exit(0);
  }
  if (op == "delete") {
    records_.erase(record);
    return Exit(0);
  }
  return Exit(0, "node.name = " + target + "\n");
}

CommandResult FakeHost::Login(const std::map<std::string, std::string>& opts) {
  const std::string target = opts.at("-T");
  const std::string portal = opts.at("-p");
  const std::string iface = opts.at("-I");
  auto record = std::find_if(records_.begin(), records_.end(), [&](const FakeNodeRecord& r) {
    return r.target == target && r.portal == portal && r.iface == iface;
  });
  if (record == records_.end()) return Exit(21, "", "iscsiadm: No records found\n");
  for (const FakeSession& s : sessions_) {
    if (s.target == target && s.portal == portal && s.iface == iface) {
      return Exit(15, "", "iscsiadm: default: 1 session requested, but 1 already present.\n");
    }
  }
  const std::string attempt = absl::StrCat("Logging in to [iface: ", iface, ", target: ", target,
                                           ", portal: ", portal, "]\n");
  auto it = targets_.find(target);
  if (it == targets_.end()) {
    return Exit(19, attempt,
                "iscsiadm: Could not login to [...].\niscsiadm: initiator reported error (19 - "
                "encountered non-retryable iSCSI login failure)\n");
  }
  const FakeTarget& t = it->second;
  if (t.unreachable_portals.count(portal) > 0) {
    return Exit(8, attempt,
                "iscsiadm: Could not login to [...].\niscsiadm: initiator reported error (8 - "
                "connection timed out)\n");
  }
  auto setting = [&](const std::string& key) {
    auto s = record->settings.find(key);
    return s == record->settings.end() ? std::string() : s->second;
  };
  const bool chap_ok =
      t.chap_user.empty() ||
      (setting("node.session.auth.authmethod") == "CHAP" &&
       setting("node.session.auth.username") == t.chap_user &&
       setting("node.session.auth.password") == t.chap_secret &&
       (t.mutual_user.empty() || (setting("node.session.auth.username_in") == t.mutual_user &&
                                  setting("node.session.auth.password_in") == t.mutual_secret)));
  if (!chap_ok) {
    return Exit(24, attempt,
                "iscsiadm: Could not login to [...].\niscsiadm: initiator reported error (24 - "
                "iSCSI login failed due to authorization failure)\n");
  }
  StartSession(target, portal, iface);
  return Exit(0, attempt + "Login to [...] successful.\n");
}

CommandResult FakeHost::SessionMode(const std::map<std::string, std::string>& opts) {
  if (opts.count("-r")) {
    int sid = 0;
    (void)absl::SimpleAtoi(opts.at("-r"), &sid);
    for (FakeSession& s : sessions_) {
      if (s.sid != sid) continue;
      auto it = targets_.find(s.target);
      if (opts.count("-R") && !s.disk.empty() && it != targets_.end()) {
        WriteFile(absl::StrCat("block/", s.disk, "/size"),
                  absl::StrCat(it->second.size_bytes / 512, "\n"));
      }
      return Exit(0, absl::StrCat("Rescanning session [sid: ", sid, "]\n"));
    }
    return Exit(21, "", "iscsiadm: No session found.\n");
  }
  if (sessions_.empty()) return Exit(21, "", "iscsiadm: No active sessions.\n");
  std::string out = "iSCSI Transport Class version 2.0-870\nversion 2.1.8\n";
  for (const FakeSession& s : sessions_) {
    const std::string state = sysfs_.ReadTrimmed(absl::StrCat("class/iscsi_session/session", s.sid,
                                                              "/state"))
                                  .value_or("Unknown");
    absl::StrAppend(&out, "Target: ", s.target, " (non-flash)\n", "\tCurrent Portal: ", s.portal,
                    ",1\n", "\tPersistent Portal: ", s.portal, ",1\n",
                    "\t\t**********\n\t\tInterface:\n\t\t**********\n", "\t\tIface Name: ",
                    s.iface, "\n\t\tIface Transport: tcp\n", "\t\tIface Initiatorname: ",
                    ifaces_.count(s.iface) ? ifaces_[s.iface] : "iqn.1993-08.org.debian:01:abc",
                    "\n\t\tIface IPaddress: 10.0.0.7\n\t\tIface HWaddress: default\n",
                    "\t\tIface Netdev: default\n\t\tSID: ", s.sid, "\n",
                    "\t\tiSCSI Connection State: LOGGED IN\n", "\t\tiSCSI Session State: ", state,
                    "\n\t\tInternal iscsid Session State: NO CHANGE\n",
                    "\t\t************************\n\t\tAttached SCSI devices:\n",
                    "\t\t************************\n", "\t\tHost Number: ", s.host,
                    "\tState: running\n");
    if (!s.disk.empty()) {
      auto it = targets_.find(s.target);
      absl::StrAppend(&out, "\t\tscsi", s.host, " Channel 00 Id 0 Lun: ",
                      it != targets_.end() ? it->second.lun : 0, "\n\t\t\tAttached scsi disk ",
                      s.disk, "\t\tState: running\n");
    }
  }
  return Exit(0, out);
}

}  // namespace iscsi_csi::testing
