#include "node/host/mounter.h"

#include <filesystem>

namespace iscsi_csi::node {

std::string NormalizePath(absl::string_view path) {
  std::string normal = std::filesystem::path(std::string(path)).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

std::optional<MountInfo> FindMount(const std::vector<MountInfo>& mounts, absl::string_view path) {
  const std::string wanted = NormalizePath(path);
  std::optional<MountInfo> found;
  for (const MountInfo& info : mounts) {
    if (info.mount_point == wanted) found = info;
  }
  return found;
}

}  // namespace iscsi_csi::node
