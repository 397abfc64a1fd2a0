// Sense data encoding and THE table from SenseReason to key/ASC/ASCQ.
// SPC-4 4.5 (sense data), D.2 (ASC/ASCQ assignments), SBC-3 4.x for the
// block-command reasons.
#include "target/scsi/sense.h"

#include <array>

#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {
namespace {

struct SenseRow {
  SenseReason reason;
  SenseKey key;
  uint8_t asc;
  uint8_t ascq;
  std::string_view name;
};

// Keep rows in enum order; the static_assert below checks it.
constexpr std::array kSenseTable = {
    SenseRow{SenseReason::kNoSense, SenseKey::kNoSense, 0x00, 0x00, "no_sense"},
    SenseRow{SenseReason::kInvalidCommandOperationCode, SenseKey::kIllegalRequest,
             0x20, 0x00, "invalid_command_operation_code"},
    SenseRow{SenseReason::kInvalidFieldInCdb, SenseKey::kIllegalRequest, 0x24,
             0x00, "invalid_field_in_cdb"},
    SenseRow{SenseReason::kInvalidFieldInParameterList,
             SenseKey::kIllegalRequest, 0x26, 0x00,
             "invalid_field_in_parameter_list"},
    SenseRow{SenseReason::kParameterListLengthError, SenseKey::kIllegalRequest,
             0x1a, 0x00, "parameter_list_length_error"},
    SenseRow{SenseReason::kInvalidFieldInInformationUnit,
             SenseKey::kIllegalRequest, 0x0e, 0x03,
             "invalid_field_in_information_unit"},
    SenseRow{SenseReason::kLbaOutOfRange, SenseKey::kIllegalRequest, 0x21, 0x00,
             "lba_out_of_range"},
    SenseRow{SenseReason::kSavingParametersNotSupported,
             SenseKey::kIllegalRequest, 0x39, 0x00,
             "saving_parameters_not_supported"},
    SenseRow{SenseReason::kWriteProtected, SenseKey::kDataProtect, 0x27, 0x00,
             "write_protected"},
    SenseRow{SenseReason::kSpaceAllocationFailedWriteProtect,
             SenseKey::kDataProtect, 0x27, 0x07, "space_allocation_failed"},
    SenseRow{SenseReason::kUnrecoveredReadError, SenseKey::kMediumError, 0x11,
             0x00, "unrecovered_read_error"},
    SenseRow{SenseReason::kWriteError, SenseKey::kMediumError, 0x0c, 0x00,
             "write_error"},
    SenseRow{SenseReason::kMiscompareDuringVerify, SenseKey::kMiscompare, 0x1d,
             0x00, "miscompare_during_verify"},
    SenseRow{SenseReason::kInternalTargetFailure, SenseKey::kHardwareError, 0x44,
             0x00, "internal_target_failure"},
    SenseRow{SenseReason::kLogicalUnitNotSupported, SenseKey::kIllegalRequest,
             0x25, 0x00, "logical_unit_not_supported"},
    SenseRow{SenseReason::kPowerOnResetOccurred, SenseKey::kUnitAttention, 0x29,
             0x00, "power_on_reset_occurred"},
    SenseRow{SenseReason::kBusDeviceResetOccurred, SenseKey::kUnitAttention,
             0x29, 0x03, "bus_device_reset_occurred"},
    SenseRow{SenseReason::kModeParametersChanged, SenseKey::kUnitAttention, 0x2a,
             0x01, "mode_parameters_changed"},
    SenseRow{SenseReason::kCapacityDataHasChanged, SenseKey::kUnitAttention,
             0x2a, 0x09, "capacity_data_has_changed"},
    SenseRow{SenseReason::kReportedLunsDataHasChanged, SenseKey::kUnitAttention,
             0x3f, 0x0e, "reported_luns_data_has_changed"},
    SenseRow{SenseReason::kCommandsClearedByAnotherInitiator,
             SenseKey::kUnitAttention, 0x2f, 0x00,
             "commands_cleared_by_another_initiator"},
    SenseRow{SenseReason::kInvalidReleaseOfPersistentReservation,
             SenseKey::kIllegalRequest, 0x26, 0x04,
             "invalid_release_of_persistent_reservation"},
    SenseRow{SenseReason::kInsufficientRegistrationResources,
             SenseKey::kIllegalRequest, 0x55, 0x04,
             "insufficient_registration_resources"},
    SenseRow{SenseReason::kReservationsPreempted, SenseKey::kUnitAttention, 0x2a,
             0x03, "reservations_preempted"},
    SenseRow{SenseReason::kReservationsReleased, SenseKey::kUnitAttention, 0x2a,
             0x04, "reservations_released"},
    SenseRow{SenseReason::kRegistrationsPreempted, SenseKey::kUnitAttention,
             0x2a, 0x05, "registrations_preempted"},
};

constexpr bool TableInEnumOrder() {
  for (size_t i = 0; i < kSenseTable.size(); ++i) {
    if (static_cast<size_t>(kSenseTable[i].reason) != i) return false;
  }
  return true;
}
static_assert(TableInEnumOrder(), "kSenseTable rows must follow SenseReason order");
static_assert(kSenseTable.size() ==
                  static_cast<size_t>(SenseReason::kRegistrationsPreempted) + 1,
              "every SenseReason needs a row");

const SenseRow& RowOf(SenseReason reason) {
  return kSenseTable[static_cast<size_t>(reason)];
}

// Sense-key-specific bytes for a field pointer (SPC-4 table 32): SKSV, C/D,
// BPV, BIT POINTER, then the 2-byte FIELD POINTER.
void EncodeFieldPointer(const FieldPointer& field, uint8_t* out) {
  out[0] = 0x80;                         // SKSV
  if (field.in_cdb) out[0] |= 0x40;      // C/D: 1 = CDB, 0 = parameter data
  if (field.bit.has_value()) out[0] |= 0x08 | (*field.bit & 0x07);  // BPV
  StoreBe16(out + 1, field.byte);
}

}  // namespace

SenseCode SenseCodeOf(SenseReason reason) {
  const SenseRow& row = RowOf(reason);
  return SenseCode{row.key, row.asc, row.ascq};
}

std::string_view SenseReasonName(SenseReason reason) { return RowOf(reason).name; }

bool IsUnitAttention(SenseReason reason) {
  return RowOf(reason).key == SenseKey::kUnitAttention;
}

std::vector<uint8_t> EncodeSense(const CheckCondition& condition,
                                 SenseFormat format) {
  const SenseCode code = SenseCodeOf(condition.reason);
  if (format == SenseFormat::kFixed) {
    std::vector<uint8_t> sense(kFixedSenseLength, 0);
    sense[0] = 0x70;
    sense[2] = static_cast<uint8_t>(code.key);
    if (condition.information.has_value()) {
      // The fixed format INFORMATION field has 4 bytes; VALID says it holds
      // the whole value (SPC-4 4.5.3).
      if (*condition.information <= 0xffffffffu) sense[0] |= 0x80;
      StoreBe32(&sense[3], static_cast<uint32_t>(*condition.information));
    }
    sense[7] = kFixedSenseLength - 8;  // ADDITIONAL SENSE LENGTH
    sense[12] = code.asc;
    sense[13] = code.ascq;
    if (condition.field.has_value()) EncodeFieldPointer(*condition.field, &sense[15]);
    return sense;
  }
  std::vector<uint8_t> sense(8, 0);
  sense[0] = 0x72;
  sense[1] = static_cast<uint8_t>(code.key);
  sense[2] = code.asc;
  sense[3] = code.ascq;
  if (condition.information.has_value()) {
    // Information descriptor (SPC-4 4.5.2.2): type 0, length 0x0a, VALID.
    const size_t at = sense.size();
    sense.resize(at + 12, 0);
    sense[at] = 0x00;
    sense[at + 1] = 0x0a;
    sense[at + 2] = 0x80;
    StoreBe64(&sense[at + 4], *condition.information);
  }
  if (condition.field.has_value()) {
    // Sense key specific descriptor (SPC-4 4.5.2.3): type 2, length 6.
    const size_t at = sense.size();
    sense.resize(at + 8, 0);
    sense[at] = 0x02;
    sense[at + 1] = 0x06;
    EncodeFieldPointer(*condition.field, &sense[at + 4]);
  }
  sense[7] = static_cast<uint8_t>(sense.size() - 8);
  return sense;
}

}  // namespace iscsi_csi::target::scsi
