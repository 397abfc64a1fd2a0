// Runs libiscsi's command-line tools and its conformance suite (iscsi-test-cu) against the real
// `iscsi-csi target` process on 127.0.0.1: discovery, INQUIRY, READ CAPACITY(16), one-way and
// mutual CHAP, initiator ACLs, and the iSCSI protocol families of iscsi-test-cu.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/process.h"
#include "tests/testutil/target_process.h"

namespace iscsi_csi {
namespace {

using ::iscsi_csi::testing::HaveTool;
using ::iscsi_csi::testing::ProcessResult;
using ::iscsi_csi::testing::RunProcess;
using ::iscsi_csi::testing::TargetProcess;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDisk[] = "iqn.2026-11.io.iscsi-csi.test:disk";
constexpr char kChapDisk[] = "iqn.2026-11.io.iscsi-csi.test:chap";
constexpr char kMutualDisk[] = "iqn.2026-11.io.iscsi-csi.test:mutual";
constexpr char kAclDisk[] = "iqn.2026-11.io.iscsi-csi.test:acl";
constexpr char kGoodInitiator[] = "iqn.2026-11.io.iscsi-csi.test:good-node";
constexpr char kBadInitiator[] = "iqn.2026-11.io.iscsi-csi.test:other-node";
constexpr char kChapUser[] = "chapuser";
constexpr char kChapSecret[] = "chap-secret-0123456789";
constexpr char kTargetUser[] = "targetuser";
constexpr char kTargetSecret[] = "target-secret-9876543210";

std::string ToolPath(const std::string& name) { return "/usr/bin/" + name; }

// One `iscsi-csi target` process serving four exports for the whole suite.
std::unique_ptr<TargetProcess> StartSuiteTarget() {
  const std::string dir = ::testing::TempDir() + "/conformance_" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  return std::make_unique<TargetProcess>(
      std::vector<std::string>{
          absl::StrCat("--export=", kDisk, "=", dir, "/disk.img:64M"),
          absl::StrCat("--export=", kChapDisk, "=", dir, "/chap.img:16M"),
          absl::StrCat("--export=", kMutualDisk, "=", dir, "/mutual.img:16M"),
          absl::StrCat("--export=", kAclDisk, "=", dir, "/acl.img:16M"),
          absl::StrCat("--chap=", kChapDisk, "=", kChapUser, ":", kChapSecret),
          absl::StrCat("--chap=", kMutualDisk, "=", kChapUser, ":", kChapSecret),
          absl::StrCat("--mutual-chap=", kMutualDisk, "=", kTargetUser, ":", kTargetSecret),
          absl::StrCat("--allow=", kAclDisk, "=", kGoodInitiator),
      },
      dir + "/target.log");
}

// Url is the libiscsi URL of LUN 0 of `iqn` on `target`, with "user%secret" credentials.
std::string Url(const TargetProcess& target, const std::string& iqn,
                const std::string& credentials = "") {
  return absl::StrCat("iscsi://", credentials.empty() ? "" : credentials + "@", target.portal(),
                      "/", iqn, "/0");
}

class LibiscsiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveTool("iscsi-ls") || !HaveTool("iscsi-test-cu")) return;
    target_ = StartSuiteTarget().release();
  }
  static void TearDownTestSuite() {
    if (target_ != nullptr) target_->Stop();
    delete target_;
    target_ = nullptr;
  }
  void SetUp() override {
    if (!HaveTool("iscsi-ls") || !HaveTool("iscsi-test-cu")) {
      GTEST_SKIP() << "libiscsi-bin is not installed";
    }
    ASSERT_GT(target_->port(), 0) << "target did not start:\n" << target_->log();
  }

  static ProcessResult Tool(std::vector<std::string> argv) {
    argv[0] = ToolPath(argv[0]);
    return RunProcess(argv, absl::Seconds(120));
  }

  static TargetProcess* target_;
};
TargetProcess* LibiscsiTest::target_ = nullptr;

TEST_F(LibiscsiTest, DiscoveryListsEveryTargetAnInitiatorMaySee) {
  ProcessResult r =
      Tool({"iscsi-ls", "-i", kGoodInitiator, absl::StrCat("iscsi://", target_->portal())});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  for (const char* iqn : {kDisk, kChapDisk, kMutualDisk, kAclDisk}) {
    EXPECT_THAT(r.stdout_text, HasSubstr(absl::StrCat("Target:", iqn))) << r.stdout_text;
  }
  EXPECT_THAT(r.stdout_text, HasSubstr(absl::StrCat("Portal:", target_->portal(), ",1")));
}

TEST_F(LibiscsiTest, InquiryReportsADirectAccessDevice) {
  ProcessResult r = Tool({"iscsi-inq", Url(*target_, kDisk)});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("Peripheral Device Type:DIRECT_ACCESS"));
  // VPD 0x83 carries the NAA designator.
  r = Tool({"iscsi-inq", "-e", "1", "-c", "131", Url(*target_, kDisk)});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("Designator Type:(3) NAA"));
  EXPECT_THAT(r.stdout_text, HasSubstr(absl::StrCat("Designator:[", kDisk, ",t,0x0001]")));
}

TEST_F(LibiscsiTest, ReadCapacity16ReportsTheExportSize) {
  ProcessResult r = Tool({"iscsi-readcapacity16", Url(*target_, kDisk)});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  // 64 MiB of 512-byte blocks: last LBA 131071, 67108864 bytes.
  EXPECT_THAT(r.stdout_text, HasSubstr("67108864")) << r.stdout_text;
}

TEST_F(LibiscsiTest, OneWayChapAdmitsTheRightSecretOnly) {
  ProcessResult ok =
      Tool({"iscsi-inq", Url(*target_, kChapDisk, absl::StrCat(kChapUser, "%", kChapSecret))});
  EXPECT_EQ(ok.exit_code, 0) << ok.stdout_text << ok.stderr_text;
  ProcessResult none = Tool({"iscsi-inq", Url(*target_, kChapDisk)});
  EXPECT_NE(none.exit_code, 0);
  ProcessResult wrong =
      Tool({"iscsi-inq", Url(*target_, kChapDisk, absl::StrCat(kChapUser, "%wrong-secret-000"))});
  EXPECT_NE(wrong.exit_code, 0);
  // Secrets never reach the target's log.
  EXPECT_THAT(target_->log(), Not(HasSubstr(kChapSecret)));
}

TEST_F(LibiscsiTest, MutualChapChecksBothDirections) {
  std::string creds = absl::StrCat(kChapUser, "%", kChapSecret);
  setenv("LIBISCSI_CHAP_TARGET_USERNAME", kTargetUser, 1);
  setenv("LIBISCSI_CHAP_TARGET_PASSWORD", kTargetSecret, 1);
  ProcessResult ok = Tool({"iscsi-readcapacity16", Url(*target_, kMutualDisk, creds)});
  EXPECT_EQ(ok.exit_code, 0) << ok.stdout_text << ok.stderr_text;
  // The initiator rejects a target that cannot prove the secret it expects.
  setenv("LIBISCSI_CHAP_TARGET_PASSWORD", "not-the-target-secret", 1);
  ProcessResult wrong = Tool({"iscsi-readcapacity16", Url(*target_, kMutualDisk, creds)});
  EXPECT_NE(wrong.exit_code, 0);
  unsetenv("LIBISCSI_CHAP_TARGET_USERNAME");
  unsetenv("LIBISCSI_CHAP_TARGET_PASSWORD");
  EXPECT_THAT(target_->log(), Not(HasSubstr(kTargetSecret)));
}

TEST_F(LibiscsiTest, InitiatorOutsideTheAclSeesNothingAndCannotLogIn) {
  ProcessResult list =
      Tool({"iscsi-ls", "-i", kBadInitiator, absl::StrCat("iscsi://", target_->portal())});
  ASSERT_EQ(list.exit_code, 0) << list.stderr_text;
  EXPECT_THAT(list.stdout_text, Not(HasSubstr(kAclDisk)));
  EXPECT_THAT(list.stdout_text, HasSubstr(kDisk));
  ProcessResult login = Tool({"iscsi-inq", "-i", kBadInitiator, Url(*target_, kAclDisk)});
  EXPECT_NE(login.exit_code, 0);
  ProcessResult allowed = Tool({"iscsi-inq", "-i", kGoodInitiator, Url(*target_, kAclDisk)});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.stderr_text;
}

// Runs one family of libiscsi's conformance suite and requires every test to pass for real
// (CUnit counts a test that prints [SKIPPED] as passed; we do not).
struct SuiteCounts {
  int total = -1;
  int passed = -1;
  int failed = -1;
  int skipped = 0;
};

SuiteCounts ParseCunit(const std::string& output) {
  SuiteCounts counts;
  std::regex tests_line("tests\\s+([0-9]+)\\s+([0-9]+)\\s+([0-9]+)\\s+([0-9]+)");
  std::smatch m;
  if (std::regex_search(output, m, tests_line)) {
    counts.total = std::stoi(m[1]);
    counts.passed = std::stoi(m[3]);
    counts.failed = std::stoi(m[4]);
  }
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (line.find("[SKIPPED]") != absl::string_view::npos) ++counts.skipped;
  }
  return counts;
}

void RunFamily(TargetProcess& target, const std::string& family, int expected_tests) {
  ProcessResult r =
      RunProcess({ToolPath("iscsi-test-cu"), "-d", "-n", "--test=" + family, Url(target, kDisk)},
                 absl::Minutes(10));
  SuiteCounts counts = ParseCunit(r.stdout_text);
  std::cout << family << ": " << counts.total << " tests, " << counts.passed - counts.skipped
            << " passed, " << counts.failed << " failed, " << counts.skipped << " skipped\n";
  EXPECT_EQ(counts.total, expected_tests) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(counts.failed, 0) << r.stdout_text;
  EXPECT_EQ(counts.skipped, 0) << r.stdout_text;
  EXPECT_EQ(counts.passed, expected_tests) << r.stdout_text;
}

TEST_F(LibiscsiTest, IscsiTestCuCmdSnFamilyPasses) { RunFamily(*target_, "iSCSI.iSCSIcmdsn", 2); }
TEST_F(LibiscsiTest, IscsiTestCuDataSnFamilyPasses) { RunFamily(*target_, "iSCSI.iSCSIdatasn", 1); }
TEST_F(LibiscsiTest, IscsiTestCuResidualsFamilyPasses) {
  RunFamily(*target_, "iSCSI.iSCSIResiduals", 10);
}
TEST_F(LibiscsiTest, IscsiTestCuTmfFamilyPasses) { RunFamily(*target_, "iSCSI.iSCSITMF", 2); }

}  // namespace
}  // namespace iscsi_csi
