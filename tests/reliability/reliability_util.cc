#include "tests/reliability/reliability_util.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace iscsi_csi::reliability {

std::string ScratchDir() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = absl::StrCat(::testing::TempDir(), "/rel-", getpid(), "-",
                                 info->test_suite_name(), ".", info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void RemoveScratchDir(const std::string& dir) {
  if (::testing::Test::HasFailure()) {
    std::cout << "keeping " << dir << " (logs of the failed test)\n";
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(dir, error);
}

uint64_t ProcessRssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

int ProcessFdCount(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

double EnvSeconds(const char* name, double default_seconds) {
  const char* text = std::getenv(name);
  double value = 0;
  if (text == nullptr || !absl::SimpleAtod(text, &value) || value <= 0) return default_seconds;
  return value;
}

}  // namespace iscsi_csi::reliability
