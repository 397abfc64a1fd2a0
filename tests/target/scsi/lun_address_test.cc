// Tests for LUN field encodings and REPORT LUNS parameter data.
#include "target/scsi/lun_address.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target::scsi {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

TEST(LunAddressTest, SmallLunUsesPeripheralAddressing) {
  EXPECT_THAT(EncodeLun(0), Optional(0x0000000000000000ull));
  EXPECT_THAT(EncodeLun(5), Optional(0x0005000000000000ull));
  EXPECT_THAT(EncodeLun(255), Optional(0x00ff000000000000ull));
}

TEST(LunAddressTest, LargerLunUsesFlatSpaceAddressing) {
  EXPECT_THAT(EncodeLun(256), Optional(0x4100000000000000ull));
  EXPECT_THAT(EncodeLun(0x3fff), Optional(0x7fff000000000000ull));
}

TEST(LunAddressTest, LunBeyondFlatSpaceCannotBeEncoded) {
  EXPECT_EQ(EncodeLun(0x4000), std::nullopt);
}

TEST(LunAddressTest, DecodeRoundTripsBothMethods) {
  for (uint32_t lun : {0u, 1u, 255u, 256u, 1000u, 0x3fffu}) {
    EXPECT_THAT(DecodeLun(*EncodeLun(lun)), Optional(static_cast<uint16_t>(lun))) << lun;
  }
}

TEST(LunAddressTest, DecodeRejectsMultiLevelAndOtherMethods) {
  EXPECT_EQ(DecodeLun(0x0001000100000000ull), std::nullopt);  // second level
  EXPECT_EQ(DecodeLun(0x0105000000000000ull), std::nullopt);  // bus 1
  EXPECT_EQ(DecodeLun(0x8005000000000000ull), std::nullopt);  // logical unit addressing
  EXPECT_EQ(DecodeLun(0xc100000000000000ull), std::nullopt);  // extended
}

TEST(LunAddressTest, ReportLunsDataHasHeaderAndFields) {
  const std::vector<uint64_t> luns = {*EncodeLun(0), *EncodeLun(300)};
  EXPECT_THAT(EncodeReportLunsData(luns),
              ElementsAre(0, 0, 0, 16, 0, 0, 0, 0,  //
                          0, 0, 0, 0, 0, 0, 0, 0,   //
                          0x41, 0x2c, 0, 0, 0, 0, 0, 0));
}

TEST(LunAddressTest, EmptyReportLunsDataIsJustTheHeader) {
  EXPECT_THAT(EncodeReportLunsData({}), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
