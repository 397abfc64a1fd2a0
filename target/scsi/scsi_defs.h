// SCSI operation codes, service actions, status codes and task attributes
// (SPC-4 table D.2, SBC-3 table 14, SAM-5 5.3.1 and 8.6). Listed for the whole
// SBC-3/SPC-4 command set; which ones a logical unit executes is decided in
// cdb.cc (everything else answers INVALID COMMAND OPERATION CODE).
#ifndef ISCSI_CSI_TARGET_SCSI_SCSI_DEFS_H_
#define ISCSI_CSI_TARGET_SCSI_SCSI_DEFS_H_

#include <cstddef>
#include <cstdint>

namespace iscsi_csi::target::scsi {

enum class ScsiOp : uint8_t {
  kTestUnitReady = 0x00,
  kRequestSense = 0x03,
  kFormatUnit = 0x04,
  kRead6 = 0x08,
  kWrite6 = 0x0a,
  kInquiry = 0x12,
  kModeSelect6 = 0x15,
  kReserve6 = 0x16,
  kRelease6 = 0x17,
  kModeSense6 = 0x1a,
  kStartStopUnit = 0x1b,
  kReceiveDiagnosticResults = 0x1c,
  kSendDiagnostic = 0x1d,
  kPreventAllowMediumRemoval = 0x1e,
  kReadCapacity10 = 0x25,
  kRead10 = 0x28,
  kWrite10 = 0x2a,
  kWriteAndVerify10 = 0x2e,
  kVerify10 = 0x2f,
  kPrefetch10 = 0x34,
  kSynchronizeCache10 = 0x35,
  kWriteBuffer = 0x3b,
  kReadBuffer = 0x3c,
  kWriteSame10 = 0x41,
  kUnmap = 0x42,
  kLogSelect = 0x4c,
  kLogSense = 0x4d,
  kModeSelect10 = 0x55,
  kReserve10 = 0x56,
  kRelease10 = 0x57,
  kModeSense10 = 0x5a,
  kPersistentReserveIn = 0x5e,
  kPersistentReserveOut = 0x5f,
  kExtendedCopy = 0x83,
  kReceiveCopyResults = 0x84,
  kRead16 = 0x88,
  kCompareAndWrite = 0x89,
  kWrite16 = 0x8a,
  kOrWrite16 = 0x8b,
  kWriteAndVerify16 = 0x8e,
  kVerify16 = 0x8f,
  kPrefetch16 = 0x90,
  kSynchronizeCache16 = 0x91,
  kWriteSame16 = 0x93,
  kServiceActionIn16 = 0x9e,
  kReportLuns = 0xa0,
  kMaintenanceIn = 0xa3,
  kMaintenanceOut = 0xa4,
  kRead12 = 0xa8,
  kWrite12 = 0xaa,
  kWriteAndVerify12 = 0xae,
  kVerify12 = 0xaf,
};

// SERVICE ACTION IN(16) service actions (SBC-3 table 14).
enum class ServiceActionIn16 : uint8_t {
  kReadCapacity16 = 0x10,
  kGetLbaStatus = 0x12,
};

// MAINTENANCE IN service actions (SPC-4 table D.5).
enum class MaintenanceIn : uint8_t {
  kReportTargetPortGroups = 0x0a,
  kReportSupportedOperationCodes = 0x0c,
  kReportSupportedTaskManagementFunctions = 0x0d,
};

// PERSISTENT RESERVE IN service actions (SPC-4 6.13.1).
enum class PrInAction : uint8_t {
  kReadKeys = 0x00,
  kReadReservation = 0x01,
  kReportCapabilities = 0x02,
  kReadFullStatus = 0x03,
};

// PERSISTENT RESERVE OUT service actions (SPC-4 6.14.1).
enum class PrOutAction : uint8_t {
  kRegister = 0x00,
  kReserve = 0x01,
  kRelease = 0x02,
  kClear = 0x03,
  kPreempt = 0x04,
  kPreemptAndAbort = 0x05,
  kRegisterAndIgnoreExistingKey = 0x06,
  kRegisterAndMove = 0x07,
};

// SAM-5 table 28.
enum class ScsiStatus : uint8_t {
  kGood = 0x00,
  kCheckCondition = 0x02,
  kConditionMet = 0x04,
  kBusy = 0x08,
  kReservationConflict = 0x18,
  kTaskSetFull = 0x28,
  kAcaActive = 0x30,
  kTaskAborted = 0x40,
};

// SAM-5 8.6: how a task is ordered against the other tasks of the task set.
enum class TaskAttribute : uint8_t {
  kSimple,
  kOrdered,
  kHeadOfQueue,
  kAca,
};

enum class DataDirection : uint8_t {
  kNone,
  kRead,   // data-in (device to initiator)
  kWrite,  // data-out (initiator to device)
  kBidirectional,
};

// A CDB is at most 16 bytes plus up to 244 bytes of extended CDB (iSCSI AHS).
inline constexpr size_t kMaxCdbLength = 260;

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_SCSI_DEFS_H_
