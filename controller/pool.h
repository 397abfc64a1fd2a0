// pool: the backing files of volumes and snapshots under --data-dir:
//   <data-dir>/volumes/<volume id>.img      LUN 0 of the volume's target (sparse)
//   <data-dir>/snapshots/<snapshot id>.img  an independent point-in-time copy of a volume
// New files are written as <name>.tmp, fsynced, renamed into place and the directory fsynced,
// so a final name exists only for complete content (the crash ordering in catalog.cc relies
// on it). Copies use ioctl(FICLONE) (a reflink: instant, copy-on-write) where the pool
// filesystem supports it (xfs with reflink, btrfs) and otherwise a sparse copy that walks
// SEEK_DATA/SEEK_HOLE and leaves holes and all-zero blocks unallocated.
#ifndef ISCSI_CSI_CONTROLLER_POOL_H_
#define ISCSI_CSI_CONTROLLER_POOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi::controller {

enum class CopyMethod { kReflink, kSparseCopy };
absl::string_view CopyMethodName(CopyMethod method);

class Pool {
 public:
  explicit Pool(std::string data_dir);

  // Init creates volumes/ and snapshots/ when missing.
  absl::Status Init();

  std::string VolumePath(absl::string_view volume_id) const;
  std::string SnapshotPath(absl::string_view snapshot_id) const;
  static std::string TempPath(const std::string& path) { return path + ".tmp"; }
  const std::string& volumes_dir() const { return volumes_dir_; }
  const std::string& snapshots_dir() const { return snapshots_dir_; }

  // CreateSparse writes an empty (all-hole) file of `size_bytes` at `path` (via a .tmp and a
  // rename). An existing `path` is replaced.
  absl::Status CreateSparse(const std::string& path, uint64_t size_bytes) const;

  // Copy copies `from` to `path` (reflink when possible, else a sparse copy), grows the copy to
  // `size_bytes` when that is larger than `from`, and puts it in place atomically. `from` is
  // fdatasync'ed first, so the copy holds every write acknowledged before the call.
  // ResourceExhausted when the pool runs out of space.
  absl::StatusOr<CopyMethod> Copy(const std::string& from, const std::string& path,
                                  uint64_t size_bytes) const;

  // Grow extends `path` to `size_bytes` (no-op when already that large) and fsyncs it.
  absl::Status Grow(const std::string& path, uint64_t size_bytes) const;

  // Remove unlinks `path` (OK when missing) and fsyncs its directory.
  absl::Status Remove(const std::string& path) const;

  // FileSize: nullopt when `path` does not exist.
  absl::StatusOr<std::optional<uint64_t>> FileSize(const std::string& path) const;
  // AllocatedBytes: the bytes `path` occupies on disk (st_blocks * 512).
  absl::StatusOr<uint64_t> AllocatedBytes(const std::string& path) const;

  // FreeBytes: what an unprivileged writer may still allocate in the pool (statvfs f_bavail).
  absl::StatusOr<uint64_t> FreeBytes() const;
  // CapacityBytes: the size of the filesystem holding the pool (statvfs f_blocks).
  absl::StatusOr<uint64_t> CapacityBytes() const;

  // ListFiles: the names (not paths) of the regular files in `dir`.
  absl::StatusOr<std::vector<std::string>> ListFiles(const std::string& dir) const;

  // Test hook: never try FICLONE (to exercise the sparse copy on reflink filesystems).
  void DisableReflinkForTest() { reflink_enabled_ = false; }

 private:
  std::string data_dir_;
  std::string volumes_dir_;
  std::string snapshots_dir_;
  bool reflink_enabled_ = true;
};

// SparseCopy copies the data regions of `from_fd` (size `size`) into `to_fd` with pread/pwrite,
// skipping holes (SEEK_DATA/SEEK_HOLE) and all-zero blocks. `to_fd` must already be `size`
// long and empty (a hole). Exposed for tests.
absl::Status SparseCopy(int from_fd, int to_fd, uint64_t size);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_POOL_H_
