// Sense data: the SenseReason vocabulary, its ONE mapping table to sense key /
// ASC / ASCQ (sense.cc), and the fixed (0x70, SPC-4 4.5.3) and descriptor
// (0x72, SPC-4 4.5.2) encodings with the INFORMATION field and the
// sense-key-specific field pointer (SPC-4 4.5.2.4.2).
//
// CHECK CONDITION is a normal answer: code in target/scsi returns a
// CheckCondition value, never an error status.
#ifndef ISCSI_CSI_TARGET_SCSI_SENSE_H_
#define ISCSI_CSI_TARGET_SCSI_SENSE_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace iscsi_csi::target::scsi {

// Sense keys (SPC-4 table 28).
enum class SenseKey : uint8_t {
  kNoSense = 0x0,
  kRecoveredError = 0x1,
  kNotReady = 0x2,
  kMediumError = 0x3,
  kHardwareError = 0x4,
  kIllegalRequest = 0x5,
  kUnitAttention = 0x6,
  kDataProtect = 0x7,
  kBlankCheck = 0x8,
  kVendorSpecific = 0x9,
  kCopyAborted = 0xa,
  kAbortedCommand = 0xb,
  kVolumeOverflow = 0xd,
  kMiscompare = 0xe,
};

// Why a command ended the way it did. One row per reason in sense.cc.
enum class SenseReason : uint8_t {
  kNoSense,
  kInvalidCommandOperationCode,
  kInvalidFieldInCdb,
  kInvalidFieldInParameterList,
  kParameterListLengthError,
  kInvalidFieldInInformationUnit,
  kLbaOutOfRange,
  kSavingParametersNotSupported,
  kWriteProtected,
  kSpaceAllocationFailedWriteProtect,
  kUnrecoveredReadError,
  kWriteError,
  kMiscompareDuringVerify,
  kInternalTargetFailure,
  kLogicalUnitNotSupported,
  kPowerOnResetOccurred,
  kBusDeviceResetOccurred,
  kModeParametersChanged,
  kCapacityDataHasChanged,
  kReportedLunsDataHasChanged,
  kCommandsClearedByAnotherInitiator,
  kInvalidReleaseOfPersistentReservation,
  kInsufficientRegistrationResources,
  kReservationsPreempted,
  kReservationsReleased,
  kRegistrationsPreempted,
};

struct SenseCode {
  SenseKey key;
  uint8_t asc;
  uint8_t ascq;
};

// SenseCodeOf maps a reason to its key/ASC/ASCQ (the one table).
SenseCode SenseCodeOf(SenseReason reason);

// SenseReasonName is a short stable name for logs and metrics labels.
std::string_view SenseReasonName(SenseReason reason);

// True for the reasons that are unit attention conditions.
bool IsUnitAttention(SenseReason reason);

// Sense-key-specific field pointer (SPC-4 4.5.2.4.2): which byte (and bit)
// of the CDB (in_cdb) or parameter list is wrong. `bit` is the most
// significant bit of the offending field.
struct FieldPointer {
  bool in_cdb = true;
  uint16_t byte = 0;
  std::optional<uint8_t> bit;

  bool operator==(const FieldPointer&) const = default;
};

// The outcome of a command that ends in CHECK CONDITION, before encoding.
struct CheckCondition {
  SenseReason reason = SenseReason::kNoSense;
  std::optional<FieldPointer> field;
  std::optional<uint64_t> information;

  static CheckCondition Of(SenseReason reason) { return {reason, {}, {}}; }
  // INVALID FIELD IN CDB pointing at CDB byte `byte`, bit `bit` (7 for a
  // whole-byte or multi-byte field).
  static CheckCondition InvalidFieldInCdb(uint16_t byte, uint8_t bit = 7) {
    return {SenseReason::kInvalidFieldInCdb, FieldPointer{true, byte, bit}, {}};
  }
  static CheckCondition InvalidFieldInParameterList(uint16_t byte,
                                                    uint8_t bit = 7) {
    return {SenseReason::kInvalidFieldInParameterList,
            FieldPointer{false, byte, bit}, {}};
  }
  static CheckCondition Miscompare(uint64_t offset) {
    return {SenseReason::kMiscompareDuringVerify, {}, offset};
  }
  bool operator==(const CheckCondition&) const = default;
};

enum class SenseFormat : uint8_t {
  kFixed,       // response code 0x70 (current error)
  kDescriptor,  // response code 0x72 (current error)
};

inline constexpr size_t kFixedSenseLength = 18;

// EncodeSense builds complete sense data for `condition`.
std::vector<uint8_t> EncodeSense(const CheckCondition& condition,
                                 SenseFormat format);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_SENSE_H_
