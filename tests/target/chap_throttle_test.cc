// ChapThrottle on a fake clock, and through a live target: wrong CHAP secrets lock the initiator
// out for a while (even the right secret is refused then, without an exchange), other
// initiators are not affected, and the refusals are counted as rate_limited.
#include "target/chap_throttle.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "target/stats.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

constexpr char kSecret[] = "right-secret-0123";

TEST(ChapThrottleTest, BacksOffAfterTheFreeFailuresAndClearsOnSuccess) {
  absl::Time now = absl::FromUnixSeconds(1000);
  ChapThrottle throttle([&] { return now; });
  for (int i = 0; i < ChapThrottle::kFreeFailures; ++i) {
    throttle.Failure("iqn.x:a");
    EXPECT_EQ(throttle.LockedOut("iqn.x:a"), absl::ZeroDuration()) << i;
  }
  throttle.Failure("iqn.x:a");
  EXPECT_EQ(throttle.LockedOut("iqn.x:a"), absl::Seconds(1));
  EXPECT_EQ(throttle.LockedOut("iqn.x:b"), absl::ZeroDuration());
  now += absl::Seconds(1);
  EXPECT_EQ(throttle.LockedOut("iqn.x:a"), absl::ZeroDuration());
  throttle.Failure("iqn.x:a");
  EXPECT_EQ(throttle.LockedOut("iqn.x:a"), absl::Seconds(2));
  for (int i = 0; i < 20; ++i) throttle.Failure("iqn.x:a");
  EXPECT_EQ(throttle.LockedOut("iqn.x:a"), ChapThrottle::kMaxLockout);
  throttle.Success("iqn.x:a");
  EXPECT_EQ(throttle.LockedOut("iqn.x:a"), absl::ZeroDuration());
}

TEST(ChapThrottleTest, ForgetsTheOldestWhenFull) {
  absl::Time now = absl::FromUnixSeconds(1000);
  ChapThrottle throttle([&] { return now; });
  for (int i = 0; i < ChapThrottle::kFreeFailures + 1; ++i) throttle.Failure("iqn.x:first");
  ASSERT_GT(throttle.LockedOut("iqn.x:first"), absl::ZeroDuration());
  for (size_t i = 0; i < ChapThrottle::kMaxTracked; ++i) {
    now += absl::Milliseconds(1);
    throttle.Failure("iqn.x:other-" + std::to_string(i));
  }
  EXPECT_EQ(throttle.LockedOut("iqn.x:first"), absl::ZeroDuration());
}

TEST_F(TargetTest, RepeatedChapFailuresLockTheInitiatorOut) {
  TargetChap chap;
  chap.initiator = ChapSecretPair{"alice", kSecret};
  ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  LoginOptions wrong = Normal();
  wrong.chap = ChapCredentialsForTest{"alice", "wrong-secret-0123"};
  for (int i = 0; i <= ChapThrottle::kFreeFailures; ++i) {
    std::unique_ptr<TestInitiator> initiator = Connect();
    ASSERT_NE(initiator, nullptr);
    absl::StatusOr<LoginResult> result = initiator->Login(wrong);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status_class, 2);
    EXPECT_EQ(result->status_detail, 1);
  }
  // Locked out: the right secret is refused too, before any CHAP exchange.
  LoginOptions right = Normal();
  right.chap = ChapCredentialsForTest{"alice", kSecret};
  std::unique_ptr<TestInitiator> initiator = Connect();
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<LoginResult> refused = initiator->Login(right);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status_class, 2);
  EXPECT_EQ(refused->status_detail, 1);
  EXPECT_FALSE(refused->keys.contains("CHAP_C"));
  // Another initiator is not affected.
  LoginOptions other = right;
  other.initiator_name = "iqn.2026-01.io.iscsi-csi.test:other";
  EXPECT_NE(LoggedIn(other), nullptr);

  const TargetStats::Snapshot stats = target_->Stats();
  EXPECT_EQ(stats.logins[static_cast<size_t>(::iscsi_csi::target::LoginResult::kAuthFailure)],
            static_cast<uint64_t>(ChapThrottle::kFreeFailures + 1));
  EXPECT_EQ(stats.logins[static_cast<size_t>(::iscsi_csi::target::LoginResult::kRateLimited)], 1u);
  // After the lockout (1 s) the right secret works.
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_NE(LoggedIn(right), nullptr);
}

}  // namespace
}  // namespace iscsi_csi::target::testing
