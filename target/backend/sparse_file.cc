// SparseFile: pread/pwrite/fallocate over one sparse file (see sparse_file.h).
#include "target/backend/sparse_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace iscsi_csi::target::backend {
namespace {

// Retries a system call returning -1/errno while it fails with EINTR.
template <typename F>
auto RetryOnEintr(F f) {
  while (true) {
    auto result = f();
    if (result != -1 || errno != EINTR) return result;
  }
}

constexpr uint64_t kZeroChunkBytes = 1 << 20;

// True when `fd` is on a filesystem whose pages are memory only (tmpfs, ramfs).
bool OnMemoryFilesystem(int fd) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) return false;
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

// True for the errors with which preadv2/pwritev2 refuse RWF_NOWAIT outright.
bool NoWaitUnsupported(int error_number) {
  return error_number == EOPNOTSUPP || error_number == EINVAL;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SparseFile>> SparseFile::Open(const std::string& path,
                                                             uint64_t size_if_created,
                                                             const SparseFileOptions& options) {
  if (size_if_created > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("open ", path, ": size ", size_if_created, " too large"));
  }
  int flags = O_RDWR | O_CLOEXEC;
  if (options.direct_io) flags |= O_DIRECT;
  bool created = false;
  int fd = -1;
  if (options.create_if_missing) {
    fd = RetryOnEintr([&] { return ::open(path.c_str(), flags | O_CREAT | O_EXCL, 0600); });
    if (fd >= 0) {
      created = true;
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("create ", path));
    }
  }
  if (fd < 0) {
    fd = RetryOnEintr([&] { return ::open(path.c_str(), flags); });
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  }
  if (created) {
    if (RetryOnEintr([&] { return ::ftruncate(fd, static_cast<off_t>(size_if_created)); }) != 0) {
      const int error_number = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return ErrnoStatus(error_number, absl::StrCat("ftruncate ", path));
    }
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error_number = errno;
    ::close(fd);
    return ErrnoStatus(error_number, absl::StrCat("fstat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("open ", path, ": not a regular file"));
  }
  const bool memory_backed = !options.direct_io && OnMemoryFilesystem(fd);
  return std::unique_ptr<SparseFile>(new SparseFile(path, fd, static_cast<uint64_t>(st.st_size),
                                                    memory_backed, options.direct_io));
}

SparseFile::SparseFile(std::string path, int fd, uint64_t size, bool memory_backed, bool direct_io)
    : path_(std::move(path)),
      fd_(fd),
      memory_backed_(memory_backed),
      size_(size),
      // O_DIRECT I/O always goes to the device (RWF_NOWAIT then only spares the wait for
      // a request slot), so it never runs without waiting.
      nowait_read_supported_(!direct_io),
      nowait_write_supported_(!direct_io) {}

SparseFile::~SparseFile() { ::close(fd_); }

absl::Status SparseFile::CheckRange(uint64_t offset, uint64_t length, absl::string_view op) const {
  const uint64_t size = size_.load(std::memory_order_acquire);
  if (offset > size || length > size - offset) {
    return absl::OutOfRangeError(
        absl::StrCat(op, " ", path_, ": range ", offset, "+", length, " past size ", size));
  }
  return absl::OkStatus();
}

absl::Status SparseFile::Read(uint64_t offset, absl::Span<uint8_t> out) {
  if (absl::Status s = CheckRange(offset, out.size(), "read"); !s.ok()) return s;
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = RetryOnEintr([&] {
      return ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    });
    if (n < 0) {
      return ErrnoStatus(errno, absl::StrCat("pread ", path_, " at ", offset + done));
    }
    if (n == 0) {
      // The file is shorter than our recorded size (truncated behind our
      // back): what is missing reads as zeros, like a hole.
      std::memset(out.data() + done, 0, out.size() - done);
      break;
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SparseFile::ReadNoWait(uint64_t offset, absl::Span<uint8_t> out) {
  if (memory_backed_) return Read(offset, out);
  if (absl::Status s = CheckRange(offset, out.size(), "read"); !s.ok()) return s;
  if (!nowait_read_supported_.load(std::memory_order_relaxed)) {
    return absl::UnavailableError("read would wait");
  }
  struct iovec iov;
  iov.iov_base = out.data();
  iov.iov_len = out.size();
  const ssize_t n =
      RetryOnEintr([&] { return ::preadv2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT); });
  // Not all of it cached, or EOF came early: the blocking path finishes the job.
  return NoWaitOutcome(n, out.size(), nowait_read_supported_, "pread", offset);
}

absl::Status SparseFile::WriteNoWait(uint64_t offset, absl::Span<const uint8_t> data, bool fua) {
  if (memory_backed_) return Write(offset, data, fua);
  if (absl::Status s = CheckRange(offset, data.size(), "write"); !s.ok()) return s;
  if (fua || !nowait_write_supported_.load(std::memory_order_relaxed)) {
    return absl::UnavailableError("write would wait");
  }
  struct iovec iov;
  iov.iov_base = const_cast<uint8_t*>(data.data());
  iov.iov_len = data.size();
  const ssize_t n = RetryOnEintr(
      [&] { return ::pwritev2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT); });
  return NoWaitOutcome(n, data.size(), nowait_write_supported_, "pwrite", offset);
}

absl::Status SparseFile::NoWaitOutcome(ssize_t n, size_t wanted, std::atomic<bool>& supported,
                                       absl::string_view call, uint64_t offset) const {
  if (n == static_cast<ssize_t>(wanted)) return absl::OkStatus();
  const int error_number = n < 0 ? errno : 0;
  if (NoWaitUnsupported(error_number)) {
    supported.store(false, std::memory_order_relaxed);
  } else if (error_number != 0 && error_number != EAGAIN) {
    return ErrnoStatus(error_number, absl::StrCat(call, " ", path_, " at ", offset));
  }
  return absl::UnavailableError(absl::StrCat(call, " would wait"));
}

absl::Status SparseFile::WriteAll(uint64_t offset, absl::Span<const uint8_t> data, bool dsync) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n;
    if (dsync) {
      struct iovec iov;
      iov.iov_base = const_cast<uint8_t*>(data.data() + done);
      iov.iov_len = data.size() - done;
      n = RetryOnEintr(
          [&] { return ::pwritev2(fd_, &iov, 1, static_cast<off_t>(offset + done), RWF_DSYNC); });
      if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL) && done == 0) {
        // Kernel or filesystem without RWF_DSYNC: write, then fdatasync.
        rwf_dsync_supported_.store(false, std::memory_order_relaxed);
        if (absl::Status s = WriteAll(offset, data, false); !s.ok()) return s;
        return Flush();
      }
    } else {
      n = RetryOnEintr([&] {
        return ::pwrite(fd_, data.data() + done, data.size() - done,
                        static_cast<off_t>(offset + done));
      });
    }
    if (n < 0) {
      return ErrnoStatus(errno, absl::StrCat("pwrite ", path_, " at ", offset + done));
    }
    if (n == 0) {
      return ErrnoStatus(EIO,
                         absl::StrCat("pwrite ", path_, " at ", offset + done, " wrote nothing"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SparseFile::Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) {
  if (absl::Status s = CheckRange(offset, data.size(), "write"); !s.ok()) return s;
  if (!fua) return WriteAll(offset, data, false);
  if (rwf_dsync_supported_.load(std::memory_order_relaxed)) {
    return WriteAll(offset, data, true);
  }
  if (absl::Status s = WriteAll(offset, data, false); !s.ok()) return s;
  return Flush();
}

absl::Status SparseFile::Flush() {
  if (RetryOnEintr([&] { return ::fdatasync(fd_); }) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fdatasync ", path_));
  }
  return absl::OkStatus();
}

absl::Status SparseFile::WriteZeros(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> zeros(std::min(length, kZeroChunkBytes), 0);
  while (length > 0) {
    const uint64_t n = std::min<uint64_t>(length, zeros.size());
    if (absl::Status s = WriteAll(offset, absl::MakeConstSpan(zeros.data(), n), false); !s.ok()) {
      return s;
    }
    offset += n;
    length -= n;
  }
  return absl::OkStatus();
}

absl::Status SparseFile::Unmap(uint64_t offset, uint64_t length) {
  if (absl::Status s = CheckRange(offset, length, "unmap"); !s.ok()) return s;
  if (length == 0) return absl::OkStatus();
  if (punch_hole_supported_.load(std::memory_order_relaxed)) {
    const int rc = RetryOnEintr([&] {
      return ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(offset), static_cast<off_t>(length));
    });
    if (rc == 0) return absl::OkStatus();
    if (errno != EOPNOTSUPP) {
      return ErrnoStatus(errno, absl::StrCat("fallocate punch ", path_, " at ", offset));
    }
    punch_hole_supported_.store(false, std::memory_order_relaxed);
  }
  // No hole punching here: keep the promise that the range reads as zeros.
  return WriteZeros(offset, length);
}

uint64_t SparseFile::Size() const { return size_.load(std::memory_order_acquire); }

absl::Status SparseFile::Resize(uint64_t new_size) {
  if (new_size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("resize ", path_, ": size ", new_size, " too large"));
  }
  absl::MutexLock lock(&resize_mu_);
  const uint64_t old_size = size_.load(std::memory_order_acquire);
  if (new_size < old_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "resize ", path_, ": shrinking from ", old_size, " to ", new_size, " is not supported"));
  }
  if (new_size == old_size) return absl::OkStatus();
  if (RetryOnEintr([&] { return ::ftruncate(fd_, static_cast<off_t>(new_size)); }) != 0) {
    return ErrnoStatus(errno, absl::StrCat("ftruncate ", path_, " to ", new_size));
  }
  size_.store(new_size, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<MappingRun> SparseFile::GetMapping(uint64_t offset) {
  const uint64_t size = Size();
  if (offset >= size) {
    return absl::OutOfRangeError(absl::StrCat("mapping ", path_, " at ", offset));
  }
  const off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return MappingRun{false, size - offset};  // hole to EOF
    return ErrnoStatus(errno, absl::StrCat("lseek data ", path_));
  }
  if (static_cast<uint64_t>(data) > offset) {
    return MappingRun{false, std::min<uint64_t>(data, size) - offset};
  }
  const off_t hole = ::lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0) return ErrnoStatus(errno, absl::StrCat("lseek hole ", path_));
  return MappingRun{true, std::min<uint64_t>(hole, size) - offset};
}

}  // namespace iscsi_csi::target::backend
