// A live Target on 127.0.0.1 (port chosen by the kernel) with one exported target, for the
// login, session and facade tests.
#ifndef ISCSI_CSI_TESTS_TARGET_TARGET_FIXTURE_H_
#define ISCSI_CSI_TESTS_TARGET_TARGET_FIXTURE_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "target/target.h"
#include "tests/target/test_initiator.h"

namespace iscsi_csi::target::testing {

inline constexpr char kTargetIqn[] = "iqn.2026-01.io.iscsi-csi.test:disk";
inline constexpr uint64_t kLunBytes = 16u << 20;

inline std::vector<uint8_t> Read10(uint32_t lba, uint16_t blocks) {
  return {0x28,
          0,
          static_cast<uint8_t>(lba >> 24),
          static_cast<uint8_t>(lba >> 16),
          static_cast<uint8_t>(lba >> 8),
          static_cast<uint8_t>(lba),
          0,
          static_cast<uint8_t>(blocks >> 8),
          static_cast<uint8_t>(blocks),
          0};
}
inline std::vector<uint8_t> Write10(uint32_t lba, uint16_t blocks) {
  std::vector<uint8_t> cdb = Read10(lba, blocks);
  cdb[0] = 0x2a;
  return cdb;
}
inline std::vector<uint8_t> TestUnitReady() { return {0, 0, 0, 0, 0, 0}; }
inline std::vector<uint8_t> Inquiry(uint16_t allocation) {
  return {0x12, 0, 0, static_cast<uint8_t>(allocation >> 8), static_cast<uint8_t>(allocation), 0};
}
inline std::vector<uint8_t> ReportLuns(uint32_t allocation) {
  return {0xa0,
          0,
          0,
          0,
          0,
          0,
          static_cast<uint8_t>(allocation >> 24),
          static_cast<uint8_t>(allocation >> 16),
          static_cast<uint8_t>(allocation >> 8),
          static_cast<uint8_t>(allocation),
          0,
          0};
}

inline std::vector<uint8_t> Pattern(size_t length, uint8_t seed) {
  std::vector<uint8_t> data(length);
  for (size_t i = 0; i < length; ++i) data[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return data;
}

// The logical block size of the fixture's LUNs.
inline constexpr uint32_t kBlock = 512;

// WriteCommand: WRITE(10) of `blocks` blocks at `lba` on LUN 0, expecting blocks * kBlock
// bytes of which `data_out` is what TestInitiator sends (empty: the test sends it, or not).
inline CommandOptions WriteCommand(uint32_t lba, uint16_t blocks,
                                   std::vector<uint8_t> data_out = {}) {
  CommandOptions write;
  write.cdb = Write10(lba, blocks);
  write.write = true;
  write.expected_length = uint32_t{blocks} * kBlock;
  write.data_out = std::move(data_out);
  return write;
}
// ReadCommand: READ(10) of `blocks` blocks at `lba` on LUN 0.
inline CommandOptions ReadCommand(uint32_t lba, uint16_t blocks) {
  CommandOptions read;
  read.cdb = Read10(lba, blocks);
  read.read = true;
  read.expected_length = uint32_t{blocks} * kBlock;
  return read;
}

// WriteBlocks writes `data` (whole blocks) at `lba` and waits for the status; the caller
// checks it.
inline absl::StatusOr<ScsiResult> WriteBlocks(TestInitiator& initiator, uint32_t lba,
                                              const std::vector<uint8_t>& data) {
  return initiator.Command(WriteCommand(lba, static_cast<uint16_t>(data.size() / kBlock), data));
}
// ReadBlocks reads `blocks` blocks at `lba` and waits for the data and status.
inline absl::StatusOr<ScsiResult> ReadBlocks(TestInitiator& initiator, uint32_t lba,
                                             uint16_t blocks) {
  return initiator.Command(ReadCommand(lba, blocks));
}

class TargetTest : public ::testing::Test {
 protected:
  void SetUp() override { StartTarget(DefaultOptions()); }
  void TearDown() override {
    if (target_ != nullptr) target_->Stop();
  }

  static TargetOptions DefaultOptions() {
    TargetOptions options;
    options.portals = {PortalAddress{"127.0.0.1", 0}};
    options.io_threads = 2;
    options.backing_threads = 2;
    options.nop_in_interval_seconds = 0;
    return options;
  }

  std::string Dir() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string dir =
        absl::StrCat(::testing::TempDir(), "/", info->test_suite_name(), ".", info->name());
    mkdir(dir.c_str(), 0755);
    return dir;
  }

  void StartTarget(TargetOptions options) {
    if (target_ != nullptr) target_->Stop();
    target_.reset();
    absl::StatusOr<std::unique_ptr<Target>> target = Target::Start(std::move(options));
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    portal_ = target_->portals().at(0);
    ASSERT_NE(portal_.port, 0);
    ASSERT_TRUE(target_->AddTarget({kTargetIqn, "test disk"}).ok());
    AddLun(kTargetIqn, 0, kLunBytes);
  }

  void AddLun(const std::string& iqn, uint64_t lun, uint64_t bytes) {
    LunConfig config;
    config.lun = lun;
    config.backing_file = absl::StrCat(Dir(), "/", iqn.substr(iqn.find(':') + 1), "-", lun);
    config.size_bytes = bytes;
    unlink(config.backing_file.c_str());  // a file left by an earlier run keeps its size
    absl::Status status = target_->AddLun(iqn, config);
    ASSERT_TRUE(status.ok()) << status;
  }

  std::unique_ptr<TestInitiator> Connect() {
    absl::StatusOr<std::unique_ptr<TestInitiator>> initiator = TestInitiator::Connect(portal_);
    EXPECT_TRUE(initiator.ok()) << initiator.status();
    return initiator.ok() ? std::move(*initiator) : nullptr;
  }

  static LoginOptions Normal() {
    LoginOptions options;
    options.target_name = kTargetIqn;
    return options;
  }

  // LoggedIn connects, logs in and clears the new nexus's unit attention.
  std::unique_ptr<TestInitiator> LoggedIn(LoginOptions options = Normal()) {
    std::unique_ptr<TestInitiator> initiator = Connect();
    if (initiator == nullptr) return nullptr;
    absl::StatusOr<LoginResult> result = initiator->Login(options);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return nullptr;
    EXPECT_TRUE(result->ok()) << "login status " << int{result->status_class} << "/"
                              << int{result->status_detail};
    if (!result->ok()) return nullptr;
    if (!options.target_name.empty()) {
      absl::Status status = initiator->ClearUnitAttentions();
      EXPECT_TRUE(status.ok()) << status;
    }
    return initiator;
  }

  std::unique_ptr<Target> target_;
  PortalAddress portal_;
};

}  // namespace iscsi_csi::target::testing

#endif  // ISCSI_CSI_TESTS_TARGET_TARGET_FIXTURE_H_
