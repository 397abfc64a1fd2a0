// SBC-3 block commands: READ CAPACITY data (5.16, 5.17), the UNMAP parameter
// list check (5.28.2), and the backing-store execution of READ, WRITE,
// WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE, WRITE SAME and UNMAP over a
// BlockStore.
//
// The Execute* functions block (they run on the I/O worker pool) and take a
// PreparedCommand already range-checked by ParseCdb. Store errors become a
// CheckCondition in exactly one place: StoreErrorToCheckCondition.
#ifndef ISCSI_CSI_TARGET_SCSI_SBC_H_
#define ISCSI_CSI_TARGET_SCSI_SBC_H_

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "target/backend/block_store.h"
#include "target/scsi/cdb.h"
#include "target/scsi/io_buffer.h"
#include "target/scsi/sense.h"
#include "target/scsi/unit_info.h"

namespace iscsi_csi::target::scsi {

// READ CAPACITY(10) data: 8 bytes; RETURNED LOGICAL BLOCK ADDRESS is
// FFFFFFFFh when the last LBA does not fit (SBC-3 5.16.2).
std::vector<uint8_t> EncodeReadCapacity10(const UnitInfo& info);

// READ CAPACITY(16) data: 32 bytes with LBPME=1 and LBPRZ=1 (SBC-3 5.17.2).
std::vector<uint8_t> EncodeReadCapacity16(const UnitInfo& info);

// One validated UNMAP block descriptor.
struct UnmapExtent {
  uint64_t lba = 0;
  uint32_t blocks = 0;
};

using UnmapParseResult = std::variant<std::vector<UnmapExtent>, CheckCondition>;

// ParseUnmapParameters validates the whole UNMAP parameter list in
// `data_out` before anything is unmapped.
UnmapParseResult ParseUnmapParameters(const PreparedCommand& command,
                                      absl::Span<const uint8_t> data_out,
                                      const UnitInfo& info);

// CheckDataOut is the payload check of commands whose data-out must hold at
// least one block (WRITE SAME, VERIFY with BYTCHK=3): INVALID FIELD IN
// INFORMATION UNIT when it does not; and of COMPARE AND WRITE, whose
// data-out must be exactly 2 x NUMBER OF LOGICAL BLOCKS blocks (INVALID
// FIELD IN CDB at byte 13 otherwise). Runs before any I/O.
std::optional<CheckCondition> CheckDataOut(const PreparedCommand& command,
                                           size_t data_out_size, uint32_t block_size);

// The store operation a Status came from, for error translation.
enum class StoreOp : uint8_t { kRead, kWrite, kFlush, kUnmap };

// StoreErrorToCheckCondition is THE translation from BlockStore errors to
// SCSI: ENOSPC/EDQUOT -> SPACE ALLOCATION FAILED WRITE PROTECT, EIO ->
// MEDIUM ERROR (unrecovered read error / write error), EROFS -> WRITE
// PROTECTED, anything else -> HARDWARE ERROR / INTERNAL TARGET FAILURE.
CheckCondition StoreErrorToCheckCondition(const absl::Status& status, StoreOp op);

// Result of a block command: nullopt means GOOD.
using BlockResult = std::optional<CheckCondition>;

// ExecuteRead reads the command's blocks, at most `max_bytes` of them
// (the expected transfer length), into `data_in`.
BlockResult ExecuteRead(backend::BlockStore& store, const PreparedCommand& command,
                        uint32_t block_size, uint32_t max_bytes,
                        IoBuffer& data_in);

// ExecuteWrite writes the whole blocks present in `data_out` (a short
// data-out writes fewer blocks; the transport reports the residual).
BlockResult ExecuteWrite(backend::BlockStore& store, const PreparedCommand& command,
                         uint32_t block_size, absl::Span<const uint8_t> data_out);

// TryExecuteRead and TryExecuteWrite are ExecuteRead and ExecuteWrite through
// the store's ReadNoWait/WriteNoWait. They return nullopt when the store would
// have to wait for a device; the caller then runs ExecuteRead/ExecuteWrite on a
// thread that may block.
std::optional<BlockResult> TryExecuteRead(backend::BlockStore& store,
                                          const PreparedCommand& command, uint32_t block_size,
                                          uint32_t max_bytes, IoBuffer& data_in);
std::optional<BlockResult> TryExecuteWrite(backend::BlockStore& store,
                                           const PreparedCommand& command, uint32_t block_size,
                                           absl::Span<const uint8_t> data_out);

// ExecuteVerify: BYTCHK 0 checks the range only (like LIO); 1 compares the
// data-out with the medium; 3 compares one data-out block with every block.
// A mismatch gives MISCOMPARE with the byte offset in INFORMATION.
BlockResult ExecuteVerify(backend::BlockStore& store, const PreparedCommand& command,
                          uint32_t block_size, absl::Span<const uint8_t> data_out);

// ExecuteWriteAndVerify writes the whole blocks present in `data_out` (as
// ExecuteWrite) durably, then verifies them: BYTCHK 0 reads them back from
// the medium (a read error is a MEDIUM ERROR), BYTCHK 1 also compares them
// with the data-out (MISCOMPARE with the byte offset in INFORMATION).
BlockResult ExecuteWriteAndVerify(backend::BlockStore& store, const PreparedCommand& command,
                                  uint32_t block_size, absl::Span<const uint8_t> data_out);

BlockResult ExecuteSynchronizeCache(backend::BlockStore& store);

// ExecuteCompareAndWrite (SBC-3 5.2): compares the first half of `data_out`
// (the verify instance) with the medium and, when equal, writes the second
// half (FUA when asked). A difference gives MISCOMPARE with the offset of the
// first differing byte in INFORMATION and writes nothing. The caller makes
// it atomic (an exclusive range lock); CheckDataOut has checked the size.
BlockResult ExecuteCompareAndWrite(backend::BlockStore& store, const PreparedCommand& command,
                                   uint32_t block_size, absl::Span<const uint8_t> data_out);

// ExecuteOrWrite (SBC-3 5.9, ORWRITE(16) without a bitmap operation): reads
// the blocks, ORs the data-out into them and writes the result (FUA when
// asked). The whole blocks present in `data_out` are used, as ExecuteWrite.
// The caller makes it atomic (an exclusive range lock).
BlockResult ExecuteOrWrite(backend::BlockStore& store, const PreparedCommand& command,
                           uint32_t block_size, absl::Span<const uint8_t> data_out);

// ExecuteGetLbaStatus (SBC-3 5.7) reports mapped / deallocated extents from
// the command's LBA on, as many descriptors as fit `max_bytes` (at least
// one), from BlockStore::GetMapping.
BlockResult ExecuteGetLbaStatus(backend::BlockStore& store, const PreparedCommand& command,
                                uint32_t block_size, uint64_t capacity_blocks,
                                uint32_t max_bytes, IoBuffer& data_in);

// ExecuteWriteSame writes the data-out block to every block of the range, or
// punches a hole when UNMAP=1 and the block is all zeros (LBPRZ=1).
BlockResult ExecuteWriteSame(backend::BlockStore& store, const PreparedCommand& command,
                             uint32_t block_size, absl::Span<const uint8_t> data_out);

BlockResult ExecuteUnmap(backend::BlockStore& store,
                         const std::vector<UnmapExtent>& extents, uint32_t block_size);

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_SBC_H_
