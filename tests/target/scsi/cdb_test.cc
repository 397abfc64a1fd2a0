// Tests for ParseCdb: every implemented opcode's fields and its validation
// errors with exact reasons and field pointers.
#include "target/scsi/cdb.h"

#include <string>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using testing::Cdb10;
using testing::Cdb12;
using testing::Cdb16;
using testing::Cdb6;

constexpr CdbLimits kLimits{/*capacity_blocks=*/1000, /*max_transfer_blocks=*/128,
                            /*max_write_same_blocks=*/512, /*max_compare_and_write_blocks=*/64};

PreparedCommand MustParse(const Bytes& cdb) {
  CdbParseResult result = ParseCdb(cdb, kLimits);
  if (const auto* condition = std::get_if<CheckCondition>(&result)) {
    ADD_FAILURE() << "unexpected " << SenseReasonName(condition->reason);
    return {};
  }
  return std::get<PreparedCommand>(result);
}

struct BadCdbCase {
  std::string name;
  Bytes cdb;
  CheckCondition expected;
};

class ParseCdbRejectsTest : public ::testing::TestWithParam<BadCdbCase> {};

TEST_P(ParseCdbRejectsTest, WithExactReasonAndFieldPointer) {
  CdbParseResult result = ParseCdb(GetParam().cdb, kLimits);
  ASSERT_TRUE(std::holds_alternative<CheckCondition>(result));
  const CheckCondition& got = std::get<CheckCondition>(result);
  const CheckCondition& want = GetParam().expected;
  EXPECT_EQ(SenseReasonName(got.reason), SenseReasonName(want.reason));
  ASSERT_EQ(got.field.has_value(), want.field.has_value());
  if (want.field.has_value()) {
    EXPECT_EQ(got.field->in_cdb, want.field->in_cdb);
    EXPECT_EQ(got.field->byte, want.field->byte);
    EXPECT_EQ(got.field->bit, want.field->bit);
  }
}

CheckCondition Field(uint16_t byte, uint8_t bit = 7) {
  return CheckCondition::InvalidFieldInCdb(byte, bit);
}
CheckCondition Oob() { return CheckCondition::Of(SenseReason::kLbaOutOfRange); }
CheckCondition BadOpcode() {
  return CheckCondition::Of(SenseReason::kInvalidCommandOperationCode);
}

Bytes WithByte(Bytes cdb, size_t at, uint8_t value) {
  cdb[at] = value;
  return cdb;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseCdbRejectsTest,
    ::testing::Values(
        BadCdbCase{"EmptyCdb", {}, BadOpcode()},
        BadCdbCase{"UnknownOpcode", Bytes(16, 0xff), BadOpcode()},
        BadCdbCase{"FormatUnitNotYet", Cdb6(0x04, 0, 0), BadOpcode()},
        BadCdbCase{"FormatUnitIsNotOffered", Cdb6(0x04, 0, 0), BadOpcode()},
        BadCdbCase{"UnknownServiceActionIn16", Cdb16(0x9e, 0, 0, 0x13), BadOpcode()},
        BadCdbCase{"ReportTargetPortGroupsIsNotOffered", Cdb12(0xa3, 0, 0, 0x0a), BadOpcode()},
        BadCdbCase{"ModeSelectWithSavePages", Bytes{0x15, 0x11, 0, 0, 0, 0}, Field(1, 0)},
        BadCdbCase{"ModeSelectWithoutPageFormat", Bytes{0x15, 0x00, 0, 0, 12, 0}, Field(1, 4)},
        BadCdbCase{"CompareAndWriteOverMaximum", WithByte(Cdb16(0x89, 0, 0), 13, 65), Field(13)},
        BadCdbCase{"CompareAndWriteWrprotect", WithByte(Cdb16(0x89, 0, 0), 1, 0x20), Field(1, 7)},
        BadCdbCase{"CompareAndWritePastCapacity", WithByte(Cdb16(0x89, 999, 0), 13, 2),
                   CheckCondition::Of(SenseReason::kLbaOutOfRange)},
        BadCdbCase{"GetLbaStatusAtCapacity", Cdb16(0x9e, 1000, 0, 0x12),
                   CheckCondition::Of(SenseReason::kLbaOutOfRange)},
        BadCdbCase{"Prefetch10PastCapacity", Cdb10(0x34, 1000, 1),
                   CheckCondition::Of(SenseReason::kLbaOutOfRange)},
        BadCdbCase{"Prefetch16PastCapacity", Cdb16(0x90, 999, 2),
                   CheckCondition::Of(SenseReason::kLbaOutOfRange)},
        BadCdbCase{"StartStopUnitLoadEject", Bytes{0x1b, 0, 0, 0, 0x02, 0}, Field(4, 1)},
        BadCdbCase{"StartStopUnitReservedPowerCondition", Bytes{0x1b, 0, 0, 0, 0x40, 0},
                   Field(4, 7)},
        BadCdbCase{"ReportSupportedOpcodesReservedOption", WithByte(Cdb12(0xa3, 0, 0, 0x0c), 2, 4),
                   Field(2, 2)},
        BadCdbCase{"LogSenseSavePage", Bytes{0x4d, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0}, Field(1, 0)},
        BadCdbCase{"Reserve10ThirdParty", Bytes{0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}, Field(1, 4)},
        BadCdbCase{"PersistentReserveInUnknownAction",
                   Bytes{0x5e, 0x04, 0, 0, 0, 0, 0, 0, 0xff, 0}, Field(1, 4)},
        BadCdbCase{"PersistentReserveOutRegisterAndMove",
                   Bytes{0x5f, 0x07, 0, 0, 0, 0, 0, 0, 24, 0}, Field(1, 4)},
        BadCdbCase{"PersistentReserveOutReserveWithBadType",
                   Bytes{0x5f, 0x01, 0x02, 0, 0, 0, 0, 0, 24, 0}, Field(2, 3)},
        BadCdbCase{"PersistentReserveOutElementScope",
                   Bytes{0x5f, 0x01, 0x21, 0, 0, 0, 0, 0, 24, 0}, Field(2, 7)},
        BadCdbCase{"PersistentReserveOutShortParameterList",
                   Bytes{0x5f, 0x00, 0, 0, 0, 0, 0, 0, 20, 0},
                   CheckCondition::Of(SenseReason::kParameterListLengthError)},
        BadCdbCase{"ShortRead16", Bytes{0x88, 0, 0}, Field(0)},
        BadCdbCase{"NacaBitInControl", WithByte(Cdb10(0x28, 0, 1), 9, 0x04), Field(9, 2)},
        BadCdbCase{"LinkBitInControl", WithByte(Cdb10(0x28, 0, 1), 9, 0x01), Field(9, 0)},
        BadCdbCase{"Read10RdprotectSet", Cdb10(0x28, 0, 1, 0x20), Field(1, 7)},
        BadCdbCase{"Write16WrprotectSet", Cdb16(0x8a, 0, 1, 0x60), Field(1, 7)},
        BadCdbCase{"Read10PastCapacity", Cdb10(0x28, 1000, 1), Oob()},
        BadCdbCase{"Read10EndsPastCapacity", Cdb10(0x28, 999, 2), Oob()},
        BadCdbCase{"Read10ZeroBlocksOnePastEnd", Cdb10(0x28, 1001, 0), Oob()},
        BadCdbCase{"Read12LbaAllOnes", Cdb12(0xa8, 0xffffffff, 1), Oob()},
        BadCdbCase{"Read16LbaAllOnes", Cdb16(0x88, ~0ull, 1), Oob()},
        BadCdbCase{"Read16OverMaxTransfer", Cdb16(0x88, 0, 129), Field(10)},
        BadCdbCase{"Write12OverMaxTransfer", Cdb12(0xaa, 0, 129), Field(6)},
        BadCdbCase{"Read6PastCapacity", Cdb6(0x08, 999, 2), Oob()},
        BadCdbCase{"Read6ZeroMeans256OverMaxTransfer", Cdb6(0x08, 0, 0), Field(4)},
        BadCdbCase{"Verify10VrprotectSet", Cdb10(0x2f, 0, 1, 0x80), Field(1, 7)},
        BadCdbCase{"Verify16BytchkReserved", Cdb16(0x8f, 0, 1, 0x04), Field(1, 2)},
        BadCdbCase{"Verify16PastCapacity", Cdb16(0x8f, 1000, 1), Oob()},
        BadCdbCase{"SyncCache10PastCapacity", Cdb10(0x35, 1001, 0), Oob()},
        BadCdbCase{"SyncCache16RangePastCapacity", Cdb16(0x91, 10, 991), Oob()},
        BadCdbCase{"WriteSame10ZeroBlocks", Cdb10(0x41, 0, 0), Field(7)},
        BadCdbCase{"WriteSame16TooLong", Cdb16(0x93, 0, 513), Field(10)},
        BadCdbCase{"WriteSame16Anchor", Cdb16(0x93, 0, 1, 0x10), Field(1, 4)},
        BadCdbCase{"WriteSame10Pbdata", Cdb10(0x41, 0, 1, 0x04), Field(1, 2)},
        BadCdbCase{"WriteSame10Lbdata", Cdb10(0x41, 0, 1, 0x02), Field(1, 1)},
        BadCdbCase{"WriteSame10Wrprotect", Cdb10(0x41, 0, 1, 0x20), Field(1, 7)},
        BadCdbCase{"WriteSame16PastCapacity", Cdb16(0x93, 999, 2), Oob()},
        BadCdbCase{"UnmapAnchor", Cdb10(0x42, 0, 24, 0x01), Field(1, 0)},
        BadCdbCase{"InquiryCmddt", Bytes{0x12, 0x02, 0, 0, 36, 0}, Field(1, 1)},
        BadCdbCase{"InquiryPageWithoutEvpd", Bytes{0x12, 0x00, 0x80, 0, 36, 0}, Field(2)},
        BadCdbCase{"ModeSenseSavedValues", Bytes{0x1a, 0, 0xc8, 0, 255, 0},
                   CheckCondition::Of(SenseReason::kSavingParametersNotSupported)},
        BadCdbCase{"ReadCapacity10LbaWithoutPmi", Bytes{0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0},
                   Field(2)},
        BadCdbCase{"ReadCapacity16LbaWithoutPmi", WithByte(Cdb16(0x9e, 5, 32, 0x10), 14, 0),
                   Field(2)},
        BadCdbCase{"ReportLunsReservedSelectReport",
                   Bytes{0xa0, 0, 0x03, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, Field(2)}),
    [](const ::testing::TestParamInfo<BadCdbCase>& param_info) { return param_info.param.name; });

TEST(ParseCdbTest, Read6DecodesTwentyOneBitLbaAndZeroAs256) {
  constexpr CdbLimits limits{1u << 22, 256, 1};
  CdbParseResult result = ParseCdb(Cdb6(0x08, 0x1fffff - 300, 0), limits);
  ASSERT_TRUE(std::holds_alternative<PreparedCommand>(result));
  const auto& c = std::get<PreparedCommand>(result);
  EXPECT_EQ(c.kind, CommandKind::kRead);
  EXPECT_EQ(c.lba, 0x1fffffu - 300);
  EXPECT_EQ(c.blocks, 256u);
}

TEST(ParseCdbTest, Write10DecodesFuaAndDpo) {
  const PreparedCommand c = MustParse(Cdb10(0x2a, 7, 3, 0x18));
  EXPECT_EQ(c.kind, CommandKind::kWrite);
  EXPECT_EQ(c.lba, 7u);
  EXPECT_EQ(c.blocks, 3u);
  EXPECT_TRUE(c.fua);
  EXPECT_TRUE(c.dpo);
  EXPECT_TRUE(c.ModifiesMedium());
  EXPECT_TRUE(c.UsesBackingStore());
}

TEST(ParseCdbTest, Read16AtExactEndWithZeroBlocksIsValid) {
  const PreparedCommand c = MustParse(Cdb16(0x88, 1000, 0));
  EXPECT_EQ(c.blocks, 0u);
}

TEST(ParseCdbTest, Write12DecodesThirtyTwoBitLength) {
  const PreparedCommand c = MustParse(Cdb12(0xaa, 100, 128));
  EXPECT_EQ(c.lba, 100u);
  EXPECT_EQ(c.blocks, 128u);
}

TEST(ParseCdbTest, VerifyWithoutBytchkIgnoresTransferLimit) {
  const PreparedCommand c = MustParse(Cdb16(0x8f, 0, 1000));
  EXPECT_EQ(c.bytchk, 0);
  EXPECT_EQ(c.blocks, 1000u);
}

TEST(ParseCdbTest, VerifyWithBytchkOneIsBoundedByTransferLimit) {
  CdbParseResult result = ParseCdb(Cdb10(0x2f, 0, 129, 0x02), kLimits);
  ASSERT_TRUE(std::holds_alternative<CheckCondition>(result));
  EXPECT_EQ(std::get<CheckCondition>(result).field->byte, 7);
}

TEST(ParseCdbTest, SyncCacheZeroBlocksMeansToTheEnd) {
  const PreparedCommand c = MustParse(Cdb10(0x35, 1000, 0, 0x02));
  EXPECT_EQ(c.kind, CommandKind::kSynchronizeCache);
  EXPECT_TRUE(c.immed);
}

TEST(ParseCdbTest, WriteSame16DecodesUnmapBit) {
  const PreparedCommand c = MustParse(Cdb16(0x93, 10, 512, 0x08));
  EXPECT_EQ(c.kind, CommandKind::kWriteSame);
  EXPECT_TRUE(c.unmap);
  EXPECT_EQ(c.blocks, 512u);
}

TEST(ParseCdbTest, UnmapDecodesParameterListLength) {
  const PreparedCommand c = MustParse(Cdb10(0x42, 0, 0x0118));
  EXPECT_EQ(c.parameter_list_length, 0x118u);
}

TEST(ParseCdbTest, InquiryDecodesTwoByteAllocationLength) {
  const PreparedCommand c = MustParse(Bytes{0x12, 0x01, 0x83, 0x01, 0x02, 0});
  EXPECT_TRUE(c.evpd);
  EXPECT_EQ(c.page_code, 0x83);
  EXPECT_EQ(c.allocation_length, 0x102u);
}

TEST(ParseCdbTest, ModeSense10DecodesLlbaaAndPageControl) {
  const PreparedCommand c = MustParse(Bytes{0x5a, 0x18, 0x48, 0xff, 0, 0, 0, 0x01, 0x00, 0});
  EXPECT_TRUE(c.llbaa);
  EXPECT_TRUE(c.dbd);
  EXPECT_EQ(c.page_control, 1);
  EXPECT_EQ(c.page_code, 0x08);
  EXPECT_EQ(c.subpage_code, 0xff);
  EXPECT_EQ(c.allocation_length, 256u);
}

TEST(ParseCdbTest, ReadCapacity16DecodesAllocationLength) {
  const PreparedCommand c = MustParse(Cdb16(0x9e, 0, 12, 0x10));
  EXPECT_EQ(c.kind, CommandKind::kReadCapacity16);
  EXPECT_EQ(c.allocation_length, 12u);
}

TEST(ParseCdbTest, CdbLengthFollowsGroupCode) {
  EXPECT_EQ(CdbLengthForOpcode(0x08), 6);
  EXPECT_EQ(CdbLengthForOpcode(0x28), 10);
  EXPECT_EQ(CdbLengthForOpcode(0x5a), 10);
  EXPECT_EQ(CdbLengthForOpcode(0x7f), 0);
  EXPECT_EQ(CdbLengthForOpcode(0x88), 16);
  EXPECT_EQ(CdbLengthForOpcode(0xa8), 12);
  EXPECT_EQ(CdbLengthForOpcode(0xc0), 0);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
