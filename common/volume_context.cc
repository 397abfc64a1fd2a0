#include "common/volume_context.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi {

absl::StatusOr<std::string> InitiatorIqnForNode(absl::string_view node_id) {
  if (node_id.empty()) return absl::InvalidArgumentError("node id is empty");
  std::string lower = absl::AsciiStrToLower(node_id);
  for (char c : lower) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "node id '", node_id, "' has '", std::string(1, c),
          "', which an iSCSI name cannot carry (use letters, digits, '-', '.', ':')"));
    }
  }
  std::string iqn = absl::StrCat(kIqnPrefix, ":node.", lower);
  if (iqn.size() > 223) {  // RFC 7143 §4.2.7.1: iSCSI names are at most 223 bytes
    return absl::InvalidArgumentError(absl::StrCat("node id '", node_id, "' is too long"));
  }
  return iqn;
}

std::string TargetIqnForVolume(absl::string_view volume_id) {
  return absl::StrCat(kIqnPrefix, ":", volume_id);
}

}  // namespace iscsi_csi
