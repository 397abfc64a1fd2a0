// vpd: the Device Identification VPD page (0x83, SPC-4 7.8.6) as Linux exposes it in
// /sys/block/<disk>/device/vpd_pg83 (or `sg_vpd --page=di --raw`). The node plugin trusts a
// disk only when its logical-unit NAA designator equals the volume's WWN: a by-path link or a
// kernel name alone can point at the wrong LUN after a target or session change.
#ifndef ISCSI_CSI_NODE_HOST_VPD_H_
#define ISCSI_CSI_NODE_HOST_VPD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi::node {

// One designation descriptor (SPC-4 table 459).
struct Designator {
  int protocol_identifier = 0;
  int code_set = 0;         // 1 binary, 2 ASCII, 3 UTF-8
  bool piv = false;
  int association = 0;      // 0 logical unit, 1 target port, 2 target device
  int designator_type = 0;  // 1 T10 vendor, 2 EUI-64, 3 NAA, 8 SCSI name string, ...
  std::string value;        // raw designator bytes
};

inline constexpr int kAssociationLogicalUnit = 0;
inline constexpr int kDesignatorNaa = 3;

// ParseVpdPage83 decodes the page header and every descriptor. InvalidArgument when the page is
// not 0x83 or a descriptor runs past the end.
absl::StatusOr<std::vector<Designator>> ParseVpdPage83(absl::string_view page);

// LogicalUnitNaa returns the lower-case hex of the first NAA designator whose association is the
// logical unit; NotFound when the page has none.
absl::StatusOr<std::string> LogicalUnitNaa(absl::string_view page);

// NormalizeWwn accepts "6001405f...", "naa.6001405f..." or "0x6001405f..." (16 or 32 hex
// digits, any case) and returns the lower-case hex digits; InvalidArgument otherwise.
absl::StatusOr<std::string> NormalizeWwn(absl::string_view wwn);

std::string HexEncode(absl::string_view bytes);
// HexDecode ignores whitespace between digit pairs (captured test files are wrapped).
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_VPD_H_
