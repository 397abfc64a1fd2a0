// Tests for the SBC-3 commands through a LogicalUnit over a real sparse
// file: READ CAPACITY, READ/WRITE(6/10/12/16), FUA and SYNCHRONIZE CACHE,
// VERIFY, UNMAP and WRITE SAME (hole punching), and store error translation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using testing::Cdb10;
using testing::Cdb12;
using testing::Cdb16;
using testing::Cdb6;
using ::testing::Each;
using ::testing::ElementsAre;
using testing::HarnessOptions;
using testing::LunHarness;
using testing::Outcome;
using testing::Pattern;
using testing::StoreOp;

constexpr uint64_t kBlocks = 4096;

Bytes FixedSense(uint8_t key, uint8_t asc, uint8_t ascq) {
  return {0x70, 0, key, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0};
}

blkcnt_t AllocatedBlocks(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_blocks;
}

off_t SeekHole(const std::string& path, off_t from) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  const off_t at = ::lseek(fd, from, SEEK_HOLE);
  ::close(fd);
  return at;
}

class SbcTest : public ::testing::Test {
 protected:
  SbcTest() { harness_.ClearUnitAttention(); }
  Bytes ReadBlocks(uint64_t lba, uint32_t blocks) {
    const Outcome out = harness_.Run(testing::Read16(lba, blocks));
    EXPECT_EQ(out.status, ScsiStatus::kGood);
    return out.data_in;
  }
  void WriteBlocks(uint64_t lba, const Bytes& data) {
    const Outcome out =
        harness_.Run(testing::Write16(lba, static_cast<uint32_t>(data.size() / 512)), data);
    EXPECT_EQ(out.status, ScsiStatus::kGood);
  }
  LunHarness harness_;
};

TEST_F(SbcTest, ReadCapacity10ReturnsLastLbaAndBlockLength) {
  EXPECT_THAT(harness_.Run(testing::ReadCapacity10()).data_in,
              ElementsAre(0x00, 0x00, 0x0f, 0xff, 0x00, 0x00, 0x02, 0x00));
}

TEST_F(SbcTest, ReadCapacity16ReportsThinProvisioningBits) {
  const Outcome out = harness_.Run(testing::ReadCapacity16());
  ASSERT_EQ(out.data_in.size(), 32u);
  EXPECT_THAT(Bytes(out.data_in.begin(), out.data_in.begin() + 16),
              ElementsAre(0, 0, 0, 0, 0, 0, 0x0f, 0xff, 0x00, 0x00, 0x02, 0x00, 0x00,
                          0x00, 0xc0, 0x00));
  EXPECT_THAT(Bytes(out.data_in.begin() + 16, out.data_in.end()), Each(0));
}

TEST_F(SbcTest, ReadCapacity16HonoursAllocationLength) {
  EXPECT_EQ(harness_.Run(testing::ReadCapacity16(12)).data_in.size(), 12u);
}

TEST(SbcLargeTest, ReadCapacity10SaturatesWhenLastLbaDoesNotFit) {
  HarnessOptions options;
  options.blocks = 0x100000001ull;  // 2 TiB + 512 bytes, sparse
  LunHarness harness(options);
  harness.ClearUnitAttention();
  EXPECT_THAT(harness.Run(testing::ReadCapacity10()).data_in,
              ElementsAre(0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00));
  const Bytes rc16 = harness.Run(testing::ReadCapacity16()).data_in;
  EXPECT_THAT(Bytes(rc16.begin(), rc16.begin() + 8), ElementsAre(0, 0, 0, 1, 0, 0, 0, 0));
}

TEST(Sbc4kTest, FourKiBlockLunReportsAndMovesWholeBlocks) {
  HarnessOptions options;
  options.block_size = 4096;
  options.blocks = 256;
  LunHarness harness(options);
  harness.ClearUnitAttention();
  EXPECT_THAT(harness.Run(testing::ReadCapacity10()).data_in,
              ElementsAre(0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x10, 0x00));
  const Bytes data = Pattern(8192, 3);
  EXPECT_EQ(harness.Run(testing::Write10(10, 2), data).status, ScsiStatus::kGood);
  EXPECT_EQ(harness.Run(testing::Read10(10, 2)).data_in, data);
}

Bytes OrWrite16(uint64_t lba, uint32_t blocks, uint8_t byte1 = 0) {
  Bytes cdb = testing::Write16(lba, blocks, byte1);
  cdb[0] = 0x8b;
  return cdb;
}

TEST_F(SbcTest, OrWriteOrsTheDataIntoTheBlocks) {
  ASSERT_EQ(harness_.Run(testing::Write16(20, 2), Bytes(1024, 0x0f)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(OrWrite16(20, 2), Bytes(1024, 0xa0)).status, ScsiStatus::kGood);
  EXPECT_THAT(harness_.Run(testing::Read16(20, 2)).data_in, Each(0xaf));
  // Unwritten (hole) blocks read as zero, so ORing writes the data as is.
  const Bytes data = Pattern(512, 9);
  EXPECT_EQ(harness_.Run(OrWrite16(100, 1), data).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(testing::Read16(100, 1)).data_in, data);
  // FUA reaches the store as a durable write.
  const int fua_before = harness_.store().fua_writes();
  EXPECT_EQ(harness_.Run(OrWrite16(20, 1, 0x08), Bytes(512, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().fua_writes(), fua_before + 1);
}

TEST_F(SbcTest, OrWriteChecksLikeAWrite) {
  EXPECT_EQ(harness_.Run(OrWrite16(0, 0)).status, ScsiStatus::kGood);  // zero blocks
  EXPECT_CHECK_CONDITION(harness_.Run(OrWrite16(4095, 2), Bytes(1024, 1)), 0x05, 0x21, 0x00);
  EXPECT_CHECK_CONDITION(harness_.Run(OrWrite16(0, 1, 0x20), Bytes(512, 1)), 0x05, 0x24, 0x00);
  EXPECT_THAT(harness_.Run(testing::Read16(0, 1)).data_in, Each(0));
}

TEST(SbcReadOnlyTest, OrWriteOnAReadOnlyLunIsWriteProtected) {
  HarnessOptions options;
  options.read_only = true;
  LunHarness harness(options);
  harness.ClearUnitAttention();
  EXPECT_CHECK_CONDITION(harness.Run(OrWrite16(0, 1), Bytes(512, 1)), 0x07, 0x27, 0x00);
}

struct ReadWriteCase {
  const char* name;
  Bytes write_cdb;
  Bytes read_cdb;
};

class ReadWriteRoundTripTest : public SbcTest,
                               public ::testing::WithParamInterface<ReadWriteCase> {};

TEST_P(ReadWriteRoundTripTest, WrittenBlocksReadBackUnchanged) {
  const Bytes data = Pattern(3 * 512, 0x21);
  EXPECT_EQ(harness_.Run(GetParam().write_cdb, data).status, ScsiStatus::kGood);
  const Outcome out = harness_.Run(GetParam().read_cdb);
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_EQ(out.data_in, data);
}

INSTANTIATE_TEST_SUITE_P(
    AllSizes, ReadWriteRoundTripTest,
    ::testing::Values(ReadWriteCase{"Six", Cdb6(0x0a, 100, 3), Cdb6(0x08, 100, 3)},
                      ReadWriteCase{"Ten", Cdb10(0x2a, 200, 3), Cdb10(0x28, 200, 3)},
                      ReadWriteCase{"Twelve", Cdb12(0xaa, 300, 3), Cdb12(0xa8, 300, 3)},
                      ReadWriteCase{"Sixteen", Cdb16(0x8a, 4093, 3), Cdb16(0x88, 4093, 3)}),
    [](const ::testing::TestParamInfo<ReadWriteCase>& param_info) {
      return param_info.param.name;
    });

TEST_F(SbcTest, UnwrittenBlocksReadAsZeros) { EXPECT_THAT(ReadBlocks(1000, 8), Each(0)); }

TEST_F(SbcTest, Read16PastCapacityReturnsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(testing::Read16(kBlocks, 1)).sense, FixedSense(0x05, 0x21, 0x00));
}

TEST_F(SbcTest, Write10EndingPastCapacityReturnsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(testing::Write10(kBlocks - 1, 2), Bytes(1024, 1)).sense,
            FixedSense(0x05, 0x21, 0x00));
}

TEST_F(SbcTest, ZeroLengthReadAtCapacityIsGood) {
  const Outcome out = harness_.Run(testing::Read10(kBlocks, 0));
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_TRUE(out.data_in.empty());
}

TEST_F(SbcTest, Read10WithRdprotectIsInvalidFieldAtByteOne) {
  EXPECT_EQ(harness_.Run(testing::Read10(0, 1, 0x20)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 1}));
}

TEST_F(SbcTest, ReadOverMaximumTransferLengthIsInvalidFieldAtLength) {
  EXPECT_EQ(harness_.Run(testing::Read16(0, 16385)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 10}));
}

TEST_F(SbcTest, ReadIsCutToExpectedTransferLength) {
  WriteBlocks(0, Pattern(1024, 9));
  const Outcome out = harness_.Run(testing::Read10(0, 2), {}, 700);
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  const Bytes written = Pattern(1024, 9);
  EXPECT_EQ(out.data_in, Bytes(written.begin(), written.begin() + 700));
}

TEST_F(SbcTest, WriteWithShortDataOutWritesOnlyWholeBlocksReceived) {
  WriteBlocks(0, Bytes(1024, 'a'));
  EXPECT_EQ(harness_.Run(testing::Write10(0, 2), Bytes(512, 'b')).status, ScsiStatus::kGood);
  const Bytes back = ReadBlocks(0, 2);
  EXPECT_THAT(Bytes(back.begin(), back.begin() + 512), Each('b'));
  EXPECT_THAT(Bytes(back.begin() + 512, back.end()), Each('a'));
}

TEST_F(SbcTest, WriteWithLongDataOutWritesOnlyTheTransferLength) {
  WriteBlocks(0, Bytes(1024, 'a'));
  EXPECT_EQ(harness_.Run(testing::Write10(0, 1), Bytes(1024, 'b')).status, ScsiStatus::kGood);
  const Bytes back = ReadBlocks(0, 2);
  EXPECT_THAT(Bytes(back.begin() + 512, back.end()), Each('a'));
}

TEST_F(SbcTest, FuaWriteReachesStableStorage) {
  const int before = harness_.store().durable_calls();
  EXPECT_EQ(harness_.Run(testing::Write10(5, 1, 0x08), Bytes(512, 1)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().fua_writes(), 1);
  EXPECT_EQ(harness_.store().durable_calls(), before + 1);
  harness_.Run(testing::Write10(5, 1), Bytes(512, 1));
  EXPECT_EQ(harness_.store().fua_writes(), 1);
}

TEST_F(SbcTest, SynchronizeCache10And16Flush) {
  EXPECT_EQ(harness_.Run(Cdb10(0x35, 0, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb16(0x91, 10, 20, 0x02)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kFlush), 2);
}

TEST_F(SbcTest, SynchronizeCachePastCapacityIsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(Cdb10(0x35, kBlocks + 1, 0)).sense, FixedSense(0x05, 0x21, 0x00));
  EXPECT_EQ(harness_.store().count(StoreOp::kFlush), 0);
}

TEST_F(SbcTest, VerifyWithByteCheckMatchingDataIsGood) {
  const Bytes data = Pattern(2048, 4);
  WriteBlocks(10, data);
  EXPECT_EQ(harness_.Run(Cdb10(0x2f, 10, 4, 0x02), data).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb16(0x8f, 10, 4, 0x02), data).status, ScsiStatus::kGood);
}

TEST_F(SbcTest, VerifyMismatchReportsMiscompareWithOffset) {
  Bytes data = Pattern(2048, 4);
  WriteBlocks(10, data);
  data[700] ^= 0xff;
  EXPECT_EQ(
      harness_.Run(Cdb10(0x2f, 10, 4, 0x02), data).sense,
      (Bytes{0xf0, 0, 0x0e, 0x00, 0x00, 0x02, 0xbc, 0x0a, 0, 0, 0, 0, 0x1d, 0x00, 0, 0, 0, 0}));
}

TEST_F(SbcTest, VerifyMismatchInDescriptorFormatHasInformationDescriptor) {
  harness_.lun().SetDescriptorSense(true);
  Bytes data(512, 0);
  data[3] = 1;
  EXPECT_EQ(harness_.Run(Cdb16(0x8f, 0, 1, 0x02), data).sense,
            (Bytes{0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 0x0c, 0x00, 0x0a,
                   0x80, 0x00, 0,    0,    0, 0, 0, 0,    0,    3}));
}

TEST_F(SbcTest, VerifyWithoutByteCheckOnlyChecksTheRange) {
  EXPECT_EQ(harness_.Run(Cdb16(0x8f, 0, kBlocks)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb10(0x2f, kBlocks, 1)).sense, FixedSense(0x05, 0x21, 0x00));
}

TEST_F(SbcTest, VerifyByteCheckThreeComparesOneBlockWithEveryBlock) {
  const Bytes block = Pattern(512, 77);
  Bytes three;
  for (int i = 0; i < 3; ++i) three.insert(three.end(), block.begin(), block.end());
  WriteBlocks(20, three);
  EXPECT_EQ(harness_.Run(Cdb10(0x2f, 20, 3, 0x06), block).status, ScsiStatus::kGood);
  const Outcome out = harness_.Run(Cdb10(0x2f, 20, 4, 0x06), block);
  EXPECT_CHECK_CONDITION(out, 0x0e, 0x1d, 0x00);
  EXPECT_THAT(Bytes(out.sense.begin() + 3, out.sense.begin() + 7), ElementsAre(0, 0, 6, 0));
}

// --- WRITE AND VERIFY (SBC-3 5.36-5.38) ---------------------------------------

struct WriteAndVerifyCase {
  const char* name;
  uint8_t opcode;
  uint8_t cdb_length;
  uint8_t byte1;
};

Bytes WriteAndVerifyCdb(const WriteAndVerifyCase& c, uint64_t lba, uint32_t blocks) {
  if (c.cdb_length == 10)
    return Cdb10(c.opcode, static_cast<uint32_t>(lba), static_cast<uint16_t>(blocks), c.byte1);
  if (c.cdb_length == 12) return Cdb12(c.opcode, static_cast<uint32_t>(lba), blocks, c.byte1);
  return Cdb16(c.opcode, lba, blocks, c.byte1);
}

class WriteAndVerifyTest : public SbcTest,
                           public ::testing::WithParamInterface<WriteAndVerifyCase> {};

TEST_P(WriteAndVerifyTest, WritesDurablyAndReadsBack) {
  const Bytes data = Pattern(4 * 512, 0x31);
  const int fua_before = harness_.store().fua_writes();
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 40, 4), data).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().fua_writes(), fua_before + 1);
  EXPECT_GE(harness_.store().count(StoreOp::kRead), 1);  // the verification read
  EXPECT_EQ(ReadBlocks(40, 4), data);
}

TEST_P(WriteAndVerifyTest, ShortDataOutWritesOnlyWholeBlocksReceived) {
  WriteBlocks(0, Bytes(1024, 'a'));
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 0, 2), Bytes(700, 'b')).status,
            ScsiStatus::kGood);
  const Bytes back = ReadBlocks(0, 2);
  EXPECT_THAT(Bytes(back.begin(), back.begin() + 512), Each('b'));
  EXPECT_THAT(Bytes(back.begin() + 512, back.end()), Each('a'));
}

TEST_P(WriteAndVerifyTest, LongDataOutWritesOnlyTheTransferLength) {
  WriteBlocks(0, Bytes(1024, 'a'));
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 0, 1), Bytes(1024, 'b')).status,
            ScsiStatus::kGood);
  const Bytes back = ReadBlocks(0, 2);
  EXPECT_THAT(Bytes(back.begin(), back.begin() + 512), Each('b'));
  EXPECT_THAT(Bytes(back.begin() + 512, back.end()), Each('a'));
}

TEST_P(WriteAndVerifyTest, ZeroBlocksIsGoodAndTouchesNothing) {
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 0, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_P(WriteAndVerifyTest, EndingPastCapacityIsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), kBlocks - 1, 2), Bytes(1024, 1)).sense,
            FixedSense(0x05, 0x21, 0x00));
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_P(WriteAndVerifyTest, WrprotectIsInvalidFieldAtByteOneBitSeven) {
  Bytes cdb = WriteAndVerifyCdb(GetParam(), 0, 1);
  cdb[1] |= 0x20;
  EXPECT_EQ(harness_.Run(cdb, Bytes(512, 1)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 1}));
}

TEST_P(WriteAndVerifyTest, ReservedByteCheckValueIsInvalidFieldAtByteOneBitTwo) {
  Bytes cdb = WriteAndVerifyCdb(GetParam(), 0, 1);
  cdb[1] = 0x04;  // BYTCHK=10b
  EXPECT_EQ(harness_.Run(cdb, Bytes(512, 1)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xca, 0, 1}));
}

TEST_P(WriteAndVerifyTest, WriteErrorIsMediumErrorWriteError) {
  harness_.store().FailWith(StoreOp::kWrite, EIO);
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 0, 1), Bytes(512, 1)).sense,
            FixedSense(0x03, 0x0c, 0x00));
}

TEST_P(WriteAndVerifyTest, VerificationReadErrorIsUnrecoveredReadError) {
  harness_.store().FailWith(StoreOp::kRead, EIO);
  EXPECT_EQ(harness_.Run(WriteAndVerifyCdb(GetParam(), 0, 1), Bytes(512, 1)).sense,
            FixedSense(0x03, 0x11, 0x00));
}

INSTANTIATE_TEST_SUITE_P(AllSizesAndByteChecks, WriteAndVerifyTest,
                         ::testing::Values(WriteAndVerifyCase{"TenMediumOnly", 0x2e, 10, 0x00},
                                           WriteAndVerifyCase{"TenByteCheck", 0x2e, 10, 0x02},
                                           WriteAndVerifyCase{"TenDpo", 0x2e, 10, 0x10},
                                           WriteAndVerifyCase{"TwelveMediumOnly", 0xae, 12, 0x00},
                                           WriteAndVerifyCase{"TwelveByteCheck", 0xae, 12, 0x02},
                                           WriteAndVerifyCase{"SixteenMediumOnly", 0x8e, 16, 0x00},
                                           WriteAndVerifyCase{"SixteenByteCheck", 0x8e, 16, 0x02}),
                         [](const ::testing::TestParamInfo<WriteAndVerifyCase>& param_info) {
                           return param_info.param.name;
                         });

TEST_F(SbcTest, WriteAndVerifyOverMaximumTransferLengthIsInvalidFieldAtLength) {
  EXPECT_EQ(harness_.Run(Cdb16(0x8e, 0, 16385), Bytes(512, 1)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 10}));
}

TEST_F(SbcTest, UnmapPunchesHolesThatReadBackAsZeros) {
  WriteBlocks(0, Pattern(64 * 512, 1));
  ASSERT_EQ(harness_.Run(Cdb10(0x35, 0, 0)).status, ScsiStatus::kGood);
  const blkcnt_t before = AllocatedBlocks(harness_.path());
  const Bytes list = testing::UnmapList({{0, 32}});
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).status,
            ScsiStatus::kGood);
  EXPECT_LT(AllocatedBlocks(harness_.path()), before);
  EXPECT_EQ(SeekHole(harness_.path(), 0), 0);
  EXPECT_THAT(ReadBlocks(0, 32), Each(0));
  const Bytes rest = ReadBlocks(32, 32);
  const Bytes expected = Pattern(64 * 512, 1);
  EXPECT_EQ(rest, Bytes(expected.begin() + 32 * 512, expected.end()));
}

TEST_F(SbcTest, UnmapWithSeveralDescriptorsUnmapsEach) {
  WriteBlocks(0, Pattern(64 * 512, 2));
  const Bytes list = testing::UnmapList({{8, 8}, {40, 8}});
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).status,
            ScsiStatus::kGood);
  EXPECT_THAT(ReadBlocks(8, 8), Each(0));
  EXPECT_THAT(ReadBlocks(40, 8), Each(0));
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 2);
}

TEST_F(SbcTest, UnmapWithZeroParameterListLengthDoesNothing) {
  EXPECT_EQ(harness_.Run(testing::Unmap(0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 0);
}

TEST_F(SbcTest, UnmapWithTooShortParameterListIsParameterListLengthError) {
  EXPECT_EQ(harness_.Run(testing::Unmap(4), Bytes(4, 0)).sense, FixedSense(0x05, 0x1a, 0x00));
}

TEST_F(SbcTest, UnmapPastCapacityIsLbaOutOfRangeAndUnmapsNothing) {
  const Bytes list = testing::UnmapList({{0, 8}, {kBlocks - 4, 8}});
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).sense,
            FixedSense(0x05, 0x21, 0x00));
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 0);
}

TEST_F(SbcTest, UnmapWithTooManyDescriptorsPointsAtDescriptorLength) {
  Bytes list(8 + 16 * 257, 0);
  StoreBe16(&list[0], static_cast<uint16_t>(list.size() - 2));
  StoreBe16(&list[2], 16 * 257);
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x8f, 0, 2}));
}

TEST_F(SbcTest, WriteSame16WithUnmapAndZeroBlockPunchesHole) {
  WriteBlocks(0, Pattern(128 * 512, 5));
  ASSERT_EQ(harness_.Run(Cdb10(0x35, 0, 0)).status, ScsiStatus::kGood);
  const blkcnt_t before = AllocatedBlocks(harness_.path());
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 64, 0x08), Bytes(512, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 1);
  EXPECT_LT(AllocatedBlocks(harness_.path()), before);
  EXPECT_EQ(SeekHole(harness_.path(), 0), 0);
  EXPECT_THAT(ReadBlocks(0, 64), Each(0));
}

TEST_F(SbcTest, WriteSame10WithUnmapAndZeroBlockPunchesHole) {
  WriteBlocks(0, Pattern(16 * 512, 5));
  EXPECT_EQ(harness_.Run(Cdb10(0x41, 0, 16, 0x08), Bytes(512, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 1);
  EXPECT_THAT(ReadBlocks(0, 16), Each(0));
}

TEST_F(SbcTest, WriteSameWithUnmapButNonZeroDataWritesThePattern) {
  const Bytes block = Pattern(512, 9);
  EXPECT_EQ(harness_.Run(Cdb10(0x41, 50, 5, 0x08), block).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 0);
  const Bytes back = ReadBlocks(50, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Bytes(back.begin() + i * 512, back.begin() + (i + 1) * 512), block) << i;
  }
}

TEST_F(SbcTest, WriteSameAcrossChunksRepeatsTheBlock) {
  const Bytes block = Pattern(512, 11);
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 4096), block).status, ScsiStatus::kGood);
  const Bytes back = ReadBlocks(4000, 96);
  for (int i = 0; i < 96; ++i) {
    ASSERT_EQ(Bytes(back.begin() + i * 512, back.begin() + (i + 1) * 512), block) << i;
  }
}

TEST_F(SbcTest, WriteSameWithoutDataOutBlockIsInvalidFieldInInformationUnit) {
  EXPECT_EQ(harness_.Run(Cdb10(0x41, 0, 1), Bytes(100, 0)).sense, FixedSense(0x05, 0x0e, 0x03));
  // More than one block is as wrong as less (even with UNMAP), and nothing is written.
  EXPECT_EQ(harness_.Run(Cdb10(0x41, 0, 1), Bytes(1024, 7)).sense, FixedSense(0x05, 0x0e, 0x03));
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 1, 0x08), Bytes(1024, 7)).sense,
            FixedSense(0x05, 0x0e, 0x03));
  // Without UNMAP or NDOB, no data-out at all is wrong too.
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 1)).sense, FixedSense(0x05, 0x0e, 0x03));
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_F(SbcTest, WriteSame16NdobWritesZerosOrUnmaps) {
  WriteBlocks(0, Pattern(64 * 512, 5));
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 8, 0x01)).status, ScsiStatus::kGood);  // NDOB
  EXPECT_THAT(ReadBlocks(0, 8), Each(0));
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 0);
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 8, 56, 0x09)).status, ScsiStatus::kGood);  // NDOB+UNMAP
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 1);
  EXPECT_THAT(ReadBlocks(0, 64), Each(0));
  // NDOB with a data-out block is a contradiction.
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 1, 0x01), Bytes(512, 1)).sense,
            FixedSense(0x05, 0x0e, 0x03));
}

TEST_F(SbcTest, WriteSameUnmapWithoutDataOutUnmaps) {
  const Bytes data = Pattern(8 * 512, 5);
  WriteBlocks(8, data);
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 9, 7, 0x08)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kUnmap), 1);
  EXPECT_THAT(ReadBlocks(9, 7), Each(0));
  EXPECT_EQ(ReadBlocks(8, 1), Bytes(data.begin(), data.begin() + 512));
}

TEST_F(SbcTest, StoreEnospcOnWriteIsSpaceAllocationFailed) {
  harness_.store().FailWith(StoreOp::kWrite, ENOSPC);
  EXPECT_EQ(harness_.Run(testing::Write10(0, 1), Bytes(512, 1)).sense,
            FixedSense(0x07, 0x27, 0x07));
}

TEST_F(SbcTest, StoreEioOnReadIsUnrecoveredReadError) {
  harness_.store().FailWith(StoreOp::kRead, EIO);
  const Outcome out = harness_.Run(testing::Read10(0, 1));
  EXPECT_EQ(out.sense, FixedSense(0x03, 0x11, 0x00));
  EXPECT_TRUE(out.data_in.empty());
}

TEST_F(SbcTest, StoreEioOnWriteAndFlushIsWriteError) {
  harness_.store().FailWith(StoreOp::kWrite, EIO);
  harness_.store().FailWith(StoreOp::kFlush, EIO);
  EXPECT_EQ(harness_.Run(testing::Write16(0, 1), Bytes(512, 1)).sense,
            FixedSense(0x03, 0x0c, 0x00));
  EXPECT_EQ(harness_.Run(Cdb16(0x91, 0, 0)).sense, FixedSense(0x03, 0x0c, 0x00));
}

TEST_F(SbcTest, StoreEnospcOnWriteSameIsSpaceAllocationFailed) {
  harness_.store().FailWith(StoreOp::kWrite, ENOSPC);
  EXPECT_EQ(harness_.Run(Cdb10(0x41, 0, 8), Bytes(512, 7)).sense, FixedSense(0x07, 0x27, 0x07));
}

TEST_F(SbcTest, OtherStoreErrorsAreInternalTargetFailure) {
  harness_.store().FailWith(StoreOp::kUnmap, EBADF);
  const Bytes list = testing::UnmapList({{0, 1}});
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).sense,
            FixedSense(0x04, 0x44, 0x00));
}

// --- GET LBA STATUS, PRE-FETCH, START STOP UNIT --------------------------------------

Bytes GetLbaStatus(uint64_t lba, uint32_t allocation_length = 1024) {
  Bytes cdb = Cdb16(0x9e, lba, allocation_length, 0x12);
  return cdb;
}

TEST_F(SbcTest, GetLbaStatusReportsMappedAndDeallocatedExtents) {
  WriteBlocks(16, Pattern(16 * 512, 3));  // blocks 16..31 mapped (4 KiB aligned)
  const Outcome out = harness_.Run(GetLbaStatus(0));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  ASSERT_EQ(out.data_in.size(), 8u + 3 * 16);
  EXPECT_THAT(Bytes(out.data_in.begin(), out.data_in.begin() + 8),
              ElementsAre(0, 0, 0, 52, 0, 0, 0, 0));
  EXPECT_THAT(Bytes(out.data_in.begin() + 8, out.data_in.begin() + 24),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0x01, 0, 0, 0));
  EXPECT_THAT(Bytes(out.data_in.begin() + 24, out.data_in.begin() + 40),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 16, 0x00, 0, 0, 0));
  EXPECT_THAT(Bytes(out.data_in.begin() + 40, out.data_in.end()),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0x0f, 0xe0, 0x01, 0, 0, 0));
}

TEST_F(SbcTest, GetLbaStatusHonoursAllocationLength) {
  WriteBlocks(16, Pattern(16 * 512, 3));
  const Outcome out = harness_.Run(GetLbaStatus(0, 24));
  ASSERT_EQ(out.data_in.size(), 24u);
  EXPECT_EQ(LoadBe32(&out.data_in[0]), 20u);  // one descriptor fitted
}

TEST_F(SbcTest, GetLbaStatusAfterUnmapShowsDeallocated) {
  WriteBlocks(0, Pattern(64 * 512, 1));
  const Bytes list = testing::UnmapList({{8, 16}});
  ASSERT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).status,
            ScsiStatus::kGood);
  const Outcome out = harness_.Run(GetLbaStatus(8, 24));
  EXPECT_THAT(Bytes(out.data_in.begin() + 8, out.data_in.end()),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 16, 0x01, 0, 0, 0));
}

TEST_F(SbcTest, GetLbaStatusPastLastLbaIsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(GetLbaStatus(kBlocks)).sense, FixedSense(0x05, 0x21, 0x00));
}

TEST_F(SbcTest, PrefetchInRangeIsGoodAndPastCapacityIsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(Cdb10(0x34, 0, 256)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb16(0x90, kBlocks - 256, 256, 0x02)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb10(0x34, kBlocks - 1, 2)).sense, FixedSense(0x05, 0x21, 0x00));
  EXPECT_EQ(harness_.store().count(StoreOp::kRead), 0);
}

TEST_F(SbcTest, StartStopUnitAcceptsStartStopAndPowerConditions) {
  EXPECT_EQ(harness_.Run(Bytes{0x1b, 0x01, 0, 0, 0x01, 0}).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Bytes{0x1b, 0x00, 0, 0, 0x00, 0}).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Bytes{0x1b, 0x00, 0, 0, 0x30, 0}).status, ScsiStatus::kGood);
  // Still ready afterwards.
  EXPECT_EQ(harness_.Run(Bytes{0, 0, 0, 0, 0, 0}).status, ScsiStatus::kGood);
}

TEST_F(SbcTest, StartStopUnitEjectOnFixedMediumIsInvalidField) {
  EXPECT_EQ(harness_.Run(Bytes{0x1b, 0x01, 0, 0, 0x02, 0}).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xc9, 0, 4}));
}

class ReadOnlySbcTest : public ::testing::Test {
 protected:
  ReadOnlySbcTest() : harness_(Options()) { harness_.ClearUnitAttention(); }
  static HarnessOptions Options() {
    HarnessOptions options;
    options.read_only = true;
    return options;
  }
  LunHarness harness_;
};

TEST_F(ReadOnlySbcTest, WritesToReadOnlyLunAreWriteProtected) {
  const Bytes protected_sense = FixedSense(0x07, 0x27, 0x00);
  EXPECT_EQ(harness_.Run(testing::Write10(0, 1), Bytes(512, 1)).sense, protected_sense);
  EXPECT_EQ(harness_.Run(Cdb6(0x0a, 0, 1), Bytes(512, 1)).sense, protected_sense);
  EXPECT_EQ(harness_.Run(Cdb16(0x93, 0, 1, 0x08), Bytes(512, 0)).sense, protected_sense);
  const Bytes list = testing::UnmapList({{0, 1}});
  EXPECT_EQ(harness_.Run(testing::Unmap(static_cast<uint16_t>(list.size())), list).sense,
            protected_sense);
  EXPECT_EQ(harness_.Run(Cdb10(0x2e, 0, 1), Bytes(512, 1)).sense, protected_sense);
  EXPECT_EQ(harness_.Run(Cdb12(0xae, 0, 1, 0x02), Bytes(512, 1)).sense, protected_sense);
  EXPECT_EQ(harness_.Run(Cdb16(0x8e, 0, 1), Bytes(512, 1)).sense, protected_sense);
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_F(ReadOnlySbcTest, ReadsAndSyncCacheStillWork) {
  EXPECT_EQ(harness_.Run(testing::Read10(0, 1)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.Run(Cdb10(0x35, 0, 0)).status, ScsiStatus::kGood);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
