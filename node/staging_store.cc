#include "node/staging_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EscapeVolumeId(absl::string_view volume_id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < volume_id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(volume_id[i]);
    if (absl::ascii_isalnum(c) || c == '-' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<std::string> UnescapeVolumeId(absl::string_view file_name) {
  std::string out;
  for (size_t i = 0; i < file_name.size(); ++i) {
    if (file_name[i] != '%') {
      out.push_back(file_name[i]);
      continue;
    }
    if (i + 2 >= file_name.size() || !absl::ascii_isxdigit(static_cast<unsigned char>(file_name[i + 1])) ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(file_name[i + 2]))) {
      return absl::InvalidArgumentError(absl::StrCat("bad escape in '", file_name, "'"));
    }
    out.push_back(static_cast<char>(std::stoi(std::string(file_name.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

StagingStore::StagingStore(std::string dir) : dir_(std::move(dir)) {}

std::string StagingStore::PathFor(absl::string_view volume_id) const {
  return absl::StrCat(dir_, "/", EscapeVolumeId(volume_id));
}

absl::Status StagingStore::SyncDir() const {
  int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", dir_);
  int rc = fsync(fd);
  int error = errno;
  close(fd);
  if (rc != 0) {
    errno = error;
    return ErrnoError("fsync", dir_);
  }
  return absl::OkStatus();
}

absl::Status StagingStore::Init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("create ", dir_, ": ", ec.message()));
  if (access(dir_.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("staging directory ", dir_, " is not writable: ", strerror(errno)));
  }
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, ".") && absl::EndsWith(name, ".tmp")) {
      LOG(INFO) << "removing " << it->path().string() << ", left by an interrupted write";
      std::filesystem::remove(it->path(), ec);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<StagingRecord>> StagingStore::Read(absl::string_view volume_id) const {
  const std::string path = PathFor(volume_id);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::optional<StagingRecord>();
    return ErrnoError("open", path);
  }
  std::stringstream bytes;
  bytes << in.rdbuf();
  StagingRecord record;
  if (!record.ParseFromString(bytes.str()) || record.volume_id() != volume_id) {
    return absl::InternalError(absl::StrCat(
        "staging record ", path, " is corrupt or belongs to another volume; move it away after "
        "checking the volume's mounts and iSCSI sessions by hand"));
  }
  return std::optional<StagingRecord>(std::move(record));
}

absl::Status StagingStore::Write(StagingRecord record) const {
  record.set_version(1);
  record.set_updated_unix_seconds(absl::ToUnixSeconds(absl::Now()));
  const std::string path = PathFor(record.volume_id());
  const std::string tmp = absl::StrCat(dir_, "/.", EscapeVolumeId(record.volume_id()), ".tmp");
  std::string bytes;
  if (!record.SerializeToString(&bytes)) return absl::InternalError("serialize staging record");
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("create", tmp);
  absl::Status written = WriteAll(fd, bytes, tmp);
  if (written.ok() && fsync(fd) != 0) written = ErrnoError("fsync", tmp);
  close(fd);
  if (written.ok() && rename(tmp.c_str(), path.c_str()) != 0) written = ErrnoError("rename", tmp);
  if (!written.ok()) {
    unlink(tmp.c_str());
    return written;
  }
  return SyncDir();
}

absl::Status StagingStore::Delete(absl::string_view volume_id) const {
  const std::string path = PathFor(volume_id);
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("remove", path);
  }
  return SyncDir();
}

absl::StatusOr<std::vector<StagingRecord>> StagingStore::List() const {
  std::vector<StagingRecord> records;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, ".")) continue;
    absl::StatusOr<std::string> volume_id = UnescapeVolumeId(name);
    if (!volume_id.ok()) {
      LOG(WARNING) << "ignoring " << it->path().string() << ": not a staging record name";
      continue;
    }
    absl::StatusOr<std::optional<StagingRecord>> record = Read(*volume_id);
    if (!record.ok()) return record.status();
    if (record->has_value()) records.push_back(**std::move(record));
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", dir_, ": ", ec.message()));
  std::sort(records.begin(), records.end(), [](const StagingRecord& a, const StagingRecord& b) {
    return a.volume_id() < b.volume_id();
  });
  return records;
}

}  // namespace iscsi_csi::node
