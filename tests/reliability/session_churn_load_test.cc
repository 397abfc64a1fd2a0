// 128 sessions of verified random 4 KiB I/O against `iscsi-csi target` for two minutes
// (ISCSI_CSI_LOAD_SECONDS overrides), while 13 of them (about 10%) log out and log in again
// continuously, one in four of those dropping its TCP connection without a Logout instead
// (issue #12). 115 steady sessions run libiscsi's async API at queue depth 2 from one poll
// thread; each churning session is a thread of its own. Every session owns a 2 MiB slice of a
// 256 MiB LUN and checks every read against the last write it had acknowledged there (a churning
// session keeps its map across logins, so data written in one login is checked in the next).
// The target's open descriptors and VmRSS are sampled with the churn paused (only the steady
// sessions logged in) after a warm-up and at the end: descriptors must come back to the same
// count, RSS may grow by at most 10% + 8 MiB; with every session gone the descriptors return to
// the idle count. Zero mismatches and zero failed commands are allowed; a final pass through a
// fresh session reads the whole LUN back.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/bench/verify_pattern.h"
#include "tests/reliability/reliability_util.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/target_process.h"

namespace iscsi_csi::reliability {
namespace {

using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::SessionOptions;
using ::iscsi_csi::testing::TargetProcess;

constexpr char kIqn[] = "iqn.2026-11.io.iscsi-csi.test:load";
constexpr int kSessions = 128;
constexpr int kChurning = 13;
constexpr int kSteady = kSessions - kChurning;
constexpr int kQueueDepth = 2;
constexpr uint64_t kUnit = 4096;
constexpr uint64_t kUnitsPerSlice = 512;  // 2 MiB
constexpr uint64_t kLunBytes = kSessions * kUnitsPerSlice * kUnit;

uint64_t UnitOffset(int session, uint64_t unit) {
  return (static_cast<uint64_t>(session) * kUnitsPerSlice + unit) * kUnit;
}

struct Counters {
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> verified{0};
  std::atomic<uint64_t> mismatches{0};
  std::atomic<uint64_t> failures{0};  // commands that did not end GOOD (unit attentions aside)
  std::atomic<uint64_t> logins{0};
  std::atomic<uint64_t> drops{0};
  absl::Mutex mu;
  std::vector<std::string> samples ABSL_GUARDED_BY(mu);

  void Problem(std::atomic<uint64_t>& counter, const std::string& what) {
    ++counter;
    absl::MutexLock lock(&mu);
    if (samples.size() < 8) samples.push_back(what);
  }
};

// A steady session: async, kQueueDepth commands in flight, random 4 KiB reads and writes inside
// its slice, never two on one unit at a time.
class SteadySession {
 public:
  SteadySession(int index, Counters* counters)
      : index_(index),
        counters_(counters),
        random_(static_cast<uint32_t>(index) * 7919 + 1),
        generation_(kUnitsPerSlice, 0),
        busy_(kUnitsPerSlice, false) {}
  ~SteadySession() {
    if (context_ != nullptr) {
      if (!failed_ && iscsi_is_logged_in(context_)) iscsi_logout_sync(context_);
      iscsi_destroy_context(context_);  // in_flight_ is 0 or the slots outlive this call
    }
  }

  absl::Status Login(const std::string& portal) {
    context_ = iscsi_create_context("iqn.2026-11.io.iscsi-csi.test:steady");
    if (context_ == nullptr) return absl::InternalError("iscsi_create_context failed");
    iscsi_set_isid_random(context_, static_cast<uint32_t>(getpid()) & 0xffffff,
                          static_cast<uint32_t>(index_));
    iscsi_set_targetname(context_, kIqn);
    iscsi_set_session_type(context_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(context_, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_noautoreconnect(context_, 1);
    iscsi_set_timeout(context_, 30);
    if (iscsi_full_connect_sync(context_, portal.c_str(), 0) != 0) {
      failed_ = true;
      return absl::UnavailableError(
          absl::StrCat("steady session ", index_, ": ", iscsi_get_error(context_)));
    }
    ++counters_->logins;
    for (Slot& slot : slots_) {
      slot.owner = this;
      slot.buffer.resize(kUnit);
    }
    return absl::OkStatus();
  }

  void Start() {
    for (Slot& slot : slots_) Issue(slot);
  }
  void Stop() { stopping_ = true; }
  bool Drained() const { return failed_ || in_flight_ == 0; }
  bool failed() const { return failed_; }
  int fd() const { return iscsi_get_fd(context_); }
  short Events() const { return static_cast<short>(iscsi_which_events(context_)); }
  void Service(short revents) {
    if (!failed_ && iscsi_service(context_, revents) < 0) {
      failed_ = true;
      counters_->Problem(counters_->failures,
                         absl::StrCat("steady session ", index_, ": ", iscsi_get_error(context_)));
    }
  }
  const std::vector<uint64_t>& generations() const { return generation_; }

 private:
  struct Slot {
    SteadySession* owner = nullptr;
    std::vector<uint8_t> buffer;
    uint64_t unit = 0;
    bool read = true;
    uint64_t generation = 0;
  };

  void Issue(Slot& slot) {
    if (stopping_ || failed_) return;
    uint64_t unit = random_() % kUnitsPerSlice;
    while (busy_[unit]) unit = (unit + 1) % kUnitsPerSlice;
    busy_[unit] = true;
    slot.unit = unit;
    slot.read = random_() % 2 == 0;
    const uint64_t offset = UnitOffset(index_, unit);
    scsi_task* task = nullptr;
    if (slot.read) {
      task = iscsi_read16_task(context_, 0, offset / 512, kUnit, 512, 0, 0, 0, 0, 0,
                               &SteadySession::Done, &slot);
      if (task != nullptr) scsi_task_add_data_in_buffer(task, kUnit, slot.buffer.data());
    } else {
      slot.generation = ++next_generation_;
      bench::FillPattern(offset, slot.generation, slot.buffer.data(), kUnit);
      task = iscsi_write16_task(context_, 0, offset / 512, slot.buffer.data(), kUnit, 512, 0, 0, 0,
                                0, 0, &SteadySession::Done, &slot);
    }
    if (task == nullptr) {
      failed_ = true;
      counters_->Problem(counters_->failures, absl::StrCat("steady session ", index_,
                                                           ": queue: ", iscsi_get_error(context_)));
      return;
    }
    ++in_flight_;
  }

  static void Done(iscsi_context* /*context*/, int status, void* command_data, void* self) {
    auto* slot = static_cast<Slot*>(self);
    slot->owner->Complete(*slot, status, static_cast<scsi_task*>(command_data));
  }

  void Complete(Slot& slot, int status, scsi_task* task) {
    --in_flight_;
    const bool unit_attention = status == SCSI_STATUS_CHECK_CONDITION && task != nullptr &&
                                task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
    if (task != nullptr) scsi_free_scsi_task(task);
    busy_[slot.unit] = false;
    if (failed_) return;
    if (unit_attention) {
      Issue(slot);
      return;
    }
    const uint64_t offset = UnitOffset(index_, slot.unit);
    if (status != SCSI_STATUS_GOOD) {
      if (!slot.read) generation_[slot.unit] = ~uint64_t{0};  // unknown from now on
      counters_->Problem(counters_->failures,
                         absl::StrCat("steady session ", index_, ": ", slot.read ? "read" : "write",
                                      " at ", offset, ": status 0x", absl::Hex(status)));
    } else if (slot.read) {
      ++counters_->reads;
      const uint64_t expected = generation_[slot.unit];
      if (expected != ~uint64_t{0}) {
        bool same;
        if (expected == 0) {
          same = std::all_of(slot.buffer.begin(), slot.buffer.end(), [](uint8_t b) { return !b; });
        } else {
          same = !bench::CheckPattern(offset, expected, slot.buffer.data(), kUnit).has_value();
        }
        if (same) {
          ++counters_->verified;
        } else {
          counters_->Problem(counters_->mismatches,
                             absl::StrCat("steady session ", index_, " unit ", slot.unit,
                                          ": read does not hold generation ", expected));
        }
      }
    } else {
      ++counters_->writes;
      generation_[slot.unit] = slot.generation;
    }
    Issue(slot);
  }

  const int index_;
  Counters* const counters_;
  std::mt19937_64 random_;
  iscsi_context* context_ = nullptr;
  Slot slots_[kQueueDepth];
  std::vector<uint64_t> generation_;
  std::vector<bool> busy_;
  uint64_t next_generation_ = 0;
  int in_flight_ = 0;
  bool stopping_ = false;
  bool failed_ = false;
};

// A churning session: log in, a few verified 4 KiB commands, log out (or drop the connection),
// again, until told to stop; holds still (logged out) while paused.
class ChurningSession {
 public:
  ChurningSession(int index, Counters* counters)
      : index_(index),
        counters_(counters),
        random_(static_cast<uint32_t>(index) * 104729 + 3),
        generation_(kUnitsPerSlice, 0) {}

  void Run(const std::string& portal, const std::atomic<bool>& stop, const std::atomic<bool>& pause,
           std::atomic<int>& logged_in) {
    SessionOptions options;
    options.portal = portal;
    options.target_iqn = kIqn;
    options.initiator_name = "iqn.2026-11.io.iscsi-csi.test:churn";
    options.isid_qualifier = static_cast<uint32_t>(index_);
    options.timeout_seconds = 30;
    while (!stop.load()) {
      if (pause.load()) {
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
      auto session = IscsiSession::Login(options);
      if (!session.ok()) {
        counters_->Problem(counters_->failures,
                           absl::StrCat("churn ", index_, ": ", session.status().message()));
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      ++counters_->logins;
      ++logged_in;
      for (int i = 0; i < 8; ++i) Command(**session);
      if (random_() % 4 == 0) {
        (*session)->Drop();
        ++counters_->drops;
      } else if (!(*session)->Logout()) {
        counters_->Problem(counters_->failures, absl::StrCat("churn ", index_, ": logout"));
      }
      session->reset();
      --logged_in;
    }
  }

  const std::vector<uint64_t>& generations() const { return generation_; }

 private:
  void Command(IscsiSession& session) {
    const uint64_t unit = random_() % kUnitsPerSlice;
    const uint64_t offset = UnitOffset(index_, unit);
    if (random_() % 2 == 0) {
      CommandResult read = session.Read(offset / 512, kUnit / 512);
      if (!read.good()) {
        counters_->Problem(counters_->failures,
                           absl::StrCat("churn ", index_, ": read: ", read.Describe()));
        return;
      }
      ++counters_->reads;
      const uint64_t expected = generation_[unit];
      const bool same =
          expected == 0
              ? read.data == std::string(kUnit, '\0')
              : !bench::CheckPattern(offset, expected,
                                     reinterpret_cast<const uint8_t*>(read.data.data()), kUnit)
                     .has_value();
      if (same) {
        ++counters_->verified;
      } else {
        counters_->Problem(counters_->mismatches,
                           absl::StrCat("churn ", index_, " unit ", unit,
                                        ": read does not hold generation ", expected));
      }
      return;
    }
    const uint64_t generation = ++next_generation_;
    std::string data(kUnit, '\0');
    bench::FillPattern(offset, generation, reinterpret_cast<uint8_t*>(data.data()), kUnit);
    CommandResult written = session.Write(offset / 512, data);
    if (!written.good()) {
      generation_[unit] = ~uint64_t{0};
      counters_->Problem(counters_->failures,
                         absl::StrCat("churn ", index_, ": write: ", written.Describe()));
      return;
    }
    ++counters_->writes;
    generation_[unit] = generation;
  }

  const int index_;
  Counters* const counters_;
  std::mt19937_64 random_;
  std::vector<uint64_t> generation_;
  uint64_t next_generation_ = 0;
};

// Polls until `pid`'s descriptor count has not changed for half a second (or 15 s passed).
int SettledFdCount(pid_t pid) {
  int last = ProcessFdCount(pid);
  absl::Time stable_since = absl::Now();
  for (const absl::Time deadline = absl::Now() + absl::Seconds(15); absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(50));
    const int now = ProcessFdCount(pid);
    if (now != last) {
      last = now;
      stable_since = absl::Now();
    } else if (absl::Now() - stable_since >= absl::Milliseconds(500)) {
      break;
    }
  }
  return last;
}

TEST(SessionChurnLoadTest, VerifiedIoWithChurnKeepsDescriptorsAndMemoryFlat) {
  const absl::Duration duration = absl::Seconds(EnvSeconds("ISCSI_CSI_LOAD_SECONDS", 120));
  const absl::Duration warm_up = std::min(absl::Seconds(15), duration / 4);
  const std::string dir = ScratchDir();
  TargetProcess target({absl::StrCat("--export=", kIqn, "=", dir, "/lun.img:", kLunBytes)},
                       dir + "/target.log");
  ASSERT_FALSE(target.portal().empty()) << "target did not start:\n" << target.log();
  const int idle_fds = SettledFdCount(target.pid());

  Counters counters;
  std::vector<std::unique_ptr<SteadySession>> steady;
  for (int i = 0; i < kSteady; ++i) {
    steady.push_back(std::make_unique<SteadySession>(i, &counters));
    absl::Status login = steady.back()->Login(target.portal());
    ASSERT_TRUE(login.ok()) << login << "\n" << target.log().substr(0, 2000);
  }
  std::atomic<bool> stop_steady{false};
  std::thread poller([&steady, &stop_steady] {
    for (auto& session : steady) session->Start();
    std::vector<pollfd> fds;
    std::vector<SteadySession*> polled;
    bool stopping = false;
    while (true) {
      if (!stopping && stop_steady.load()) {
        for (auto& session : steady) session->Stop();
        stopping = true;
      }
      fds.clear();
      polled.clear();
      bool busy = false;
      for (auto& session : steady) {
        if (session->failed()) continue;
        busy = busy || !session->Drained();
        fds.push_back(pollfd{session->fd(), session->Events(), 0});
        polled.push_back(session.get());
      }
      if (stopping && !busy) return;
      if (poll(fds.data(), fds.size(), 100) < 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents != 0) polled[i]->Service(fds[i].revents);
      }
    }
  });

  std::atomic<bool> stop_churn{false};
  std::atomic<bool> pause_churn{false};
  std::atomic<int> churn_logged_in{0};
  std::vector<std::unique_ptr<ChurningSession>> churning;
  std::vector<std::thread> churn_threads;
  for (int i = 0; i < kChurning; ++i) {
    churning.push_back(std::make_unique<ChurningSession>(kSteady + i, &counters));
    churn_threads.emplace_back([&, session = churning.back().get()] {
      session->Run(target.portal(), stop_churn, pause_churn, churn_logged_in);
    });
  }
  // Samples the target with the churn paused: only the steady sessions are logged in.
  auto sample = [&](const char* when) {
    pause_churn = true;
    while (churn_logged_in.load() > 0) absl::SleepFor(absl::Milliseconds(10));
    const int fds = SettledFdCount(target.pid());
    const uint64_t rss = ProcessRssBytes(target.pid());
    std::cout << when << ": " << fds << " descriptors, VmRSS " << rss / 1024 << " KiB, "
              << counters.logins.load() << " logins, "
              << counters.reads.load() + counters.writes.load() << " I/Os so far\n";
    pause_churn = false;
    return std::make_pair(fds, rss);
  };

  const absl::Time start = absl::Now();
  absl::SleepFor(warm_up);
  const auto [warm_fds, warm_rss] = sample("after the warm-up");
  while (absl::Now() - start < duration && target.Alive()) absl::SleepFor(absl::Milliseconds(200));
  const uint64_t logins_before_end = counters.logins.load();
  const auto [end_fds, end_rss] = sample("at the end");
  stop_churn = true;
  for (std::thread& t : churn_threads) t.join();
  stop_steady = true;
  poller.join();
  ASSERT_TRUE(target.Alive()) << "the target died:\n" << target.log();

  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << counters.reads.load() + counters.writes.load() << " I/Os in " << seconds << " s ("
            << (counters.reads.load() + counters.writes.load()) / seconds << " IOPS), "
            << counters.verified.load() << " reads verified, " << counters.mismatches.load()
            << " mismatches, " << counters.failures.load() << " failed commands, "
            << logins_before_end - kSteady << " churn logins (" << counters.drops.load()
            << " dropped without logout)\n";
  {
    absl::MutexLock lock(&counters.mu);
    for (const std::string& s : counters.samples) std::cout << "  ! " << s << "\n";
  }
  EXPECT_EQ(counters.mismatches.load(), 0u);
  EXPECT_EQ(counters.failures.load(), 0u);
  for (const auto& session : steady) EXPECT_FALSE(session->failed());
  EXPECT_GT(logins_before_end - kSteady, static_cast<uint64_t>(kChurning) * 10)
      << "the churning sessions barely logged in";
  EXPECT_LE(std::abs(end_fds - warm_fds), 2)
      << "descriptors after the warm-up " << warm_fds << ", at the end " << end_fds;
  EXPECT_LE(end_rss, warm_rss + warm_rss / 10 + (8u << 20))
      << "VmRSS grew from " << warm_rss / 1024 << " KiB to " << end_rss / 1024 << " KiB";

  // Everything once more through a fresh session, 1 MiB at a time.
  SessionOptions options;
  options.portal = target.portal();
  options.target_iqn = kIqn;
  options.isid_qualifier = 4000;
  auto reader = IscsiSession::Login(options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  int bad = 0;
  for (int s = 0; s < kSessions; ++s) {
    const std::vector<uint64_t>& generations =
        s < kSteady ? steady[s]->generations() : churning[s - kSteady]->generations();
    for (uint64_t unit = 0; unit < kUnitsPerSlice; unit += 256) {
      CommandResult read = (*reader)->Read(UnitOffset(s, unit) / 512, 256 * kUnit / 512);
      ASSERT_TRUE(read.good()) << read.Describe();
      for (uint64_t u = 0; u < 256; ++u) {
        const uint64_t expected = generations[unit + u];
        if (expected == ~uint64_t{0}) continue;
        const auto* data = reinterpret_cast<const uint8_t*>(read.data.data()) + u * kUnit;
        const bool same =
            expected == 0
                ? std::all_of(data, data + kUnit, [](uint8_t b) { return b == 0; })
                : !bench::CheckPattern(UnitOffset(s, unit + u), expected, data, kUnit).has_value();
        if (!same && ++bad <= 3) {
          ADD_FAILURE() << "session " << s << " unit " << unit + u << " lost generation "
                        << expected;
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
  reader->reset();
  steady.clear();  // logs out

  const int final_fds = SettledFdCount(target.pid());
  EXPECT_LE(std::abs(final_fds - idle_fds), 1)
      << "idle " << idle_fds << " descriptors before, " << final_fds << " after every logout";
  EXPECT_EQ(target.Stop(), std::optional<int>(0)) << target.log().substr(0, 4000);
  RemoveScratchDir(dir);
}

}  // namespace
}  // namespace iscsi_csi::reliability
