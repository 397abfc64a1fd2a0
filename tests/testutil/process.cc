#include "tests/testutil/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"

namespace iscsi_csi::testing {
namespace {

std::vector<char*> MakeArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void FillStatus(int status, ProcessResult* result) {
  if (WIFSIGNALED(status)) {
    result->signaled = true;
    result->term_signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    result->exit_code = WEXITSTATUS(status);
  }
}

pid_t SpawnWithFiles(const std::vector<std::string>& argv, const std::string& out_path,
                     const std::string& err_path) {
  std::vector<char*> args = MakeArgv(argv);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Die with the parent: a test killed by a signal (a crash, a ctest timeout) must not leak
    // the processes it started. If the parent died between fork() and prctl(), the signal
    // will never come and we have been reparented already: leave at once.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    // Unblock what the parent may have blocked (the binary under test blocks its own).
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    int out = out_path.empty() ? open("/dev/null", O_WRONLY)
                               : open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string TempPath(const char* tag) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  static int counter = 0;
  return base + "/iscsi_csi_proc_" + std::to_string(getpid()) + "_" + std::to_string(counter++) +
         "_" + tag;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, absl::Duration timeout) {
  std::string out_path = TempPath("out");
  std::string err_path = TempPath("err");
  pid_t pid = SpawnWithFiles(argv, out_path, err_path);
  ProcessResult result;
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  FillStatus(status, &result);
  result.stdout_text = ReadFile(out_path);
  result.stderr_text = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& stderr_path)
    : stderr_path_(stderr_path) {
  pid_ = SpawnWithFiles(argv, "", stderr_path);
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
}

void ChildProcess::Signal(int signal_number) {
  if (!reaped_) kill(pid_, signal_number);
}

std::optional<ProcessResult> ChildProcess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
  reaped_ = true;
  ProcessResult result;
  FillStatus(status, &result);
  result.stderr_text = Stderr();
  return result;
}

std::string ChildProcess::Stderr() const { return ReadFile(stderr_path_); }

std::string BinaryPath() { return ISCSI_CSI_BINARY; }

bool WaitForPath(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  struct stat st;
  while (absl::Now() < deadline) {
    if (stat(path.c_str(), &st) == 0) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return stat(path.c_str(), &st) == 0;
}

bool HaveTool(const std::string& tool) {
  if (tool.find('/') != std::string::npos) return access(tool.c_str(), X_OK) == 0;
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
    if (access((std::string(dir) + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace iscsi_csi::testing
