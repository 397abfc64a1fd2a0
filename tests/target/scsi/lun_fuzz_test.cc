// Robustness: a few hundred thousand random CDBs (deterministic seed, every
// opcode, random lengths, random data-out and expected lengths, random task
// attributes and aborts, parameter lists shaped for PERSISTENT RESERVE OUT,
// MODE SELECT and UNMAP) through a LogicalUnit over a small sparse file,
// with resets and nexus losses mixed in. The
// logical unit must never crash and must complete every task exactly once
// with a well-formed answer.
#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "target/scsi/byte_order.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using testing::HarnessOptions;
using testing::LunHarness;

constexpr int kTasks = 300000;
constexpr int kBatch = 128;

// Opcodes worth aiming at (implemented ones twice), plus random bytes.
constexpr uint8_t kInterestingOpcodes[] = {
    0x00, 0x03, 0x08, 0x0a, 0x12, 0x1a, 0x25, 0x28, 0x2a, 0x2f, 0x35, 0x41, 0x42, 0x5a,
    0x88, 0x8a, 0x8f, 0x91, 0x93, 0x9e, 0xa0, 0xa8, 0xaa, 0xaf, 0x00, 0x03, 0x08, 0x0a,
    0x12, 0x1a, 0x25, 0x28, 0x2a, 0x2f, 0x35, 0x41, 0x42, 0x5a, 0x88, 0x8a, 0x8f, 0x91,
    0x93, 0x9e, 0xa0, 0xa8, 0xaa, 0xaf, 0x04, 0x15, 0x1b, 0x55, 0x5e, 0x5f, 0x7f, 0x83,
    0x89, 0xa3, 0xa4, 0xc0, 0xff,
    // WRITE AND VERIFY, COMPARE AND WRITE, PRE-FETCH, START STOP UNIT, MODE
    // SELECT, LOG SENSE, RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT, MAINTENANCE IN.
    0x2e, 0xae, 0x8e, 0x89, 0x89, 0x34, 0x90, 0x1b, 0x15, 0x55, 0x15, 0x55, 0x4d, 0x16,
    0x17, 0x56, 0x57, 0x5e, 0x5e, 0x5f, 0x5f, 0x5f, 0x5f, 0xa3, 0xa3, 0x9e};

// Shapes a data-out buffer like the parameter list `cdb` expects, with a
// few random bytes poked in: PR OUT lists with keys from a tiny set (so
// registrations, reservations and preemptions actually happen), MODE SELECT
// headers and pages, UNMAP descriptors.
template <typename Rng>
void ShapeParameterList(const Bytes& cdb, IoBuffer& data, Rng& rng) {
  auto small_key = [&] { return static_cast<uint64_t>(rng() % 3); };
  switch (cdb[0]) {
    case 0x5f: {
      data.assign(rng() % 8 == 0 ? rng() % 40 : 24, 0);
      if (data.size() >= 24) {
        StoreBe64(&data[0], small_key());
        StoreBe64(&data[8], small_key());
        data[20] = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 2);
      }
      break;
    }
    case 0x15:
    case 0x55: {
      const bool ten = cdb[0] == 0x55;
      Bytes list(ten ? 8 : 4, 0);
      if (rng() % 3 == 0) {  // a block descriptor
        const size_t at = list.size();
        list.resize(at + 8, 0);
        StoreBe32(&list[at], static_cast<uint32_t>(rng() % 3 == 0 ? 0 : rng() % 300));
        StoreBe24(&list[at + 5], rng() % 2 == 0 ? 512 : static_cast<uint32_t>(rng()));
        if (ten) StoreBe16(&list[6], 8); else list[3] = 8;
      }
      const uint8_t pages[][2] = {{0x08, 0x12}, {0x0a, 0x0a}, {0x1c, 0x0a}, {0x3f, 4}};
      const auto& page = pages[rng() % 4];
      const size_t at = list.size();
      list.resize(at + 2 + page[1], 0);
      list[at] = page[0];
      list[at + 1] = page[1];
      if (page[0] == 0x08) list[at + 2] = static_cast<uint8_t>(rng() % 2 == 0 ? 0x04 : 0);
      if (page[0] == 0x0a) {
        list[at + 2] = static_cast<uint8_t>(rng() % 2 == 0 ? 0x04 : 0);
        list[at + 3] = 0x10;
        list[at + 5] = 0x40;
        list[at + 8] = list[at + 9] = 0xff;
      }
      if (rng() % 3 == 0) list[rng() % list.size()] = static_cast<uint8_t>(rng());
      data = std::move(list);
      break;
    }
    case 0x42: {
      const size_t count = rng() % 4;
      data.assign(8 + 16 * count, 0);
      StoreBe16(&data[0], static_cast<uint16_t>(data.size() - 2));
      StoreBe16(&data[2], static_cast<uint16_t>(rng() % 5 == 0 ? rng() : 16 * count));
      for (size_t i = 0; i < count; ++i) {
        StoreBe64(&data[8 + 16 * i], rng() % 200);
        StoreBe32(&data[16 + 16 * i], static_cast<uint32_t>(rng() % 64));
      }
      break;
    }
    default:
      break;
  }
}

struct Slot {
  ScsiTask task;
  uint32_t expected_length = 0;
  std::atomic<int> completions{0};
};

TEST(LunFuzzTest, RandomCdbsNeverCrashAndCompleteExactlyOnce) {
  HarnessOptions options;
  options.blocks = 128;  // 64 KiB file
  options.threads = 2;
  options.config.max_transfer_bytes = 64 << 10;
  options.config.max_write_same_bytes = 64 << 10;
  options.config.max_tasks = 32;  // below kBatch: TASK SET FULL gets exercised too
  LunHarness harness(options);
  std::mt19937_64 rng(0x5c51c5d1ull);  // deterministic
  auto byte = [&] { return static_cast<uint8_t>(rng()); };
  auto below = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };

  std::vector<std::shared_ptr<const ItNexus>> nexuses;
  for (uint64_t id = 1; id <= 4; ++id) nexuses.push_back(harness.Nexus(id));

  absl::Mutex mu;
  int outstanding = 0;
  int bad_answers = 0;
  int statuses[256] = {};

  for (int done = 0; done < kTasks; done += kBatch) {
    std::vector<std::unique_ptr<Slot>> slots;
    slots.reserve(kBatch);
    {
      absl::MutexLock lock(&mu);
      outstanding = kBatch;
    }
    for (int i = 0; i < kBatch; ++i) {
      auto slot = std::make_unique<Slot>();
      ScsiTask& task = slot->task;
      // CDB: random length (mostly 6..16, sometimes up to 260), random bytes,
      // an interesting opcode most of the time, small LBAs now and then so
      // commands get past the range checks and reach the store.
      size_t length = 6 + below(11);
      if (below(20) == 0) length = 1 + below(kMaxCdbLength);
      Bytes cdb(length);
      for (auto& b : cdb) b = byte();
      cdb[0] = below(4) == 0 ? byte() : kInterestingOpcodes[below(sizeof(kInterestingOpcodes))];
      if (length >= 10 && below(2) == 0) {
        for (size_t k = 2; k < std::min<size_t>(length, 9); ++k) cdb[k] = 0;  // LBA ~ 0
        if (length >= 16) {
          cdb[10] = cdb[11] = cdb[12] = 0;  // 16-byte transfer length < 256
        } else if (length >= 12) {
          cdb[6] = cdb[7] = cdb[8] = 0;  // 12-byte transfer length < 256
        }
      }
      if (below(3) == 0) cdb[length - 1] = 0;  // valid control byte
      ASSERT_TRUE(task.SetCdb(cdb));
      task.nexus = nexuses[below(nexuses.size())];
      task.attribute = static_cast<TaskAttribute>(below(4));
      slot->expected_length = static_cast<uint32_t>(below(4) == 0 ? below(1 << 17) : below(4096));
      task.expected_transfer_length = slot->expected_length;
      // Data-out: zeros (so WRITE SAME+UNMAP punches) or a cheap pattern, with
      // a random UNMAP-style header.
      task.data_out.assign(below(3) == 0 ? below(70000) : below(1100), 0);
      if (below(2) == 0) {
        const uint8_t seed = byte();
        for (size_t k = 0; k < task.data_out.size(); ++k) {
          task.data_out[k] = static_cast<uint8_t>(seed + k);
        }
      }
      for (size_t k = 0; k < std::min<size_t>(24, task.data_out.size()); ++k) {
        if (below(2) == 0) task.data_out[k] = byte();
      }
      if (below(2) == 0) {
        ShapeParameterList(cdb, task.data_out, rng);
        if (cdb[0] == 0x5f && length >= 10) {
          // A sane PARAMETER LIST LENGTH and a known service action/type.
          cdb[1] = static_cast<uint8_t>(below(8));
          cdb[2] = static_cast<uint8_t>(below(9));
          cdb[5] = cdb[6] = cdb[7] = 0;
          cdb[8] = 24;
          cdb[length - 1] = 0;
          ASSERT_TRUE(task.SetCdb(cdb));
        }
        if ((cdb[0] == 0x15 || cdb[0] == 0x55) && length >= 10) {
          cdb[1] = 0x10;
          if (cdb[0] == 0x15) {
            cdb[4] = static_cast<uint8_t>(task.data_out.size());
          } else {
            StoreBe16(&cdb[7], static_cast<uint16_t>(task.data_out.size()));
          }
          cdb[cdb[0] == 0x15 ? 5 : 9] = 0;
          ASSERT_TRUE(task.SetCdb(cdb));
        }
      }
      if (below(50) == 0) task.RequestAbort();
      slots.push_back(std::move(slot));
    }
    for (auto& slot : slots) {
      Slot* s = slot.get();
      harness.lun().Submit(s->task, [&, s](ScsiTask& task) {
        ++s->completions;
        absl::MutexLock lock(&mu);
        const bool check = task.status == ScsiStatus::kCheckCondition;
        const bool sense_ok =
            check ? (task.sense.size() >= 8 &&
                     ((task.sense[0] & 0x7f) == 0x70 || (task.sense[0] & 0x7f) == 0x72))
                  : task.sense.empty();
        if (!sense_ok || task.data_in.size() > s->expected_length) ++bad_answers;
        ++statuses[static_cast<uint8_t>(task.status)];
        --outstanding;
      });
      // Now and then poke the task-management and configuration paths.
      const uint64_t r = below(4000);
      if (r == 0) harness.lun().AbortTaskSet(1 + below(4));
      if (r == 1) harness.lun().AddUnitAttention(std::nullopt,
                                                 SenseReason::kReportedLunsDataHasChanged);
      if (r == 2) harness.lun().SetDescriptorSense(below(2) == 0);
      if (r == 3) harness.lun().Reset();  // also drops SPC-2 reservations
      if (r == 4) harness.lun().RemoveNexus(1 + below(4));
    }
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(
          +[](int* n) { return *n == 0; }, &outstanding));
    }
    harness.lun().Drain();
    for (auto& slot : slots) ASSERT_EQ(slot->completions.load(), 1);
    if (done % (kBatch * 500) == 0 && harness.lun().capacity_blocks() < 256) {
      ASSERT_TRUE(harness.lun().Resize((harness.lun().capacity_blocks() + 8) * 512).ok());
    }
  }
  EXPECT_EQ(bad_answers, 0);
  const int good = statuses[static_cast<uint8_t>(ScsiStatus::kGood)];
  const int check = statuses[static_cast<uint8_t>(ScsiStatus::kCheckCondition)];
  const int aborted = statuses[static_cast<uint8_t>(ScsiStatus::kTaskAborted)];
  const int full = statuses[static_cast<uint8_t>(ScsiStatus::kTaskSetFull)];
  const int conflict = statuses[static_cast<uint8_t>(ScsiStatus::kReservationConflict)];
  EXPECT_EQ(good + check + aborted + full + conflict, (kTasks + kBatch - 1) / kBatch * kBatch);
  EXPECT_GT(conflict, 100);  // reservations were taken and enforced
  EXPECT_GT(good, 1000);  // plenty of commands got through to real work
  EXPECT_GT(check, 1000);
  RecordProperty("good", good);
  RecordProperty("check_condition", check);
  RecordProperty("aborted", aborted);
  RecordProperty("task_set_full", full);
  RecordProperty("reservation_conflict", conflict);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
