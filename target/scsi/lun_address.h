// 8-byte LUN fields (SAM-5 4.7) and REPORT LUNS parameter data (SPC-4 6.33).
//
// A LUN field is carried as a uint64_t whose most significant byte is byte 0
// of the field, so StoreBe64 gives the wire bytes. Single-level peripheral
// (LUN < 256) and flat (LUN < 16384) addressing, like LIO and the Linux
// initiator's scsilun_to_int.
#ifndef ISCSI_CSI_TARGET_SCSI_LUN_ADDRESS_H_
#define ISCSI_CSI_TARGET_SCSI_LUN_ADDRESS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"

namespace iscsi_csi::target::scsi {

inline constexpr uint16_t kMaxFlatLun = 0x3fff;

// EncodeLun returns the LUN field for `lun`: peripheral device addressing
// below 256, flat space addressing up to kMaxFlatLun, nullopt above.
std::optional<uint64_t> EncodeLun(uint32_t lun);

// DecodeLun returns the LUN number of a single-level peripheral or flat
// space LUN field (bytes 2..7 zero), or nullopt for anything else.
std::optional<uint16_t> DecodeLun(uint64_t lun_field);

// EncodeReportLunsData builds the full REPORT LUNS parameter data (8-byte
// header with LUN LIST LENGTH, then one 8-byte field per LUN). Callers
// truncate to the allocation length.
std::vector<uint8_t> EncodeReportLunsData(absl::Span<const uint64_t> lun_fields);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_LUN_ADDRESS_H_
