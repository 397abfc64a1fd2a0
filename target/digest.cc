// CRC32C: run-time choice between the SSE4.2 crc32 instruction and slicing-by-8 tables.
// See digest.h for the parameters and the wire byte order.

#include "target/digest.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/types/span.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define ISCSI_CSI_CRC32C_HAVE_SSE42 1
#else
#define ISCSI_CSI_CRC32C_HAVE_SSE42 0
#endif

namespace iscsi_csi::target {
namespace {

// The Castagnoli polynomial with its bits reversed, for the reflected (LSB-first) CRC.
constexpr uint32_t kReflectedPolynomial = 0x82F63B78;

// Every function below works on the raw CRC register, i.e. a finished CRC value xor
// 0xFFFFFFFF; the public functions do the inversions.
using ExtendFn = uint32_t (*)(uint32_t state, const uint8_t* data, size_t size);

// Slicing-by-8 tables: kTables[0] is the classic byte table; kTables[k][b] is the register
// contribution of byte b followed by k zero bytes.
struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
};

constexpr Tables MakeTables() {
  Tables tables;
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ kReflectedPolynomial : crc >> 1;
    }
    tables.t[0][b] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) {
      const uint32_t prev = tables.t[k - 1][b];
      tables.t[k][b] = (prev >> 8) ^ tables.t[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();
static_assert(kTables.t[0][1] == 0xF26B8303, "CRC32C byte table is wrong");

uint32_t ExtendPortable(uint32_t state, const uint8_t* p, size_t size) {
  const auto& t = kTables.t;
  while (size >= 8) {
    // The first four bytes fold into the register (little-endian, since the CRC is
    // reflected); assembling them by hand keeps this correct on any host byte order.
    const uint32_t low =
        uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
    state ^= low;
    state = t[7][state & 0xff] ^ t[6][(state >> 8) & 0xff] ^ t[5][(state >> 16) & 0xff] ^
            t[4][state >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    size -= 8;
  }
  while (size > 0) {
    state = (state >> 8) ^ t[0][(state ^ *p) & 0xff];
    ++p;
    --size;
  }
  return state;
}

#if ISCSI_CSI_CRC32C_HAVE_SSE42
// The crc32 instruction implements exactly this reflected Castagnoli CRC on the register.
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t state, const uint8_t* p,
                                                       size_t size) {
#if defined(__x86_64__)
  uint64_t state64 = state;
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));  // x86 is little-endian: bytes stay in order
    state64 = _mm_crc32_u64(state64, word);
    p += 8;
    size -= 8;
  }
  state = static_cast<uint32_t>(state64);
#endif
  while (size >= 4) {
    uint32_t word;
    std::memcpy(&word, p, sizeof(word));
    state = _mm_crc32_u32(state, word);
    p += 4;
    size -= 4;
  }
  while (size > 0) {
    state = _mm_crc32_u8(state, *p);
    ++p;
    --size;
  }
  return state;
}
#endif

bool HardwareSupported() {
#if ISCSI_CSI_CRC32C_HAVE_SSE42
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

ExtendFn ChooseExtend() {
#if ISCSI_CSI_CRC32C_HAVE_SSE42
  if (HardwareSupported()) return &ExtendSse42;
#endif
  return &ExtendPortable;
}

ExtendFn Extend() {
  static const ExtendFn fn = ChooseExtend();
  return fn;
}

uint32_t Finish(ExtendFn fn, uint32_t crc, absl::Span<const uint8_t> data) {
  return ~fn(~crc, data.data(), data.size());
}

}  // namespace

uint32_t Crc32c(absl::Span<const uint8_t> data) { return Crc32cExtend(0, data); }

uint32_t Crc32cExtend(uint32_t crc, absl::Span<const uint8_t> data) {
  return Finish(Extend(), crc, data);
}

bool Crc32cUsesHardware() { return Extend() != &ExtendPortable; }

uint32_t Crc32cExtendPortableForTest(uint32_t crc, absl::Span<const uint8_t> data) {
  return Finish(&ExtendPortable, crc, data);
}

uint32_t Crc32cExtendHardwareForTest(uint32_t crc, absl::Span<const uint8_t> data) {
#if ISCSI_CSI_CRC32C_HAVE_SSE42
  if (HardwareSupported()) return Finish(&ExtendSse42, crc, data);
#endif
  return Finish(&ExtendPortable, crc, data);
}

}  // namespace iscsi_csi::target
