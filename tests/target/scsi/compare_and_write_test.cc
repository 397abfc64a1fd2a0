// COMPARE AND WRITE (SBC-3 5.2) through a LogicalUnit: match writes, a
// mismatch reports the first differing byte and writes nothing, data-out
// and length checks, and atomicity against concurrent WRITEs over a store
// that deliberately tears its writes.
#include <atomic>
#include <cerrno>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using ::testing::Each;
using testing::Bytes;
using testing::CompareAndWriteCdb;
using testing::HarnessOptions;
using testing::LunHarness;
using testing::Outcome;
using testing::Pattern;
using testing::StoreOp;

Bytes FixedSense(uint8_t key, uint8_t asc, uint8_t ascq) {
  return {0x70, 0, key, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0};
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

class CompareAndWriteTest : public ::testing::Test {
 protected:
  CompareAndWriteTest() { harness_.ClearUnitAttention(); }
  void Write(uint64_t lba, const Bytes& data) {
    ASSERT_EQ(harness_.Run(testing::Write16(lba, static_cast<uint32_t>(data.size() / 512)), data)
                  .status,
              ScsiStatus::kGood);
  }
  Bytes Read(uint64_t lba, uint32_t blocks) { return harness_.Run(testing::Read16(lba, blocks)).data_in; }
  LunHarness harness_;
};

TEST_F(CompareAndWriteTest, MatchingDataWritesTheSecondHalf) {
  const Bytes old_data = Pattern(2 * 512, 1);
  const Bytes new_data = Pattern(2 * 512, 2);
  Write(10, old_data);
  const Outcome out = harness_.Run(CompareAndWriteCdb(10, 2), Concat(old_data, new_data));
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_TRUE(out.sense.empty());
  EXPECT_EQ(Read(10, 2), new_data);
}

TEST_F(CompareAndWriteTest, MismatchReportsFirstDifferingByteAndWritesNothing) {
  const Bytes old_data = Pattern(2 * 512, 1);
  Write(10, old_data);
  Bytes expected = old_data;
  expected[600] ^= 0x01;
  expected[900] ^= 0x01;
  const Outcome out =
      harness_.Run(CompareAndWriteCdb(10, 2), Concat(expected, Pattern(2 * 512, 2)));
  EXPECT_EQ(out.status, ScsiStatus::kCheckCondition);
  // MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION, VALID, INFORMATION 600.
  EXPECT_EQ(out.sense, (Bytes{0xf0, 0, 0x0e, 0x00, 0x00, 0x02, 0x58, 0x0a, 0, 0, 0, 0, 0x1d,
                              0x00, 0, 0, 0, 0}));
  EXPECT_EQ(Read(10, 2), old_data);
}

TEST_F(CompareAndWriteTest, MismatchInDescriptorFormatCarriesInformationDescriptor) {
  harness_.lun().SetDescriptorSense(true);
  Bytes expected(512, 0);
  expected[5] = 9;
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1), Concat(expected, Bytes(512, 1))).sense,
            (Bytes{0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 0x0c, 0x00, 0x0a, 0x80, 0x00, 0, 0, 0, 0, 0,
                   0, 0, 5}));
}

TEST_F(CompareAndWriteTest, ZeroBlocksIsGoodAndTouchesNothing) {
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 0)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().count(StoreOp::kRead), 0);
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_F(CompareAndWriteTest, DataOutOtherThanTwiceTheBlocksIsInvalidFieldAtByteThirteen) {
  const Bytes sense = {0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 13};
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1), Bytes(4 * 512, 0)).sense, sense);
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 3), Bytes(4 * 512, 0)).sense, sense);
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1), Bytes(512, 0)).sense, sense);
  // 256 blocks do not fit the 8-bit field: zero blocks with 2 x 256 blocks of data.
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 0), Bytes(512 * 512, 0)).sense, sense);
  EXPECT_EQ(harness_.store().count(StoreOp::kWrite), 0);
}

TEST_F(CompareAndWriteTest, MoreBlocksThanBlockLimitsAllowIsInvalidField) {
  const Bytes limits = harness_.Run(testing::Inquiry(true, 0xb0, 64)).data_in;
  ASSERT_EQ(limits.size(), 64u);
  EXPECT_EQ(limits[5], 64);  // MAXIMUM COMPARE AND WRITE LENGTH
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 65), Bytes(130 * 512, 0)).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xcf, 0, 13}));
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 64), Bytes(128 * 512, 0)).status,
            ScsiStatus::kGood);
}

TEST_F(CompareAndWriteTest, EndingPastCapacityIsLbaOutOfRange) {
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(4095, 2), Bytes(4 * 512, 0)).sense,
            FixedSense(0x05, 0x21, 0x00));
}

TEST_F(CompareAndWriteTest, FuaBitMakesTheWriteDurable) {
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1, 0x08), Bytes(1024, 0)).status,
            ScsiStatus::kGood);
  EXPECT_EQ(harness_.store().fua_writes(), 1);
}

TEST_F(CompareAndWriteTest, ReadErrorIsMediumErrorAndWriteErrorIsWriteError) {
  harness_.store().FailWith(StoreOp::kRead, EIO);
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1), Bytes(1024, 0)).sense,
            FixedSense(0x03, 0x11, 0x00));
  harness_.store().ClearFaults();
  harness_.store().FailWith(StoreOp::kWrite, EIO);
  EXPECT_EQ(harness_.Run(CompareAndWriteCdb(0, 1), Bytes(1024, 0)).sense,
            FixedSense(0x03, 0x0c, 0x00));
}

TEST(CompareAndWriteReadOnlyTest, ReadOnlyLunIsWriteProtected) {
  HarnessOptions options;
  options.read_only = true;
  LunHarness harness(options);
  harness.ClearUnitAttention();
  EXPECT_EQ(harness.Run(CompareAndWriteCdb(0, 1), Bytes(1024, 0)).sense,
            FixedSense(0x07, 0x27, 0x00));
}

// A store whose writes land 512 bytes at a time with a yield in between, so
// a concurrent reader can see them half done: without the range lock, a
// COMPARE AND WRITE racing a WRITE would compare against a torn image.
class TearingStore final : public backend::BlockStore {
 public:
  explicit TearingStore(std::shared_ptr<backend::BlockStore> inner) : inner_(std::move(inner)) {}
  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override {
    return inner_->Read(offset, out);
  }
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    for (size_t at = 0; at < data.size(); at += 512) {
      const size_t n = std::min<size_t>(512, data.size() - at);
      if (absl::Status s = inner_->Write(offset + at, data.subspan(at, n), fua); !s.ok()) return s;
      std::this_thread::yield();
    }
    return absl::OkStatus();
  }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status Unmap(uint64_t offset, uint64_t length) override {
    return inner_->Unmap(offset, length);
  }
  uint64_t Size() const override { return inner_->Size(); }
  absl::Status Resize(uint64_t new_size) override { return inner_->Resize(new_size); }

 private:
  std::shared_ptr<backend::BlockStore> inner_;
};

Outcome RunSync(LogicalUnit& lun, std::shared_ptr<const ItNexus> nexus, Bytes cdb, Bytes data) {
  ScsiTask task;
  task.nexus = std::move(nexus);
  EXPECT_TRUE(task.SetCdb(cdb));
  task.direction = DataDirection::kWrite;
  task.expected_transfer_length = static_cast<uint32_t>(data.size());
  task.data_out = std::move(data);
  absl::Notification done;
  lun.Submit(task, [&](ScsiTask&) { done.Notify(); });
  done.WaitForNotification();
  return Outcome{task.status, task.sense, task.data_in.ToVector()};
}

TEST(CompareAndWriteAtomicityTest, ConcurrentWritesNeverTearACompareAndWrite) {
  constexpr uint32_t kBlocks = 16;  // 8 KiB: several pages per command
  constexpr int kCawThreads = 4;
  constexpr int kCawPerThread = 400;
  const std::string path = testing::TempPath("caw");
  auto file = backend::SparseFile::Open(path, 64 * 512);
  ASSERT_TRUE(file.ok()) << file.status();
  auto store = std::make_shared<TearingStore>(std::shared_ptr<backend::SparseFile>(std::move(*file)));
  auto pool = std::make_shared<backend::WorkerPool>(6);
  LogicalUnitConfig config;
  config.serial = "CAW1";
  config.naa_wwn = testing::TestWwn();
  auto created = LogicalUnit::Create(config, store, pool);
  ASSERT_TRUE(created.ok()) << created.status();
  LogicalUnit& lun = **created;
  auto nexus = std::make_shared<ItNexus>();
  nexus->id = 1;
  nexus->initiator_port_name = "iqn.test:caw,i,0x1";
  while (RunSync(lun, nexus, {0, 0, 0, 0, 0, 0}, {}).status != ScsiStatus::kGood) {
  }
  auto uniform = [](uint8_t v) { return Bytes(kBlocks * 512, v); };
  ASSERT_EQ(RunSync(lun, nexus, testing::Write16(0, kBlocks), uniform(1)).status,
            ScsiStatus::kGood);

  std::atomic<bool> stop{false};
  std::atomic<int> good{0}, miscompares{0}, torn{0};
  // One writer keeps rewriting the range with uniform values 1..4.
  std::thread writer([&] {
    std::mt19937 rng(7);
    while (!stop.load()) {
      const uint8_t v = static_cast<uint8_t>(1 + rng() % 4);
      EXPECT_EQ(RunSync(lun, nexus, testing::Write16(0, kBlocks), uniform(v)).status,
                ScsiStatus::kGood);
    }
  });
  std::vector<std::thread> cawers;
  for (int t = 0; t < kCawThreads; ++t) {
    cawers.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < kCawPerThread; ++i) {
        const uint8_t expected = static_cast<uint8_t>(1 + rng() % 4);
        const uint8_t replacement = static_cast<uint8_t>(1 + rng() % 4);
        const Outcome out = RunSync(lun, nexus, CompareAndWriteCdb(0, kBlocks),
                                    Concat(uniform(expected), uniform(replacement)));
        if (out.status == ScsiStatus::kGood) {
          ++good;
          continue;
        }
        ASSERT_EQ(out.status, ScsiStatus::kCheckCondition);
        ASSERT_EQ(out.sense.size(), 18u);
        ASSERT_EQ(out.sense[2], 0x0e);
        ++miscompares;
        // The medium is uniform whenever a compare-and-write sees it, so the
        // first differing byte is always byte 0; anything else is a torn read.
        if (LoadBe32(&out.sense[3]) != 0) ++torn;
      }
    });
  }
  for (auto& t : cawers) t.join();
  stop.store(true);
  writer.join();
  lun.Drain();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(good.load(), 0);
  EXPECT_GT(miscompares.load(), 0);
  const Outcome final_read = [&] {
    ScsiTask task;
    task.nexus = nexus;
    const Bytes cdb = testing::Read16(0, kBlocks);
    EXPECT_TRUE(task.SetCdb(cdb));
    task.direction = DataDirection::kRead;
    task.expected_transfer_length = kBlocks * 512;
    absl::Notification done;
    lun.Submit(task, [&](ScsiTask&) { done.Notify(); });
    done.WaitForNotification();
    return Outcome{task.status, task.sense, task.data_in.ToVector()};
  }();
  ASSERT_EQ(final_read.data_in.size(), kBlocks * 512u);
  EXPECT_THAT(final_read.data_in, Each(final_read.data_in[0]));
  created->reset();
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
