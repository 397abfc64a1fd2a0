// UnitInfo: a snapshot of what a logical unit reports about itself (INQUIRY,
// VPD pages, MODE SENSE, READ CAPACITY). Built by LogicalUnit per command so
// the encoders in spc.cc/sbc.cc are pure functions over it.
#ifndef ISCSI_CSI_TARGET_SCSI_UNIT_INFO_H_
#define ISCSI_CSI_TARGET_SCSI_UNIT_INFO_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace iscsi_csi::target::scsi {

struct UnitInfo {
  // Identity (standard INQUIRY, VPD 0x80 and 0x83).
  std::string_view vendor;    // <= 8 ASCII chars, space padded on the wire
  std::string_view product;   // <= 16
  std::string_view revision;  // <= 4
  std::string_view serial;    // VPD 0x80 PRODUCT SERIAL NUMBER
  std::array<uint8_t, 16> naa_wwn{};  // NAA 6 IEEE Registered Extended
  uint16_t transport_version_descriptor = 0;  // 0: none (iSCSI is 0x0960)

  // Geometry and limits (READ CAPACITY, Block Limits VPD, block descriptors).
  uint32_t block_size = 512;
  uint64_t capacity_blocks = 0;
  bool read_only = false;
  uint32_t max_transfer_blocks = 0;
  uint32_t optimal_transfer_blocks = 0;
  uint32_t max_write_same_blocks = 0;
  uint32_t max_unmap_lba_count = 0;
  uint32_t max_unmap_descriptors = 0;
  uint32_t optimal_unmap_granularity = 1;

  uint32_t max_compare_and_write_blocks = 0;

  // Mode parameters: current values (Control D_SENSE and TAS, Caching WCE)
  // and the defaults MODE SENSE reports with PC=10b.
  bool descriptor_sense = false;  // D_SENSE
  bool task_aborted_status = true;  // TAS
  bool write_cache_enabled = true;  // WCE
  bool default_descriptor_sense = false;
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_UNIT_INFO_H_
