// Tests for the SenseReason table and the fixed/descriptor sense encodings.
#include "target/scsi/sense.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target::scsi {
namespace {

using ::testing::ElementsAre;

struct SenseRowCase {
  SenseReason reason;
  uint8_t key;
  uint8_t asc;
  uint8_t ascq;
};

class SenseTableTest : public ::testing::TestWithParam<SenseRowCase> {};

TEST_P(SenseTableTest, ReasonMapsToSpcKeyAscAscq) {
  const SenseRowCase& c = GetParam();
  const SenseCode code = SenseCodeOf(c.reason);
  EXPECT_EQ(static_cast<uint8_t>(code.key), c.key);
  EXPECT_EQ(code.asc, c.asc);
  EXPECT_EQ(code.ascq, c.ascq);
}

INSTANTIATE_TEST_SUITE_P(
    AllReasons, SenseTableTest,
    ::testing::Values(
        SenseRowCase{SenseReason::kNoSense, 0x0, 0x00, 0x00},
        SenseRowCase{SenseReason::kInvalidCommandOperationCode, 0x5, 0x20, 0x00},
        SenseRowCase{SenseReason::kInvalidFieldInCdb, 0x5, 0x24, 0x00},
        SenseRowCase{SenseReason::kInvalidFieldInParameterList, 0x5, 0x26, 0x00},
        SenseRowCase{SenseReason::kParameterListLengthError, 0x5, 0x1a, 0x00},
        SenseRowCase{SenseReason::kInvalidFieldInInformationUnit, 0x5, 0x0e, 0x03},
        SenseRowCase{SenseReason::kLbaOutOfRange, 0x5, 0x21, 0x00},
        SenseRowCase{SenseReason::kSavingParametersNotSupported, 0x5, 0x39, 0x00},
        SenseRowCase{SenseReason::kWriteProtected, 0x7, 0x27, 0x00},
        SenseRowCase{SenseReason::kSpaceAllocationFailedWriteProtect, 0x7, 0x27, 0x07},
        SenseRowCase{SenseReason::kUnrecoveredReadError, 0x3, 0x11, 0x00},
        SenseRowCase{SenseReason::kWriteError, 0x3, 0x0c, 0x00},
        SenseRowCase{SenseReason::kMiscompareDuringVerify, 0xe, 0x1d, 0x00},
        SenseRowCase{SenseReason::kInternalTargetFailure, 0x4, 0x44, 0x00},
        SenseRowCase{SenseReason::kLogicalUnitNotSupported, 0x5, 0x25, 0x00},
        SenseRowCase{SenseReason::kPowerOnResetOccurred, 0x6, 0x29, 0x00},
        SenseRowCase{SenseReason::kBusDeviceResetOccurred, 0x6, 0x29, 0x03},
        SenseRowCase{SenseReason::kModeParametersChanged, 0x6, 0x2a, 0x01},
        SenseRowCase{SenseReason::kCapacityDataHasChanged, 0x6, 0x2a, 0x09},
        SenseRowCase{SenseReason::kReportedLunsDataHasChanged, 0x6, 0x3f, 0x0e},
        SenseRowCase{SenseReason::kCommandsClearedByAnotherInitiator, 0x6, 0x2f, 0x00}));

TEST(SenseTest, FixedFormatInvalidFieldCarriesFieldPointerWithBit) {
  EXPECT_THAT(EncodeSense(CheckCondition::InvalidFieldInCdb(1, 5), SenseFormat::kFixed),
              ElementsAre(0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
                          0x00, 0x24, 0x00, 0x00, 0xcd, 0x00, 0x01));
}

TEST(SenseTest, FixedFormatParameterListPointerClearsCdBit) {
  EXPECT_THAT(
      EncodeSense(CheckCondition::InvalidFieldInParameterList(0x128, 7), SenseFormat::kFixed),
      ElementsAre(0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00,
                  0x26, 0x00, 0x00, 0x8f, 0x01, 0x28));
}

TEST(SenseTest, FixedFormatMiscompareSetsValidAndInformation) {
  EXPECT_THAT(EncodeSense(CheckCondition::Miscompare(0x1234), SenseFormat::kFixed),
              ElementsAre(0xf0, 0x00, 0x0e, 0x00, 0x00, 0x12, 0x34, 0x0a, 0x00, 0x00, 0x00,
                          0x00, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x00));
}

TEST(SenseTest, FixedFormatInformationTooLargeLeavesValidClear) {
  const std::vector<uint8_t> sense =
      EncodeSense(CheckCondition::Miscompare(0x100000000ull), SenseFormat::kFixed);
  EXPECT_EQ(sense[0], 0x70);
}

TEST(SenseTest, DescriptorFormatWithoutExtrasIsEightBytes) {
  EXPECT_THAT(EncodeSense(CheckCondition::Of(SenseReason::kLbaOutOfRange),
                          SenseFormat::kDescriptor),
              ElementsAre(0x72, 0x05, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00));
}

TEST(SenseTest, DescriptorFormatCarriesSenseKeySpecificDescriptor) {
  EXPECT_THAT(EncodeSense(CheckCondition::InvalidFieldInCdb(2), SenseFormat::kDescriptor),
              ElementsAre(0x72, 0x05, 0x24, 0x00, 0x00, 0x00, 0x00, 0x08,  //
                          0x02, 0x06, 0x00, 0x00, 0xcf, 0x00, 0x02, 0x00));
}

TEST(SenseTest, DescriptorFormatCarriesInformationDescriptor) {
  EXPECT_THAT(EncodeSense(CheckCondition::Miscompare(0x0102030405ull),
                          SenseFormat::kDescriptor),
              ElementsAre(0x72, 0x0e, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x0c,  //
                          0x00, 0x0a, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
                          0x04, 0x05));
}

TEST(SenseTest, UnitAttentionReasonsAreRecognised) {
  EXPECT_TRUE(IsUnitAttention(SenseReason::kCapacityDataHasChanged));
  EXPECT_FALSE(IsUnitAttention(SenseReason::kLbaOutOfRange));
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
