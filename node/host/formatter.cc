#include "node/host/formatter.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

absl::Status ToolFailed(absl::string_view step, absl::string_view tool, const CommandResult& r) {
  return absl::InternalError(absl::StrCat(step, ": ", tool, " exited ", r.exit_code,
                                          Summarize(r.stderr_text).empty() ? "" : ": ",
                                          Summarize(r.stderr_text)));
}

}  // namespace

std::string DeviceContent::Describe() const {
  if (blank) return "nothing";
  if (!type.empty()) {
    return usage == "filesystem" || usage.empty() ? absl::StrCat(type, " filesystem")
                                                  : absl::StrCat(type, " (", usage, ")");
  }
  if (!pttype.empty()) return absl::StrCat(pttype, " partition table");
  return "an unknown signature";
}

std::map<std::string, std::string> ParseBlkidExport(absl::string_view text) {
  std::map<std::string, std::string> values;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    values[std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)));
  }
  return values;
}

Formatter::Formatter(CommandRunner& runner, absl::Duration timeout)
    : runner_(runner), timeout_(timeout) {}

absl::StatusOr<CommandResult> Formatter::Run(std::vector<Arg> argv) {
  Command command;
  command.argv = std::move(argv);
  command.timeout = timeout_;
  return runner_.Run(command);
}

absl::StatusOr<DeviceContent> Formatter::Probe(const std::string& device) {
  absl::StatusOr<CommandResult> result = Run({"blkid", "-p", "-o", "export", device});
  if (!result.ok()) return result.status();
  DeviceContent content;
  switch (result->exit_code) {
    case 0: {
      std::map<std::string, std::string> values = ParseBlkidExport(result->stdout_text);
      content.type = values["TYPE"];
      content.usage = values["USAGE"];
      content.pttype = values["PTTYPE"];
      content.blank = false;  // even a signature blkid cannot name is not "blank"
      return content;
    }
    case 2:
      content.blank = true;
      return content;
    case 8:
      return absl::FailedPreconditionError(absl::StrCat(
          "probe ", device, ": blkid found several conflicting signatures; the device is not "
          "blank and holds no single filesystem, inspect it by hand (wipefs -n)"));
    default:
      return ToolFailed(absl::StrCat("probe ", device), "blkid", *result);
  }
}

absl::Status Formatter::Mkfs(const std::string& device, const std::string& fs_type) {
  std::vector<Arg> argv;
  if (fs_type == "ext4") {
    argv = {"mkfs.ext4", "-F", "-q", device};
  } else if (fs_type == "xfs") {
    argv = {"mkfs.xfs", "-q", device};
  } else {
    return absl::InvalidArgumentError(absl::StrCat("cannot make a '", fs_type, "' filesystem"));
  }
  LOG(INFO) << "making an " << fs_type << " filesystem on " << device;
  absl::StatusOr<CommandResult> result = Run(std::move(argv));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return ToolFailed(absl::StrCat("mkfs ", fs_type, " on ", device), "mkfs." + fs_type, *result);
  }
  return absl::OkStatus();
}

absl::Status Formatter::Check(const std::string& device, const std::string& fs_type) {
  if (fs_type != "ext4") return absl::OkStatus();
  absl::StatusOr<CommandResult> result = Run({"fsck.ext4", "-p", device});
  if (!result.ok()) return result.status();
  switch (result->exit_code) {
    case 0:
      return absl::OkStatus();
    case 1:
    case 2:
      LOG(WARNING) << "fsck.ext4 -p corrected errors on " << device << " (exit "
                   << result->exit_code << ")";
      return absl::OkStatus();
    case 4:
      return absl::FailedPreconditionError(absl::StrCat(
          "check ", device, ": fsck.ext4 -p found errors it may not fix unattended (exit 4); "
          "run e2fsck on the volume by hand, then retry: ", Summarize(result->stdout_text)));
    default:
      return ToolFailed(absl::StrCat("check ", device), "fsck.ext4", *result);
  }
}

absl::Status Formatter::Grow(const std::string& device, const std::string& fs_type,
                             const std::string& mount_point) {
  std::vector<Arg> argv;
  std::string tool;
  if (fs_type == "ext4") {
    argv = {"resize2fs", device};
    tool = "resize2fs";
  } else if (fs_type == "xfs") {
    argv = {"xfs_growfs", mount_point};
    tool = "xfs_growfs";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("cannot grow a '", fs_type, "' filesystem"));
  }
  absl::StatusOr<CommandResult> result = Run(std::move(argv));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    if (absl::StrContains(result->stderr_text, "Permission denied") ||
        absl::StrContains(result->stderr_text, "Operation not permitted")) {
      // Online growth is an ioctl that needs CAP_SYS_RESOURCE.
      return absl::FailedPreconditionError(absl::StrCat(
          "grow ", fs_type, " on ", device, ": ", tool, " was not allowed to resize the mounted "
          "filesystem (the node plugin needs CAP_SYS_RESOURCE: run it privileged): ",
          Summarize(result->stderr_text)));
    }
    return ToolFailed(absl::StrCat("grow ", fs_type, " on ", device), tool, *result);
  }
  return absl::OkStatus();
}

absl::Status Formatter::FlushBuffers(const std::string& device) {
  absl::StatusOr<CommandResult> result = Run({"blockdev", "--flushbufs", device});
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return ToolFailed(absl::StrCat("flush ", device), "blockdev", *result);
  }
  return absl::OkStatus();
}

}  // namespace iscsi_csi::node
