#include "node/host/mountinfo.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace iscsi_csi::node {

bool HasOption(absl::string_view options, absl::string_view option) {
  for (absl::string_view item : absl::StrSplit(options, ',')) {
    if (item == option) return true;
  }
  return false;
}

bool MountInfo::ReadOnly() const {
  return HasOption(mount_options, "ro") || HasOption(super_options, "ro");
}

std::string UnescapeMountPath(absl::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
    if (escaped[i] == '\\' && i + 3 < escaped.size()) {
      if (is_octal(escaped[i + 1]) && is_octal(escaped[i + 2]) && is_octal(escaped[i + 3])) {
        int value = (escaped[i + 1] - '0') * 64 + (escaped[i + 2] - '0') * 8 + (escaped[i + 3] - '0');
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(escaped[i]);
  }
  return out;
}

absl::StatusOr<std::vector<MountInfo>> ParseMountInfo(absl::string_view text) {
  std::vector<MountInfo> mounts;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    // Optional fields (zero or more) end at the "-" separator.
    size_t separator = 6;
    while (separator < fields.size() && fields[separator] != "-") ++separator;
    if (fields.size() < 9 || separator + 2 >= fields.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mountinfo line ", line_number, " is malformed: '", line, "'"));
    }
    MountInfo info;
    if (!absl::SimpleAtoi(fields[0], &info.mount_id) ||
        !absl::SimpleAtoi(fields[1], &info.parent_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mountinfo line ", line_number, " has bad mount ids: '", line, "'"));
    }
    info.device_number = std::string(fields[2]);
    info.root = UnescapeMountPath(fields[3]);
    info.mount_point = UnescapeMountPath(fields[4]);
    info.mount_options = std::string(fields[5]);
    info.fs_type = std::string(fields[separator + 1]);
    info.source = UnescapeMountPath(fields[separator + 2]);
    if (separator + 3 < fields.size()) info.super_options = std::string(fields[separator + 3]);
    mounts.push_back(std::move(info));
  }
  return mounts;
}

}  // namespace iscsi_csi::node
