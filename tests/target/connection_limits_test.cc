// Limits on connections that have not earned a session: TargetOptions::max_connections,
// TargetOptions::login_timeout, and the portal's pause when accept runs out of descriptors.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

// True once a fresh connection stays open (the target accepted and kept it) within `timeout`.
bool AcceptsAConnectionWithin(const PortalAddress& portal, absl::Duration timeout,
                              std::unique_ptr<TestInitiator>* kept) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::unique_ptr<TestInitiator>> initiator = TestInitiator::Connect(portal);
    if (initiator.ok() && (*initiator)->ExpectSilence(absl::Milliseconds(300))) {
      *kept = std::move(*initiator);
      return true;
    }
  }
  return false;
}

class ConnectionLimitsTest : public TargetTest {
 protected:
  void StartWith(int max_connections, absl::Duration login_timeout = absl::Seconds(30)) {
    TargetOptions options = DefaultOptions();
    options.max_connections = max_connections;
    options.login_timeout = login_timeout;
    StartTarget(std::move(options));
  }

  // Login options for a second session beside LoggedIn()'s (another ISID: the same one
  // would reinstate, i.e. close, the first session).
  static LoginOptions SecondSession() {
    LoginOptions options = Normal();
    options.isid[5] = 0x02;
    return options;
  }
};

TEST_F(ConnectionLimitsTest, TheConnectionPastTheLimitIsClosedAndTheOthersKeepWorking) {
  StartWith(2);
  std::unique_ptr<TestInitiator> session = LoggedIn();
  ASSERT_NE(session, nullptr);
  std::unique_ptr<TestInitiator> idle = Connect();
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->ExpectSilence(absl::Milliseconds(300)));

  std::unique_ptr<TestInitiator> third = Connect();
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(third->WaitForClose(absl::Seconds(5))) << "a third connection was kept";
  // The logged-in session is untouched.
  EXPECT_TRUE(session->ClearUnitAttentions().ok());

  // Closing the idle one frees its place (once the target has seen it go).
  idle.reset();
  std::unique_ptr<TestInitiator> again;
  ASSERT_TRUE(AcceptsAConnectionWithin(portal_, absl::Seconds(10), &again));
  absl::StatusOr<LoginResult> login = again->Login(SecondSession());
  ASSERT_TRUE(login.ok()) << login.status();
  EXPECT_TRUE(login->ok());
  EXPECT_TRUE(session->ClearUnitAttentions().ok());
}

TEST_F(ConnectionLimitsTest, ZeroMeansNoLimit) {
  StartWith(0);
  std::vector<std::unique_ptr<TestInitiator>> open;
  for (int i = 0; i < 24; ++i) {
    open.push_back(Connect());
    ASSERT_NE(open.back(), nullptr);
  }
  for (auto& initiator : open) EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(50)));
  absl::StatusOr<LoginResult> login = open.back()->Login(Normal());
  ASSERT_TRUE(login.ok()) << login.status();
  EXPECT_TRUE(login->ok());
}

TEST_F(ConnectionLimitsTest, ASilentConnectionIsClosedAfterTheLoginTimeoutButASessionIsNot) {
  StartWith(16, absl::Seconds(1));
  std::unique_ptr<TestInitiator> session = LoggedIn();
  ASSERT_NE(session, nullptr);
  std::unique_ptr<TestInitiator> silent = Connect();
  ASSERT_NE(silent, nullptr);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(silent->WaitForClose(absl::Seconds(10)));
  // Not before the timeout (the loop checks it every 250 ms).
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
  // The logged-in connection outlived the login timeout and still serves commands.
  EXPECT_TRUE(session->ClearUnitAttentions().ok());
}

// Restores the file-descriptor limit when the test ends, however it ends.
class FileLimit {
 public:
  FileLimit() { getrlimit(RLIMIT_NOFILE, &saved_); }
  ~FileLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  bool Lower(rlim_t soft) {
    struct rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    return setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }

 private:
  struct rlimit saved_ {};
};

// The highest open descriptor + 1 of this process.
int DescriptorCeiling() {
  int highest = -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    highest = std::max(highest, atoi(entry->d_name));
  }
  closedir(dir);
  return highest + 1;
}

// Descriptors on /dev/null that hold the process at its limit.
class Fillers {
 public:
  ~Fillers() { CloseAll(); }
  // Opens descriptors until the limit is reached, then closes `spare` of them.
  bool FillAllBut(size_t spare) {
    while (true) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fds_.push_back(fd);
    }
    if (errno != EMFILE || fds_.size() < spare) return false;
    for (size_t i = 0; i < spare; ++i) {
      close(fds_.back());
      fds_.pop_back();
    }
    return true;
  }
  void CloseAll() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

double ProcessCpuSeconds() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return absl::ToDoubleSeconds(absl::DurationFromTimeval(usage.ru_utime) +
                               absl::DurationFromTimeval(usage.ru_stime));
}

TEST_F(ConnectionLimitsTest, OutOfDescriptorsTheAcceptLoopWaitsInsteadOfSpinning) {
  StartWith(0);
  std::unique_ptr<TestInitiator> session = LoggedIn();
  ASSERT_NE(session, nullptr);
  // The target shares this process's descriptor limit. Use up every descriptor but three:
  // one client socket and its accepted twin, then one more client socket that the target
  // cannot accept.
  const int ceiling = DescriptorCeiling();
  ASSERT_GT(ceiling, 0);
  FileLimit limit;
  ASSERT_TRUE(limit.Lower(static_cast<rlim_t>(ceiling + 16)));
  Fillers fillers;
  ASSERT_TRUE(fillers.FillAllBut(3));
  std::unique_ptr<TestInitiator> first = Connect();
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->ExpectSilence(absl::Milliseconds(300)));  // accepted: two descriptors
  absl::StatusOr<std::unique_ptr<TestInitiator>> second = TestInitiator::Connect(portal_);
  ASSERT_TRUE(second.ok()) << second.status();  // queued in the backlog, accept gets EMFILE

  // A listening socket that stays readable while accept fails would keep a loop thread
  // busy; paused, the process is nearly idle.
  absl::SleepFor(absl::Milliseconds(200));
  const double cpu_before = ProcessCpuSeconds();
  absl::SleepFor(absl::Seconds(1));
  const double cpu_used = ProcessCpuSeconds() - cpu_before;
  EXPECT_LT(cpu_used, 0.2) << "the accept loop spun while out of descriptors";

  // With descriptors back, the queued connection is accepted and can log in.
  first.reset();
  fillers.CloseAll();
  absl::StatusOr<LoginResult> login = (*second)->Login(SecondSession());
  ASSERT_TRUE(login.ok()) << login.status();
  EXPECT_TRUE(login->ok());
  absl::Status still_served = session->ClearUnitAttentions();
  EXPECT_TRUE(still_served.ok()) << still_served;
}

}  // namespace
}  // namespace iscsi_csi::target::testing
