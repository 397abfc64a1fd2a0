// TargetStats through a live target: logins by result, SCSI commands, bytes and latency per
// target, task management, dropped connections; and their Prometheus families.
#include "target/stats.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "target/target_metrics.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

// (testing::LoginResult is the test initiator's; this is the target's.)
using Outcome = ::iscsi_csi::target::LoginResult;

uint64_t Login(const TargetStats::Snapshot& stats, Outcome result) {
  return stats.logins[static_cast<size_t>(result)];
}

TEST(LoginResultForTest, MapsStatusClassAndDetail) {
  EXPECT_EQ(LoginResultFor(0, 0), Outcome::kSuccess);
  EXPECT_EQ(LoginResultFor(2, 1), Outcome::kAuthFailure);
  EXPECT_EQ(LoginResultFor(2, 2), Outcome::kAclDenied);
  EXPECT_EQ(LoginResultFor(2, 3), Outcome::kNotFound);
  EXPECT_EQ(LoginResultFor(2, 0), Outcome::kProtocolError);
  EXPECT_EQ(LoginResultFor(3, 1), Outcome::kTargetError);
}

TEST(LatencyCountsTest, BucketsByUpperBound) {
  LatencyCounts counts;
  counts.Observe(40'000);          // 40 us: first bucket (<= 50 us)
  counts.Observe(50'000);          // exactly on the bound: same bucket
  counts.Observe(2'000'000);       // 2 ms: <= 2.5 ms
  counts.Observe(20'000'000'000);  // 20 s: +Inf
  const LatencyCounts::Snapshot s = counts.Read();
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.buckets[0], 2u);
  EXPECT_EQ(s.buckets[5], 1u);
  EXPECT_EQ(s.buckets.back(), 1u);
  EXPECT_NEAR(s.sum_seconds, 20.00209, 1e-9);
}

TEST_F(TargetTest, StatsCountLoginsCommandsBytesAndDrops) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  CommandOptions write;
  write.cdb = {0x2a, 0, 0, 0, 0, 8, 0, 0, 2, 0};  // WRITE(10) LBA 8, 2 blocks
  write.write = true;
  write.expected_length = 1024;
  write.data_out.assign(1024, 0x5a);
  ASSERT_EQ(initiator->Command(write)->status, 0);
  CommandOptions read;
  read.cdb = {0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0};  // READ(10) LBA 8, 1 block
  read.read = true;
  read.expected_length = 512;
  ASSERT_EQ(initiator->Command(read)->status, 0);
  CommandOptions beyond = read;
  beyond.cdb = {0x28, 0, 0xff, 0xff, 0xff, 0xf0, 0, 0, 1, 0};  // LBA out of range
  ASSERT_EQ(initiator->Command(beyond)->status, 0x02);

  // A login to a target that does not exist.
  std::unique_ptr<TestInitiator> stranger = Connect();
  ASSERT_NE(stranger, nullptr);
  LoginOptions nowhere = Normal();
  nowhere.target_name = "iqn.2026-01.io.iscsi-csi.test:nowhere";
  ASSERT_TRUE(stranger->Login(nowhere).ok());

  const TargetStats::Snapshot stats = target_->Stats();
  EXPECT_GE(Login(stats, Outcome::kSuccess), 1u);
  EXPECT_EQ(Login(stats, Outcome::kNotFound), 1u);
  ASSERT_TRUE(stats.targets.contains(kTargetIqn));
  const TargetStats::Snapshot::PerTarget& t = stats.targets.at(kTargetIqn);
  EXPECT_EQ(t.written_bytes, 1024u);
  EXPECT_EQ(t.read_bytes, 512u);  // the failed read moved nothing
  EXPECT_GE(t.errors, 1u);        // the out-of-range read (and the login's unit attention)
  EXPECT_EQ(t.latency[static_cast<size_t>(IoOp::kWrite)].count, 1u);
  EXPECT_EQ(t.latency[static_cast<size_t>(IoOp::kRead)].count, 2u);
  EXPECT_EQ(t.commands, t.latency[0].count + t.latency[1].count + t.latency[2].count);

  // The sessions appear in the families; a connection that just goes away is a drop, a
  // logout is not.
  std::vector<prometheus::MetricFamily> families =
      BuildTargetFamilies(stats, target_->ListSessions());
  auto family = [&](const std::string& name) -> const prometheus::MetricFamily* {
    for (const auto& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  ASSERT_NE(family("iscsi_csi_target_sessions"), nullptr);
  ASSERT_EQ(family("iscsi_csi_target_sessions")->metric.size(), 1u);
  EXPECT_EQ(family("iscsi_csi_target_sessions")->metric[0].gauge.value, 1);
  const prometheus::MetricFamily* latency =
      family("iscsi_csi_target_scsi_command_duration_seconds");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->type, prometheus::MetricType::Histogram);
  EXPECT_EQ(latency->metric.size(), 3u);  // read, write, other for the one target
  EXPECT_EQ(latency->metric[0].histogram.bucket.size(), kLatencyBoundsSeconds.size() + 1);

  ASSERT_TRUE(initiator->Logout().ok());
  initiator.reset();
  std::unique_ptr<TestInitiator> dropper = LoggedIn();
  ASSERT_NE(dropper, nullptr);
  dropper.reset();  // closes the socket without a logout
  for (int i = 0; i < 200 && target_->Stats().dropped_connections == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(target_->Stats().dropped_connections, 1u);
}

TEST_F(TargetTest, RemovedTargetLosesItsSeries) {
  EXPECT_TRUE(target_->Stats().targets.contains(kTargetIqn));  // present from AddTarget, at 0
  ASSERT_TRUE(target_->RemoveTarget(kTargetIqn).ok());
  EXPECT_FALSE(target_->Stats().targets.contains(kTargetIqn));
}

}  // namespace
}  // namespace iscsi_csi::target::testing
