// Tests for target/bytes.h: big-endian loads and stores at offsets.

#include "target/bytes.h"

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

constexpr std::array<uint8_t, 10> kSample = {0xa0, 0x01, 0x02, 0x03, 0x04,
                                             0x05, 0x06, 0x07, 0x08, 0xff};

// The helpers are usable in constant expressions.
static_assert(LoadBe16(kSample, 1) == 0x0102);
static_assert(LoadBe24(kSample, 1) == 0x010203);
static_assert(LoadBe32(kSample, 0) == 0xa0010203);

TEST(BytesTest, LoadsReadMostSignificantByteFirstAtTheOffset) {
  EXPECT_EQ(LoadBe16(kSample, 0), 0xa001);
  EXPECT_EQ(LoadBe16(kSample, 8), 0x08ff);
  EXPECT_EQ(LoadBe24(kSample, 7), 0x0708ffu);
  EXPECT_EQ(LoadBe32(kSample, 6), 0x060708ffu);
  EXPECT_EQ(LoadBe48(kSample, 1), 0x010203040506ull);
  EXPECT_EQ(LoadBe64(kSample, 2), 0x02030405060708ffull);
  EXPECT_EQ(LoadBe64(kSample, 0), 0xa001020304050607ull);
}

TEST(BytesTest, StoresWriteExactlyTheFieldBytes) {
  std::array<uint8_t, 12> buffer;
  buffer.fill(0xee);
  const auto out = absl::MakeSpan(buffer);

  StoreBe16(out, 0, 0x1234);
  StoreBe24(out, 2, 0xabcdef);
  StoreBe32(out, 5, 0xdeadbeef);
  EXPECT_EQ(buffer, (std::array<uint8_t, 12>{0x12, 0x34, 0xab, 0xcd, 0xef, 0xde, 0xad, 0xbe, 0xef,
                                             0xee, 0xee, 0xee}));

  buffer.fill(0xee);
  StoreBe48(out, 1, 0x0000112233445566ull);
  EXPECT_EQ(buffer, (std::array<uint8_t, 12>{0xee, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xee, 0xee,
                                             0xee, 0xee, 0xee}));

  buffer.fill(0xee);
  StoreBe64(out, 4, 0x0102030405060708ull);
  EXPECT_EQ(buffer, (std::array<uint8_t, 12>{0xee, 0xee, 0xee, 0xee, 0x01, 0x02, 0x03, 0x04, 0x05,
                                             0x06, 0x07, 0x08}));
}

TEST(BytesTest, DataSegmentLengthFieldIsTwentyFourBits) {
  std::array<uint8_t, 8> bhs_prefix{};
  StoreBe24(absl::MakeSpan(bhs_prefix), 5, kMax24);
  EXPECT_EQ(bhs_prefix, (std::array<uint8_t, 8>{0, 0, 0, 0, 0, 0xff, 0xff, 0xff}));
  EXPECT_EQ(LoadBe24(bhs_prefix, 5), 0x00ffffffu);
}

TEST(BytesTest, StoreThenLoadRoundTripsRandomValuesAtEveryOffset) {
  std::mt19937_64 rng(20261101);
  std::vector<uint8_t> buffer(24);
  const auto out = absl::MakeSpan(buffer);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t value = rng();
    const size_t offset = rng() % 16;
    StoreBe16(out, offset, static_cast<uint16_t>(value));
    EXPECT_EQ(LoadBe16(buffer, offset), static_cast<uint16_t>(value));
    StoreBe24(out, offset, static_cast<uint32_t>(value) & kMax24);
    EXPECT_EQ(LoadBe24(buffer, offset), static_cast<uint32_t>(value) & kMax24);
    StoreBe32(out, offset, static_cast<uint32_t>(value));
    EXPECT_EQ(LoadBe32(buffer, offset), static_cast<uint32_t>(value));
    StoreBe48(out, offset, value & kMax48);
    EXPECT_EQ(LoadBe48(buffer, offset), value & kMax48);
    StoreBe64(out, offset, value);
    EXPECT_EQ(LoadBe64(buffer, offset), value);
  }
}

}  // namespace
}  // namespace iscsi_csi::target
