// SPC-4 response data for the primary commands a logical unit answers
// without touching the backing store: standard INQUIRY (6.6.2), the VPD pages
// (7.8: 0x00, 0x80, 0x83, and the SBC-3 6.6 pages 0xB0, 0xB1, 0xB2),
// MODE SENSE(6/10) (6.11, 6.12) and MODE SELECT(6/10) (6.9, 6.10) with the
// Caching (SBC-3 6.4.5), Control (SPC-4 7.5.8) and Informational Exceptions
// Control (7.5.12) pages, and a minimal LOG SENSE (6.8).
//
// Each encoder returns the complete data; the caller truncates it to the
// allocation length and the expected transfer length.
#ifndef ISCSI_CSI_TARGET_SCSI_SPC_H_
#define ISCSI_CSI_TARGET_SCSI_SPC_H_

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "absl/types/span.h"
#include "target/scsi/cdb.h"
#include "target/scsi/sense.h"
#include "target/scsi/task.h"
#include "target/scsi/unit_info.h"

namespace iscsi_csi::target::scsi {

// Data-in bytes, or the CHECK CONDITION to answer instead.
using DataOrCheckCondition = std::variant<std::vector<uint8_t>, CheckCondition>;

// Version descriptors (SPC-4 table 146 / E.18), "no version claimed" codes.
inline constexpr uint16_t kVersionSam5 = 0x00a0;
inline constexpr uint16_t kVersionSpc4 = 0x0460;
inline constexpr uint16_t kVersionSbc3 = 0x04c0;

// VPD page codes.
inline constexpr uint8_t kVpdSupportedPages = 0x00;
inline constexpr uint8_t kVpdUnitSerialNumber = 0x80;
inline constexpr uint8_t kVpdDeviceIdentification = 0x83;
inline constexpr uint8_t kVpdBlockLimits = 0xb0;
inline constexpr uint8_t kVpdBlockDeviceCharacteristics = 0xb1;
inline constexpr uint8_t kVpdLogicalBlockProvisioning = 0xb2;

// Mode page codes.
inline constexpr uint8_t kModePageCaching = 0x08;
inline constexpr uint8_t kModePageControl = 0x0a;
inline constexpr uint8_t kModePageInformationalExceptions = 0x1c;
inline constexpr uint8_t kModePageAll = 0x3f;

inline constexpr size_t kStandardInquiryLength = 96;

// EncodeStandardInquiry returns the 96-byte standard INQUIRY data.
std::vector<uint8_t> EncodeStandardInquiry(const UnitInfo& info);

// EncodeVpdPage returns VPD page `page_code`, or INVALID FIELD IN CDB (byte
// 2) for a page we do not have. `port` may be null (no port designators).
DataOrCheckCondition EncodeVpdPage(uint8_t page_code, const UnitInfo& info,
                                   const TargetPortIdentity* port);

// EncodeModeSense returns MODE SENSE(6) or (10) data for `command`, with
// current, changeable (a mask of what MODE SELECT may change) or default
// values per the PC field.
DataOrCheckCondition EncodeModeSense(const PreparedCommand& command,
                                     const UnitInfo& info);

// The mode parameters a MODE SELECT asks to change. The changeable fields
// are Control D_SENSE and Caching WCE (WCE=0 makes every write durable
// before GOOD: write-through, honestly kept); everything else must be sent
// back with its current value.
struct ModeSelectChanges {
  std::optional<bool> descriptor_sense;
  std::optional<bool> write_cache_enabled;
};
using ModeSelectResult = std::variant<ModeSelectChanges, CheckCondition>;

// ParseModeSelectParameters validates the whole MODE SELECT(6/10)
// parameter list (SPC-4 7.5) in `data_out` before anything changes:
// PARAMETER LIST LENGTH ERROR for truncated headers/descriptors/pages,
// INVALID FIELD IN PARAMETER LIST with a field pointer for unknown pages,
// wrong page lengths, block descriptors that disagree with the medium and
// non-changeable fields that differ from their current values.
ModeSelectResult ParseModeSelectParameters(const PreparedCommand& command,
                                           absl::Span<const uint8_t> data_out,
                                           const UnitInfo& info);

// EncodeLogSense returns LOG SENSE data (SPC-4 6.8): only the Supported Log
// Pages page (00h) and the Supported Log Pages and Subpages page (00h/FFh).
DataOrCheckCondition EncodeLogSense(const PreparedCommand& command);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_SPC_H_
