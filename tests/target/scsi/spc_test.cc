// Tests for the SPC-4 commands through a LogicalUnit: INQUIRY (standard and
// VPD pages at literal offsets), MODE SENSE(6/10), REQUEST SENSE, REPORT LUNS,
// TEST UNIT READY.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::HarnessOptions;
using testing::Inquiry;
using testing::LunHarness;
using testing::ModeSense10;
using testing::ModeSense6;
using testing::Outcome;

Bytes Slice(const Bytes& data, size_t from, size_t length) {
  if (from + length > data.size()) return {};
  return Bytes(data.begin() + from, data.begin() + from + length);
}

Bytes Ascii(const std::string& text) { return Bytes(text.begin(), text.end()); }

// Fixed sense with INVALID FIELD IN CDB and the given SKS bytes.
Bytes InvalidFieldSense(uint8_t sks0, uint8_t byte) {
  return {0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, sks0, 0x00, byte};
}

class SpcTest : public ::testing::Test {
 protected:
  SpcTest() : harness_(MakeOptions()) { harness_.ClearUnitAttention(); }
  static HarnessOptions MakeOptions() {
    HarnessOptions options;
    options.config.transport_version_descriptor = 0x0960;
    return options;
  }
  LunHarness harness_;
};

TEST_F(SpcTest, StandardInquiryHasIdentityVersionAndDescriptors) {
  const Outcome out = harness_.Run(Inquiry(false, 0, 255));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  ASSERT_EQ(out.data_in.size(), 96u);
  const Bytes& d = out.data_in;
  EXPECT_EQ(d[0], 0x00);  // direct access block device
  EXPECT_EQ(d[1], 0x00);  // not removable
  EXPECT_EQ(d[2], 0x06);  // SPC-4
  EXPECT_EQ(d[3], 0x12);  // HISUP, response data format 2
  EXPECT_EQ(d[4], 91);    // additional length
  EXPECT_EQ(d[5], 0x00);
  EXPECT_EQ(d[7], 0x02);  // CMDQUE
  EXPECT_EQ(Slice(d, 8, 8), Ascii("ISCSICSI"));
  EXPECT_EQ(Slice(d, 16, 16), Ascii("VIRTUAL-DISK    "));
  EXPECT_EQ(Slice(d, 32, 4), Ascii("0001"));
  EXPECT_THAT(Slice(d, 58, 10),
              ElementsAre(0x00, 0xa0, 0x09, 0x60, 0x04, 0x60, 0x04, 0xc0, 0x00, 0x00));
}

TEST_F(SpcTest, StandardInquiryIsTruncatedToAllocationLength) {
  EXPECT_EQ(harness_.Run(Inquiry(false, 0, 36)).data_in.size(), 36u);
  EXPECT_EQ(harness_.Run(Inquiry(false, 0, 0)).data_in.size(), 0u);
}

TEST_F(SpcTest, StandardInquiryIsTruncatedToExpectedTransferLength) {
  const Outcome out = harness_.Run(Inquiry(false, 0, 255), {}, 20);
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_EQ(out.data_in.size(), 20u);
}

TEST_F(SpcTest, SupportedVpdPagesListsEveryPageInOrder) {
  EXPECT_THAT(harness_.Run(Inquiry(true, 0x00, 255)).data_in,
              ElementsAre(0x00, 0x00, 0x00, 0x06, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2));
}

TEST_F(SpcTest, UnitSerialNumberPageCarriesSerial) {
  EXPECT_THAT(harness_.Run(Inquiry(true, 0x80, 255)).data_in,
              ElementsAre(0x00, 0x80, 0x00, 0x06, 'S', 'N', '0', '0', '0', '1'));
}

TEST_F(SpcTest, DeviceIdentificationWithoutPortHasOnlyNaa) {
  const auto wwn = testing::TestWwn();
  Bytes expected = {0x00, 0x83, 0x00, 0x14, 0x01, 0x03, 0x00, 0x10};
  expected.insert(expected.end(), wwn.begin(), wwn.end());
  EXPECT_THAT(harness_.Run(Inquiry(true, 0x83, 255)).data_in, ElementsAreArray(expected));
}

TEST_F(SpcTest, DeviceIdentificationCarriesTargetPortDesignators) {
  auto port = std::make_shared<TargetPortIdentity>();
  port->protocol_identifier = 5;
  port->relative_target_port_id = 1;
  port->target_port_group = 7;
  port->target_port_name = "iqn.x,t,0x0001";  // 14 chars -> 16 with NUL padding
  port->target_device_name = "iqn.x";         // 5 chars -> 8
  auto nexus = std::make_shared<ItNexus>();
  nexus->id = 1;
  nexus->target_port = port;
  const Outcome out = harness_.RunOn(nexus, Inquiry(true, 0x83, 1024));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  const Bytes& d = out.data_in;
  ASSERT_EQ(d.size(), 4u + 20 + 8 + 8 + 20 + 12);
  EXPECT_THAT(Slice(d, 0, 4), ElementsAre(0x00, 0x83, 0x00, 68));
  EXPECT_THAT(Slice(d, 4, 4), ElementsAre(0x01, 0x03, 0x00, 0x10));               // NAA, LU
  EXPECT_THAT(Slice(d, 24, 8), ElementsAre(0x51, 0x94, 0x00, 0x04, 0, 0, 0, 1));  // RTPI
  EXPECT_THAT(Slice(d, 32, 8), ElementsAre(0x51, 0x95, 0x00, 0x04, 0, 0, 0, 7));  // TPG
  EXPECT_THAT(Slice(d, 40, 4), ElementsAre(0x53, 0x98, 0x00, 16));                // port name
  Bytes name = Ascii("iqn.x,t,0x0001");
  name.resize(16, 0);
  EXPECT_EQ(Slice(d, 44, 16), name);
  EXPECT_THAT(Slice(d, 60, 12), ElementsAre(0x53, 0xa8, 0x00, 8, 'i', 'q', 'n', '.', 'x', 0, 0, 0));
}

TEST_F(SpcTest, OverlongScsiNameStringIsCutToFitTheLengthByte) {
  auto port = std::make_shared<TargetPortIdentity>();
  port->protocol_identifier = 5;
  port->target_port_name = std::string(300, 'n');
  auto nexus = std::make_shared<ItNexus>();
  nexus->id = 1;
  nexus->target_port = port;
  const Bytes d = harness_.RunOn(nexus, Inquiry(true, 0x83, 1024)).data_in;
  ASSERT_EQ(d.size(), 4u + 20 + 8 + 4 + 252);
  EXPECT_EQ(d[32 + 3], 252);
  EXPECT_EQ(d[32 + 4 + 250], 'n');
  EXPECT_EQ(d[32 + 4 + 251], 0);
}

TEST_F(SpcTest, BlockLimitsPageReportsLimits) {
  const Bytes d = harness_.Run(Inquiry(true, 0xb0, 255)).data_in;
  ASSERT_EQ(d.size(), 64u);
  EXPECT_THAT(Slice(d, 0, 8), ElementsAre(0x00, 0xb0, 0x00, 0x3c, 0x01, 64, 0x00, 0x01));
  EXPECT_THAT(Slice(d, 8, 4), ElementsAre(0x00, 0x00, 0x40, 0x00));   // 8 MiB / 512
  EXPECT_THAT(Slice(d, 20, 4), ElementsAre(0xff, 0xff, 0xff, 0xff));  // max unmap LBAs
  EXPECT_THAT(Slice(d, 24, 4), ElementsAre(0x00, 0x00, 0x01, 0x00));  // 256 descriptors
  EXPECT_THAT(Slice(d, 28, 4), ElementsAre(0x00, 0x00, 0x00, 0x08));  // 4 KiB granularity
  EXPECT_THAT(Slice(d, 32, 4), ElementsAre(0x00, 0x00, 0x00, 0x00));  // UGAVALID=0
  // 256 MiB configured, capped at 0xFFFF blocks (what WRITE SAME(10) can carry).
  EXPECT_THAT(Slice(d, 36, 8), ElementsAre(0, 0, 0, 0, 0x00, 0x00, 0xff, 0xff));
}

TEST(SpcLimitsTest, WriteSameLimitBelowTheCapIsReportedAsConfigured) {
  HarnessOptions options;
  options.config.max_write_same_bytes = 1 << 20;
  LunHarness harness(options);
  const Bytes d = harness.Run(Inquiry(true, 0xb0, 255)).data_in;
  ASSERT_EQ(d.size(), 64u);
  EXPECT_THAT(Slice(d, 36, 8), ElementsAre(0, 0, 0, 0, 0x00, 0x00, 0x08, 0x00));  // 2048
}

TEST_F(SpcTest, BlockDeviceCharacteristicsSaysNonRotating) {
  const Bytes d = harness_.Run(Inquiry(true, 0xb1, 255)).data_in;
  ASSERT_EQ(d.size(), 64u);
  EXPECT_THAT(Slice(d, 0, 8), ElementsAre(0x00, 0xb1, 0x00, 0x3c, 0x00, 0x01, 0x00, 0x00));
}

TEST_F(SpcTest, LogicalBlockProvisioningSaysThinWithUnmapAndZeroReads) {
  EXPECT_THAT(harness_.Run(Inquiry(true, 0xb2, 255)).data_in,
              ElementsAre(0x00, 0xb2, 0x00, 0x04, 0x00, 0xe4, 0x02, 0x00));
}

TEST_F(SpcTest, UnsupportedVpdPageIsInvalidFieldAtByteTwo) {
  const Outcome out = harness_.Run(Inquiry(true, 0x86, 255));
  EXPECT_EQ(out.status, ScsiStatus::kCheckCondition);
  EXPECT_EQ(out.sense, InvalidFieldSense(0xcf, 2));
}

TEST_F(SpcTest, InquiryCmddtIsInvalidFieldAtByteOneBitOne) {
  const Outcome out = harness_.Run(Bytes{0x12, 0x02, 0, 0, 36, 0});
  EXPECT_EQ(out.sense, InvalidFieldSense(0xc9, 1));
}

TEST_F(SpcTest, ModeSense6CachingPageReportsWriteCacheEnabled) {
  const Outcome out = harness_.Run(ModeSense6(0x08));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  const Bytes& d = out.data_in;
  ASSERT_EQ(d.size(), 32u);
  EXPECT_THAT(Slice(d, 0, 4), ElementsAre(31, 0x00, 0x10, 8));  // DPOFUA, 8-byte descriptor
  EXPECT_THAT(Slice(d, 4, 8), ElementsAre(0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02, 0x00));
  EXPECT_THAT(Slice(d, 12, 4), ElementsAre(0x08, 0x12, 0x04, 0x00));  // WCE=1, RCD=0
}

TEST_F(SpcTest, ModeSense6ControlPageWithoutBlockDescriptor) {
  const Outcome out = harness_.Run(ModeSense6(0x0a, 0, 255, /*dbd=*/true));
  EXPECT_THAT(out.data_in,
              ElementsAre(15, 0x00, 0x10, 0,  //
                          0x0a, 0x0a, 0x00, 0x10, 0x00, 0x40, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00));
}

TEST_F(SpcTest, ModeSense6InformationalExceptionsPage) {
  const Outcome out = harness_.Run(ModeSense6(0x1c, 0, 255, true));
  EXPECT_THAT(out.data_in, ElementsAre(15, 0x00, 0x10, 0,  //
                                       0x1c, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(SpcTest, ModeSenseAllPagesListsPagesInAscendingOrder) {
  const Bytes d = harness_.Run(ModeSense6(0x3f, 0, 255, true)).data_in;
  ASSERT_EQ(d.size(), 48u);
  EXPECT_EQ(d[0], 47);
  EXPECT_EQ(d[4], 0x08);
  EXPECT_EQ(d[24], 0x0a);
  EXPECT_EQ(d[36], 0x1c);
  EXPECT_EQ(harness_.Run(ModeSense6(0x3f, 0xff, 255, true)).data_in, d);
}

TEST_F(SpcTest, ModeSense10WithLlbaaReturnsLongBlockDescriptor) {
  const Bytes d = harness_.Run(ModeSense10(0x08, 0, 1024, false, true)).data_in;
  ASSERT_EQ(d.size(), 8u + 16 + 20);
  EXPECT_THAT(Slice(d, 0, 8), ElementsAre(0x00, 42, 0x00, 0x10, 0x01, 0x00, 0x00, 16));
  EXPECT_THAT(Slice(d, 8, 16),
              ElementsAre(0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x02, 0x00));
  EXPECT_EQ(d[24], 0x08);
}

TEST_F(SpcTest, ModeSense10ShortDescriptorWithoutLlbaa) {
  const Bytes d = harness_.Run(ModeSense10(0x0a)).data_in;
  ASSERT_EQ(d.size(), 8u + 8 + 12);
  EXPECT_THAT(Slice(d, 0, 8), ElementsAre(0x00, 26, 0x00, 0x10, 0x00, 0x00, 0x00, 8));
}

TEST_F(SpcTest, ModeSenseChangeableValuesMarkOnlyWceAndDSense) {
  const Bytes caching = harness_.Run(ModeSense6(0x08, 0, 255, true, /*pc=*/1)).data_in;
  ASSERT_EQ(caching.size(), 24u);
  EXPECT_THAT(Slice(caching, 4, 20),
              ElementsAre(0x08, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  const Bytes control = harness_.Run(ModeSense6(0x0a, 0, 255, true, /*pc=*/1)).data_in;
  EXPECT_THAT(Slice(control, 4, 12), ElementsAre(0x0a, 0x0a, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  const Bytes exceptions = harness_.Run(ModeSense6(0x1c, 0, 255, true, /*pc=*/1)).data_in;
  EXPECT_THAT(Slice(exceptions, 4, 12), ElementsAre(0x1c, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(SpcTest, ModeSenseIsTruncatedButKeepsFullModeDataLength) {
  const Bytes d = harness_.Run(ModeSense6(0x08, 0, 4)).data_in;
  EXPECT_THAT(d, ElementsAre(31, 0x00, 0x10, 8));
}

TEST_F(SpcTest, ModeSenseUnknownPageIsInvalidFieldAtPageCodeBitFive) {
  EXPECT_EQ(harness_.Run(ModeSense6(0x19)).sense, InvalidFieldSense(0xcd, 2));
}

TEST_F(SpcTest, ModeSenseUnknownSubpageIsInvalidFieldAtByteThree) {
  EXPECT_EQ(harness_.Run(ModeSense10(0x08, 0x01)).sense, InvalidFieldSense(0xcf, 3));
}

TEST_F(SpcTest, ModeSenseSavedValuesAreNotSupported) {
  const Outcome out = harness_.Run(ModeSense6(0x08, 0, 255, false, 3));
  EXPECT_CHECK_CONDITION(out, 0x05, 0x39, 0x00);
}

TEST_F(SpcTest, DescriptorSenseSettingShowsInControlPageAndSenseFormat) {
  harness_.lun().SetDescriptorSense(true);
  EXPECT_EQ(harness_.Run(ModeSense6(0x0a, 0, 255, true)).data_in[6], 0x04);
  const Outcome out = harness_.Run(Inquiry(true, 0x86, 255));
  EXPECT_THAT(out.sense, ElementsAre(0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0x08,  //
                                     0x02, 0x06, 0x00, 0x00, 0xcf, 0x00, 0x02, 0x00));
}

TEST_F(SpcTest, ReadOnlyLunSetsWriteProtectInModeHeader) {
  HarnessOptions options;
  options.read_only = true;
  LunHarness read_only(options);
  read_only.ClearUnitAttention();
  EXPECT_EQ(read_only.Run(ModeSense6(0x08)).data_in[2], 0x90);
  EXPECT_EQ(read_only.Run(ModeSense10(0x08)).data_in[3], 0x90);
}

TEST_F(SpcTest, RequestSenseWithNothingPendingReturnsNoSense) {
  const Outcome out = harness_.Run(testing::RequestSense());
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_THAT(out.data_in,
              ElementsAre(0x70, 0, 0x00, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0));
}

TEST_F(SpcTest, RequestSenseDescBitSelectsDescriptorFormat) {
  EXPECT_THAT(harness_.Run(testing::RequestSense(true)).data_in,
              ElementsAre(0x72, 0x00, 0x00, 0x00, 0, 0, 0, 0));
}

TEST_F(SpcTest, RequestSenseHonoursAllocationLength) {
  EXPECT_EQ(harness_.Run(testing::RequestSense(false, 8)).data_in.size(), 8u);
}

TEST_F(SpcTest, ReportLunsWithoutInventoryReportsLunZero) {
  EXPECT_THAT(harness_.Run(testing::ReportLuns()).data_in,
              ElementsAre(0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(SpcTest, ReportLunsUsesTheNexusInventoryAndAllocationLength) {
  auto nexus = std::make_shared<ItNexus>();
  nexus->id = 1;
  nexus->reported_luns = std::make_shared<const std::vector<uint64_t>>(
      std::vector<uint64_t>{0, 0x0005000000000000ull, 0x4100000000000000ull});
  const Outcome full = harness_.RunOn(nexus, testing::ReportLuns(0, 4096));
  ASSERT_EQ(full.data_in.size(), 32u);
  EXPECT_THAT(Slice(full.data_in, 0, 4), ElementsAre(0, 0, 0, 24));
  EXPECT_THAT(Slice(full.data_in, 16, 2), ElementsAre(0x00, 0x05));
  EXPECT_THAT(Slice(full.data_in, 24, 2), ElementsAre(0x41, 0x00));
  const Outcome cut = harness_.RunOn(nexus, testing::ReportLuns(0, 16));
  EXPECT_EQ(cut.data_in.size(), 16u);
  EXPECT_EQ(cut.data_in[3], 24);  // LUN LIST LENGTH stays the full length
}

TEST_F(SpcTest, ReportLunsWellKnownOnlyIsEmpty) {
  EXPECT_THAT(harness_.Run(testing::ReportLuns(1)).data_in, ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(SpcTest, ReportLunsReservedSelectReportIsInvalidField) {
  EXPECT_EQ(harness_.Run(testing::ReportLuns(0x10)).sense, InvalidFieldSense(0xcf, 2));
}

// --- MODE SELECT (SPC-4 6.9/6.10) ------------------------------------------------

Bytes ControlPageSelect(bool d_sense) {
  // Mode parameter header(6) + Control page with its current values.
  return {0, 0, 0,    0,    0x0a, 0x0a, static_cast<uint8_t>(d_sense ? 0x04 : 0), 0x10, 0, 0x40,
          0, 0, 0xff, 0xff, 0,    0};
}

TEST_F(SpcTest, ModeSelectTurnsDescriptorSenseOnAndTellsOtherNexuses) {
  harness_.ClearUnitAttention(2);
  const Bytes list = ControlPageSelect(true);
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(static_cast<uint8_t>(list.size())), list).status,
            ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(ModeSense6(0x0a, 0, 255, true)).data_in[6] & 0x04, 0x04);
  // Sense data now comes in descriptor format.
  EXPECT_EQ(harness_.Run(testing::Read16(1u << 20, 1)).sense[0], 0x72);
  // The other nexus hears MODE PARAMETERS CHANGED.
  const Outcome other = harness_.Run(Bytes{0, 0, 0, 0, 0, 0}, {}, 0, 2);
  EXPECT_EQ(other.sense, (Bytes{0x72, 0x06, 0x2a, 0x01, 0, 0, 0, 0}));
}

TEST_F(SpcTest, ModeSelect10WithCachingPageCanTurnTheWriteCacheOff) {
  Bytes list(8, 0);
  const Bytes caching = {0x08, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  list.insert(list.end(), caching.begin(), caching.end());
  EXPECT_EQ(harness_.Run(testing::ModeSelect10(static_cast<uint16_t>(list.size())), list).status,
            ScsiStatus::kGood);
  EXPECT_FALSE(harness_.lun().write_cache_enabled());
  EXPECT_EQ(harness_.Run(ModeSense6(0x08, 0, 255, true)).data_in[6], 0x00);
  // Writes are now durable before GOOD.
  const int fua_before = harness_.store().fua_writes();
  EXPECT_EQ(harness_.Run(testing::Write10(0, 1), Bytes(512, 1)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().fua_writes(), fua_before + 1);
  // A LOGICAL UNIT RESET restores the default.
  harness_.lun().Reset();
  EXPECT_TRUE(harness_.lun().write_cache_enabled());
}

TEST_F(SpcTest, ModeSelectOfNonChangeableFieldPointsAtIt) {
  Bytes list = ControlPageSelect(false);
  list[7] = 0x00;  // QUEUE ALGORITHM MODIFIER 1 -> 0: not changeable
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(static_cast<uint8_t>(list.size())), list).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x8c, 0, 7}));
}

TEST_F(SpcTest, ModeSelectOfUnknownPageOrWrongLengthIsInvalidFieldInParameterList) {
  const Bytes unknown = {0, 0, 0, 0, 0x19, 0x02, 0, 0};
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(8), unknown).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x8d, 0, 4}));
  const Bytes short_page = {0, 0, 0, 0, 0x0a, 0x02, 0, 0};
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(8), short_page).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x8f, 0, 5}));
}

TEST_F(SpcTest, ModeSelectWithTruncatedPageIsParameterListLengthError) {
  const Bytes list = {0, 0, 0, 0, 0x0a, 0x0a, 0, 0x10};
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(8), list).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x1a, 0x00, 0, 0, 0, 0}));
}

TEST_F(SpcTest, ModeSelectBlockDescriptorMustKeepTheBlockLength) {
  Bytes list = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0x00};  // 4096-byte blocks
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(12), list).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x8f, 0, 9}));
  list[10] = 0x02;  // 512: fine, with NUMBER OF BLOCKS 0
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(12), list).status, ScsiStatus::kGood);
}

TEST_F(SpcTest, ModeSelectWithZeroLengthIsGood) {
  EXPECT_EQ(harness_.Run(testing::ModeSelect6(0, 0x00)).status, ScsiStatus::kGood);
}

TEST_F(SpcTest, ModeSenseDefaultValuesShowConfiguredDefaults) {
  harness_.lun().SetDescriptorSense(true);
  const Bytes defaults = harness_.Run(ModeSense6(0x0a, 0, 255, true, /*pc=*/2)).data_in;
  EXPECT_EQ(defaults[6] & 0x04, 0x00);
  const Bytes current = harness_.Run(ModeSense6(0x0a, 0, 255, true, /*pc=*/0)).data_in;
  EXPECT_EQ(current[6] & 0x04, 0x04);
}

// --- LOG SENSE --------------------------------------------------------------------

TEST_F(SpcTest, LogSenseSupportedPagesListsOnlyItself) {
  const Bytes cdb = {0x4d, 0, 0x40, 0x00, 0, 0, 0, 0x01, 0x00, 0};
  EXPECT_THAT(harness_.Run(cdb).data_in, ElementsAre(0x00, 0x00, 0x00, 0x01, 0x00));
  const Bytes subpages = {0x4d, 0, 0x40, 0xff, 0, 0, 0, 0x01, 0x00, 0};
  EXPECT_THAT(harness_.Run(subpages).data_in,
              ElementsAre(0x40, 0xff, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff));
}

TEST_F(SpcTest, LogSenseOfOtherPagesIsInvalidField) {
  const Bytes cdb = {0x4d, 0, 0x4d, 0x00, 0, 0, 0, 0x01, 0x00, 0};
  EXPECT_EQ(harness_.Run(cdb).sense, InvalidFieldSense(0xcd, 2));
}

TEST_F(SpcTest, TestUnitReadyIsGood) {
  const Outcome out = harness_.Run(Bytes{0, 0, 0, 0, 0, 0});
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_TRUE(out.sense.empty());
  EXPECT_TRUE(out.data_in.empty());
}

TEST_F(SpcTest, UnimplementedOpcodeIsInvalidCommandOperationCode) {
  for (uint8_t op : {0x04, 0x1c, 0x1d, 0x1e, 0x3b, 0x3c, 0x4c, 0x83, 0x84, 0xa4, 0xc0, 0xff}) {
    Bytes cdb(16, 0);
    cdb[0] = op;
    const Outcome out = harness_.Run(cdb);
    EXPECT_EQ(out.status, ScsiStatus::kCheckCondition) << int{op};
    EXPECT_EQ(out.sense,
              (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x20, 0x00, 0, 0, 0, 0}))
        << int{op};
  }
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
