// FakeMounter: a mount table in memory that behaves like the kernel's for what the stager looks
// at: a filesystem mount gets the device's major:minor and root "/"; a bind of a mount point
// copies that entry; a bind of a device node shows devtmpfs with root "/<disk>"; busy paths refuse
// to unmount.
#ifndef ISCSI_CSI_TESTS_FAKES_FAKE_MOUNTER_H_
#define ISCSI_CSI_TESTS_FAKES_FAKE_MOUNTER_H_

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "node/host/mounter.h"

namespace iscsi_csi::testing {

class FakeMounter final : public node::Mounter {
 public:
  // Maps a device path ("/x/dev/sdb") to its "major:minor"; unset -> "0:0".
  void set_device_number_of(std::function<std::string(const std::string&)> fn);
  void set_busy(const std::string& path, bool busy);
  // AddMount seeds the table (leftovers, foreign mounts).
  void AddMount(node::MountInfo info);
  // SetSuperOptions changes the superblock options of every mount at `path` ("ro" after errors).
  void SetSuperOptions(const std::string& path, const std::string& options);
  // Forget removes every mount at `path` without an Unmount call (a reboot, a lazy unmount).
  void Forget(const std::string& path);

  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fs_type, const std::vector<std::string>& options) override;
  absl::Status BindMount(const std::string& source, const std::string& target,
                         bool read_only) override;
  absl::Status Unmount(const std::string& target) override;
  absl::StatusOr<std::vector<node::MountInfo>> List() override;

  std::vector<node::MountInfo> table();
  std::optional<node::MountInfo> At(const std::string& path);
  int unmount_calls();

 private:
  absl::Mutex mu_;
  std::vector<node::MountInfo> table_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);
  std::function<std::string(const std::string&)> device_number_of_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 100;
  int unmount_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_FAKES_FAKE_MOUNTER_H_
