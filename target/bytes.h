// Big-endian (network byte order) loads and stores at a byte offset of a span.
//
// Every multi-byte integer field of an iSCSI PDU is big-endian (RFC 7143 §11, PDU formats);
// the only value that goes on the wire least significant byte first is the CRC32C digest,
// which digest.h stores. Wire structs are decoded field by field
// with these helpers at the RFC's byte offsets, never by casting to a packed struct or with
// bitfields (STYLE.md §9).
//
// Preconditions: `offset + width <= bytes.size()`. Offsets are our own constants and the
// callers check the length of network input before decoding, so the bound is only asserted
// in debug builds (ABSL_ASSERT); it is not a check on network bytes.

#ifndef ISCSI_CSI_TARGET_BYTES_H_
#define ISCSI_CSI_TARGET_BYTES_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/macros.h"
#include "absl/types/span.h"

namespace iscsi_csi::target {
namespace bytes_internal {

// LoadBe reads `width` bytes at `offset` as an unsigned big-endian integer.
constexpr uint64_t LoadBe(absl::Span<const uint8_t> bytes, size_t offset, size_t width) {
  ABSL_ASSERT(offset <= bytes.size() && bytes.size() - offset >= width);
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value = (value << 8) | bytes[offset + i];
  }
  return value;
}

// StoreBe writes the low `width` bytes of `value` at `offset`, most significant first.
constexpr void StoreBe(absl::Span<uint8_t> bytes, size_t offset, size_t width, uint64_t value) {
  ABSL_ASSERT(offset <= bytes.size() && bytes.size() - offset >= width);
  for (size_t i = 0; i < width; ++i) {
    bytes[offset + width - 1 - i] = static_cast<uint8_t>(value & 0xff);
    value >>= 8;
  }
}

}  // namespace bytes_internal

inline constexpr uint32_t kMax24 = 0x00ffffff;
inline constexpr uint64_t kMax48 = 0x0000ffffffffffff;

constexpr uint16_t LoadBe16(absl::Span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint16_t>(bytes_internal::LoadBe(bytes, offset, 2));
}

// LoadBe24 reads a 24-bit field (DataSegmentLength) into the low bits of a uint32_t.
constexpr uint32_t LoadBe24(absl::Span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint32_t>(bytes_internal::LoadBe(bytes, offset, 3));
}

constexpr uint32_t LoadBe32(absl::Span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint32_t>(bytes_internal::LoadBe(bytes, offset, 4));
}

// LoadBe48 reads a 48-bit field (ISID) into the low bits of a uint64_t.
constexpr uint64_t LoadBe48(absl::Span<const uint8_t> bytes, size_t offset) {
  return bytes_internal::LoadBe(bytes, offset, 6);
}

constexpr uint64_t LoadBe64(absl::Span<const uint8_t> bytes, size_t offset) {
  return bytes_internal::LoadBe(bytes, offset, 8);
}

constexpr void StoreBe16(absl::Span<uint8_t> bytes, size_t offset, uint16_t value) {
  bytes_internal::StoreBe(bytes, offset, 2, value);
}

// StoreBe24 writes the low 24 bits of `value`; callers keep `value <= kMax24`.
constexpr void StoreBe24(absl::Span<uint8_t> bytes, size_t offset, uint32_t value) {
  ABSL_ASSERT(value <= kMax24);
  bytes_internal::StoreBe(bytes, offset, 3, value);
}

constexpr void StoreBe32(absl::Span<uint8_t> bytes, size_t offset, uint32_t value) {
  bytes_internal::StoreBe(bytes, offset, 4, value);
}

// StoreBe48 writes the low 48 bits of `value`; callers keep `value <= kMax48`.
constexpr void StoreBe48(absl::Span<uint8_t> bytes, size_t offset, uint64_t value) {
  ABSL_ASSERT(value <= kMax48);
  bytes_internal::StoreBe(bytes, offset, 6, value);
}

constexpr void StoreBe64(absl::Span<uint8_t> bytes, size_t offset, uint64_t value) {
  bytes_internal::StoreBe(bytes, offset, 8, value);
}

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_BYTES_H_
