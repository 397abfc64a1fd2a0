#include "tests/reliability/target_process.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::reliability {

using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;

TargetProcess::TargetProcess(const std::vector<std::string>& flags, const std::string& log_path) {
  std::vector<std::string> argv = {BinaryPath(), "target", "--portal=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<ChildProcess>(argv, log_path);
  const std::regex listening("iSCSI target listening on (127\\.0\\.0\\.1:[0-9]+)");
  for (absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
    std::smatch m;
    const std::string text = process_->Stderr();
    if (std::regex_search(text, m, listening)) {
      portal_ = m[1];
      return;
    }
    if (!Alive()) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

TargetProcess::~TargetProcess() = default;

bool TargetProcess::Alive() {
  if (exited_) return false;
  if (process_->Wait(absl::ZeroDuration()).has_value()) exited_ = true;
  return !exited_;
}

std::optional<int> TargetProcess::Stop() {
  if (exited_) return std::nullopt;
  process_->Signal(SIGTERM);
  std::optional<::iscsi_csi::testing::ProcessResult> result = process_->Wait(absl::Seconds(30));
  if (!result.has_value()) {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(30));
    exited_ = true;
    return std::nullopt;
  }
  exited_ = true;
  return result->signaled ? 128 + result->term_signal : result->exit_code;
}

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
