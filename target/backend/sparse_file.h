// SparseFile: a BlockStore over one sparse regular file per LUN.
//
// The file is created at the requested size with ftruncate (never
// preallocated), opened O_RDWR|O_CLOEXEC, and read/written with pread/pwrite
// (each call atomic for its range). UNMAP punches holes with
// fallocate(PUNCH_HOLE|KEEP_SIZE); holes read as zeros, which is what lets the
// SCSI layer advertise thin provisioning with LBPRZ=1. FUA writes use
// pwritev2(RWF_DSYNC) and fall back to pwrite + fdatasync.
//
// ReadNoWait/WriteNoWait: on a memory-backed file (tmpfs, ramfs) every
// read and write is a memory copy, so they simply do the I/O; on other
// filesystems they use preadv2/pwritev2(RWF_NOWAIT), which succeed only when
// the page cache can serve the request at once (FUA writes and O_DIRECT files
// always wait).
#ifndef ISCSI_CSI_TARGET_BACKEND_SPARSE_FILE_H_
#define ISCSI_CSI_TARGET_BACKEND_SPARSE_FILE_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "target/backend/block_store.h"

namespace iscsi_csi::target::backend {

struct SparseFileOptions {
  // Create the file at `size_if_created` bytes when it does not exist.
  bool create_if_missing = true;
  // O_DIRECT: callers must then pass 4 KiB-aligned buffers, offsets and
  // lengths. Off by default; the SCSI layer does not align its buffers yet.
  bool direct_io = false;
};

class SparseFile final : public BlockStore {
 public:
  // Open opens (or creates, per options) the backing file at `path`. An
  // existing file keeps its size; `size_if_created` is used only on creation.
  static absl::StatusOr<std::unique_ptr<SparseFile>> Open(
      const std::string& path, uint64_t size_if_created,
      const SparseFileOptions& options = {});

  ~SparseFile() override;
  SparseFile(const SparseFile&) = delete;
  SparseFile& operator=(const SparseFile&) = delete;

  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override;
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data,
                     bool fua) override;
  absl::Status ReadNoWait(uint64_t offset, absl::Span<uint8_t> out) override;
  absl::Status WriteNoWait(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override;
  absl::Status Flush() override;
  absl::Status Unmap(uint64_t offset, uint64_t length) override;
  uint64_t Size() const override;
  absl::Status Resize(uint64_t new_size) override;
  absl::StatusOr<MappingRun> GetMapping(uint64_t offset) override;

  const std::string& path() const { return path_; }
  // True when the file lives on tmpfs or ramfs (no device under it).
  bool memory_backed() const { return memory_backed_; }

 private:
  SparseFile(std::string path, int fd, uint64_t size, bool memory_backed, bool direct_io);

  absl::Status CheckRange(uint64_t offset, uint64_t length,
                          absl::string_view op) const;
  absl::Status WriteAll(uint64_t offset, absl::Span<const uint8_t> data,
                        bool dsync);
  absl::Status WriteZeros(uint64_t offset, uint64_t length);
  // The result of a preadv2/pwritev2(RWF_NOWAIT) call that returned `n` for `wanted` bytes
  // (errno intact): OK when complete; Unavailable when it would wait, was short, or the
  // filesystem refuses RWF_NOWAIT (then `supported` is cleared); else the errno's status.
  absl::Status NoWaitOutcome(ssize_t n, size_t wanted, std::atomic<bool>& supported,
                             absl::string_view call, uint64_t offset) const;

  const std::string path_;
  const int fd_;
  const bool memory_backed_;
  absl::Mutex resize_mu_;  // serialises Resize (ftruncate + size_)
  std::atomic<uint64_t> size_;
  // Cleared after the kernel rejects RWF_DSYNC or PUNCH_HOLE once.
  std::atomic<bool> rwf_dsync_supported_{true};
  std::atomic<bool> punch_hole_supported_{true};
  // Cleared after the filesystem rejects RWF_NOWAIT for reads or for writes once
  // (false from the start with O_DIRECT).
  std::atomic<bool> nowait_read_supported_;
  std::atomic<bool> nowait_write_supported_;
};

}  // namespace iscsi_csi::target::backend

#endif  // ISCSI_CSI_TARGET_BACKEND_SPARSE_FILE_H_
