// Inline I/O in LogicalUnit (LogicalUnitConfig::inline_io_max_bytes): small READs and
// WRITEs are first tried on the submitting thread through BlockStore::ReadNoWait /
// WriteNoWait; when the store would wait they fall back to one blocking call on the worker
// pool. Covered here: which thread completes, which store calls are made (and with which
// FUA), the size limit, errors from the no-wait calls, the range lock against a running
// COMPARE AND WRITE, and aborts.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "target/backend/block_store.h"
#include "target/backend/sparse_file.h"
#include "target/backend/worker_pool.h"
#include "target/scsi/lun.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using testing::Pattern;

// A BlockStore decorator whose no-wait calls do as told (forward to the blocking call of
// the file below, say Unavailable, or fail with an errno), which logs every call with its
// thread and FUA flag, and which can hold blocking Reads until released.
class ScriptedNoWaitStore final : public backend::BlockStore {
 public:
  enum class NoWait { kSucceed, kWouldWait, kFail };
  enum class Kind { kRead, kWrite, kReadNoWait, kWriteNoWait };
  struct Call {
    Kind kind;
    std::thread::id thread;
    bool fua;
  };

  explicit ScriptedNoWaitStore(std::shared_ptr<backend::BlockStore> inner)
      : inner_(std::move(inner)) {}

  // kFail makes ReadNoWait/WriteNoWait fail with `error_number` (an ErrnoStatus).
  void SetNoWait(NoWait mode, int error_number = EIO) {
    absl::MutexLock lock(&mu_);
    mode_ = mode;
    error_number_ = error_number;
  }
  // Blocking Reads started after HoldReads wait until ReleaseReads.
  void HoldReads() {
    absl::MutexLock lock(&mu_);
    hold_reads_ = true;
  }
  void ReleaseReads() {
    absl::MutexLock lock(&mu_);
    hold_reads_ = false;
  }
  // Waits until `n` blocking Reads are held.
  void WaitForHeldReads(int n) {
    std::pair<ScriptedNoWaitStore*, int> arg{this, n};
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::pair<ScriptedNoWaitStore*, int>* a)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->first->held_reads_ >= a->second; },
        &arg));
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<Call> CallsOf(Kind kind) const {
    std::vector<Call> out;
    for (const Call& call : calls()) {
      if (call.kind == kind) out.push_back(call);
    }
    return out;
  }
  int count(Kind kind) const { return static_cast<int>(CallsOf(kind).size()); }

  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override {
    {
      absl::MutexLock lock(&mu_);
      Record(Kind::kRead, false);
      ++held_reads_;
      mu_.Await(absl::Condition(
          +[](ScriptedNoWaitStore* self)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return !self->hold_reads_; },
          this));
      --held_reads_;
    }
    return inner_->Read(offset, out);
  }
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    {
      absl::MutexLock lock(&mu_);
      Record(Kind::kWrite, fua);
    }
    return inner_->Write(offset, data, fua);
  }
  absl::Status ReadNoWait(uint64_t offset, absl::Span<uint8_t> out) override {
    NoWait mode;
    int error_number;
    {
      absl::MutexLock lock(&mu_);
      Record(Kind::kReadNoWait, false);
      mode = mode_;
      error_number = error_number_;
    }
    switch (mode) {
      case NoWait::kSucceed:
        return inner_->Read(offset, out);
      case NoWait::kWouldWait:
        return absl::UnavailableError("read would wait");
      case NoWait::kFail:
        break;
    }
    return backend::ErrnoStatus(error_number, "injected no-wait read fault");
  }
  absl::Status WriteNoWait(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    NoWait mode;
    int error_number;
    {
      absl::MutexLock lock(&mu_);
      Record(Kind::kWriteNoWait, fua);
      mode = mode_;
      error_number = error_number_;
    }
    switch (mode) {
      case NoWait::kSucceed:
        return inner_->Write(offset, data, fua);
      case NoWait::kWouldWait:
        return absl::UnavailableError("write would wait");
      case NoWait::kFail:
        break;
    }
    return backend::ErrnoStatus(error_number, "injected no-wait write fault");
  }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status Unmap(uint64_t offset, uint64_t length) override {
    return inner_->Unmap(offset, length);
  }
  uint64_t Size() const override { return inner_->Size(); }
  absl::Status Resize(uint64_t new_size) override { return inner_->Resize(new_size); }

 private:
  void Record(Kind kind, bool fua) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    calls_.push_back(Call{kind, std::this_thread::get_id(), fua});
  }

  const std::shared_ptr<backend::BlockStore> inner_;
  mutable absl::Mutex mu_;
  NoWait mode_ ABSL_GUARDED_BY(mu_) = NoWait::kSucceed;
  int error_number_ ABSL_GUARDED_BY(mu_) = EIO;
  bool hold_reads_ ABSL_GUARDED_BY(mu_) = false;
  int held_reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

using Kind = ScriptedNoWaitStore::Kind;
using NoWait = ScriptedNoWaitStore::NoWait;

// One submitted task and what its completion saw.
struct Submitted {
  ScsiTask task;
  absl::Notification done;
  std::atomic<int> completions{0};
  std::thread::id completed_on;
  // Whether the completion had run by the time Submit returned.
  bool done_when_submit_returned = false;

  Bytes data_in() const { return Bytes(task.data_in.begin(), task.data_in.end()); }
  Bytes sense() const { return Bytes(task.sense.begin(), task.sense.end()); }
};

constexpr uint32_t kBlockSize = 512;
constexpr uint64_t kBlocks = 4096;

class InlineIoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Build(LogicalUnitConfig{}, /*threads=*/2)); }
  void TearDown() override {
    lun_.reset();
    pool_.reset();
    ::unlink(path_.c_str());
  }

  // (Re)builds the logical unit over a fresh file with `config` and clears the
  // POWER ON unit attention of nexuses 1 and 2.
  void Build(LogicalUnitConfig config, int threads) {
    lun_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
    path_ = testing::TempPath("inline-io");
    auto file = backend::SparseFile::Open(path_, kBlocks * kBlockSize);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::shared_ptr<backend::SparseFile>(std::move(*file));
    store_ = std::make_shared<ScriptedNoWaitStore>(file_);
    pool_ = std::make_shared<backend::WorkerPool>(threads);
    config.block_size = kBlockSize;
    config.serial = "SN-INLINE";
    config.naa_wwn = testing::TestWwn();
    auto lun = LogicalUnit::Create(config, store_, pool_);
    ASSERT_TRUE(lun.ok()) << lun.status();
    lun_ = std::move(*lun);
    for (uint64_t nexus_id : {1, 2}) {
      Submitted tur;
      Run(tur, {0, 0, 0, 0, 0, 0}, {}, nexus_id);
      ASSERT_EQ(tur.task.status, ScsiStatus::kCheckCondition);  // POWER ON, RESET
    }
  }

  std::shared_ptr<const ItNexus> Nexus(uint64_t id) {
    auto nexus = std::make_shared<ItNexus>();
    nexus->id = id;
    nexus->initiator_port_name = absl::StrCat("iqn.2026-01.test:init", id, ",i,0x1");
    return nexus;
  }

  // Submits `cdb` and returns as Submit does: the task may still be running.
  void Start(Submitted& s, const Bytes& cdb, Bytes data_out = {}, uint64_t nexus_id = 1,
             bool abort_first = false) {
    s.task.nexus = Nexus(nexus_id);
    EXPECT_TRUE(s.task.SetCdb(cdb));
    s.task.direction = data_out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    s.task.expected_transfer_length =
        data_out.empty() ? (1u << 20) : static_cast<uint32_t>(data_out.size());
    s.task.data_out = std::move(data_out);
    if (abort_first) s.task.RequestAbort();
    lun_->Submit(s.task, [&s](ScsiTask&) {
      s.completed_on = std::this_thread::get_id();
      ++s.completions;
      s.done.Notify();
    });
    s.done_when_submit_returned = s.done.HasBeenNotified();
  }

  // Starts `cdb` and waits for its completion (done_when_submit_returned still tells
  // whether it had completed inside Submit).
  void Run(Submitted& s, const Bytes& cdb, Bytes data_out = {}, uint64_t nexus_id = 1,
           bool abort_first = false) {
    Start(s, cdb, std::move(data_out), nexus_id, abort_first);
    s.done.WaitForNotification();
    lun_->Drain();
    EXPECT_EQ(s.completions.load(), 1);
  }

  // Writes `data` straight to the file under the logical unit.
  void Preload(uint64_t lba, const Bytes& data) {
    ASSERT_TRUE(file_->Write(lba * kBlockSize, data, /*fua=*/false).ok());
  }
  Bytes FileBytes(uint64_t lba, uint32_t blocks) {
    Bytes out(size_t{blocks} * kBlockSize);
    EXPECT_TRUE(file_->Read(lba * kBlockSize, absl::MakeSpan(out)).ok());
    return out;
  }

  // Turns the write cache off: MODE SELECT(10) of the Caching page with WCE=0.
  void TurnWriteCacheOff() {
    Bytes list(8, 0);
    const Bytes caching = {0x08, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    list.insert(list.end(), caching.begin(), caching.end());
    Submitted select;
    Run(select, testing::ModeSelect10(static_cast<uint16_t>(list.size())), list);
    ASSERT_EQ(select.task.status, ScsiStatus::kGood);
    ASSERT_FALSE(lun_->write_cache_enabled());
  }

  std::string path_;
  std::shared_ptr<backend::SparseFile> file_;
  std::shared_ptr<ScriptedNoWaitStore> store_;
  std::shared_ptr<backend::WorkerPool> pool_;
  std::unique_ptr<LogicalUnit> lun_;
};

TEST_F(InlineIoTest, CachedReadCompletesOnSubmittingThreadBeforeSubmitReturns) {
  const Bytes data = Pattern(4 * kBlockSize, 3);
  Preload(8, data);
  store_->SetNoWait(NoWait::kSucceed);
  Submitted read;
  Run(read, testing::Read10(8, 4));
  EXPECT_TRUE(read.done_when_submit_returned);
  EXPECT_EQ(read.completed_on, std::this_thread::get_id());
  EXPECT_EQ(read.task.status, ScsiStatus::kGood);
  EXPECT_EQ(read.data_in(), data);
  EXPECT_EQ(store_->count(Kind::kRead), 0);
  const std::vector<ScriptedNoWaitStore::Call> tries = store_->CallsOf(Kind::kReadNoWait);
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].thread, std::this_thread::get_id());
}

TEST_F(InlineIoTest, ReadThatWouldWaitFallsBackToOneBlockingReadOnThePool) {
  const Bytes data = Pattern(4 * kBlockSize, 5);
  Preload(100, data);
  store_->SetNoWait(NoWait::kWouldWait);
  Submitted read;
  Run(read, testing::Read10(100, 4));
  EXPECT_EQ(read.task.status, ScsiStatus::kGood);
  EXPECT_EQ(read.data_in(), data);
  EXPECT_NE(read.completed_on, std::this_thread::get_id());
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 1);
  const std::vector<ScriptedNoWaitStore::Call> reads = store_->CallsOf(Kind::kRead);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].thread, read.completed_on);  // the worker that completed it
}

TEST_F(InlineIoTest, WriteThatWouldWaitFallsBackToOneBlockingWriteOnThePool) {
  const Bytes data = Pattern(2 * kBlockSize, 6);
  store_->SetNoWait(NoWait::kWouldWait);
  Submitted write;
  Run(write, testing::Write10(30, 2), data);
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  EXPECT_NE(write.completed_on, std::this_thread::get_id());
  EXPECT_EQ(store_->count(Kind::kWriteNoWait), 1);
  EXPECT_EQ(store_->count(Kind::kWrite), 1);
  EXPECT_EQ(FileBytes(30, 2), data);
}

TEST_F(InlineIoTest, SmallWriteGoesInlineAndIsReadBack) {
  const Bytes data = Pattern(2 * kBlockSize, 7);
  store_->SetNoWait(NoWait::kSucceed);
  Submitted write;
  Run(write, testing::Write10(16, 2), data);
  EXPECT_TRUE(write.done_when_submit_returned);
  EXPECT_EQ(write.completed_on, std::this_thread::get_id());
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  const std::vector<ScriptedNoWaitStore::Call> tries = store_->CallsOf(Kind::kWriteNoWait);
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_FALSE(tries[0].fua);
  EXPECT_EQ(store_->count(Kind::kWrite), 0);
  EXPECT_EQ(FileBytes(16, 2), data);

  Submitted read;
  Run(read, testing::Read10(16, 2));
  EXPECT_TRUE(read.done_when_submit_returned);
  EXPECT_EQ(read.data_in(), data);
  EXPECT_EQ(store_->count(Kind::kRead), 0);
}

TEST_F(InlineIoTest, Write16WithFuaPassesFuaToWriteNoWait) {
  store_->SetNoWait(NoWait::kSucceed);
  Submitted write;
  Run(write, testing::Write16(40, 1, /*byte1=FUA*/ 0x08), Bytes(kBlockSize, 0x3c));
  EXPECT_TRUE(write.done_when_submit_returned);
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  const std::vector<ScriptedNoWaitStore::Call> tries = store_->CallsOf(Kind::kWriteNoWait);
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_TRUE(tries[0].fua);
  EXPECT_EQ(FileBytes(40, 1), Bytes(kBlockSize, 0x3c));
}

TEST_F(InlineIoTest, FuaWriteThatWouldWaitKeepsFuaOnThePool) {
  store_->SetNoWait(NoWait::kWouldWait);
  Submitted write;
  Run(write, testing::Write16(41, 1, /*byte1=FUA*/ 0x08), Bytes(kBlockSize, 0x3d));
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  const std::vector<ScriptedNoWaitStore::Call> writes = store_->CallsOf(Kind::kWrite);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_TRUE(writes[0].fua);
}

TEST_F(InlineIoTest, WriteCacheOffMakesInlineWritesFua) {
  TurnWriteCacheOff();
  store_->SetNoWait(NoWait::kSucceed);
  Submitted write;
  Run(write, testing::Write10(50, 1), Bytes(kBlockSize, 0x44));
  EXPECT_TRUE(write.done_when_submit_returned);
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  const std::vector<ScriptedNoWaitStore::Call> tries = store_->CallsOf(Kind::kWriteNoWait);
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_TRUE(tries[0].fua);
  EXPECT_EQ(store_->count(Kind::kWrite), 0);
}

TEST_F(InlineIoTest, TransferAtTheLimitGoesInlineAndOneBlockMoreNeverTriesNoWait) {
  const uint32_t limit_blocks = LogicalUnitConfig{}.inline_io_max_bytes / kBlockSize;
  ASSERT_LT(limit_blocks + 1, 0xFFFFu);
  store_->SetNoWait(NoWait::kSucceed);

  Submitted at_limit_read;
  Run(at_limit_read, testing::Read10(0, static_cast<uint16_t>(limit_blocks)));
  EXPECT_TRUE(at_limit_read.done_when_submit_returned);
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 1);

  const Bytes data = Pattern(size_t{limit_blocks + 1} * kBlockSize, 9);
  Submitted big_write;
  Run(big_write, testing::Write10(1000, static_cast<uint16_t>(limit_blocks + 1)), data);
  EXPECT_EQ(big_write.task.status, ScsiStatus::kGood);
  EXPECT_NE(big_write.completed_on, std::this_thread::get_id());
  Submitted big_read;
  Run(big_read, testing::Read10(1000, static_cast<uint16_t>(limit_blocks + 1)));
  EXPECT_EQ(big_read.task.status, ScsiStatus::kGood);
  EXPECT_EQ(big_read.data_in(), data);
  EXPECT_NE(big_read.completed_on, std::this_thread::get_id());

  EXPECT_EQ(store_->count(Kind::kReadNoWait), 1);  // only the one at the limit
  EXPECT_EQ(store_->count(Kind::kWriteNoWait), 0);
  EXPECT_EQ(store_->count(Kind::kWrite), 1);
  EXPECT_EQ(store_->count(Kind::kRead), 1);
}

TEST_F(InlineIoTest, ZeroInlineLimitNeverTriesNoWait) {
  LogicalUnitConfig config;
  config.inline_io_max_bytes = 0;
  ASSERT_NO_FATAL_FAILURE(Build(config, /*threads=*/2));
  store_->SetNoWait(NoWait::kSucceed);
  const Bytes data = Pattern(kBlockSize, 11);
  Submitted write;
  Run(write, testing::Write10(7, 1), data);
  EXPECT_EQ(write.task.status, ScsiStatus::kGood);
  EXPECT_NE(write.completed_on, std::this_thread::get_id());
  Submitted read;
  Run(read, testing::Read10(7, 1));
  EXPECT_EQ(read.data_in(), data);
  EXPECT_NE(read.completed_on, std::this_thread::get_id());
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 0);
  EXPECT_EQ(store_->count(Kind::kWriteNoWait), 0);
  EXPECT_EQ(store_->count(Kind::kRead), 1);
  EXPECT_EQ(store_->count(Kind::kWrite), 1);
}

TEST_F(InlineIoTest, NoWaitReadEioIsUnrecoveredReadErrorWithoutBlockingRetry) {
  store_->SetNoWait(NoWait::kFail, EIO);
  Submitted read;
  Run(read, testing::Read10(3, 2));
  EXPECT_TRUE(read.done_when_submit_returned);
  EXPECT_EQ(read.task.status, ScsiStatus::kCheckCondition);
  EXPECT_EQ(testing::SenseKeyOf(read.sense()), 0x03);  // MEDIUM ERROR
  EXPECT_EQ(testing::AscOf(read.sense()), 0x11);
  EXPECT_EQ(testing::AscqOf(read.sense()), 0x00);
  EXPECT_TRUE(read.task.data_in.empty());
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 1);
  EXPECT_EQ(store_->count(Kind::kRead), 0);
}

TEST_F(InlineIoTest, NoWaitWriteEioIsWriteErrorWithoutBlockingRetry) {
  store_->SetNoWait(NoWait::kFail, EIO);
  Submitted write;
  Run(write, testing::Write10(3, 1), Bytes(kBlockSize, 1));
  EXPECT_TRUE(write.done_when_submit_returned);
  EXPECT_EQ(write.task.status, ScsiStatus::kCheckCondition);
  EXPECT_EQ(testing::SenseKeyOf(write.sense()), 0x03);  // MEDIUM ERROR
  EXPECT_EQ(testing::AscOf(write.sense()), 0x0c);
  EXPECT_EQ(testing::AscqOf(write.sense()), 0x00);
  EXPECT_EQ(store_->count(Kind::kWriteNoWait), 1);
  EXPECT_EQ(store_->count(Kind::kWrite), 0);
}

TEST_F(InlineIoTest, ReadOfARangeHeldByCompareAndWriteWaitsForItAndSeesItsData) {
  const Bytes old_data = Pattern(kBlockSize, 1);
  const Bytes new_data = Pattern(kBlockSize, 2);
  Preload(60, old_data);
  store_->SetNoWait(NoWait::kSucceed);
  store_->HoldReads();
  Bytes caw_data = old_data;
  caw_data.insert(caw_data.end(), new_data.begin(), new_data.end());
  Submitted caw;
  Start(caw, testing::CompareAndWriteCdb(60, 1), caw_data, /*nexus_id=*/2);
  // The COMPARE AND WRITE holds its range exclusively while it reads for the compare.
  store_->WaitForHeldReads(1);

  Submitted read;
  Start(read, testing::Read10(60, 1));
  // The range is taken: no inline read of the old bytes, no read at all yet.
  EXPECT_FALSE(read.done_when_submit_returned);
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 0);
  EXPECT_FALSE(read.done.HasBeenNotified());

  store_->ReleaseReads();
  caw.done.WaitForNotification();
  read.done.WaitForNotification();
  lun_->Drain();
  EXPECT_EQ(caw.task.status, ScsiStatus::kGood);
  EXPECT_EQ(read.task.status, ScsiStatus::kGood);
  EXPECT_EQ(read.data_in(), new_data);
  EXPECT_NE(read.completed_on, std::this_thread::get_id());
  EXPECT_EQ(read.completions.load(), 1);
}

TEST_F(InlineIoTest, ReadOfAnotherRangeStaysInlineWhileCompareAndWriteHoldsItsOwn) {
  Preload(70, Pattern(kBlockSize, 1));
  const Bytes other = Pattern(kBlockSize, 4);
  Preload(71, other);
  store_->SetNoWait(NoWait::kSucceed);
  store_->HoldReads();
  Bytes caw_data = Pattern(kBlockSize, 1);
  caw_data.resize(2 * kBlockSize, 0x55);
  Submitted caw;
  Start(caw, testing::CompareAndWriteCdb(70, 1), caw_data, /*nexus_id=*/2);
  store_->WaitForHeldReads(1);

  Submitted read;
  Start(read, testing::Read10(71, 1));
  EXPECT_TRUE(read.done_when_submit_returned);
  EXPECT_EQ(read.data_in(), other);

  store_->ReleaseReads();
  caw.done.WaitForNotification();
  lun_->Drain();
  EXPECT_EQ(caw.task.status, ScsiStatus::kGood);
}

TEST_F(InlineIoTest, TaskAbortedBeforeSubmitAnswersTaskAbortedWithoutIo) {
  store_->SetNoWait(NoWait::kSucceed);
  Submitted read;
  Run(read, testing::Read10(0, 1), {}, /*nexus_id=*/1, /*abort_first=*/true);
  Submitted write;
  Run(write, testing::Write10(0, 1), Bytes(kBlockSize, 9), /*nexus_id=*/1,
      /*abort_first=*/true);
  for (Submitted* s : {&read, &write}) {
    EXPECT_TRUE(s->done_when_submit_returned);
    EXPECT_EQ(s->completions.load(), 1);
    EXPECT_EQ(s->task.status, ScsiStatus::kTaskAborted);
    EXPECT_TRUE(s->task.sense.empty());
    EXPECT_TRUE(s->task.data_in.empty());
  }
  EXPECT_TRUE(store_->calls().empty());
  EXPECT_EQ(FileBytes(0, 1), Bytes(kBlockSize, 0));
}

TEST_F(InlineIoTest, FallenBackReadQueuedBehindABusyPoolIsAbortedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(Build(LogicalUnitConfig{}, /*threads=*/1));
  Preload(80, Pattern(kBlockSize, 1));
  store_->SetNoWait(NoWait::kWouldWait);
  store_->HoldReads();
  Bytes caw_data = Pattern(kBlockSize, 1);
  caw_data.resize(2 * kBlockSize, 0x66);
  Submitted caw;  // occupies the only worker
  Start(caw, testing::CompareAndWriteCdb(80, 1), caw_data, /*nexus_id=*/2);
  store_->WaitForHeldReads(1);

  Submitted read;
  Start(read, testing::Read10(200, 1), {}, /*nexus_id=*/1);
  EXPECT_EQ(store_->count(Kind::kReadNoWait), 1);  // tried inline, fell back
  EXPECT_FALSE(read.done.HasBeenNotified());
  // Queued on the pool, so ABORT TASK SET completes it without waiting for the worker.
  std::thread tmf([this] { lun_->AbortTaskSet(1); });
  const bool aborted_while_pool_busy = read.done.WaitForNotificationWithTimeout(absl::Seconds(20));
  store_->ReleaseReads();
  tmf.join();
  caw.done.WaitForNotification();
  lun_->Drain();
  EXPECT_TRUE(aborted_while_pool_busy);
  EXPECT_EQ(read.task.status, ScsiStatus::kTaskAborted);
  EXPECT_EQ(read.completions.load(), 1);
  EXPECT_EQ(store_->count(Kind::kRead), 1);  // the COMPARE AND WRITE's only
  EXPECT_EQ(caw.task.status, ScsiStatus::kGood);
}

// A store that keeps BlockStore's default ReadNoWait/WriteNoWait ("would wait") gets
// every READ and WRITE on the pool, through one blocking call each.
TEST(InlineIoDefaultStoreTest, StoreWithoutNoWaitSendsSmallIoToThePool) {
  testing::LunHarness harness;
  harness.ClearUnitAttention();
  const Bytes data = Pattern(2 * kBlockSize, 12);
  std::thread::id write_thread;
  std::thread::id read_thread;
  for (const bool is_write : {true, false}) {
    ScsiTask task;
    task.nexus = harness.Nexus(1);
    ASSERT_TRUE(task.SetCdb(is_write ? testing::Write10(5, 2) : testing::Read10(5, 2)));
    task.direction = is_write ? DataDirection::kWrite : DataDirection::kRead;
    task.expected_transfer_length = static_cast<uint32_t>(data.size());
    if (is_write) task.data_out = data;
    absl::Notification done;
    std::thread::id& completed_on = is_write ? write_thread : read_thread;
    harness.lun().Submit(task, [&](ScsiTask&) {
      completed_on = std::this_thread::get_id();
      done.Notify();
    });
    done.WaitForNotification();
    harness.lun().Drain();
    EXPECT_EQ(task.status, ScsiStatus::kGood);
    if (!is_write) {
      EXPECT_EQ(Bytes(task.data_in.begin(), task.data_in.end()), data);
    }
  }
  EXPECT_NE(write_thread, std::this_thread::get_id());
  EXPECT_NE(read_thread, std::this_thread::get_id());
  EXPECT_EQ(harness.store().count(testing::StoreOp::kWrite), 1);
  EXPECT_EQ(harness.store().count(testing::StoreOp::kRead), 1);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
