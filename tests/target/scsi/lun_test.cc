// Tests for LogicalUnit behaviour across commands: unit attentions per
// I_T nexus, resize, task management (abort, reset, nexus loss), ordering by
// task attribute, queue depth, threading, and concurrent I/O.
#include "target/scsi/lun.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using testing::Bytes;
using testing::HarnessOptions;
using testing::LunHarness;
using testing::Outcome;
using testing::Pattern;
using testing::StoreOp;

const Bytes kTestUnitReady = {0, 0, 0, 0, 0, 0};

// An asynchronously submitted task and what its completion saw.
struct Pending {
  ScsiTask task;
  absl::Notification done;
  std::atomic<int> completions{0};
  std::thread::id completed_on;
};

void SubmitAsync(LogicalUnit& lun, Pending& p, std::shared_ptr<const ItNexus> nexus,
                 const Bytes& cdb, Bytes data_out = {},
                 TaskAttribute attribute = TaskAttribute::kSimple,
                 std::vector<int>* order = nullptr, absl::Mutex* order_mu = nullptr,
                 int id = 0) {
  p.task.nexus = std::move(nexus);
  EXPECT_TRUE(p.task.SetCdb(cdb));
  p.task.attribute = attribute;
  p.task.expected_transfer_length =
      data_out.empty() ? (1u << 20) : static_cast<uint32_t>(data_out.size());
  p.task.data_out = std::move(data_out);
  lun.Submit(p.task, [&p, order, order_mu, id](ScsiTask&) {
    if (order != nullptr) {
      absl::MutexLock lock(order_mu);
      order->push_back(id);
    }
    p.completed_on = std::this_thread::get_id();
    ++p.completions;
    p.done.Notify();
  });
}

TEST(LunCreateTest, RejectsBadBlockSizeWwnAndSerial) {
  auto store = std::shared_ptr<backend::BlockStore>();
  auto pool = std::make_shared<backend::WorkerPool>(1);
  HarnessOptions unused;
  LunHarness harness;  // for a real store
  auto make = [&](LogicalUnitConfig config) {
    return LogicalUnit::Create(std::move(config),
                               std::shared_ptr<backend::BlockStore>(
                                   &harness.store(), [](backend::BlockStore*) {}),
                               pool);
  };
  LogicalUnitConfig good;
  good.serial = "S1";
  good.naa_wwn = testing::TestWwn();
  EXPECT_TRUE(make(good).ok());
  LogicalUnitConfig bad_block = good;
  bad_block.block_size = 1024;
  EXPECT_EQ(make(bad_block).status().code(), absl::StatusCode::kInvalidArgument);
  LogicalUnitConfig bad_wwn = good;
  bad_wwn.naa_wwn[0] = 0x50;
  EXPECT_EQ(make(bad_wwn).status().code(), absl::StatusCode::kInvalidArgument);
  LogicalUnitConfig bad_serial = good;
  bad_serial.serial = "";
  EXPECT_EQ(make(bad_serial).status().code(), absl::StatusCode::kInvalidArgument);
  LogicalUnitConfig long_vendor = good;
  long_vendor.vendor = "TOO-LONG-VENDOR";
  EXPECT_FALSE(make(long_vendor).ok());
  EXPECT_FALSE(LogicalUnit::Create(good, store, pool).ok());
}

TEST(LunUnitAttentionTest, PowerOnResetIsDeliveredOncePerNexus) {
  LunHarness harness;
  EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, 1).sense,
            (Bytes{0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x29, 0x00, 0, 0, 0, 0}));
  EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, 1).status, ScsiStatus::kGood);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 2), 0x06, 0x29, 0x00);
  EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, 2).status, ScsiStatus::kGood);
}

TEST(LunUnitAttentionTest, UnitAttentionPreventsTheCommandFromRunning) {
  LunHarness harness;
  EXPECT_CHECK_CONDITION(harness.Run(testing::Write10(0, 1), Bytes(512, 9)), 0x06, 0x29, 0x00);
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), 0);
}

TEST(LunUnitAttentionTest, InquiryDoesNotConsumeUnitAttention) {
  LunHarness harness;
  EXPECT_EQ(harness.Run(testing::Inquiry(false, 0, 36)).status, ScsiStatus::kGood);
  EXPECT_EQ(harness.Run(testing::Inquiry(true, 0x83, 255)).status, ScsiStatus::kGood);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady), 0x06, 0x29, 0x00);
}

TEST(LunUnitAttentionTest, ReportLunsDoesNotConsumePowerOn) {
  LunHarness harness;
  EXPECT_EQ(harness.Run(testing::ReportLuns()).status, ScsiStatus::kGood);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady), 0x06, 0x29, 0x00);
}

TEST(LunUnitAttentionTest, ReportLunsClearsReportedLunsDataHasChanged) {
  LunHarness harness;
  harness.ClearUnitAttention();
  harness.lun().AddUnitAttention(std::nullopt, SenseReason::kReportedLunsDataHasChanged);
  EXPECT_EQ(harness.Run(testing::ReportLuns()).status, ScsiStatus::kGood);
  EXPECT_EQ(harness.Run(kTestUnitReady).status, ScsiStatus::kGood);
}

TEST(LunUnitAttentionTest, RequestSenseReturnsUnitAttentionAsDataAndClearsIt) {
  LunHarness harness;
  const Outcome out = harness.Run(testing::RequestSense());
  EXPECT_EQ(out.status, ScsiStatus::kGood);
  EXPECT_THAT(out.data_in, ElementsAre(0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x29,
                                       0x00, 0, 0, 0, 0));
  EXPECT_EQ(harness.Run(kTestUnitReady).status, ScsiStatus::kGood);
}

TEST(LunUnitAttentionTest, TransportRaisedUnitAttentionReachesEveryKnownNexus) {
  LunHarness harness;
  harness.ClearUnitAttention(1);
  harness.ClearUnitAttention(2);
  harness.lun().AddUnitAttention(std::nullopt, SenseReason::kReportedLunsDataHasChanged);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 1), 0x06, 0x3f, 0x0e);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 2), 0x06, 0x3f, 0x0e);
  EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, 1).status, ScsiStatus::kGood);
}

TEST(LunUnitAttentionTest, UnitAttentionForOneNexusSparesTheOthers) {
  LunHarness harness;
  harness.ClearUnitAttention(1);
  harness.ClearUnitAttention(2);
  harness.lun().AddUnitAttention(2, SenseReason::kModeParametersChanged);
  EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, 1).status, ScsiStatus::kGood);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 2), 0x06, 0x2a, 0x01);
}

TEST(LunUnitAttentionTest, NonUnitAttentionReasonIsIgnored) {
  LunHarness harness;
  harness.ClearUnitAttention();
  harness.lun().AddUnitAttention(std::nullopt, SenseReason::kLbaOutOfRange);
  EXPECT_EQ(harness.Run(kTestUnitReady).status, ScsiStatus::kGood);
}

TEST(LunUnitAttentionTest, PendingUnitAttentionsAreReportedInOrder) {
  LunHarness harness;
  harness.ClearUnitAttention();
  harness.lun().AddUnitAttention(1, SenseReason::kCapacityDataHasChanged);
  harness.lun().AddUnitAttention(1, SenseReason::kReportedLunsDataHasChanged);
  harness.lun().AddUnitAttention(1, SenseReason::kCapacityDataHasChanged);  // deduplicated
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady), 0x06, 0x2a, 0x09);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady), 0x06, 0x3f, 0x0e);
  EXPECT_EQ(harness.Run(kTestUnitReady).status, ScsiStatus::kGood);
}

TEST(LunResizeTest, ResizeRaisesCapacityDataHasChangedForEveryNexus) {
  LunHarness harness;
  harness.ClearUnitAttention(1);
  harness.ClearUnitAttention(2);
  ASSERT_TRUE(harness.lun().Resize(8192 * 512).ok());
  EXPECT_EQ(harness.lun().capacity_blocks(), 8192u);
  struct stat st {};
  ASSERT_EQ(::stat(harness.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8192 * 512);
  EXPECT_CHECK_CONDITION(harness.Run(testing::ReadCapacity10(), {}, 8, 1), 0x06, 0x2a, 0x09);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 2), 0x06, 0x2a, 0x09);
  EXPECT_THAT(harness.Run(testing::ReadCapacity10(), {}, 8, 1).data_in,
              ElementsAre(0x00, 0x00, 0x1f, 0xff, 0x00, 0x00, 0x02, 0x00));
  EXPECT_EQ(harness.Run(testing::Read16(8191, 1), {}, 512, 1).status, ScsiStatus::kGood);
}

TEST(LunResizeTest, ResizeToTheSameSizeRaisesNothing) {
  LunHarness harness;
  harness.ClearUnitAttention();
  ASSERT_TRUE(harness.lun().Resize(4096 * 512).ok());
  EXPECT_EQ(harness.Run(kTestUnitReady).status, ScsiStatus::kGood);
}

TEST(LunResizeTest, ResizeRejectsPartialBlocksAndShrinking) {
  LunHarness harness;
  EXPECT_EQ(harness.lun().Resize(4096 * 512 + 100).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(harness.lun().Resize(1024 * 512).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(harness.lun().capacity_blocks(), 4096u);
}

TEST(LunTaskManagementTest, AbortRequestedBeforeSubmitCompletesTaskAborted) {
  LunHarness harness;
  harness.ClearUnitAttention();
  Pending p;
  p.task.RequestAbort();
  SubmitAsync(harness.lun(), p, harness.Nexus(1), testing::Write10(0, 1), Bytes(512, 1));
  p.done.WaitForNotification();
  harness.lun().Drain();
  EXPECT_EQ(p.task.status, ScsiStatus::kTaskAborted);
  EXPECT_TRUE(p.task.sense.empty());
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), 0);
}

TEST(LunTaskManagementTest, AbortedQueuedTasksNeverTouchTheStore) {
  HarnessOptions options;
  options.threads = 1;
  // Outlives the harness, whose pool joins the worker that may still be inside
  // WaitForNotification when the test body ends.
  absl::Notification release_worker;
  LunHarness harness(options);
  harness.ClearUnitAttention();
  // Occupy the only worker so every I/O task stays queued.
  harness.pool().Schedule([&] { release_worker.WaitForNotification(); });
  std::vector<std::unique_ptr<Pending>> tasks;
  for (int i = 0; i < 6; ++i) {
    tasks.push_back(std::make_unique<Pending>());
    SubmitAsync(harness.lun(), *tasks.back(), harness.Nexus(1),
                testing::Write10(static_cast<uint32_t>(i), 1), Bytes(512, 0xab));
  }
  for (int i = 0; i < 6; i += 2) tasks[i]->task.RequestAbort();
  release_worker.Notify();
  for (auto& t : tasks) t->done.WaitForNotification();
  harness.lun().Drain();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(tasks[i]->completions.load(), 1);
    EXPECT_EQ(tasks[i]->task.status, i % 2 == 0 ? ScsiStatus::kTaskAborted : ScsiStatus::kGood)
        << i;
    const Outcome back = harness.Run(testing::Read10(static_cast<uint32_t>(i), 1));
    EXPECT_THAT(back.data_in, Each(i % 2 == 0 ? 0 : 0xab)) << i;
  }
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), 3);
}

TEST(LunTaskManagementTest, AbortTaskSetCancelsQueuedWorkAndWaitsForRunningWork) {
  HarnessOptions options;
  options.threads = 1;
  LunHarness harness(options);
  harness.ClearUnitAttention(1);
  harness.ClearUnitAttention(2);
  harness.store().HoldIo();
  Pending running, queued, other_nexus;
  SubmitAsync(harness.lun(), running, harness.Nexus(1), testing::Write10(0, 1), Bytes(512, 1));
  harness.store().WaitForHeld(1);  // `running` is inside the store now
  SubmitAsync(harness.lun(), queued, harness.Nexus(1), testing::Write10(1, 1), Bytes(512, 1));
  SubmitAsync(harness.lun(), other_nexus, harness.Nexus(2), testing::Read10(2, 1));

  std::atomic<bool> returned{false};
  std::thread tmf([&] {
    harness.lun().AbortTaskSet(1);
    returned = true;
  });
  queued.done.WaitForNotification();  // cancelled without waiting for the store
  EXPECT_EQ(queued.task.status, ScsiStatus::kTaskAborted);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());  // still waiting for the running write
  harness.store().ReleaseIo();
  tmf.join();
  EXPECT_TRUE(running.done.HasBeenNotified());
  EXPECT_EQ(running.task.status, ScsiStatus::kGood);
  other_nexus.done.WaitForNotification();
  EXPECT_EQ(other_nexus.task.status, ScsiStatus::kGood);  // other nexus untouched
  harness.lun().Drain();
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), 1);
}

TEST(LunTaskManagementTest, ResetAbortsEverythingAndRaisesUnitAttentionForOthers) {
  HarnessOptions options;
  options.threads = 1;
  absl::Notification release_worker;  // outlives the harness's pool, as above
  LunHarness harness(options);
  harness.ClearUnitAttention(1);
  harness.ClearUnitAttention(2);
  harness.lun().SetDescriptorSense(true);
  harness.pool().Schedule([&] { release_worker.WaitForNotification(); });
  Pending a, b;
  SubmitAsync(harness.lun(), a, harness.Nexus(1), testing::Read10(0, 1));
  SubmitAsync(harness.lun(), b, harness.Nexus(2), testing::Read10(0, 1));
  std::thread tmf([&] { harness.lun().Reset(); });
  // Both tasks are flagged before the worker is released.
  while (!(a.task.abort_requested() && b.task.abort_requested())) std::this_thread::yield();
  release_worker.Notify();
  tmf.join();
  EXPECT_EQ(a.task.status, ScsiStatus::kTaskAborted);
  EXPECT_EQ(b.task.status, ScsiStatus::kTaskAborted);
  // Every nexus sees the reset, the one that asked for it too; D_SENSE went
  // back to its default (fixed format).
  for (uint64_t nexus : {1, 2}) {
    EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, nexus).sense,
              (Bytes{0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x29, 0x03, 0, 0, 0, 0}))
        << nexus;
    EXPECT_EQ(harness.Run(kTestUnitReady, {}, 0, nexus).status, ScsiStatus::kGood) << nexus;
  }
}

TEST(LunTaskManagementTest, RemovedNexusStartsOverWithPowerOn) {
  LunHarness harness;
  harness.ClearUnitAttention(7);
  harness.lun().RemoveNexus(7);
  EXPECT_CHECK_CONDITION(harness.Run(kTestUnitReady, {}, 0, 7), 0x06, 0x29, 0x00);
}

TEST(LunTaskManagementTest, DrainWaitsForIoInProgress) {
  LunHarness harness;
  harness.ClearUnitAttention();
  harness.store().HoldIo();
  Pending p;
  SubmitAsync(harness.lun(), p, harness.Nexus(1), testing::Read10(0, 4));
  harness.store().WaitForHeld(1);
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    harness.lun().Drain();
    drained = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(drained.load());
  harness.store().ReleaseIo();
  drainer.join();
  EXPECT_TRUE(p.done.HasBeenNotified());
  EXPECT_EQ(p.task.status, ScsiStatus::kGood);
}

TEST(LunTaskManagementTest, FullTaskSetAnswersTaskSetFull) {
  HarnessOptions options;
  options.config.max_tasks = 2;
  LunHarness harness(options);
  harness.ClearUnitAttention();
  harness.store().HoldIo();
  Pending a, b, c;
  SubmitAsync(harness.lun(), a, harness.Nexus(1), testing::Read10(0, 1));
  SubmitAsync(harness.lun(), b, harness.Nexus(1), testing::Read10(1, 1));
  SubmitAsync(harness.lun(), c, harness.Nexus(1), testing::Read10(2, 1));
  EXPECT_TRUE(c.done.HasBeenNotified());  // answered inline
  EXPECT_EQ(c.task.status, ScsiStatus::kTaskSetFull);
  harness.store().ReleaseIo();
  a.done.WaitForNotification();
  b.done.WaitForNotification();
  harness.lun().Drain();
  EXPECT_EQ(a.task.status, ScsiStatus::kGood);
  EXPECT_EQ(b.task.status, ScsiStatus::kGood);
}

TEST(LunThreadingTest, IoCompletesOnAWorkerAndQuickCommandsInline) {
  LunHarness harness;
  harness.ClearUnitAttention();
  Pending io, quick;
  SubmitAsync(harness.lun(), io, harness.Nexus(1), testing::Read10(0, 1));
  io.done.WaitForNotification();
  SubmitAsync(harness.lun(), quick, harness.Nexus(1), testing::Inquiry(false, 0, 36));
  EXPECT_TRUE(quick.done.HasBeenNotified());
  harness.lun().Drain();
  EXPECT_NE(io.completed_on, std::this_thread::get_id());
  EXPECT_EQ(quick.completed_on, std::this_thread::get_id());
}

TEST(LunOrderingTest, OrderedTaskWaitsForEarlierTasksAndHoldsBackLaterOnes) {
  LunHarness harness;  // two workers: ordering comes from the gate, not the pool
  harness.ClearUnitAttention();
  harness.store().HoldIo();
  std::vector<int> order;
  absl::Mutex order_mu;
  Pending simple_before, ordered, simple_after;
  SubmitAsync(harness.lun(), simple_before, harness.Nexus(1), testing::Write10(0, 1),
              Bytes(512, 1), TaskAttribute::kSimple, &order, &order_mu, 1);
  harness.store().WaitForHeld(1);
  SubmitAsync(harness.lun(), ordered, harness.Nexus(1), testing::Write10(0, 1), Bytes(512, 2),
              TaskAttribute::kOrdered, &order, &order_mu, 2);
  SubmitAsync(harness.lun(), simple_after, harness.Nexus(1), testing::Write10(0, 1),
              Bytes(512, 3), TaskAttribute::kSimple, &order, &order_mu, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), 1);  // the others wait at the gate
  harness.store().ReleaseIo();
  simple_after.done.WaitForNotification();
  harness.lun().Drain();
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
  EXPECT_THAT(harness.Run(testing::Read10(0, 1)).data_in, Each(3));
}

TEST(LunOrderingTest, HeadOfQueueTaskStartsPastAWaitingOrderedTask) {
  LunHarness harness;
  harness.ClearUnitAttention();
  harness.store().HoldIo();
  Pending simple, ordered, head;
  SubmitAsync(harness.lun(), simple, harness.Nexus(1), testing::Read10(0, 1));
  harness.store().WaitForHeld(1);
  SubmitAsync(harness.lun(), ordered, harness.Nexus(1), testing::Read10(1, 1), {},
              TaskAttribute::kOrdered);
  SubmitAsync(harness.lun(), head, harness.Nexus(1), testing::Read10(2, 1), {},
              TaskAttribute::kHeadOfQueue);
  harness.store().WaitForHeld(2);  // the head-of-queue read reached the store
  EXPECT_EQ(harness.store().count(StoreOp::kRead), 2);
  harness.store().ReleaseIo();
  harness.lun().Drain();
  EXPECT_EQ(ordered.task.status, ScsiStatus::kGood);
  EXPECT_EQ(head.task.status, ScsiStatus::kGood);
}

TEST(LunConcurrencyTest, ConcurrentWritersAndReadersSeeTheirOwnPatterns) {
  HarnessOptions options;
  options.threads = 4;
  options.blocks = 8 * 64;
  LunHarness harness(options);
  constexpr int kThreads = 8;
  constexpr int kRounds = 60;
  for (int t = 0; t < kThreads; ++t) harness.ClearUnitAttention(100 + t);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto nexus = harness.Nexus(100 + t);
      for (int round = 0; round < kRounds; ++round) {
        const uint32_t lba = static_cast<uint32_t>(t * 64 + (round % 8) * 8);
        const Bytes data = Pattern(8 * 512, static_cast<uint8_t>(t * 31 + round));
        Pending w;
        SubmitAsync(harness.lun(), w, nexus, testing::Write10(lba, 8, round % 3 == 0 ? 0x08 : 0),
                    data);
        w.done.WaitForNotification();
        Pending r;
        SubmitAsync(harness.lun(), r, nexus, testing::Read10(lba, 8));
        r.done.WaitForNotification();
        if (w.task.status != ScsiStatus::kGood || r.task.status != ScsiStatus::kGood ||
            r.task.data_in != data) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  harness.lun().Drain();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(harness.store().count(StoreOp::kWrite), kThreads * kRounds);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
