// FakeHost: a small, state-holding model of one Kubernetes node for the node plugin's unit tests:
// open-iscsi (iface and node records, sessions, CHAP checks, exit codes as iscsiadm gives them),
// the kernel's sysfs tree for sessions and disks (real files under a temporary directory, so
// node::Sysfs reads it unchanged), blkid/mkfs/fsck/resize tools, and a mount table. Everything
// the plugin runs goes through the FakeCommandRunner, so tests read its call log.
#ifndef ISCSI_CSI_TESTS_FAKES_FAKE_HOST_H_
#define ISCSI_CSI_TESTS_FAKES_FAKE_HOST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "node/host/sysfs.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/fakes/fake_mounter.h"

namespace iscsi_csi::testing {

// A target the fake network serves.
struct FakeTarget {
  std::string iqn;
  std::string wwn;  // 32 hex digits reported in VPD 0x83
  int lun = 0;
  uint64_t size_bytes = uint64_t{1} << 30;
  std::string chap_user, chap_secret;      // required when chap_user is set
  std::string mutual_user, mutual_secret;  // required when mutual_user is set
  std::set<std::string> unreachable_portals;  // "10.0.0.9:3260"
  int disk_after_sleeps = 0;  // the disk appears after the plugin has slept this often
  bool never_attach = false;
  std::string initial_content;  // "", "ext4", "xfs", "gpt", "ambivalent"
};

struct FakeNodeRecord {
  std::string target, portal, iface;
  std::map<std::string, std::string> settings;
};

struct FakeSession {
  int sid = 0;
  int host = 0;
  std::string target, portal, iface;
  std::string disk;  // "" until attached
  int pending_sleeps = 0;
};

// BuildVpd83 returns a Device Identification page with the NAA designator `naa_hex` for the
// logical unit plus target-port designators, as a target reports it.
std::string BuildVpd83(const std::string& naa_hex);

class FakeHost {
 public:
  FakeHost();
  ~FakeHost();

  const std::string& root() const { return root_; }
  std::string sys_root() const { return root_ + "/sys"; }
  std::string dev_root() const { return root_ + "/dev"; }

  FakeCommandRunner& runner() { return runner_; }
  FakeMounter& mounter() { return mounter_; }
  FakeClock& clock() { return clock_; }
  const node::Sysfs& sysfs() const { return sysfs_; }

  void AddTarget(FakeTarget target);
  // UpdateTarget changes a target in place (its size for expansion, its CHAP secret, ...).
  void UpdateTarget(const std::string& iqn, const std::function<void(FakeTarget&)>& change);

  // Seeding leftovers, as if a previous plugin process (or an admin) had made them.
  void AddIface(const std::string& name, const std::string& initiator);
  void AddNodeRecord(const FakeNodeRecord& record);
  // AddSession logs in without iscsiadm (the disk attaches at once); returns the sid.
  int AddSession(const std::string& target, const std::string& portal, const std::string& iface);

  // Faults.
  void DropSession(int sid);   // the session vanishes (node record stays)
  void SetSessionState(int sid, const std::string& state);
  void RemoveDisk(const std::string& disk);
  void SetDiskState(const std::string& disk, const std::string& state);
  void set_fsck_exit(int code);
  void set_flush_exit(int code);

  // Observations.
  std::vector<FakeNodeRecord> node_records();
  std::optional<FakeNodeRecord> NodeRecord(const std::string& target, const std::string& portal);
  std::vector<FakeSession> sessions();
  std::optional<FakeSession> SessionFor(const std::string& target);
  std::string IfaceInitiator(const std::string& iface);
  // Content: what blkid would find on `disk` ("" blank, "ext4", ...).
  std::string Content(const std::string& disk);
  std::string DeviceNumber(const std::string& disk);
  int LoginCalls() { return runner_.Count({"iscsiadm", "--login"}); }

 private:
  absl::StatusOr<node::CommandResult> Iscsiadm(const std::vector<std::string>& argv);
  node::CommandResult IfaceMode(const std::map<std::string, std::string>& opts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  node::CommandResult NodeMode(const std::map<std::string, std::string>& opts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  node::CommandResult SessionMode(const std::map<std::string, std::string>& opts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  node::CommandResult Login(const std::map<std::string, std::string>& opts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int StartSession(const std::string& target, const std::string& portal, const std::string& iface)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AttachDisk(FakeSession& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string& ContentOf(const std::string& disk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSession(int sid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnSleep();
  std::string DiskArg(const std::string& path);
  void WriteFile(const std::string& relative, const std::string& content);
  void Install();

  const std::string root_;
  FakeCommandRunner runner_;
  FakeMounter mounter_;
  FakeClock clock_;
  node::Sysfs sysfs_;

  absl::Mutex mu_;
  std::map<std::string, FakeTarget> targets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> ifaces_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeNodeRecord> records_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeSession> sessions_ ABSL_GUARDED_BY(mu_);
  // What is written on each logical unit (by target IQN) outlives sessions and kernel names.
  std::map<std::string, std::string> content_ ABSL_GUARDED_BY(mu_);      // iqn -> fs
  std::map<std::string, std::string> disk_target_ ABSL_GUARDED_BY(mu_);  // disk -> iqn
  std::map<std::string, std::string> vpd_ ABSL_GUARDED_BY(mu_);      // disk -> page 0x83
  int next_sid_ ABSL_GUARDED_BY(mu_) = 1;
  int next_host_ ABSL_GUARDED_BY(mu_) = 2;
  int next_disk_ ABSL_GUARDED_BY(mu_) = 1;  // sdb
  int fsck_exit_ ABSL_GUARDED_BY(mu_) = 0;
  int flush_exit_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_FAKES_FAKE_HOST_H_
