// SPC-4 INQUIRY, VPD and MODE SENSE data (see spc.h). Byte offsets are
// commented with the table they come from; nothing here is iSCSI-specific.
#include "target/scsi/spc.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {
namespace {

constexpr uint8_t kPeripheralDirectAccess = 0x00;  // qualifier 000b, type 00h

// Copies `text` into a left-aligned, space-padded ASCII field (SPC-4 4.4.1).
void PutAscii(uint8_t* field, size_t width, std::string_view text) {
  std::fill(field, field + width, ' ');
  const size_t n = std::min(width, text.size());
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    // Only printable ASCII (20h-7Eh) is allowed in these fields.
    field[i] = (c >= 0x20 && c <= 0x7e) ? static_cast<uint8_t>(c) : ' ';
  }
}

std::vector<uint8_t> VpdHeader(uint8_t page_code) {
  return {kPeripheralDirectAccess, page_code, 0, 0};
}

void FinishVpd(std::vector<uint8_t>& page) {
  StoreBe16(&page[2], static_cast<uint16_t>(page.size() - 4));
}

// SPC-4 7.8.6: designation descriptor header + designator.
void AppendDesignator(std::vector<uint8_t>& page, uint8_t protocol_identifier,
                      uint8_t code_set, bool piv, uint8_t association,
                      uint8_t designator_type,
                      const std::vector<uint8_t>& designator) {
  page.push_back(static_cast<uint8_t>((protocol_identifier << 4) | code_set));
  page.push_back(static_cast<uint8_t>((piv ? 0x80 : 0) | (association << 4) |
                                      designator_type));
  page.push_back(0);
  page.push_back(static_cast<uint8_t>(designator.size()));
  page.insert(page.end(), designator.begin(), designator.end());
}

// SCSI name string designator (SPC-4 7.8.6.11): UTF-8, null terminated,
// null padded to a multiple of 4. The one-byte DESIGNATOR LENGTH caps it at
// 252 bytes (251 characters and the terminator).
std::vector<uint8_t> ScsiNameString(std::string_view name) {
  constexpr size_t kMaxNameBytes = 252;
  std::vector<uint8_t> out(name.begin(),
                           name.begin() + std::min<size_t>(name.size(), kMaxNameBytes - 1));
  out.push_back(0);
  while (out.size() % 4 != 0) out.push_back(0);
  return out;
}

constexpr uint8_t kCodeSetBinary = 0x1;
constexpr uint8_t kCodeSetUtf8 = 0x3;
constexpr uint8_t kAssociationLogicalUnit = 0x0;
constexpr uint8_t kAssociationTargetPort = 0x1;
constexpr uint8_t kAssociationTargetDevice = 0x2;
constexpr uint8_t kDesignatorNaa = 0x3;
constexpr uint8_t kDesignatorRelativeTargetPort = 0x4;
constexpr uint8_t kDesignatorTargetPortGroup = 0x5;
constexpr uint8_t kDesignatorScsiNameString = 0x8;

std::vector<uint8_t> EncodeDeviceIdentification(const UnitInfo& info,
                                                 const TargetPortIdentity* port) {
  std::vector<uint8_t> page = VpdHeader(kVpdDeviceIdentification);
  // NAA IEEE Registered Extended (NAA 6), 16 bytes, logical unit (7.8.6.6.5).
  AppendDesignator(page, 0, kCodeSetBinary, false, kAssociationLogicalUnit,
                   kDesignatorNaa,
                   std::vector<uint8_t>(info.naa_wwn.begin(), info.naa_wwn.end()));
  if (port != nullptr) {
    const uint8_t proto = port->protocol_identifier & 0x0f;
    // Relative target port identifier (7.8.6.7): 2 reserved bytes + id.
    std::vector<uint8_t> rtpi(4, 0);
    StoreBe16(&rtpi[2], port->relative_target_port_id);
    AppendDesignator(page, proto, kCodeSetBinary, true, kAssociationTargetPort,
                     kDesignatorRelativeTargetPort, rtpi);
    if (port->target_port_group != 0) {
      // Target port group (7.8.6.8).
      std::vector<uint8_t> tpg(4, 0);
      StoreBe16(&tpg[2], port->target_port_group);
      AppendDesignator(page, proto, kCodeSetBinary, true, kAssociationTargetPort,
                       kDesignatorTargetPortGroup, tpg);
    }
    if (!port->target_port_name.empty()) {
      AppendDesignator(page, proto, kCodeSetUtf8, true, kAssociationTargetPort,
                       kDesignatorScsiNameString,
                       ScsiNameString(port->target_port_name));
    }
    if (!port->target_device_name.empty()) {
      AppendDesignator(page, proto, kCodeSetUtf8, true, kAssociationTargetDevice,
                       kDesignatorScsiNameString,
                       ScsiNameString(port->target_device_name));
    }
  }
  FinishVpd(page);
  return page;
}

// SBC-3 6.6.3 Block Limits VPD page (page length 3Ch).
std::vector<uint8_t> EncodeBlockLimits(const UnitInfo& info) {
  std::vector<uint8_t> page = VpdHeader(kVpdBlockLimits);
  page.resize(64, 0);
  page[4] = 0x01;  // WSNZ: WRITE SAME with zero blocks is refused
  page[5] = static_cast<uint8_t>(std::min<uint32_t>(info.max_compare_and_write_blocks, 255));
  StoreBe16(&page[6], 1);  // OPTIMAL TRANSFER LENGTH GRANULARITY
  StoreBe32(&page[8], info.max_transfer_blocks);
  StoreBe32(&page[12], info.optimal_transfer_blocks);
  StoreBe32(&page[20], info.max_unmap_lba_count);
  StoreBe32(&page[24], info.max_unmap_descriptors);
  StoreBe32(&page[28], info.optimal_unmap_granularity);
  // UNMAP GRANULARITY ALIGNMENT 0 with UGAVALID 0 (bytes 32-35).
  StoreBe64(&page[36], info.max_write_same_blocks);
  FinishVpd(page);
  return page;
}

// SBC-3 6.6.2 Block Device Characteristics VPD page (page length 3Ch).
std::vector<uint8_t> EncodeBlockDeviceCharacteristics() {
  std::vector<uint8_t> page = VpdHeader(kVpdBlockDeviceCharacteristics);
  page.resize(64, 0);
  StoreBe16(&page[4], 0x0001);  // MEDIUM ROTATION RATE: non-rotating medium
  page[7] = 0x00;               // NOMINAL FORM FACTOR: not reported
  FinishVpd(page);
  return page;
}

// SBC-3 6.6.4 Logical Block Provisioning VPD page (DP=0: page length 4).
std::vector<uint8_t> EncodeLogicalBlockProvisioning() {
  std::vector<uint8_t> page = VpdHeader(kVpdLogicalBlockProvisioning);
  page.resize(8, 0);
  page[4] = 0;  // THRESHOLD EXPONENT: no thresholds
  // LBPU (UNMAP), LBPWS (WRITE SAME(16) UNMAP), LBPWS10, LBPRZ (holes read
  // as zeros). ANC_SUP and DP are zero.
  page[5] = 0x80 | 0x40 | 0x20 | 0x04;
  page[6] = 0x02;  // PROVISIONING TYPE: thin provisioned
  FinishVpd(page);
  return page;
}

constexpr std::array<uint8_t, 6> kSupportedVpdPages = {
    kVpdSupportedPages,          kVpdUnitSerialNumber,
    kVpdDeviceIdentification,    kVpdBlockLimits,
    kVpdBlockDeviceCharacteristics, kVpdLogicalBlockProvisioning,
};

// --- MODE SENSE -----------------------------------------------------------

enum class PageControl : uint8_t { kCurrent = 0, kChangeable = 1, kDefault = 2 };

// Caching mode page (SBC-3 6.4.5), 20 bytes. WCE=1: writes land in the page
// cache and only FUA / SYNCHRONIZE CACHE make them durable; WCE=0 (set by
// MODE SELECT) makes every write durable before its status; RCD=0.
std::vector<uint8_t> CachingPage(PageControl pc, const UnitInfo& info) {
  std::vector<uint8_t> page(20, 0);
  page[0] = kModePageCaching;  // PS=0, SPF=0
  page[1] = 0x12;
  const bool wce = pc == PageControl::kCurrent ? info.write_cache_enabled : true;
  if (wce) page[2] = 0x04;  // WCE (changeable mask: WCE)
  return page;
}

// Control mode page (SPC-4 7.5.8), 12 bytes.
std::vector<uint8_t> ControlPage(PageControl pc, const UnitInfo& info) {
  std::vector<uint8_t> page(12, 0);
  page[0] = kModePageControl;
  page[1] = 0x0a;
  if (pc == PageControl::kChangeable) {
    page[2] = 0x04;  // only D_SENSE may change
    return page;
  }
  // TST=000b (one task set), D_SENSE per the logical unit's setting.
  const bool d_sense =
      pc == PageControl::kCurrent ? info.descriptor_sense : info.default_descriptor_sense;
  if (d_sense) page[2] |= 0x04;
  // QUEUE ALGORITHM MODIFIER=1 (unrestricted reordering of SIMPLE tasks),
  // QERR=00b.
  page[3] = 0x10;
  if (info.task_aborted_status) page[5] |= 0x40;  // TAS
  StoreBe16(&page[8], 0xffff);  // BUSY TIMEOUT PERIOD: unlimited
  return page;
}

// Informational Exceptions Control mode page (SPC-4 7.5.12), 12 bytes:
// no informational exceptions are reported (MRIE=0).
std::vector<uint8_t> InformationalExceptionsPage(PageControl) {
  std::vector<uint8_t> page(12, 0);
  page[0] = kModePageInformationalExceptions;
  page[1] = 0x0a;
  return page;
}

// The current value of one of our mode pages and its changeable mask.
struct ModePageForSelect {
  std::vector<uint8_t> current;
  std::vector<uint8_t> changeable;
};

std::optional<ModePageForSelect> PageForSelect(uint8_t page_code, const UnitInfo& info) {
  switch (page_code) {
    case kModePageCaching:
      return ModePageForSelect{CachingPage(PageControl::kCurrent, info),
                               CachingPage(PageControl::kChangeable, info)};
    case kModePageControl:
      return ModePageForSelect{ControlPage(PageControl::kCurrent, info),
                               ControlPage(PageControl::kChangeable, info)};
    case kModePageInformationalExceptions:
      return ModePageForSelect{InformationalExceptionsPage(PageControl::kCurrent),
                               InformationalExceptionsPage(PageControl::kChangeable)};
    default:
      return std::nullopt;
  }
}

uint8_t HighestBit(uint8_t v) {
  uint8_t bit = 7;
  while (bit > 0 && (v & (1u << bit)) == 0) --bit;
  return bit;
}

}  // namespace

std::vector<uint8_t> EncodeStandardInquiry(const UnitInfo& info) {
  std::vector<uint8_t> data(kStandardInquiryLength, 0);
  data[0] = kPeripheralDirectAccess;
  data[1] = 0x00;  // RMB=0
  data[2] = 0x06;  // VERSION: SPC-4
  data[3] = 0x12;  // NORMACA=0, HISUP=1, RESPONSE DATA FORMAT=2
  data[4] = kStandardInquiryLength - 5;  // ADDITIONAL LENGTH
  data[5] = 0x00;  // SCCS=0, ACC=0, TPGS=00b (no ALUA yet), 3PC=0, PROTECT=0
  data[6] = 0x00;
  data[7] = 0x02;  // CMDQUE
  PutAscii(&data[8], 8, info.vendor);
  PutAscii(&data[16], 16, info.product);
  PutAscii(&data[32], 4, info.revision);
  // VERSION DESCRIPTORS (bytes 58..73), most important first.
  size_t at = 58;
  for (uint16_t v : {kVersionSam5, info.transport_version_descriptor,
                     kVersionSpc4, kVersionSbc3}) {
    if (v == 0) continue;
    StoreBe16(&data[at], v);
    at += 2;
  }
  return data;
}

DataOrCheckCondition EncodeVpdPage(uint8_t page_code, const UnitInfo& info,
                                   const TargetPortIdentity* port) {
  switch (page_code) {
    case kVpdSupportedPages: {
      std::vector<uint8_t> page = VpdHeader(kVpdSupportedPages);
      page.insert(page.end(), kSupportedVpdPages.begin(), kSupportedVpdPages.end());
      FinishVpd(page);
      return page;
    }
    case kVpdUnitSerialNumber: {
      std::vector<uint8_t> page = VpdHeader(kVpdUnitSerialNumber);
      const size_t n = std::min<size_t>(info.serial.size(), 252);
      page.resize(4 + n);
      PutAscii(&page[4], n, info.serial.substr(0, n));
      FinishVpd(page);
      return page;
    }
    case kVpdDeviceIdentification:
      return EncodeDeviceIdentification(info, port);
    case kVpdBlockLimits:
      return EncodeBlockLimits(info);
    case kVpdBlockDeviceCharacteristics:
      return EncodeBlockDeviceCharacteristics();
    case kVpdLogicalBlockProvisioning:
      return EncodeLogicalBlockProvisioning();
    default:
      return CheckCondition::InvalidFieldInCdb(2);
  }
}

DataOrCheckCondition EncodeModeSense(const PreparedCommand& command,
                                     const UnitInfo& info) {
  const PageControl pc = static_cast<PageControl>(command.page_control);
  // Subpages: we have none. 00h is the page itself; FFh asks for all
  // subpages, which for our pages is the page itself (SPC-4 6.11).
  if (command.subpage_code != 0x00 && command.subpage_code != 0xff) {
    return CheckCondition::InvalidFieldInCdb(3);
  }
  std::vector<uint8_t> pages;
  auto append = [&pages](const std::vector<uint8_t>& page) {
    pages.insert(pages.end(), page.begin(), page.end());
  };
  switch (command.page_code) {
    case kModePageCaching:
      append(CachingPage(pc, info));
      break;
    case kModePageControl:
      append(ControlPage(pc, info));
      break;
    case kModePageInformationalExceptions:
      append(InformationalExceptionsPage(pc));
      break;
    case kModePageAll:
      append(CachingPage(pc, info));
      append(ControlPage(pc, info));
      append(InformationalExceptionsPage(pc));
      break;
    default:
      return CheckCondition::InvalidFieldInCdb(2, 5);
  }

  const bool ten = command.cdb_length == 10;
  const bool long_lba = ten && command.llbaa;
  std::vector<uint8_t> descriptor;
  if (!command.dbd) {
    // SBC-3 6.4.2: short (8-byte) or long (16-byte) LBA block descriptor.
    if (long_lba) {
      descriptor.resize(16, 0);
      StoreBe64(&descriptor[0], info.capacity_blocks);
      StoreBe32(&descriptor[12], info.block_size);
    } else {
      descriptor.resize(8, 0);
      StoreBe32(&descriptor[0], static_cast<uint32_t>(
                                    std::min<uint64_t>(info.capacity_blocks, 0xffffffffu)));
      StoreBe24(&descriptor[5], info.block_size);
    }
  }
  // DEVICE-SPECIFIC PARAMETER (SBC-3 6.4.1): WP and DPOFUA.
  const uint8_t device_specific = static_cast<uint8_t>((info.read_only ? 0x80 : 0) | 0x10);

  std::vector<uint8_t> data;
  if (!ten) {
    data = {0, 0, device_specific, static_cast<uint8_t>(descriptor.size())};
  } else {
    data = {0, 0, 0, device_specific, static_cast<uint8_t>(descriptor.size() == 16 ? 1 : 0), 0, 0, 0};
    StoreBe16(&data[6], static_cast<uint16_t>(descriptor.size()));
  }
  data.insert(data.end(), descriptor.begin(), descriptor.end());
  data.insert(data.end(), pages.begin(), pages.end());
  // MODE DATA LENGTH excludes itself (SPC-4 7.5.5).
  if (!ten) {
    data[0] = static_cast<uint8_t>(data.size() - 1);
  } else {
    StoreBe16(&data[0], static_cast<uint16_t>(data.size() - 2));
  }
  return data;
}

}  // namespace iscsi_csi::target::scsi

namespace iscsi_csi::target::scsi {

ModeSelectResult ParseModeSelectParameters(const PreparedCommand& command,
                                           absl::Span<const uint8_t> data_out,
                                           const UnitInfo& info) {
  ModeSelectChanges changes;
  const size_t length = command.parameter_list_length;
  if (length == 0) return changes;  // SPC-4 6.9: not an error
  if (data_out.size() < length) return CheckCondition::Of(SenseReason::kParameterListLengthError);
  const absl::Span<const uint8_t> list = data_out.subspan(0, length);
  const bool ten = command.cdb_length == 10;
  // Mode parameter header (SPC-4 7.5.5 tables 446/447).
  const size_t header = ten ? 8 : 4;
  if (list.size() < header) return CheckCondition::Of(SenseReason::kParameterListLengthError);
  if (list[ten ? 2 : 1] != 0) {  // MEDIUM TYPE: 00h for SBC
    return CheckCondition::InvalidFieldInParameterList(ten ? 2 : 1);
  }
  const bool long_lba = ten && (list[4] & 0x01) != 0;
  const size_t bd_length = ten ? LoadBe16(&list[6]) : list[3];
  const size_t bd_field = ten ? 6 : 3;
  const size_t one_descriptor = long_lba ? 16 : 8;
  if (bd_length != 0 && bd_length != one_descriptor) {
    return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(bd_field));
  }
  if (header + bd_length > list.size()) {
    return CheckCondition::Of(SenseReason::kParameterListLengthError);
  }
  if (bd_length != 0) {
    // SBC-3 6.4.2: the block length cannot change; the number of blocks
    // may be 0 (no change) or the current capacity.
    const uint8_t* d = &list[header];
    const uint64_t blocks = long_lba ? LoadBe64(d) : LoadBe32(d);
    const uint32_t block_length = long_lba ? LoadBe32(d + 12) : LoadBe24(d + 5);
    const size_t length_at = header + (long_lba ? 12 : 5);
    if (block_length != info.block_size) {
      return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(length_at));
    }
    const uint64_t shown = long_lba ? info.capacity_blocks
                                    : std::min<uint64_t>(info.capacity_blocks, 0xffffffffu);
    if (blocks != 0 && blocks != shown) {
      return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(header));
    }
  }
  for (size_t at = header + bd_length; at < list.size();) {
    if (list.size() - at < 2) return CheckCondition::Of(SenseReason::kParameterListLengthError);
    const uint8_t code = list[at] & 0x3f;
    if ((list[at] & 0x40) != 0) {  // SPF: we have no subpages
      return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(at), 6);
    }
    const size_t page_length = list[at + 1];
    if (list.size() - at - 2 < page_length) {
      return CheckCondition::Of(SenseReason::kParameterListLengthError);
    }
    const std::optional<ModePageForSelect> ours = PageForSelect(code, info);
    if (!ours.has_value()) {
      return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(at), 5);
    }
    if (page_length + 2 != ours->current.size()) {
      return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(at + 1));
    }
    // Byte 0's PS bit is reserved in MODE SELECT (SPC-4 7.5.7); compare the rest.
    for (size_t i = 2; i < ours->current.size(); ++i) {
      const uint8_t diff =
          static_cast<uint8_t>((list[at + i] ^ ours->current[i]) & ~ours->changeable[i]);
      if (diff != 0) {
        return CheckCondition::InvalidFieldInParameterList(static_cast<uint16_t>(at + i),
                                                           HighestBit(diff));
      }
    }
    if (code == kModePageControl) changes.descriptor_sense = (list[at + 2] & 0x04) != 0;
    if (code == kModePageCaching) changes.write_cache_enabled = (list[at + 2] & 0x04) != 0;
    at += 2 + page_length;
  }
  return changes;
}

DataOrCheckCondition EncodeLogSense(const PreparedCommand& command) {
  if (command.page_code != 0x00) return CheckCondition::InvalidFieldInCdb(2, 5);
  std::vector<uint8_t> page;
  if (command.subpage_code == 0x00) {
    page = {0x00, 0x00, 0x00, 0x01, 0x00};  // Supported Log Pages: 00h
  } else if (command.subpage_code == 0xff) {
    // Supported Log Pages and Subpages (SPF=1): 00h/00h and 00h/FFh.
    page = {0x40, 0xff, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff};
  } else {
    return CheckCondition::InvalidFieldInCdb(3);
  }
  return page;
}

}  // namespace iscsi_csi::target::scsi
