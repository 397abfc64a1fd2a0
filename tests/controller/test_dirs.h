// test_dirs: a fresh scratch directory per test under ::testing::TempDir().
#ifndef ISCSI_CSI_TESTS_CONTROLLER_TEST_DIRS_H_
#define ISCSI_CSI_TESTS_CONTROLLER_TEST_DIRS_H_

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace iscsi_csi::controller::testing {

// ScratchDir returns an empty directory named after the running test.
inline std::string ScratchDir() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = absl::StrCat(::testing::TempDir(), "/ctl-", getpid(), "-",
                                 info->test_suite_name(), ".", info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// SocketPath returns a fresh unix socket path short enough for sockaddr_un (108 bytes), which
// test directories named after long test names are not.
inline std::string SocketPath() {
  static int counter = 0;
  return absl::StrCat(::testing::TempDir(), "/csi-", getpid(), "-", ++counter, ".sock");
}

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_TEST_DIRS_H_
