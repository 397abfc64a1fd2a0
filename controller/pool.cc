#include "controller/pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace iscsi_csi::controller {
namespace {

constexpr size_t kCopyChunk = 1 << 20;
constexpr size_t kZeroCheckBlock = 4096;

absl::Status ErrnoStatus(int error, absl::string_view context) {
  std::string message = absl::StrCat(context, ": ", strerror(error));
  switch (error) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    default:
      return absl::InternalError(message);
  }
}

// Fd closes its descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Close reports close(2) errors (they can carry write-back failures).
  absl::Status Close(absl::string_view context) {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus(errno, context);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

absl::Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok()) return ErrnoStatus(errno, absl::StrCat("open directory ", dir));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fsync directory ", dir));
  return absl::OkStatus();
}

absl::Status EnsureDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("create directory ", dir));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", dir));
  if (!S_ISDIR(st.st_mode))
    return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
  return absl::OkStatus();
}

// FinishFile fsyncs `fd`, closes it, renames `tmp` to `path` and fsyncs the directory.
absl::Status FinishFile(Fd& fd, const std::string& tmp, const std::string& path) {
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fsync ", tmp));
  if (absl::Status st = fd.Close(absl::StrCat("close ", tmp)); !st.ok()) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  return FsyncDir(DirOf(path));
}

bool AllZero(const char* data, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

absl::Status WriteAll(int fd, const char* data, size_t length, uint64_t offset) {
  while (length > 0) {
    const ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write at ", offset));
    }
    data += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view CopyMethodName(CopyMethod method) {
  return method == CopyMethod::kReflink ? "reflink" : "sparse copy";
}

absl::Status SparseCopy(int from_fd, int to_fd, uint64_t size) {
  std::unique_ptr<char[]> buffer(new char[kCopyChunk]);
  uint64_t offset = 0;
  while (offset < size) {
    off_t data = ::lseek(from_fd, static_cast<off_t>(offset), SEEK_DATA);
    off_t hole = 0;
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      if (errno != EINVAL && errno != EOPNOTSUPP) return ErrnoStatus(errno, "seek data");
      // No SEEK_DATA support: treat the rest as data (zero blocks are still skipped).
      data = static_cast<off_t>(offset);
      hole = static_cast<off_t>(size);
    } else {
      hole = ::lseek(from_fd, data, SEEK_HOLE);
      if (hole < 0) return ErrnoStatus(errno, "seek hole");
    }
    const uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
    for (uint64_t position = static_cast<uint64_t>(data); position < end;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kCopyChunk, end - position));
      ssize_t got = ::pread(from_fd, buffer.get(), want, static_cast<off_t>(position));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrCat("read at ", position));
      }
      if (got == 0) break;  // the source shrank under us; the rest stays a hole
      // Write the non-zero runs only, so zero blocks stay unallocated in the copy.
      size_t run_start = 0;
      bool in_run = false;
      for (size_t block = 0; block < static_cast<size_t>(got); block += kZeroCheckBlock) {
        const size_t length = std::min(kZeroCheckBlock, static_cast<size_t>(got) - block);
        const bool zero = AllZero(buffer.get() + block, length);
        if (!zero && !in_run) {
          run_start = block;
          in_run = true;
        } else if (zero && in_run) {
          if (absl::Status st = WriteAll(to_fd, buffer.get() + run_start, block - run_start,
                                         position + run_start);
              !st.ok()) {
            return st;
          }
          in_run = false;
        }
      }
      if (in_run) {
        if (absl::Status st = WriteAll(to_fd, buffer.get() + run_start,
                                       static_cast<size_t>(got) - run_start, position + run_start);
            !st.ok()) {
          return st;
        }
      }
      position += static_cast<uint64_t>(got);
    }
    offset = end;
  }
  return absl::OkStatus();
}

Pool::Pool(std::string data_dir)
    : data_dir_(std::move(data_dir)),
      volumes_dir_(absl::StrCat(data_dir_, "/volumes")),
      snapshots_dir_(absl::StrCat(data_dir_, "/snapshots")) {}

absl::Status Pool::Init() {
  if (absl::Status st = EnsureDir(volumes_dir_); !st.ok()) return st;
  return EnsureDir(snapshots_dir_);
}

std::string Pool::VolumePath(absl::string_view volume_id) const {
  return absl::StrCat(volumes_dir_, "/", volume_id, ".img");
}

std::string Pool::SnapshotPath(absl::string_view snapshot_id) const {
  return absl::StrCat(snapshots_dir_, "/", snapshot_id, ".img");
}

absl::Status Pool::CreateSparse(const std::string& path, uint64_t size_bytes) const {
  const std::string tmp = TempPath(path);
  ::unlink(tmp.c_str());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.ok()) return ErrnoStatus(errno, absl::StrCat("create ", tmp));
  absl::Status st;
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) {
    st = ErrnoStatus(errno, absl::StrCat("size ", tmp, " to ", size_bytes));
  } else {
    st = FinishFile(fd, tmp, path);
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

absl::StatusOr<CopyMethod> Pool::Copy(const std::string& from, const std::string& path,
                                      uint64_t size_bytes) const {
  Fd source(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!source.ok()) return ErrnoStatus(errno, absl::StrCat("open ", from));
  // Writes the target acknowledged may still sit in the page cache; the copy must see them
  // and, for FICLONE, they must be on disk first (filesystems flush the range themselves, but
  // a fdatasync makes the ordering explicit and reports write-back errors here).
  if (::fdatasync(source.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fdatasync ", from));
  struct stat st {};
  if (::fstat(source.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", from));
  const uint64_t source_size = static_cast<uint64_t>(st.st_size);

  const std::string tmp = TempPath(path);
  ::unlink(tmp.c_str());
  Fd copy(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!copy.ok()) return ErrnoStatus(errno, absl::StrCat("create ", tmp));

  auto fail = [&tmp](absl::Status status) {
    ::unlink(tmp.c_str());
    return status;
  };
  CopyMethod method = CopyMethod::kSparseCopy;
  if (reflink_enabled_ && ::ioctl(copy.get(), FICLONE, source.get()) == 0) {
    method = CopyMethod::kReflink;
  } else if (reflink_enabled_ && errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV &&
             errno != EINVAL && errno != ENOSYS && errno != EPERM) {
    return fail(ErrnoStatus(errno, absl::StrCat("clone ", from, " to ", tmp)));
  } else {
    if (::ftruncate(copy.get(), static_cast<off_t>(source_size)) != 0) {
      return fail(ErrnoStatus(errno, absl::StrCat("size ", tmp)));
    }
    if (absl::Status status = SparseCopy(source.get(), copy.get(), source_size); !status.ok()) {
      return fail(absl::Status(status.code(),
                               absl::StrCat("copy ", from, " to ", tmp, ": ", status.message())));
    }
  }
  if (size_bytes > source_size && ::ftruncate(copy.get(), static_cast<off_t>(size_bytes)) != 0) {
    return fail(ErrnoStatus(errno, absl::StrCat("grow ", tmp, " to ", size_bytes)));
  }
  if (absl::Status status = FinishFile(copy, tmp, path); !status.ok()) return fail(status);
  VLOG(1) << "copied " << from << " to " << path << " by " << CopyMethodName(method);
  return method;
}

absl::Status Pool::Grow(const std::string& path, uint64_t size_bytes) const {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.ok()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (static_cast<uint64_t>(st.st_size) >= size_bytes) return absl::OkStatus();
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("grow ", path, " to ", size_bytes));
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fsync ", path));
  return fd.Close(absl::StrCat("close ", path));
}

absl::Status Pool::Remove(const std::string& path) const {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("remove ", path));
  }
  return FsyncDir(DirOf(path));
}

absl::StatusOr<std::optional<uint64_t>> Pool::FileSize(const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<uint64_t> Pool::AllocatedBytes(const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

absl::StatusOr<uint64_t> Pool::FreeBytes() const {
  struct statvfs st {};
  if (::statvfs(data_dir_.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("statvfs ", data_dir_));
  }
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

absl::StatusOr<uint64_t> Pool::CapacityBytes() const {
  struct statvfs st {};
  if (::statvfs(data_dir_.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("statvfs ", data_dir_));
  }
  return static_cast<uint64_t>(st.f_blocks) * static_cast<uint64_t>(st.f_frsize);
}

absl::StatusOr<std::vector<std::string>> Pool::ListFiles(const std::string& dir) const {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), &::closedir);
  if (handle == nullptr) return ErrnoStatus(errno, absl::StrCat("list ", dir));
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(handle.get())) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(handle.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace iscsi_csi::controller
