// Small pieces of controller/: volume and snapshot ids, OpLocks, CHAP credentials.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/volume_context.h"
#include "controller/chap_credentials.h"
#include "controller/op_locks.h"
#include "controller/volume_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controller/status_matchers.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using Code = absl::StatusCode;

TEST(VolumeIdTest, NewIdsAreShortUniqueAndFitInAnIqn) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> id = NewVolumeId();
    ASSERT_THAT(id, IsOk());
    EXPECT_EQ(id->size(), 20u);
    EXPECT_TRUE(IsVolumeId(*id)) << *id;
    EXPECT_FALSE(IsSnapshotId(*id));
    EXPECT_TRUE(seen.insert(*id).second);
    // The node derives nothing from it, but the target name must be a valid iSCSI name.
    EXPECT_THAT(TargetIqnForVolume(*id), Not(HasSubstr("_")));
  }
  absl::StatusOr<std::string> snapshot = NewSnapshotId();
  ASSERT_THAT(snapshot, IsOk());
  EXPECT_TRUE(IsSnapshotId(*snapshot));
}

TEST(VolumeIdTest, RecognisesOnlyOurShape) {
  for (const char* text : {"vol-0123456789abcdef"}) EXPECT_TRUE(IsVolumeId(text));
  for (const char* text :
       {"", "vol-", "vol-0123456789ABCDEF", "vol-0123456789abcde", "vol-0123456789abcdef0",
        "pvc-0123456789abcdef", "vol-0123456789abcdeg", "snap-0123456789abcdef"}) {
    EXPECT_FALSE(IsVolumeId(text)) << text;
  }
}

TEST(OpLocksTest, SecondAcquireOfABusyKeyFailsUntilTheGuardIsGone) {
  OpLocks locks;
  std::optional<OpLocks::Guard> first = locks.TryAcquire("volume/a");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(locks.TryAcquire("volume/a").has_value());
  EXPECT_TRUE(locks.TryAcquire("volume/b").has_value()) << "other keys are independent";
  EXPECT_TRUE(locks.Held("volume/a"));
  first.reset();
  EXPECT_FALSE(locks.Held("volume/a"));
  EXPECT_TRUE(locks.TryAcquire("volume/a").has_value());
}

TEST(OpLocksTest, MovedGuardsReleaseOnce) {
  OpLocks locks;
  std::optional<OpLocks::Guard> guard = locks.TryAcquire("k");
  OpLocks::Guard moved = std::move(*guard);
  guard.reset();
  EXPECT_TRUE(locks.Held("k"));
  { OpLocks::Guard gone = std::move(moved); }
  EXPECT_FALSE(locks.Held("k"));
}

TEST(OpLocksTest, ExactlyOneOfManyConcurrentCallersWins) {
  OpLocks locks;
  std::atomic<int> winners{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<std::optional<OpLocks::Guard>> guards(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) {
      }
      guards[i] = locks.TryAcquire("volume/x");
      if (guards[i].has_value()) ++winners;
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST(ChapCredentialsTest, GeneratedCredentialsAreMutualLongEnoughAndDifferent) {
  absl::StatusOr<ChapCredentials> a = GenerateChapCredentials("vol-0123456789abcdef");
  absl::StatusOr<ChapCredentials> b = GenerateChapCredentials("vol-0123456789abcdef");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->secret.size(), 32u);
  EXPECT_EQ(a->target_secret.size(), 32u);
  EXPECT_NE(a->secret, a->target_secret);
  EXPECT_NE(a->secret, b->secret) << "fresh randomness per call";
  EXPECT_FALSE(a->target_user.empty());
  EXPECT_EQ(a->origin, ChapOrigin::kGenerated);
}

google::protobuf::Map<std::string, std::string> Secrets(
    std::vector<std::pair<std::string, std::string>> items) {
  google::protobuf::Map<std::string, std::string> map;
  for (auto& [key, value] : items) map[key] = value;
  return map;
}

TEST(ChapFromSecretsTest, ReadsTheControllerPublishSecrets) {
  struct Case {
    std::string name;
    google::protobuf::Map<std::string, std::string> secrets;
    Code code;
    bool present;
  };
  const std::string good = "0123456789abcdef";
  const std::string other = "fedcba9876543210";
  const std::vector<Case> cases = {
      {"none", Secrets({}), Code::kOk, false},
      {"unrelated secrets only", Secrets({{"token", "x"}}), Code::kOk, false},
      {"one-way", Secrets({{kPubChapUser, "u"}, {kPubChapSecret, good}}), Code::kOk, true},
      {"mutual",
       Secrets({{kPubChapUser, "u"},
                {kPubChapSecret, good},
                {kPubChapTargetUser, "t"},
                {kPubChapTargetSecret, other}}),
       Code::kOk, true},
      {"user without secret", Secrets({{kPubChapUser, "u"}}), Code::kInvalidArgument, false},
      {"target pair without initiator pair",
       Secrets({{kPubChapTargetUser, "t"}, {kPubChapTargetSecret, other}}), Code::kInvalidArgument,
       false},
      {"half a target pair",
       Secrets({{kPubChapUser, "u"}, {kPubChapSecret, good}, {kPubChapTargetUser, "t"}}),
       Code::kInvalidArgument, false},
      {"secret of 11 bytes", Secrets({{kPubChapUser, "u"}, {kPubChapSecret, "0123456789a"}}),
       Code::kInvalidArgument, false},
      {"same secret both ways",
       Secrets({{kPubChapUser, "u"},
                {kPubChapSecret, good},
                {kPubChapTargetUser, "t"},
                {kPubChapTargetSecret, good}}),
       Code::kInvalidArgument, false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::optional<ChapCredentials>> chap = ChapFromSecrets(c.secrets);
    EXPECT_THAT(chap, StatusIs(c.code)) << c.name;
    if (chap.ok()) {
      EXPECT_EQ(chap->has_value(), c.present) << c.name;
    }
    if (!chap.ok()) {
      EXPECT_THAT(std::string(chap.status().message()), Not(HasSubstr(good))) << c.name;
    }
  }
}

TEST(ChapCredentialsTest, PublishContextCarriesBothPairs) {
  ChapCredentials chap{"u", "0123456789abcdef", "t", "fedcba9876543210"};
  google::protobuf::Map<std::string, std::string> context;
  AddToPublishContext(chap, &context);
  EXPECT_EQ(context[kPubChapUser], "u");
  EXPECT_EQ(context[kPubChapSecret], "0123456789abcdef");
  EXPECT_EQ(context[kPubChapTargetUser], "t");
  EXPECT_EQ(context[kPubChapTargetSecret], "fedcba9876543210");
  target::TargetChap target_chap = ToTargetChap(chap);
  ASSERT_TRUE(target_chap.initiator.has_value());
  ASSERT_TRUE(target_chap.target.has_value());
  EXPECT_EQ(target_chap.target->user, "t");
}

}  // namespace
}  // namespace iscsi_csi::controller
