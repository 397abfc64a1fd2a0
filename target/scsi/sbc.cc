// SBC-3 block command execution over a BlockStore (see sbc.h).
#include "target/scsi/sbc.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "glog/logging.h"
#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {
namespace {

// Large WRITE SAME / VERIFY ranges are processed in chunks of this size.
constexpr uint64_t kChunkBytes = 1 << 20;

bool RangeFits(uint64_t lba, uint64_t blocks, uint64_t capacity) {
  return lba <= capacity && blocks <= capacity - lba;
}

bool AllZero(absl::Span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace


std::vector<uint8_t> EncodeReadCapacity10(const UnitInfo& info) {
  std::vector<uint8_t> data(8, 0);
  const uint64_t last_lba = info.capacity_blocks == 0 ? 0 : info.capacity_blocks - 1;
  StoreBe32(&data[0], last_lba >= 0xffffffffu ? 0xffffffffu
                                              : static_cast<uint32_t>(last_lba));
  StoreBe32(&data[4], info.block_size);
  return data;
}

std::vector<uint8_t> EncodeReadCapacity16(const UnitInfo& info) {
  std::vector<uint8_t> data(32, 0);
  StoreBe64(&data[0], info.capacity_blocks == 0 ? 0 : info.capacity_blocks - 1);
  StoreBe32(&data[8], info.block_size);
  data[12] = 0x00;  // P_TYPE=0, PROT_EN=0
  // P_I_EXPONENT=0, LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT=0. (Reporting
  // 4 KiB physical blocks for 512-byte LUNs was tried: libiscsi 1.19's
  // GetLBAStatus.UnmapSingle then expects descriptors that start after the
  // LBA asked for, against SBC-3 5.7.3, so every correct target fails it.)
  data[13] = 0x00;
  data[14] = 0x80 | 0x40;  // LBPME, LBPRZ; LOWEST ALIGNED LBA=0
  return data;
}

UnmapParseResult ParseUnmapParameters(const PreparedCommand& command,
                                      absl::Span<const uint8_t> data_out,
                                      const UnitInfo& info) {
  std::vector<UnmapExtent> extents;
  if (command.parameter_list_length == 0) return extents;  // SBC-3 5.28.1
  const size_t available =
      std::min<size_t>(command.parameter_list_length, data_out.size());
  if (available < 8) {
    return CheckCondition::Of(SenseReason::kParameterListLengthError);
  }
  // SBC-3 5.28.2 table 81: UNMAP DATA LENGTH (0-1), UNMAP BLOCK DESCRIPTOR
  // DATA LENGTH (2-3), reserved (4-7), then 16-byte descriptors. A partial
  // last descriptor is ignored; so is anything past the parameter list.
  const size_t descriptor_bytes =
      std::min<size_t>(LoadBe16(&data_out[2]), available - 8);
  const size_t count = descriptor_bytes / 16;
  if (count > info.max_unmap_descriptors) {
    return CheckCondition::InvalidFieldInParameterList(2);
  }
  extents.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* d = &data_out[8 + 16 * i];
    UnmapExtent extent{LoadBe64(d), LoadBe32(d + 8)};
    if (extent.blocks > info.max_unmap_lba_count) {
      return CheckCondition::InvalidFieldInParameterList(
          static_cast<uint16_t>(8 + 16 * i + 8));
    }
    if (!RangeFits(extent.lba, extent.blocks, info.capacity_blocks)) {
      return CheckCondition::Of(SenseReason::kLbaOutOfRange);
    }
    if (extent.blocks != 0) extents.push_back(extent);
  }
  return extents;
}

std::optional<CheckCondition> CheckDataOut(const PreparedCommand& command,
                                           size_t data_out_size, uint32_t block_size) {
  if (command.kind == CommandKind::kWriteSame) {
    // One block of data-out, none with NDOB. An UNMAP with no data-out at
    // all is taken as an unmap of zeros (as LIO does); any other size is
    // an error, never a guess at which bytes were meant.
    const bool none_allowed = command.ndob || command.unmap;
    const bool fits = data_out_size == (command.ndob ? 0 : block_size) ||
                      (none_allowed && data_out_size == 0);
    if (!fits) return CheckCondition::Of(SenseReason::kInvalidFieldInInformationUnit);
  }
  if (command.kind == CommandKind::kVerify && command.bytchk == 3 && command.blocks > 0 &&
      data_out_size < block_size) {
    return CheckCondition::Of(SenseReason::kInvalidFieldInInformationUnit);
  }
  // Zero blocks with a data-out buffer is a mismatch too: the initiator
  // meant a length the 8-bit field could not carry (e.g. 256 blocks).
  if (command.kind == CommandKind::kCompareAndWrite &&
      data_out_size != 2 * uint64_t{command.blocks} * block_size) {
    return CheckCondition::InvalidFieldInCdb(command.length_field_offset);
  }
  return std::nullopt;
}

CheckCondition StoreErrorToCheckCondition(const absl::Status& status, StoreOp op) {
  static constexpr const char* kOpNames[] = {"read", "write", "flush", "unmap"};
  LOG_EVERY_N(WARNING, 100) << "backing store " << kOpNames[static_cast<int>(op)]
                            << " failed (" << google::COUNTER << " so far): " << status;
  const std::optional<int> error_number = backend::ErrnoFromStatus(status);
  if (error_number.has_value()) {
    switch (*error_number) {
      case ENOSPC:
      case EDQUOT:
        return CheckCondition::Of(SenseReason::kSpaceAllocationFailedWriteProtect);
      case EIO:
        return CheckCondition::Of(op == StoreOp::kRead ? SenseReason::kUnrecoveredReadError
                                                       : SenseReason::kWriteError);
      case EROFS:
        return CheckCondition::Of(SenseReason::kWriteProtected);
      default:
        break;
    }
  }
  if (status.code() == absl::StatusCode::kOutOfRange) {
    return CheckCondition::Of(SenseReason::kLbaOutOfRange);
  }
  return CheckCondition::Of(SenseReason::kInternalTargetFailure);
}

namespace {

// The bytes a READ returns: its blocks, capped by the expected transfer length.
uint64_t ReadBytes(const PreparedCommand& command, uint32_t block_size, uint32_t max_bytes) {
  return std::min<uint64_t>(uint64_t{command.blocks} * block_size, max_bytes);
}

// The whole blocks of `data_out` a WRITE stores.
absl::Span<const uint8_t> WrittenBytes(const PreparedCommand& command, uint32_t block_size,
                                       absl::Span<const uint8_t> data_out) {
  const uint64_t blocks = std::min<uint64_t>(command.blocks, data_out.size() / block_size);
  return data_out.subspan(0, blocks * block_size);
}

}  // namespace

BlockResult ExecuteRead(backend::BlockStore& store, const PreparedCommand& command,
                        uint32_t block_size, uint32_t max_bytes,
                        IoBuffer& data_in) {
  data_in.clear();
  data_in.ResizeUninitialized(ReadBytes(command, block_size, max_bytes));  // all read below
  if (data_in.empty()) return std::nullopt;
  absl::Status status = store.Read(command.lba * block_size, absl::MakeSpan(data_in));
  if (!status.ok()) {
    data_in.clear();
    return StoreErrorToCheckCondition(status, StoreOp::kRead);
  }
  return std::nullopt;
}

std::optional<BlockResult> TryExecuteRead(backend::BlockStore& store,
                                          const PreparedCommand& command, uint32_t block_size,
                                          uint32_t max_bytes, IoBuffer& data_in) {
  data_in.clear();
  data_in.ResizeUninitialized(ReadBytes(command, block_size, max_bytes));  // all read below
  if (data_in.empty()) return BlockResult{};
  absl::Status status = store.ReadNoWait(command.lba * block_size, absl::MakeSpan(data_in));
  if (status.ok()) return BlockResult{};
  data_in.clear();
  if (absl::IsUnavailable(status)) return std::nullopt;
  return BlockResult{StoreErrorToCheckCondition(status, StoreOp::kRead)};
}

BlockResult ExecuteWrite(backend::BlockStore& store, const PreparedCommand& command,
                         uint32_t block_size, absl::Span<const uint8_t> data_out) {
  const absl::Span<const uint8_t> bytes = WrittenBytes(command, block_size, data_out);
  if (bytes.empty()) return std::nullopt;
  absl::Status status = store.Write(command.lba * block_size, bytes, command.fua);
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kWrite);
  return std::nullopt;
}

std::optional<BlockResult> TryExecuteWrite(backend::BlockStore& store,
                                           const PreparedCommand& command, uint32_t block_size,
                                           absl::Span<const uint8_t> data_out) {
  const absl::Span<const uint8_t> bytes = WrittenBytes(command, block_size, data_out);
  if (bytes.empty()) return BlockResult{};
  absl::Status status = store.WriteNoWait(command.lba * block_size, bytes, command.fua);
  if (status.ok()) return BlockResult{};
  if (absl::IsUnavailable(status)) return std::nullopt;
  return BlockResult{StoreErrorToCheckCondition(status, StoreOp::kWrite)};
}

namespace {

// CompareWithMedium reads [offset, offset + total) in chunks and compares
// each byte `at` with expected(at); the first difference is a MISCOMPARE
// whose INFORMATION is `at` (SBC-3 5.33, 5.2 for COMPARE AND WRITE).
template <typename Expected>
BlockResult CompareWithMedium(backend::BlockStore& store, uint64_t offset, uint64_t total,
                              uint32_t block_size, Expected expected) {
  if (total == 0) return std::nullopt;
  std::vector<uint8_t> medium(std::min<uint64_t>(
      total, std::max<uint64_t>(kChunkBytes / block_size, 1) * block_size));
  for (uint64_t done = 0; done < total;) {
    const uint64_t n = std::min<uint64_t>(total - done, medium.size());
    absl::Status status = store.Read(offset + done, absl::MakeSpan(medium.data(), n));
    if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kRead);
    if constexpr (!std::is_same_v<Expected, std::nullptr_t>) {
      for (uint64_t i = 0; i < n; ++i) {
        if (medium[i] != expected(done + i)) return CheckCondition::Miscompare(done + i);
      }
    }
    done += n;
  }
  return std::nullopt;
}

}  // namespace

BlockResult ExecuteVerify(backend::BlockStore& store, const PreparedCommand& command,
                          uint32_t block_size, absl::Span<const uint8_t> data_out) {
  if (command.bytchk == 0 || command.blocks == 0) return std::nullopt;
  const uint64_t offset = command.lba * block_size;
  if (command.bytchk == 1) {
    const uint64_t total =
        std::min<uint64_t>(command.blocks, data_out.size() / block_size) * block_size;
    return CompareWithMedium(store, offset, total, block_size,
                             [&](uint64_t at) { return data_out[at]; });
  }
  // BYTCHK=3: every block compares with data-out block 0.
  return CompareWithMedium(store, offset, uint64_t{command.blocks} * block_size, block_size,
                           [&](uint64_t at) { return data_out[at % block_size]; });
}

BlockResult ExecuteWriteAndVerify(backend::BlockStore& store, const PreparedCommand& command,
                                  uint32_t block_size, absl::Span<const uint8_t> data_out) {
  const uint64_t blocks = std::min<uint64_t>(command.blocks, data_out.size() / block_size);
  if (blocks == 0) return std::nullopt;
  const uint64_t offset = command.lba * block_size;
  const absl::Span<const uint8_t> data = data_out.subspan(0, blocks * block_size);
  // Verification is against the medium, so the write must reach it first.
  absl::Status status = store.Write(offset, data, /*fua=*/true);
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kWrite);
  if (command.bytchk == 0) {
    // Medium verification: every written block must read back.
    return CompareWithMedium(store, offset, data.size(), block_size, nullptr);
  }
  return CompareWithMedium(store, offset, data.size(), block_size,
                           [&](uint64_t at) { return data[at]; });
}

BlockResult ExecuteSynchronizeCache(backend::BlockStore& store) {
  absl::Status status = store.Flush();
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kFlush);
  return std::nullopt;
}

BlockResult ExecuteCompareAndWrite(backend::BlockStore& store, const PreparedCommand& command,
                                   uint32_t block_size, absl::Span<const uint8_t> data_out) {
  const uint64_t bytes = uint64_t{command.blocks} * block_size;
  if (bytes == 0) return std::nullopt;  // SBC-3 5.2: zero blocks is not an error
  const uint64_t offset = command.lba * block_size;
  if (BlockResult miscompare = CompareWithMedium(store, offset, bytes, block_size,
                                                 [&](uint64_t at) { return data_out[at]; })) {
    return miscompare;
  }
  absl::Status status = store.Write(offset, data_out.subspan(bytes, bytes), command.fua);
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kWrite);
  return std::nullopt;
}

BlockResult ExecuteOrWrite(backend::BlockStore& store, const PreparedCommand& command,
                           uint32_t block_size, absl::Span<const uint8_t> data_out) {
  const uint64_t blocks = std::min<uint64_t>(command.blocks, data_out.size() / block_size);
  if (blocks == 0) return std::nullopt;
  const uint64_t offset = command.lba * block_size;
  std::vector<uint8_t> merged(blocks * block_size);
  absl::Status status = store.Read(offset, absl::MakeSpan(merged));
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kRead);
  for (size_t i = 0; i < merged.size(); ++i) merged[i] |= data_out[i];
  status = store.Write(offset, merged, command.fua);
  if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kWrite);
  return std::nullopt;
}

BlockResult ExecuteGetLbaStatus(backend::BlockStore& store, const PreparedCommand& command,
                                uint32_t block_size, uint64_t capacity_blocks,
                                uint32_t max_bytes, IoBuffer& data_in) {
  // SBC-3 5.7.2 table 36: PARAMETER DATA LENGTH (0-3), reserved (4-7), then
  // 16-byte LBA status descriptors: LBA (0-7), NUMBER OF LOGICAL BLOCKS
  // (8-11), PROVISIONING STATUS (12, bits 3-0: 0 mapped, 1 deallocated).
  constexpr size_t kMaxDescriptors = 64;
  const size_t wanted = std::clamp<size_t>(max_bytes >= 8 ? (max_bytes - 8) / 16 : 0, 1,
                                           kMaxDescriptors);
  std::vector<uint8_t> out(8, 0);
  uint64_t lba = command.lba;
  while (lba < capacity_blocks && (out.size() - 8) / 16 < wanted) {
    absl::StatusOr<backend::MappingRun> run = store.GetMapping(lba * block_size);
    if (!run.ok()) return StoreErrorToCheckCondition(run.status(), StoreOp::kRead);
    const uint64_t end_byte = lba * block_size + run->length;
    // A block partly mapped counts as mapped: round mapped runs up and
    // deallocated runs down to whole blocks.
    uint64_t end = run->mapped ? (end_byte + block_size - 1) / block_size : end_byte / block_size;
    bool mapped = run->mapped;
    if (end <= lba) {
      mapped = true;
      end = lba + 1;
    }
    end = std::min(end, capacity_blocks);
    const uint64_t count = std::min<uint64_t>(end - lba, 0xffffffffu);
    // Merge with the previous descriptor when the state did not change.
    if (out.size() > 8 && ((out[out.size() - 4] & 0x0f) == 0) == mapped &&
        LoadBe32(&out[out.size() - 8]) + count <= 0xffffffffu) {
      StoreBe32(&out[out.size() - 8], static_cast<uint32_t>(LoadBe32(&out[out.size() - 8]) + count));
    } else {
      const size_t at = out.size();
      out.resize(at + 16, 0);
      StoreBe64(&out[at], lba);
      StoreBe32(&out[at + 8], static_cast<uint32_t>(count));
      out[at + 12] = mapped ? 0x00 : 0x01;
    }
    lba += count;
  }
  StoreBe32(&out[0], static_cast<uint32_t>(out.size() - 4));
  if (out.size() > max_bytes) out.resize(max_bytes);
  data_in = std::move(out);
  return std::nullopt;
}

BlockResult ExecuteWriteSame(backend::BlockStore& store, const PreparedCommand& command,
                             uint32_t block_size, absl::Span<const uint8_t> data_out) {
  // NDOB, or an UNMAP sent without data-out: the block is all zeros.
  const std::vector<uint8_t> zeros(data_out.size() < block_size ? block_size : 0, 0);
  const absl::Span<const uint8_t> block =
      data_out.size() < block_size ? absl::MakeConstSpan(zeros) : data_out.subspan(0, block_size);
  const uint64_t offset = command.lba * block_size;
  const uint64_t total = uint64_t{command.blocks} * block_size;
  if (command.unmap && AllZero(block)) {
    // Deallocated blocks read as zeros (LBPRZ=1), which is what was asked.
    absl::Status status = store.Unmap(offset, total);
    if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kUnmap);
    return std::nullopt;
  }
  const uint64_t chunk_blocks = std::max<uint64_t>(kChunkBytes / block_size, 1);
  std::vector<uint8_t> pattern(std::min<uint64_t>(command.blocks, chunk_blocks) * block_size);
  for (size_t at = 0; at < pattern.size(); at += block_size) {
    std::memcpy(&pattern[at], block.data(), block_size);
  }
  for (uint64_t done = 0; done < total;) {
    const uint64_t n = std::min<uint64_t>(total - done, pattern.size());
    absl::Status status = store.Write(offset + done, absl::MakeConstSpan(pattern.data(), n),
                                      /*fua=*/false);
    if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kWrite);
    done += n;
  }
  return std::nullopt;
}

BlockResult ExecuteUnmap(backend::BlockStore& store,
                         const std::vector<UnmapExtent>& extents, uint32_t block_size) {
  for (const UnmapExtent& extent : extents) {
    absl::Status status = store.Unmap(extent.lba * block_size,
                                      uint64_t{extent.blocks} * block_size);
    if (!status.ok()) return StoreErrorToCheckCondition(status, StoreOp::kUnmap);
  }
  return std::nullopt;
}

}  // namespace iscsi_csi::target::scsi
