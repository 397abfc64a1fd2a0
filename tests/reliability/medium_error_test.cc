// EIO from the backing store through the whole iSCSI stack (issue #12). No process-level way
// makes a file return EIO on chosen blocks here (no device mapper, no FUSE), so the real
// Target runs in-process with a fault-injecting store wrapped around each LUN's sparse file
// (TargetOptions::wrap_store_for_test) and libiscsi sessions talk to it over loopback TCP.
// Expected (SBC-4 §4.15, target/scsi/sbc.cc): a READ touching a failing block gets CHECK
// CONDITION, MEDIUM ERROR, UNRECOVERED READ ERROR (11h/00h); a WRITE or SYNCHRONIZE CACHE that
// fails gets MEDIUM ERROR, WRITE ERROR (0Ch/00h); other blocks, other sessions and the
// sessions themselves carry on; once the fault clears the data read is the data written.
#include <errno.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "target/backend/block_store.h"
#include "target/target.h"
#include "tests/bench/verify_pattern.h"
#include "tests/reliability/reliability_util.h"
#include "tests/testutil/iscsi_session.h"

namespace iscsi_csi::reliability {
namespace {

using ::iscsi_csi::target::backend::BlockStore;
using ::iscsi_csi::target::backend::ErrnoStatus;
using ::iscsi_csi::target::backend::MappingRun;
using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::SessionOptions;

constexpr char kIqn[] = "iqn.2026-11.io.iscsi-csi.test:medium";
constexpr uint64_t kLunBytes = 16 << 20;
constexpr int kMediumError = 0x03;

// BadBlockStore fails reads or writes that touch chosen byte ranges (a disk's bad sectors),
// and flushes when told to, with EIO; everything else goes to the real store.
class BadBlockStore final : public BlockStore {
 public:
  explicit BadBlockStore(std::shared_ptr<BlockStore> inner) : inner_(std::move(inner)) {}

  void FailReads(uint64_t offset, uint64_t length) {
    absl::MutexLock lock(&mu_);
    bad_reads_.emplace_back(offset, offset + length);
  }
  void FailWrites(uint64_t offset, uint64_t length) {
    absl::MutexLock lock(&mu_);
    bad_writes_.emplace_back(offset, offset + length);
  }
  void FailFlushes(bool fail) { fail_flushes_ = fail; }
  void Heal() {
    absl::MutexLock lock(&mu_);
    bad_reads_.clear();
    bad_writes_.clear();
    fail_flushes_ = false;
  }
  int injected() const { return injected_.load(); }

  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override {
    if (Hits(bad_reads_, offset, out.size())) return Fail("pread", offset);
    return inner_->Read(offset, out);
  }
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    if (Hits(bad_writes_, offset, data.size())) return Fail("pwrite", offset);
    return inner_->Write(offset, data, fua);
  }
  absl::Status Flush() override {
    if (fail_flushes_) return Fail("fdatasync", 0);
    return inner_->Flush();
  }
  absl::Status Unmap(uint64_t offset, uint64_t length) override {
    return inner_->Unmap(offset, length);
  }
  uint64_t Size() const override { return inner_->Size(); }
  absl::Status Resize(uint64_t new_size) override { return inner_->Resize(new_size); }
  absl::StatusOr<MappingRun> GetMapping(uint64_t offset) override {
    return inner_->GetMapping(offset);
  }

 private:
  using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;
  bool Hits(const Ranges& ranges, uint64_t offset, uint64_t length) {
    absl::MutexLock lock(&mu_);
    return std::any_of(ranges.begin(), ranges.end(), [&](const auto& range) {
      return offset < range.second && range.first < offset + length;
    });
  }
  absl::Status Fail(const char* what, uint64_t offset) {
    ++injected_;
    return ErrnoStatus(EIO, absl::StrCat(what, " (injected bad block) at ", offset));
  }

  const std::shared_ptr<BlockStore> inner_;
  absl::Mutex mu_;
  Ranges bad_reads_ ABSL_GUARDED_BY(mu_);
  Ranges bad_writes_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> fail_flushes_{false};
  std::atomic<int> injected_{0};
};

std::string Blocks(uint64_t lba, uint32_t blocks, uint64_t generation) {
  std::string data(blocks * 512u, '\0');
  bench::FillPattern(lba * 512, generation, reinterpret_cast<uint8_t*>(data.data()), data.size());
  return data;
}

class MediumErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target::TargetOptions options;
    options.portals = {target::PortalAddress{"127.0.0.1", 0}};
    options.io_threads = 2;
    options.backing_threads = 2;
    options.nop_in_interval_seconds = 0;
    options.wrap_store_for_test = [this](absl::string_view, const target::LunConfig&,
                                         std::shared_ptr<BlockStore> store) {
      auto bad = std::make_shared<BadBlockStore>(std::move(store));
      store_ = bad;
      return bad;
    };
    auto started = target::Target::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    target_ = std::move(*started);
    ASSERT_TRUE(target_->AddTarget({kIqn, "bad blocks"}).ok());
    target::LunConfig lun;
    dir_ = ScratchDir();
    lun.backing_file = dir_ + "/lun.img";
    lun.size_bytes = kLunBytes;
    absl::Status added = target_->AddLun(kIqn, lun);
    ASSERT_TRUE(added.ok()) << added;
    ASSERT_NE(store_, nullptr) << "the store hook was not called";
  }
  void TearDown() override {
    if (target_ != nullptr) target_->Stop();
    if (!dir_.empty()) RemoveScratchDir(dir_);
  }

  std::unique_ptr<IscsiSession> Login(uint32_t isid_qualifier) {
    SessionOptions options;
    options.portal = target_->portals().at(0).ToString();
    options.target_iqn = kIqn;
    options.isid_qualifier = isid_qualifier;
    auto session = IscsiSession::Login(options);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? std::move(*session) : nullptr;
  }

  uint64_t Errors() const {
    auto stats = target_->Stats();
    auto it = stats.targets.find(kIqn);
    return it == stats.targets.end() ? 0 : it->second.errors;
  }

  std::string dir_;
  std::unique_ptr<target::Target> target_;
  std::shared_ptr<BadBlockStore> store_;
};

TEST_F(MediumErrorTest, EioOnReadsWritesAndFlushesBecomesMediumErrorAndOnlyThere) {
  std::unique_ptr<IscsiSession> a = Login(1);
  std::unique_ptr<IscsiSession> b = Login(2);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Write(0, Blocks(0, 2048, 1)).good());  // the first MiB

  // Bad blocks for reads at LBAs 100..107, for writes at LBAs 300..307.
  store_->FailReads(100 * 512, 8 * 512);
  store_->FailWrites(300 * 512, 8 * 512);
  const uint64_t errors_before = Errors();
  int failed_commands = 0;

  struct ReadCase {
    uint64_t lba;
    uint32_t blocks;
    bool bad;
  };
  for (const ReadCase& c : {ReadCase{100, 8, true}, ReadCase{104, 1, true}, ReadCase{64, 64, true},
                            ReadCase{107, 200, true}, ReadCase{0, 100, false},
                            ReadCase{108, 64, false}, ReadCase{300, 8, false}}) {
    for (IscsiSession* session : {a.get(), b.get()}) {
      CommandResult read = session->Read(c.lba, c.blocks);
      if (c.bad) {
        ++failed_commands;
        EXPECT_TRUE(read.Sense(kMediumError, 0x11, 0x00))
            << "READ " << c.lba << "+" << c.blocks << ": want MEDIUM ERROR, UNRECOVERED READ "
            << "ERROR; got " << read.Describe();
      } else {
        ASSERT_TRUE(read.good()) << "READ " << c.lba << "+" << c.blocks << ": " << read.Describe();
        EXPECT_EQ(read.data, Blocks(c.lba, c.blocks, 1)) << "READ " << c.lba << "+" << c.blocks;
      }
    }
  }

  struct WriteCase {
    uint64_t lba;
    uint32_t blocks;
    bool fua;
    bool bad;
  };
  for (const WriteCase& c : {WriteCase{300, 8, false, true}, WriteCase{304, 1, true, true},
                             WriteCase{290, 16, false, true}, WriteCase{400, 8, false, false},
                             WriteCase{308, 8, true, false}}) {
    for (IscsiSession* session : {a.get(), b.get()}) {
      CommandResult written = session->Write(c.lba, Blocks(c.lba, c.blocks, 2), c.fua);
      if (c.bad) {
        ++failed_commands;
        EXPECT_TRUE(written.Sense(kMediumError, 0x0c, 0x00))
            << "WRITE " << c.lba << "+" << c.blocks << " fua=" << c.fua
            << ": want MEDIUM ERROR, WRITE ERROR; got " << written.Describe();
      } else {
        EXPECT_TRUE(written.good()) << "WRITE " << c.lba << ": " << written.Describe();
      }
    }
  }

  // A failing flush: SYNCHRONIZE CACHE reports the write error, then succeeds once it clears.
  store_->FailFlushes(true);
  CommandResult sync = a->SynchronizeCache();
  ++failed_commands;
  EXPECT_TRUE(sync.Sense(kMediumError, 0x0c, 0x00)) << sync.Describe();
  store_->FailFlushes(false);
  EXPECT_TRUE(b->SynchronizeCache().good());

  // A burst of failing reads does not cost the session (no connection drop, no reject).
  for (int i = 0; i < 200; ++i) {
    CommandResult read = a->Read(100 + static_cast<uint64_t>(i % 8), 1);
    ++failed_commands;
    ASSERT_TRUE(read.Sense(kMediumError, 0x11, 0x00)) << "read " << i << ": " << read.Describe();
  }
  EXPECT_EQ(target_->ListSessions().size(), 2u);
  EXPECT_GE(store_->injected(), failed_commands);
  EXPECT_EQ(Errors() - errors_before, static_cast<uint64_t>(failed_commands));

  // Healed: the failed writes changed nothing (their blocks hold generation 1), the good ones
  // are there, and the bad read blocks read what was written before the fault.
  store_->Heal();
  CommandResult after = a->Read(0, 1024);
  ASSERT_TRUE(after.good()) << after.Describe();
  std::string want = Blocks(0, 1024, 1);
  want.replace(400 * 512, 8 * 512, Blocks(400, 8, 2));
  want.replace(308 * 512, 8 * 512, Blocks(308, 8, 2));
  EXPECT_TRUE(after.data == want) << "data after healing differs from what was acknowledged";
  EXPECT_TRUE(b->Write(300, Blocks(300, 8, 3)).good());
  CommandResult healed = a->Read(300, 8);
  ASSERT_TRUE(healed.good());
  EXPECT_EQ(healed.data, Blocks(300, 8, 3));
  // A third session logs in as usual.
  std::unique_ptr<IscsiSession> c = Login(3);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Read(100, 8).good());
}

}  // namespace
}  // namespace iscsi_csi::reliability
