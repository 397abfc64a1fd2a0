// Atomic small-file replacement (see atomic_file.h). Crash ordering: the
// data is durable in the temporary file before the rename makes it visible,
// and the directory fsync makes the rename durable before we report OK.
#include "target/backend/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "target/backend/block_store.h"

namespace iscsi_csi::target::backend {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status FsyncDirectory(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open directory ", dir));
  const int rc = ::fsync(fd);
  const int error_number = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(error_number, absl::StrCat("fsync directory ", dir));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::Span<const uint8_t> data) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create ", tmp));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error_number = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(error_number, absl::StrCat("write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int error_number = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus(error_number, absl::StrCat("fsync ", tmp));
  }
  if (::close(fd) != 0) {
    const int error_number = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(error_number, absl::StrCat("close ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(error_number, absl::StrCat("rename ", tmp, " to ", path));
  }
  return FsyncDirectory(path);
}

absl::StatusOr<std::optional<std::vector<uint8_t>>> ReadSmallFile(const std::string& path,
                                                                  size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::vector<uint8_t>>();
    return ErrnoStatus(errno, absl::StrCat("open ", path));
  }
  std::vector<uint8_t> out;
  uint8_t buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error_number = errno;
      ::close(fd);
      return ErrnoStatus(error_number, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
    if (out.size() > max_bytes) {
      ::close(fd);
      return absl::DataLossError(absl::StrCat("read ", path, ": larger than ", max_bytes,
                                              " bytes"));
    }
  }
  ::close(fd);
  return std::optional<std::vector<uint8_t>>(std::move(out));
}

absl::Status RemoveFileDurably(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("unlink ", path));
  }
  return FsyncDirectory(path);
}

}  // namespace iscsi_csi::target::backend
