#include "tests/fakes/fake_mounter.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iscsi_csi::testing {

void FakeMounter::set_device_number_of(std::function<std::string(const std::string&)> fn) {
  absl::MutexLock lock(&mu_);
  device_number_of_ = std::move(fn);
}

void FakeMounter::set_busy(const std::string& path, bool busy) {
  absl::MutexLock lock(&mu_);
  if (busy) {
    busy_.insert(node::NormalizePath(path));
  } else {
    busy_.erase(node::NormalizePath(path));
  }
}

void FakeMounter::AddMount(node::MountInfo info) {
  absl::MutexLock lock(&mu_);
  info.mount_id = next_id_++;
  info.mount_point = node::NormalizePath(info.mount_point);
  table_.push_back(std::move(info));
}

void FakeMounter::SetSuperOptions(const std::string& path, const std::string& options) {
  absl::MutexLock lock(&mu_);
  for (node::MountInfo& m : table_) {
    if (m.mount_point == node::NormalizePath(path)) m.super_options = options;
  }
}

void FakeMounter::Forget(const std::string& path) {
  absl::MutexLock lock(&mu_);
  std::erase_if(table_, [&](const node::MountInfo& m) {
    return m.mount_point == node::NormalizePath(path);
  });
}

absl::Status FakeMounter::Mount(const std::string& source, const std::string& target,
                                const std::string& fs_type,
                                const std::vector<std::string>& options) {
  absl::MutexLock lock(&mu_);
  if (!std::filesystem::is_directory(target)) {
    return absl::NotFoundError(absl::StrCat("fake mount: ", target, " is not a directory"));
  }
  node::MountInfo info;
  info.mount_id = next_id_++;
  info.device_number = device_number_of_ ? device_number_of_(source) : "0:0";
  info.root = "/";
  info.mount_point = node::NormalizePath(target);
  bool ro = false;
  for (const std::string& o : options) ro = ro || o == "ro";
  info.mount_options = ro ? "ro,relatime" : "rw,relatime";
  info.fs_type = fs_type;
  info.source = source;
  info.super_options = absl::StrCat(ro ? "ro" : "rw", options.empty() ? "" : ",",
                                    absl::StrJoin(options, ","));
  table_.push_back(std::move(info));
  return absl::OkStatus();
}

absl::Status FakeMounter::BindMount(const std::string& source, const std::string& target,
                                    bool read_only) {
  absl::MutexLock lock(&mu_);
  if (!std::filesystem::exists(target)) {
    return absl::NotFoundError(absl::StrCat("fake bind: ", target, " does not exist"));
  }
  node::MountInfo info;
  const std::string from = node::NormalizePath(source);
  bool found = false;
  for (const node::MountInfo& m : table_) {
    if (m.mount_point == from) {
      info = m;
      found = true;
    }
  }
  if (!found) {
    // A device node on devtmpfs.
    info.device_number = "0:5";
    info.root = absl::StrCat("/", std::filesystem::path(source).filename().string());
    info.fs_type = "devtmpfs";
    info.source = "udev";
    info.super_options = "rw,size=4096k";
  }
  info.mount_id = next_id_++;
  info.mount_point = node::NormalizePath(target);
  info.mount_options = read_only ? "ro,relatime" : "rw,relatime";
  table_.push_back(std::move(info));
  return absl::OkStatus();
}

absl::Status FakeMounter::Unmount(const std::string& target) {
  absl::MutexLock lock(&mu_);
  ++unmount_calls_;
  const std::string path = node::NormalizePath(target);
  for (auto it = table_.rbegin(); it != table_.rend(); ++it) {
    if (it->mount_point != path) continue;
    if (busy_.count(path) > 0) {
      return absl::FailedPreconditionError(absl::StrCat("unmount ", path, ": busy"));
    }
    table_.erase(std::next(it).base());
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<node::MountInfo>> FakeMounter::List() { return table(); }

std::vector<node::MountInfo> FakeMounter::table() {
  absl::MutexLock lock(&mu_);
  return table_;
}

std::optional<node::MountInfo> FakeMounter::At(const std::string& path) {
  return node::FindMount(table(), path);
}

int FakeMounter::unmount_calls() {
  absl::MutexLock lock(&mu_);
  return unmount_calls_;
}

}  // namespace iscsi_csi::testing
