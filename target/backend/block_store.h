// BlockStore: the byte-addressed backing store under one SCSI logical unit.
//
// The SCSI layer (target/scsi) speaks only this interface. Implementations:
// SparseFile (one sparse file per LUN, sparse_file.h) and test decorators.
// Errors are absl::Status values that keep the errno they came from (see
// ErrnoFromStatus) so the SCSI layer can translate them in one place
// (ENOSPC -> SPACE ALLOCATION FAILED WRITE PROTECT, EIO -> MEDIUM ERROR).
//
// Thread safety: every method may be called from many threads at once.
// Read/Write of overlapping ranges are not ordered against each other; the
// caller (the logical unit's task-attribute gate) owns SCSI ordering.
#ifndef ISCSI_CSI_TARGET_BACKEND_BLOCK_STORE_H_
#define ISCSI_CSI_TARGET_BACKEND_BLOCK_STORE_H_

#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace iscsi_csi::target::backend {

// One run of equally-provisioned bytes, as reported by BlockStore::GetMapping.
struct MappingRun {
  bool mapped = true;   // false: a hole (reads as zeros, no space used)
  uint64_t length = 0;  // bytes from the queried offset with the same state
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Read fills `out` with the bytes at [offset, offset + out.size()): on OK
  // every byte of `out` has been written (callers hand in uninitialised
  // buffers). Holes read as zeros. Returns OutOfRange when the range ends past Size().
  virtual absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) = 0;

  // Write stores `data` at `offset`. With `fua` the bytes are durable (on
  // stable storage) when this returns OK. Returns OutOfRange past Size().
  virtual absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data,
                             bool fua) = 0;

  // ReadNoWait and WriteNoWait do what Read and Write do, but only when that needs no
  // wait for a device: the bytes are in memory (a page-cache hit, or a memory-backed
  // file). Otherwise they return Unavailable and the caller redoes the whole operation
  // with Read or Write on a thread that may block (a write may have stored part of
  // `data` by then; the retry stores the same bytes). They let an event loop serve
  // cached I/O without handing it to a worker thread. The defaults always say
  // Unavailable.
  virtual absl::Status ReadNoWait(uint64_t /*offset*/, absl::Span<uint8_t> /*out*/) {
    return absl::UnavailableError("read would wait");
  }
  virtual absl::Status WriteNoWait(uint64_t /*offset*/, absl::Span<const uint8_t> /*data*/,
                                   bool /*fua*/) {
    return absl::UnavailableError("write would wait");
  }

  // Flush makes every completed Write durable (fdatasync).
  virtual absl::Status Flush() = 0;

  // Unmap deallocates [offset, offset + length); the range reads as zeros
  // afterwards and the size is unchanged. Partial blocks are zeroed.
  virtual absl::Status Unmap(uint64_t offset, uint64_t length) = 0;

  // Size is the current size in bytes.
  virtual uint64_t Size() const = 0;

  // Resize grows the store to `new_size` bytes (new bytes read as zeros and
  // use no space). Shrinking returns FailedPrecondition.
  virtual absl::Status Resize(uint64_t new_size) = 0;

  // GetMapping reports whether `offset` is mapped and how far that state
  // extends (for GET LBA STATUS). The default says "everything is mapped".
  virtual absl::StatusOr<MappingRun> GetMapping(uint64_t offset) {
    if (offset >= Size()) return absl::OutOfRangeError("mapping past end");
    return MappingRun{true, Size() - offset};
  }
};

// ErrnoStatus builds a Status for a failed system call: the code follows
// absl's errno mapping and the errno itself rides along as a payload.
// `what` names the object and step ("pwrite /data/vol-1 at 4096").
absl::Status ErrnoStatus(int error_number, absl::string_view what);

// ErrnoFromStatus returns the errno stored by ErrnoStatus, if any.
std::optional<int> ErrnoFromStatus(const absl::Status& status);

}  // namespace iscsi_csi::target::backend

#endif  // ISCSI_CSI_TARGET_BACKEND_BLOCK_STORE_H_
