// CRC32C, the HeaderDigest/DataDigest algorithm of iSCSI (RFC 7143 §13.1; generator
// 0x11EDC6F41, Castagnoli). Parameters as the CRC catalogue names them: poly 0x1EDC6F41,
// reflected input and output (table polynomial 0x82F63B78), init 0xFFFFFFFF, xorout
// 0xFFFFFFFF; check value of "123456789" is 0xE3069283. Padding bytes of a segment are
// included in its digest (RFC 7143 §13.1).
//
// Two implementations give identical results: the SSE4.2 `crc32` instruction, chosen at run
// time with __builtin_cpu_supports("sse4.2") and compiled through a function target
// attribute (the build has no global -msse4.2), and a portable slicing-by-8 table.
//
// Byte order on the wire. A digest goes on the wire least significant byte first, i.e. the
// 32-bit CRC value stored little-endian, unlike every other iSCSI field:
//  - RFC 7143 Appendix A.4 (RFC 3720 B.4) lists the CRC of 32 zero bytes as the transmitted
//    bytes "aa 36 91 8a"; the CRC value computed as above is 0x8A9136AA.
//  - Linux (crypto/crc32c_generic.c, used by iscsi_tcp and LIO for digests) finishes the
//    hash with put_unaligned_le32(~crc, out) and sends those bytes as the digest.
//  - libiscsi (lib/socket.c, iscsi_pdu_update_headerdigest) writes crc, crc >> 8, crc >> 16,
//    crc >> 24 into bytes 48..51.
// StoreDigest/LoadDigest below are the only place that knows this.

#ifndef ISCSI_CSI_TARGET_DIGEST_H_
#define ISCSI_CSI_TARGET_DIGEST_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/macros.h"
#include "absl/types/span.h"

namespace iscsi_csi::target {

// Length of a HeaderDigest or DataDigest on the wire.
inline constexpr size_t kDigestLength = 4;

// Crc32c returns the CRC32C of `data` (0 for empty input).
uint32_t Crc32c(absl::Span<const uint8_t> data);

// Crc32cExtend continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a followed by b).
// `crc` is a finished CRC value (0 to start), so a digest over scattered buffers is a chain
// of Crc32cExtend calls.
uint32_t Crc32cExtend(uint32_t crc, absl::Span<const uint8_t> data);

// Crc32cUsesHardware reports whether Crc32c runs on the SSE4.2 instruction on this machine.
bool Crc32cUsesHardware();

// StoreDigest writes `crc` as a wire digest (least significant byte first) into
// digest[0..3]. Precondition: digest.size() >= kDigestLength.
constexpr void StoreDigest(absl::Span<uint8_t> digest, uint32_t crc) {
  ABSL_ASSERT(digest.size() >= kDigestLength);
  for (size_t i = 0; i < kDigestLength; ++i) {
    digest[i] = static_cast<uint8_t>(crc >> (8 * i));
  }
}

// LoadDigest reads a wire digest from digest[0..3]. Precondition: digest.size() >= 4.
constexpr uint32_t LoadDigest(absl::Span<const uint8_t> digest) {
  ABSL_ASSERT(digest.size() >= kDigestLength);
  uint32_t crc = 0;
  for (size_t i = 0; i < kDigestLength; ++i) {
    crc |= uint32_t{digest[i]} << (8 * i);
  }
  return crc;
}

// Test hooks: each implementation on its own. The hardware one must only be called when
// Crc32cUsesHardware() is true.
uint32_t Crc32cExtendPortableForTest(uint32_t crc, absl::Span<const uint8_t> data);
uint32_t Crc32cExtendHardwareForTest(uint32_t crc, absl::Span<const uint8_t> data);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_DIGEST_H_
