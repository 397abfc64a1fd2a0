// Data integrity across target crashes. Several libiscsi sessions write random 4 KiB patterns to
// their own blocks of one LUN of a real `iscsi-csi target` process, some with FUA and the rest
// made durable by SYNCHRONIZE CACHE, while the process is killed with SIGKILL. After a restart on
// the same backing file every 512-byte block must hold what one of its writer's versions put
// there, no older than the last version acknowledged as durable (a FUA write or a write followed
// by an acknowledged SYNCHRONIZE CACHE), and a unit with nothing written after its durable
// version must hold exactly that version. Three crash/restart rounds in a row.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/target_process.h"

namespace iscsi_csi {
namespace {

using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::SessionOptions;
using ::iscsi_csi::testing::TargetProcess;

constexpr char kTarget[] = "iqn.2026-11.io.iscsi-csi.test:crash";
constexpr int kSessions = 4;
constexpr int kUnitsPerSession = 64;
constexpr uint32_t kBlock = 512;
constexpr uint32_t kUnitBytes = 4096;  // one write = 8 blocks
constexpr int kRounds = 3;

// Starts `iscsi-csi target` serving kTarget from `image`, its log numbered by `round`.
std::unique_ptr<TargetProcess> StartTarget(const std::string& dir, const std::string& image,
                                           int round) {
  return std::make_unique<TargetProcess>(
      std::vector<std::string>{absl::StrCat("--export=", kTarget, "=", image, ":16M")},
      absl::StrCat(dir, "/target-", round, ".log"));
}

// What one unit (4 KiB) may hold: versions[0] is the last one acknowledged as durable; the
// rest were written after it, acknowledged or still in flight when the target died.
struct Unit {
  std::deque<std::string> versions = {std::string(kUnitBytes, '\0')};
  bool acked_all = true;  // the newest version was acknowledged
};

struct Writer {
  int session = 0;
  std::vector<Unit> units = std::vector<Unit>(kUnitsPerSession);
  int writes = 0;
  int fua_writes = 0;
  int syncs = 0;
  std::string error;  // why the session stopped (expected: the kill)

  uint64_t Lba(int unit) const {
    return (uint64_t{static_cast<uint64_t>(session)} * kUnitsPerSession + unit) *
           (kUnitBytes / kBlock);
  }

  // Runs until the target dies (or `stop`). Each unit's pending list grows with every write
  // sent and is cut back to the newest acknowledged version on FUA or SYNCHRONIZE CACHE.
  void Run(const std::string& portal, int round, std::atomic<bool>& stop) {
    SessionOptions login;
    login.portal = portal;
    login.target_iqn = kTarget;
    login.initiator_name = absl::StrCat("iqn.2026-11.io.iscsi-csi.test:writer-", session);
    auto client = IscsiSession::Login(login);
    if (!client.ok()) {
      error = std::string(client.status().message());
      return;
    }
    std::mt19937_64 random(static_cast<uint64_t>(session) * 7919 + static_cast<uint64_t>(round));
    std::vector<int> unsynced;
    while (!stop.load()) {
      const int u = static_cast<int>(random() % kUnitsPerSession);
      std::string data(kUnitBytes, '\0');
      for (size_t i = 0; i < data.size(); i += 8) {
        const uint64_t word = random();
        std::memcpy(&data[i], &word, 8);
      }
      const bool fua = random() % 3 == 0;
      Unit& unit = units[u];
      unit.versions.push_back(data);
      unit.acked_all = false;
      const CommandResult written = (*client)->Write(Lba(u), data, fua);
      if (!written.good()) {
        error = written.Describe();
        return;
      }
      unit.acked_all = true;
      ++writes;
      if (fua) {
        ++fua_writes;
        unit.versions.erase(unit.versions.begin(), unit.versions.end() - 1);
      } else {
        unsynced.push_back(u);
      }
      if (unsynced.size() >= 8) {
        const CommandResult synced = (*client)->SynchronizeCache();
        if (!synced.good()) {
          error = synced.Describe();
          return;
        }
        ++syncs;
        for (int v : unsynced) {
          Unit& done = units[v];
          done.versions.erase(done.versions.begin(), done.versions.end() - 1);
        }
        unsynced.clear();
      }
    }
  }

  // Checks every block of every unit against what may be there; returns the failures.
  int Verify(IscsiSession& reader, int* exact) const {
    int failures = 0;
    for (int u = 0; u < kUnitsPerSession; ++u) {
      const CommandResult read = reader.Read(Lba(u), kUnitBytes / kBlock);
      const std::string& got = read.data;
      if (!read.good() || got.size() != kUnitBytes) {
        ADD_FAILURE() << "session " << session << " unit " << u
                      << ": read failed: " << read.Describe();
        ++failures;
        continue;
      }
      const Unit& unit = units[u];
      if (unit.versions.size() == 1) {
        ++*exact;
        if (got != unit.versions[0]) {
          ADD_FAILURE() << "session " << session << " unit " << u
                        << ": the acknowledged durable write is not what reads back";
          ++failures;
        }
        continue;
      }
      // Written again after the durable version: each block holds that block of some version
      // from the durable one on (a write in flight may land partly).
      for (uint32_t b = 0; b < kUnitBytes / kBlock; ++b) {
        const std::string block = got.substr(b * kBlock, kBlock);
        bool known = false;
        for (const std::string& version : unit.versions) {
          if (version.compare(b * kBlock, kBlock, block) == 0) known = true;
        }
        if (!known) {
          ADD_FAILURE() << "session " << session << " unit " << u << " block " << b
                        << ": holds data no write since the durable one put there";
          ++failures;
        }
      }
    }
    return failures;
  }

  // After verification the unit holds exactly what was read: that becomes the durable base.
  void Settle(IscsiSession& reader) {
    for (int u = 0; u < kUnitsPerSession; ++u) {
      const CommandResult got = reader.Read(Lba(u), kUnitBytes / kBlock);
      if (got.good()) units[u].versions = {got.data};
    }
  }
};

TEST(CrashIntegrityTest, AcknowledgedDurableWritesSurviveSigkill) {
  const std::string dir = ::testing::TempDir() + "/crash_integrity_" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  const std::string image = dir + "/lun.img";
  unlink(image.c_str());

  std::vector<Writer> writers(kSessions);
  for (int s = 0; s < kSessions; ++s) writers[s].session = s;

  for (int round = 0; round < kRounds; ++round) {
    std::unique_ptr<TargetProcess> target = StartTarget(dir, image, round);
    ASSERT_FALSE(target->portal().empty()) << "target did not start:\n" << target->log();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const std::vector<int> before = [&] {
      std::vector<int> w;
      for (const Writer& writer : writers) w.push_back(writer.writes);
      return w;
    }();
    for (Writer& writer : writers) {
      threads.emplace_back(
          [&writer, &target, round, &stop] { writer.Run(target->portal(), round, stop); });
    }
    absl::SleepFor(absl::Milliseconds(1500));
    target->Kill();  // SIGKILL with writes and flushes in flight
    stop = true;
    for (std::thread& t : threads) t.join();
    for (int s = 0; s < kSessions; ++s) {
      EXPECT_GT(writers[s].writes - before[s], 20)
          << "session " << s << " barely wrote before the kill: " << writers[s].error;
    }

    std::unique_ptr<TargetProcess> restarted = StartTarget(dir, image, 100 + round);
    ASSERT_FALSE(restarted->portal().empty()) << "restart failed:\n" << restarted->log();
    SessionOptions login;
    login.portal = restarted->portal();
    login.target_iqn = kTarget;
    login.initiator_name = "iqn.2026-11.io.iscsi-csi.test:verifier";
    auto reader = IscsiSession::Login(login);
    ASSERT_TRUE(reader.ok()) << reader.status();
    int failures = 0, exact = 0, writes = 0, fua = 0, syncs = 0;
    for (Writer& writer : writers) {
      failures += writer.Verify(**reader, &exact);
      writer.Settle(**reader);
      writes += writer.writes;
      fua += writer.fua_writes;
      syncs += writer.syncs;
    }
    std::cout << "round " << round << ": " << writes << " writes (" << fua << " FUA), " << syncs
              << " SYNCHRONIZE CACHE so far; " << exact << " of " << kSessions * kUnitsPerSession
              << " units checked exactly, " << failures << " bad blocks\n";
    ASSERT_EQ(failures, 0);
    reader->reset();
    restarted->Kill();
  }
}

}  // namespace
}  // namespace iscsi_csi
