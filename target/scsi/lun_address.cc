// LUN field encodings (SAM-5 4.7.x) and REPORT LUNS data (SPC-4 6.33).
#include "target/scsi/lun_address.h"

#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {

std::optional<uint64_t> EncodeLun(uint32_t lun) {
  if (lun < 256) return uint64_t{lun} << 48;  // 00b peripheral, bus 0
  if (lun <= kMaxFlatLun) return (uint64_t{0x4000} | lun) << 48;  // 01b flat
  return std::nullopt;
}

std::optional<uint16_t> DecodeLun(uint64_t lun_field) {
  if ((lun_field & 0x0000ffffffffffffull) != 0) return std::nullopt;
  const uint16_t first_level = static_cast<uint16_t>(lun_field >> 48);
  switch (first_level >> 14) {
    case 0:  // peripheral: bus identifier (byte 0 bits 5-0) must be 0
      if ((first_level & 0x3f00) != 0) return std::nullopt;
      return first_level & 0xff;
    case 1:  // flat space
      return first_level & 0x3fff;
    default:
      return std::nullopt;
  }
}

std::vector<uint8_t> EncodeReportLunsData(absl::Span<const uint64_t> lun_fields) {
  std::vector<uint8_t> data(8 + 8 * lun_fields.size(), 0);
  StoreBe32(&data[0], static_cast<uint32_t>(8 * lun_fields.size()));
  for (size_t i = 0; i < lun_fields.size(); ++i) {
    StoreBe64(&data[8 + 8 * i], lun_fields[i]);
  }
  return data;
}

}  // namespace iscsi_csi::target::scsi
