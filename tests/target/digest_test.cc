// Tests for target/digest.h: CRC32C on both implementations, and digest byte order.

#include "target/digest.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, absl::Span<const uint8_t>);

struct Implementation {
  std::string name;
  ExtendFn extend;
  bool needs_hardware;
};

bool HardwarePresent() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

// RFC 7143 Appendix A.4 (RFC 3720 B.4): the iSCSI SCSI Read (10) command PDU.
constexpr std::array<uint8_t, 48> kReadPdu = {
    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

std::vector<uint8_t> Filled(uint8_t value) { return std::vector<uint8_t>(32, value); }

std::vector<uint8_t> Incrementing() {
  std::vector<uint8_t> v(32);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<uint8_t> Decrementing() {
  std::vector<uint8_t> v = Incrementing();
  return std::vector<uint8_t>(v.rbegin(), v.rend());
}

class Crc32cImplementationTest : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override {
    if (GetParam().needs_hardware && !HardwarePresent()) {
      GTEST_SKIP() << "no SSE4.2 on this machine";
    }
  }
  uint32_t Crc(absl::Span<const uint8_t> data) const { return GetParam().extend(0, data); }
};

TEST_P(Crc32cImplementationTest, MatchesRfcVectors) {
  EXPECT_EQ(Crc(Filled(0x00)), 0x8A9136AAu);
  EXPECT_EQ(Crc(Filled(0xff)), 0x62A8AB43u);
  EXPECT_EQ(Crc(Incrementing()), 0x46DD794Eu);
  EXPECT_EQ(Crc(Decrementing()), 0x113FDB5Cu);
  EXPECT_EQ(Crc(kReadPdu), 0xD9963A56u);
}

TEST_P(Crc32cImplementationTest, MatchesCatalogueCheckValueAndEmptyInput) {
  const std::string check = "123456789";
  EXPECT_EQ(Crc(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(check.data()), check.size())),
            0xE3069283u);
  EXPECT_EQ(Crc({}), 0u);
}

TEST_P(Crc32cImplementationTest, AgreesWithOneShotOnRandomLengthsAndAlignments) {
  std::mt19937 rng(7143);
  std::vector<uint8_t> buffer(8192 + 16);
  for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 3000; ++i) {
    const size_t offset = rng() % 16;
    const size_t length = (i < 64) ? static_cast<size_t>(i) : rng() % 8192;
    const auto data = absl::MakeConstSpan(buffer.data() + offset, length);
    ASSERT_EQ(GetParam().extend(0, data), Crc32cExtendPortableForTest(0, data))
        << "offset " << offset << " length " << length;
    ASSERT_EQ(GetParam().extend(0, data), Crc32c(data));
  }
}

TEST_P(Crc32cImplementationTest, ExtendOverChunksEqualsOneShot) {
  std::mt19937 rng(3720);
  std::vector<uint8_t> buffer(4096);
  for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 500; ++i) {
    const size_t length = rng() % buffer.size();
    const auto data = absl::MakeConstSpan(buffer.data(), length);
    uint32_t crc = 0;
    size_t pos = 0;
    while (pos < length) {
      const size_t chunk = std::min<size_t>(length - pos, rng() % 67);
      crc = GetParam().extend(crc, data.subspan(pos, chunk));
      pos += chunk;
    }
    ASSERT_EQ(crc, Crc32c(data)) << "length " << length;
  }
}

INSTANTIATE_TEST_SUITE_P(
    BothPaths, Crc32cImplementationTest,
    ::testing::Values(Implementation{"Portable", &Crc32cExtendPortableForTest, false},
                      Implementation{"Sse42", &Crc32cExtendHardwareForTest, true},
                      Implementation{"Dispatched", &Crc32cExtend, false}),
    [](const ::testing::TestParamInfo<Implementation>& param_info) {
      return param_info.param.name;
    });

TEST(Crc32cTest, UsesHardwareExactlyWhenTheCpuHasSse42) {
  EXPECT_EQ(Crc32cUsesHardware(), HardwarePresent());
}

// The digest travels least significant byte first: RFC 7143 A.4 prints the CRC of 32 zero
// bytes as "aa 36 91 8a" and of the read PDU as "56 3a 96 d9".
TEST(DigestByteOrderTest, DigestIsStoredLeastSignificantByteFirst) {
  std::array<uint8_t, 4> wire{};
  StoreDigest(absl::MakeSpan(wire), Crc32c(Filled(0x00)));
  EXPECT_EQ(wire, (std::array<uint8_t, 4>{0xaa, 0x36, 0x91, 0x8a}));
  StoreDigest(absl::MakeSpan(wire), Crc32c(kReadPdu));
  EXPECT_EQ(wire, (std::array<uint8_t, 4>{0x56, 0x3a, 0x96, 0xd9}));
  StoreDigest(absl::MakeSpan(wire), Crc32c(Filled(0xff)));
  EXPECT_EQ(wire, (std::array<uint8_t, 4>{0x43, 0xab, 0xa8, 0x62}));
}

TEST(DigestByteOrderTest, LoadDigestReadsWhatStoreDigestWrote) {
  constexpr std::array<uint8_t, 4> kWire = {0x4e, 0x79, 0xdd, 0x46};
  static_assert(LoadDigest(kWire) == 0x46DD794Eu);
  EXPECT_EQ(LoadDigest(kWire), Crc32c(Incrementing()));
}

}  // namespace
}  // namespace iscsi_csi::target
