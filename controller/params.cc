#include "controller/params.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iscsi_csi::controller {
namespace {

using AccessMode = csi::v1::VolumeCapability::AccessMode;

bool IsMetadataKey(absl::string_view key) { return absl::StartsWith(key, "csi.storage.k8s.io/"); }

uint64_t RoundUp(uint64_t value, uint64_t unit) {
  return value % unit == 0 ? value : value + (unit - value % unit);
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// CSI Topology: "63 characters or less, begin and end with an alphanumeric character, with
// '-', '_', '.', or alphanumerics in between" (key names and values alike).
bool IsTopologyWord(absl::string_view word) {
  if (word.empty() || word.size() > 63) return false;
  if (!IsAlnum(word.front()) || !IsAlnum(word.back())) return false;
  for (char c : word) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// The optional key prefix follows DNS notation in lower case (RFC 1035 §2.3.1).
bool IsTopologyPrefix(absl::string_view prefix) {
  if (prefix.empty() || prefix.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(prefix.front()) || !lower_alnum(prefix.back())) return false;
  for (char c : prefix) {
    if (!lower_alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

ParameterMap ToParameterMap(const google::protobuf::Map<std::string, std::string>& map) {
  return ParameterMap(map.begin(), map.end());
}

absl::StatusOr<VolumeParameters> ParseVolumeParameters(const ParameterMap& parameters) {
  VolumeParameters out;
  for (const auto& [key, value] : parameters) {
    if (key == kParamFsType) {
      if (value != "ext4" && value != "xfs") {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters: ", kParamFsType, " must be ext4 or xfs, not '", value, "'"));
      }
      out.fs_type = value;
    } else if (key == kParamBlockSize) {
      uint32_t size = 0;
      if (!absl::SimpleAtoi(value, &size) || (size != 512 && size != 4096)) {
        return absl::InvalidArgumentError(absl::StrCat("parameters: ", kParamBlockSize,
                                                       " must be 512 or 4096, not '", value, "'"));
      }
      out.block_size = size;
    } else if (key == kParamPvcName || key == kParamPvcNamespace || key == kParamPvName) {
      // Provisioner metadata: accepted, kept with the volume, not interpreted.
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: unknown key '", key, "' (known: ", kParamFsType, ", ", kParamBlockSize,
          ", and the csi-provisioner's csi.storage.k8s.io/pvc/name, pvc/namespace, pv/name)"));
    }
  }
  return out;
}

absl::Status ParseSnapshotParameters(const ParameterMap& parameters) {
  for (const auto& [key, value] : parameters) {
    if (key != kParamSnapshotName && key != kParamSnapshotNamespace &&
        key != kParamSnapshotContentName) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: unknown key '", key,
          "' (snapshots take only the csi-snapshotter's csi.storage.k8s.io/ metadata)"));
    }
  }
  return absl::OkStatus();
}

ParameterMap WithoutMetadata(const ParameterMap& parameters) {
  ParameterMap out;
  for (const auto& [key, value] : parameters) {
    if (!IsMetadataKey(key)) out.emplace(key, value);
  }
  return out;
}

absl::Status CheckName(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is longer than ", kMaxNameBytes, " bytes"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    // Banned: U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F-U+009F.
    const bool banned_ascii =
        (c <= 0x08) || c == 0x0b || c == 0x0c || (c >= 0x0e && c <= 0x1f) || c == 0x7f;
    const bool banned_c1 = c == 0xc2 && i + 1 < name.size() &&
                           static_cast<unsigned char>(name[i + 1]) >= 0x80 &&
                           static_cast<unsigned char>(name[i + 1]) <= 0x9f;
    if (banned_ascii || banned_c1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " contains a control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCapacityRange(const csi::v1::CapacityRange& range, absl::string_view field) {
  if (range.required_bytes() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".required_bytes is negative"));
  }
  if (range.limit_bytes() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".limit_bytes is negative"));
  }
  if (range.limit_bytes() > 0 && range.required_bytes() > range.limit_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".required_bytes (", range.required_bytes(),
                     ") is larger than limit_bytes (", range.limit_bytes(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ChooseCapacity(const csi::v1::CapacityRange* range, uint32_t block_size,
                                        uint64_t minimum_bytes, uint64_t default_bytes) {
  const uint64_t minimum = RoundUp(minimum_bytes, block_size);
  if (range == nullptr || (range->required_bytes() == 0 && range->limit_bytes() == 0)) {
    return std::max(minimum, RoundUp(default_bytes, block_size));
  }
  if (absl::Status st = CheckCapacityRange(*range, "capacity_range"); !st.ok()) return st;
  const uint64_t limit = static_cast<uint64_t>(range->limit_bytes());  // 0: none
  uint64_t size = 0;
  if (range->required_bytes() > 0) {
    size = std::max(minimum, RoundUp(static_cast<uint64_t>(range->required_bytes()), block_size));
  } else {
    // Only a limit: the default size, or the largest block multiple under the limit.
    size = std::max(minimum,
                    std::min(RoundUp(default_bytes, block_size), limit / block_size * block_size));
  }
  if (size == 0) size = block_size;
  if (limit > 0 && size > limit) {
    if (minimum > limit) {
      return absl::OutOfRangeError(absl::StrCat("capacity_range: the source holds ", minimum,
                                                " bytes, more than limit_bytes ", limit));
    }
    return absl::OutOfRangeError(absl::StrCat(
        "capacity_range: ", size, " bytes (required_bytes rounded up to the block size ",
        block_size, ") exceed limit_bytes ", limit));
  }
  return size;
}

bool CapacityFits(const csi::v1::CapacityRange* range, uint64_t capacity) {
  if (range == nullptr) return true;
  if (range->required_bytes() > 0 && capacity < static_cast<uint64_t>(range->required_bytes())) {
    return false;
  }
  if (range->limit_bytes() > 0 && capacity > static_cast<uint64_t>(range->limit_bytes())) {
    return false;
  }
  return true;
}

absl::Status CheckCapabilityWellFormed(const csi::v1::VolumeCapability& capability,
                                       absl::string_view field) {
  if (!capability.has_access_mode()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".access_mode is required"));
  }
  const AccessMode::Mode mode = capability.access_mode().mode();
  if (mode == AccessMode::UNKNOWN || !AccessMode::Mode_IsValid(mode)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".access_mode.mode is unknown"));
  }
  if (capability.access_type_case() == csi::v1::VolumeCapability::ACCESS_TYPE_NOT_SET) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must set block or mount"));
  }
  return absl::OkStatus();
}

absl::Status CheckCapabilitySupported(const csi::v1::VolumeCapability& capability,
                                      absl::string_view field) {
  if (absl::Status st = CheckCapabilityWellFormed(capability, field); !st.ok()) return st;
  const AccessMode::Mode mode = capability.access_mode().mode();
  const bool block = capability.has_block();
  if (mode == AccessMode::MULTI_NODE_SINGLE_WRITER) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ".access_mode MULTI_NODE_SINGLE_WRITER is not supported (the target cannot "
                     "limit writers per node)"));
  }
  if (mode == AccessMode::MULTI_NODE_MULTI_WRITER && !block) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": MULTI_NODE_MULTI_WRITER needs a block volume (ext4 and xfs are not cluster "
                     "filesystems)"));
  }
  if (!block) {
    const std::string& fs_type = capability.mount().fs_type();
    if (!fs_type.empty() && fs_type != "ext4" && fs_type != "xfs") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".mount.fs_type must be ext4 or xfs, not '", fs_type, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CapabilitySummary> SummarizeCapabilities(
    const google::protobuf::RepeatedPtrField<csi::v1::VolumeCapability>& capabilities,
    absl::string_view field) {
  if (capabilities.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  CapabilitySummary summary;
  for (int i = 0; i < capabilities.size(); ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    if (absl::Status st = CheckCapabilitySupported(capabilities[i], item); !st.ok()) return st;
    if (capabilities[i].has_block()) {
      summary.access_types |= kAccessBlock;
    } else {
      summary.access_types |= kAccessMount;
      const std::string& fs_type = capabilities[i].mount().fs_type();
      if (!fs_type.empty()) {
        if (!summary.mount_fs_type.empty() && summary.mount_fs_type != fs_type) {
          return absl::InvalidArgumentError(absl::StrCat(item, ".mount.fs_type '", fs_type,
                                                         "' differs from '", summary.mount_fs_type,
                                                         "' asked for by another capability"));
        }
        summary.mount_fs_type = fs_type;
      }
    }
  }
  return summary;
}

bool AccessModeIsSingleNode(AccessMode::Mode mode) {
  return mode == AccessMode::SINGLE_NODE_WRITER || mode == AccessMode::SINGLE_NODE_READER_ONLY ||
         mode == AccessMode::SINGLE_NODE_SINGLE_WRITER ||
         mode == AccessMode::SINGLE_NODE_MULTI_WRITER;
}

bool AccessModeIsReadOnly(AccessMode::Mode mode) {
  return mode == AccessMode::SINGLE_NODE_READER_ONLY || mode == AccessMode::MULTI_NODE_READER_ONLY;
}

absl::StatusOr<Topology> ParseTopology(const std::vector<std::string>& items) {
  Topology out;
  std::set<std::string> lower_keys;
  for (const std::string& item : items) {
    const size_t equals = item.find('=');
    if (equals == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", item, "' is not KEY=VALUE"));
    }
    const std::string key = item.substr(0, equals);
    const std::string value = item.substr(equals + 1);
    const size_t slash = key.find('/');
    const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
    if (slash != std::string::npos && !IsTopologyPrefix(key.substr(0, slash))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key '", key, "': the prefix must be a lower-case DNS name of at most 63 characters"));
    }
    if (!IsTopologyWord(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key,
                       "': the name must be 1 to 63 characters, alphanumeric at both ends, "
                       "with only '-', '_', '.' in between"));
    }
    if (!IsTopologyWord(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "value '", value, "' of key '", key,
          "' must be 1 to 63 characters, alphanumeric at both ends, with only '-', '_', '.' in "
          "between"));
    }
    if (!lower_keys.insert(absl::AsciiStrToLower(key)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "' is given twice (keys are case-insensitive)"));
    }
    out.emplace(key, value);
  }
  return out;
}

bool TopologyCovers(const Topology& ours, const csi::v1::Topology& other) {
  for (const auto& [key, value] : ours) {
    bool found = false;
    for (const auto& [other_key, other_value] : other.segments()) {
      if (absl::EqualsIgnoreCase(key, other_key)) {
        if (other_value != value) return false;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

absl::Status CheckAccessibility(const Topology& ours,
                                const csi::v1::TopologyRequirement& requirement) {
  if (ours.empty() || requirement.requisite().empty()) return absl::OkStatus();
  for (const csi::v1::Topology& requisite : requirement.requisite()) {
    if (TopologyCovers(ours, requisite)) return absl::OkStatus();
  }
  std::vector<std::string> segments;
  for (const auto& [key, value] : ours) segments.push_back(absl::StrCat(key, "=", value));
  return absl::ResourceExhaustedError(absl::StrCat(
      "accessibility_requirements: volumes of this controller are reachable only from ",
      absl::StrJoin(segments, ","), ", which no requisite topology lies in"));
}

}  // namespace iscsi_csi::controller
