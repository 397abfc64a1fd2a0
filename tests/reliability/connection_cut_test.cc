// Connections cut in the middle of transfers (issue #12). Each of four libiscsi sessions talks
// to `iscsi-csi target` through its own CuttingProxy, which closes both sides of the TCP
// connection after a random number of bytes of a large WRITE (Data-Out, or the response after
// the write went through) or READ (Data-In), and sometimes during a re-login. The initiator
// recovers as the kernel initiator does at ERL 0: a new connection and a login with the same
// ISID (session reinstatement, RFC 7143 §6.3.5), then the command again. Before retrying a
// cut WRITE the test reads its range back: every 4 KiB block must hold either what it held
// before or the new data, never a mix (no torn block), and the retry writes a newer pattern,
// so a stale write from the dead connection landing late would show. At the end every block
// holds exactly the last acknowledged pattern, seen through a session that never crossed the
// proxy, and the target has closed every descriptor the cut connections used.
//
// The race a random cut rarely hits is made certain in a second test: the real Target runs
// in-process over a store that holds one WRITE inside the backing store, the connection is cut
// while it is held, and the initiator logs in again (same ISID) and writes newer data to the
// same blocks. Whether the new login waits or not, the held write must never land after the
// newer one was acknowledged (RFC 7143 §6.3.5: reinstatement terminates the old tasks first).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "target/backend/block_store.h"
#include "target/target.h"
#include "tests/bench/verify_pattern.h"
#include "tests/reliability/cutting_proxy.h"
#include "tests/reliability/reliability_util.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/target_process.h"

namespace iscsi_csi::reliability {
namespace {

using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::SessionOptions;
using ::iscsi_csi::testing::TargetProcess;

constexpr char kIqn[] = "iqn.2026-11.io.iscsi-csi.test:cut";
constexpr int kWorkers = 4;
constexpr uint64_t kBlock = 4096;        // the unit a write must not tear
constexpr uint64_t kSliceBlocks = 4096;  // 16 MiB per worker
constexpr int kOpsPerWorker = 300;
constexpr uint64_t kSizes[] = {4096, 65536, 262144, 1048576, 1048576};

std::string Pattern(uint64_t offset, uint64_t bytes, uint64_t generation) {
  std::string data(bytes, '\0');
  if (generation != 0) {
    bench::FillPattern(offset, generation, reinterpret_cast<uint8_t*>(data.data()), bytes);
  }
  return data;
}

bool Holds(const std::string& data, size_t at, uint64_t offset, uint64_t generation) {
  return data.compare(at, kBlock, Pattern(offset, kBlock, generation)) == 0;
}

struct WorkerStats {
  int ops = 0;
  int cuts = 0;        // commands that lost their connection
  int relogins = 0;    // logins after a cut (including failed attempts)
  int landed = 0;      // blocks of cut writes that held the new data before the retry
  int not_landed = 0;  // ... that still held the old data
  int torn = 0;        // ... that held neither (must stay 0)
  int read_mismatches = 0;
  int scsi_errors = 0;
  std::string first_error;
};

class Worker {
 public:
  Worker(int index, std::string target_portal, std::unique_ptr<CuttingProxy> proxy)
      : index_(index),
        target_portal_(std::move(target_portal)),
        proxy_(std::move(proxy)),
        generation_(kSliceBlocks, 0),
        random_(static_cast<uint32_t>(1000 + index)) {}

  const WorkerStats& stats() const { return stats_; }

  void Run() {
    if (!Connect(false)) return;
    std::uniform_int_distribution<int> percent(0, 99);
    for (int op = 0; op < kOpsPerWorker; ++op) {
      const uint64_t bytes = kSizes[random_() % std::size(kSizes)];
      const uint64_t blocks = bytes / kBlock;
      const uint64_t first = random_() % (kSliceBlocks - blocks + 1);
      const bool write = percent(random_) < 65;
      std::optional<CuttingProxy::Direction> direction;
      uint64_t after = 0;
      if (percent(random_) < 55) {
        // Mostly mid-payload; for a quarter of the writes, on the way back (the write is done,
        // its answer lost).
        if (write && percent(random_) < 25) {
          direction = CuttingProxy::kToInitiator;
          after = random_() % 64;
        } else {
          direction = write ? CuttingProxy::kToTarget : CuttingProxy::kToInitiator;
          after = random_() % (bytes + 512);
        }
      }
      ++stats_.ops;
      if (write) {
        Write(first, blocks, direction, after);
      } else {
        Read(first, blocks, direction, after);
      }
      if (!stats_.first_error.empty()) return;
    }
  }

  // Reads the whole slice through `session` and counts blocks that differ from what was last
  // acknowledged.
  int Verify(IscsiSession& session) {
    int bad = 0;
    for (uint64_t first = 0; first < kSliceBlocks; first += 256) {
      CommandResult read = session.Read(Lba(first), static_cast<uint32_t>(256 * kBlock / 512));
      if (!read.good()) {
        ADD_FAILURE() << "worker " << index_ << ": final read: " << read.Describe();
        return -1;
      }
      for (uint64_t b = 0; b < 256; ++b) {
        if (!Holds(read.data, b * kBlock, Offset(first + b), generation_[first + b])) {
          if (++bad <= 3) {
            ADD_FAILURE() << "worker " << index_ << " block " << first + b
                          << " does not hold generation " << generation_[first + b];
          }
        }
      }
    }
    return bad;
  }

  void Logout() { session_.reset(); }

 private:
  uint64_t Offset(uint64_t block) const {
    return (static_cast<uint64_t>(index_) * kSliceBlocks + block) * kBlock;
  }
  uint64_t Lba(uint64_t block) const { return Offset(block) / 512; }

  void Fail(const std::string& what) {
    if (stats_.first_error.empty())
      stats_.first_error = absl::StrCat("worker ", index_, ": ", what);
  }

  // Connect logs in through the proxy with this worker's ISID, again and again until it works
  // (a re-login after a cut may itself be cut when `cut_login`).
  bool Connect(bool cut_login) {
    session_.reset();
    SessionOptions options;
    options.portal = proxy_->portal();
    options.target_iqn = kIqn;
    options.isid_qualifier = static_cast<uint32_t>(index_);
    options.timeout_seconds = 10;
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (cut_login && attempt == 0 && random_() % 5 == 0) {
        proxy_->ArmCut(random_() % 2 == 0 ? CuttingProxy::kToTarget : CuttingProxy::kToInitiator,
                       random_() % 600);
      }
      auto session = IscsiSession::Login(options);
      proxy_->Disarm();
      if (cut_login) ++stats_.relogins;
      if (session.ok()) {
        session_ = std::move(*session);
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    Fail("cannot log in again through the proxy");
    return false;
  }

  // Issue runs one command, armed to be cut when `direction` is set; reconnects after a cut.
  CommandResult Issue(const std::function<CommandResult()>& command,
                      std::optional<CuttingProxy::Direction> direction, uint64_t after) {
    if (direction.has_value()) proxy_->ArmCut(*direction, after);
    CommandResult result = command();
    proxy_->Disarm();
    if (result.connected && !result.good()) {
      ++stats_.scsi_errors;
      Fail(absl::StrCat("unexpected answer: ", result.Describe()));
    }
    if (!result.connected) {
      ++stats_.cuts;
      Connect(true);
    }
    return result;
  }

  void Write(uint64_t first, uint64_t blocks, std::optional<CuttingProxy::Direction> direction,
             uint64_t after) {
    const bool fua = random_() % 4 == 0;
    uint64_t generation = ++next_generation_;
    std::vector<uint64_t> attempts = {generation};  // unacknowledged writes of this range
    CommandResult result = Issue(
        [&] {
          return session_->Write(Lba(first), Pattern(Offset(first), blocks * kBlock, generation),
                                 fua);
        },
        direction, after);
    while (!result.good()) {
      if (session_ == nullptr || !stats_.first_error.empty()) return;
      // Cut: each block holds its old data or the new, whole.
      CommandResult back = session_->Read(Lba(first), static_cast<uint32_t>(blocks * 8));
      if (!back.good()) {
        if (!back.connected) {
          Connect(true);
          continue;
        }
        Fail(absl::StrCat("read-back after a cut: ", back.Describe()));
        return;
      }
      for (uint64_t b = 0; b < blocks; ++b) {
        if (std::any_of(attempts.begin(), attempts.end(), [&](uint64_t g) {
              return Holds(back.data, b * kBlock, Offset(first + b), g);
            })) {
          ++stats_.landed;
        } else if (Holds(back.data, b * kBlock, Offset(first + b), generation_[first + b])) {
          ++stats_.not_landed;
        } else {
          ++stats_.torn;
          Fail(absl::StrCat("block ", first + b, " holds neither generation ",
                            generation_[first + b], " nor one of the ", attempts.size(),
                            " cut writes (the last ", generation, ")"));
        }
      }
      // The retry carries newer data: a late write of the old connection would show.
      generation = ++next_generation_;
      attempts.push_back(generation);
      result = Issue(
          [&] {
            return session_->Write(Lba(first), Pattern(Offset(first), blocks * kBlock, generation),
                                   fua);
          },
          std::nullopt, 0);
    }
    for (uint64_t b = 0; b < blocks; ++b) generation_[first + b] = generation;
  }

  void Read(uint64_t first, uint64_t blocks, std::optional<CuttingProxy::Direction> direction,
            uint64_t after) {
    CommandResult result =
        Issue([&] { return session_->Read(Lba(first), static_cast<uint32_t>(blocks * 8)); },
              direction, after);
    for (int retry = 0; !result.good() && retry < 10; ++retry) {
      if (session_ == nullptr || !stats_.first_error.empty()) return;
      result = Issue([&] { return session_->Read(Lba(first), static_cast<uint32_t>(blocks * 8)); },
                     std::nullopt, 0);
    }
    if (!result.good()) {
      Fail("read did not succeed after 10 retries");
      return;
    }
    for (uint64_t b = 0; b < blocks; ++b) {
      if (!Holds(result.data, b * kBlock, Offset(first + b), generation_[first + b])) {
        ++stats_.read_mismatches;
        Fail(absl::StrCat("read of block ", first + b, " does not hold generation ",
                          generation_[first + b]));
      }
    }
  }

  const int index_;
  const std::string target_portal_;
  std::unique_ptr<CuttingProxy> proxy_;
  std::unique_ptr<IscsiSession> session_;
  std::vector<uint64_t> generation_;  // per block: the last acknowledged generation, 0 = zeros
  uint64_t next_generation_ = 0;
  std::mt19937_64 random_;
  WorkerStats stats_;
};

TEST(ConnectionCutTest, CutTransfersAreRetriedWithoutTornOrStaleBlocks) {
  const std::string dir = ScratchDir();
  TargetProcess target({absl::StrCat("--export=", kIqn, "=", dir, "/lun.img:64M")},
                       dir + "/target.log");
  ASSERT_FALSE(target.portal().empty()) << "target did not start:\n" << target.log();
  const int idle_fds = ProcessFdCount(target.pid());

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    auto proxy = CuttingProxy::Start(target.portal());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    workers.push_back(std::make_unique<Worker>(i, target.portal(), std::move(*proxy)));
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (auto& worker : workers) threads.emplace_back([&worker] { worker->Run(); });
  for (std::thread& t : threads) t.join();

  WorkerStats total;
  for (const auto& worker : workers) {
    const WorkerStats& s = worker->stats();
    EXPECT_TRUE(s.first_error.empty()) << s.first_error;
    total.ops += s.ops;
    total.cuts += s.cuts;
    total.relogins += s.relogins;
    total.landed += s.landed;
    total.not_landed += s.not_landed;
    total.torn += s.torn;
    total.read_mismatches += s.read_mismatches;
    total.scsi_errors += s.scsi_errors;
  }
  std::cout << total.ops << " commands in " << absl::ToDoubleSeconds(absl::Now() - start)
            << " s: " << total.cuts << " cut mid-transfer, " << total.relogins
            << " re-logins; blocks of cut writes before the retry: " << total.landed << " new, "
            << total.not_landed << " old, " << total.torn << " torn; " << total.read_mismatches
            << " read mismatches, " << total.scsi_errors << " SCSI errors\n";
  EXPECT_EQ(total.torn, 0);
  EXPECT_EQ(total.read_mismatches, 0);
  EXPECT_EQ(total.scsi_errors, 0);
  EXPECT_GE(total.cuts, kWorkers * kOpsPerWorker / 4) << "too few cuts to prove anything";
  EXPECT_GT(total.landed, 0) << "no cut write had gone through before its answer was lost";
  EXPECT_GT(total.not_landed, 0) << "no cut write was cut before it went through";

  // Every block, read through a session that never crossed a proxy.
  for (auto& worker : workers) worker->Logout();
  SessionOptions options;
  options.portal = target.portal();
  options.target_iqn = kIqn;
  options.isid_qualifier = 99;
  auto direct = IscsiSession::Login(options);
  ASSERT_TRUE(direct.ok()) << direct.status();
  for (auto& worker : workers) EXPECT_EQ(worker->Verify(**direct), 0);
  direct->reset();
  workers.clear();  // closes the proxies

  // The target let go of every connection (cut ones included).
  int fds = ProcessFdCount(target.pid());
  for (absl::Time deadline = absl::Now() + absl::Seconds(10);
       fds != idle_fds && absl::Now() < deadline; fds = ProcessFdCount(target.pid())) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(fds, idle_fds) << "descriptors left open after every session ended";
  ASSERT_TRUE(target.Alive()) << target.log();
  EXPECT_EQ(target.Stop(), std::optional<int>(0)) << target.log();
  RemoveScratchDir(dir);
}

// HoldingStore parks the next WRITE at a chosen offset inside the backing store until released
// (a slow disk under one command).
class HoldingStore final : public target::backend::BlockStore {
 public:
  explicit HoldingStore(std::shared_ptr<BlockStore> inner) : inner_(std::move(inner)) {}

  void HoldNextWriteAt(uint64_t offset) {
    absl::MutexLock lock(&mu_);
    hold_offset_ = offset;
    armed_ = true;
  }
  void WaitUntilHeld() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&held_));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  // Waits (up to 10 s) until the held write has reached the file and returns when it did
  // (InfinitePast: it never did).
  absl::Time WaitUntilLanded() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&has_landed_), absl::Seconds(10));
    return landed_;
  }

  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      if (armed_ && offset == hold_offset_) {
        armed_ = false;
        held_ = true;
        hold = true;
        mu_.Await(absl::Condition(&released_));
      }
    }
    absl::Status status = inner_->Write(offset, data, fua);
    if (hold) {
      absl::MutexLock lock(&mu_);
      landed_ = absl::Now();
      has_landed_ = true;
    }
    return status;
  }
  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override {
    return inner_->Read(offset, out);
  }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status Unmap(uint64_t offset, uint64_t length) override {
    return inner_->Unmap(offset, length);
  }
  uint64_t Size() const override { return inner_->Size(); }
  absl::Status Resize(uint64_t new_size) override { return inner_->Resize(new_size); }
  absl::StatusOr<target::backend::MappingRun> GetMapping(uint64_t offset) override {
    return inner_->GetMapping(offset);
  }

 private:
  const std::shared_ptr<BlockStore> inner_;
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t hold_offset_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  bool has_landed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time landed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

TEST(ConnectionCutTest, AWriteStillInTheStoreWhenCutNeverLandsAfterTheRetry) {
  const std::string dir = ScratchDir();
  std::shared_ptr<HoldingStore> store;
  target::TargetOptions target_options;
  target_options.portals = {target::PortalAddress{"127.0.0.1", 0}};
  target_options.io_threads = 2;
  target_options.backing_threads = 4;
  target_options.nop_in_interval_seconds = 0;
  target_options.wrap_store_for_test = [&store](absl::string_view, const target::LunConfig&,
                                                std::shared_ptr<target::backend::BlockStore> s) {
    store = std::make_shared<HoldingStore>(std::move(s));
    return store;
  };
  auto started = target::Target::Start(std::move(target_options));
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<target::Target> target = std::move(*started);
  ASSERT_TRUE(target->AddTarget({kIqn, ""}).ok());
  target::LunConfig lun;
  lun.backing_file = dir + "/lun.img";
  lun.size_bytes = 16 << 20;
  ASSERT_TRUE(target->AddLun(kIqn, lun).ok());
  ASSERT_NE(store, nullptr);
  auto proxy = CuttingProxy::Start(target->portals().at(0).ToString());
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  SessionOptions options;
  options.portal = (*proxy)->portal();
  options.target_iqn = kIqn;
  options.isid_qualifier = 7;
  auto first = IscsiSession::Login(options);
  ASSERT_TRUE(first.ok()) << first.status();
  constexpr uint64_t kBytes = 64 * 1024;
  ASSERT_TRUE((*first)->Write(0, Pattern(0, kBytes, 1)).good());

  // Generation 2 reaches the store and is held there; the connection dies under it.
  store->HoldNextWriteAt(0);
  CommandResult cut;
  std::thread writer([&] { cut = (*first)->Write(0, Pattern(0, kBytes, 2)); });
  store->WaitUntilHeld();
  (*proxy)->CutNow();
  writer.join();
  EXPECT_FALSE(cut.connected) << cut.Describe();

  // The initiator comes back with the same ISID and writes generation 3 over the same blocks.
  std::atomic<bool> retried{false};
  absl::Time acknowledged = absl::InfinitePast();
  CommandResult retry;
  std::unique_ptr<IscsiSession> second;
  std::thread again([&] {
    auto session = IscsiSession::Login(options);
    if (!session.ok()) {
      ADD_FAILURE() << "login after the cut: " << session.status();
      return;
    }
    second = std::move(*session);
    retry = second->Write(0, Pattern(0, kBytes, 3));
    acknowledged = absl::Now();
    retried = true;
  });
  absl::SleepFor(absl::Milliseconds(500));
  const bool retried_while_held = retried.load();
  store->Release();
  again.join();
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(retry.good()) << retry.Describe();
  const absl::Time landed = store->WaitUntilLanded();
  ASSERT_NE(landed, absl::InfinitePast()) << "the held write never finished";
  std::cout << (retried_while_held ? "the retry was acknowledged while the old write was held"
                                   : "the new login and its write waited for the held write")
            << "; the old write landed " << absl::FormatDuration(acknowledged - landed)
            << " before the retry's answer\n";
  EXPECT_LT(landed, acknowledged)
      << "the write of the dead connection landed after the retry had been acknowledged";
  CommandResult back = second->Read(0, kBytes / 512);
  ASSERT_TRUE(back.good()) << back.Describe();
  EXPECT_TRUE(back.data == Pattern(0, kBytes, 3))
      << "the blocks do not hold the retry's data (the stale write overwrote it)";

  second.reset();
  first->reset();
  proxy->reset();
  target->Stop();
  RemoveScratchDir(dir);
}

}  // namespace
}  // namespace iscsi_csi::reliability
