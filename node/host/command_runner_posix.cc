#include "node/host/command_runner_posix.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

// Tools live in sbin on Debian; a container's PATH often lacks it. LC_ALL=C keeps the output
// we parse in one language.
constexpr char kPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr char kLocale[] = "LC_ALL=C";

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

absl::Status Pipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return absl::OkStatus();
}

}  // namespace

bool AbslParseFlag(absl::string_view text, HostExec* mode, std::string* error) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "direct") {
    *mode = HostExec::kDirect;
    return true;
  }
  if (lower == "nsenter") {
    *mode = HostExec::kNsenter;
    return true;
  }
  *error = "want direct or nsenter";
  return false;
}

std::string AbslUnparseFlag(HostExec mode) {
  return mode == HostExec::kNsenter ? "nsenter" : "direct";
}

std::vector<std::string> HostExecPrefix(HostExec mode) {
  if (mode == HostExec::kNsenter) return {"nsenter", "--mount=/proc/1/ns/mnt", "--"};
  return {};
}

PosixCommandRunner::PosixCommandRunner(std::vector<std::string> prefix)
    : prefix_(std::move(prefix)) {}

absl::StatusOr<CommandResult> PosixCommandRunner::Run(const Command& command) {
  if (command.argv.empty()) return absl::InvalidArgumentError("empty command");
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> values = prefix_;
  for (const Arg& arg : command.argv) values.push_back(arg.value);
  std::vector<char*> argv;
  for (std::string& v : values) argv.push_back(v.data());
  argv.push_back(nullptr);
  std::string path_env = kPath;
  std::string locale_env = kLocale;
  char* envp[] = {path_env.data(), locale_env.data(), nullptr};

  Fd out_r, out_w, err_r, err_w, status_r, status_w;
  if (absl::Status st = Pipe(&out_r, &out_w); !st.ok()) return st;
  if (absl::Status st = Pipe(&err_r, &err_w); !st.ok()) return st;
  if (absl::Status st = Pipe(&status_r, &status_w); !st.ok()) return st;
  Fd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) return absl::InternalError(absl::StrCat("open /dev/null: ", strerror(errno)));

  VLOG(1) << "exec: " << command.ToString();
  const absl::Time start = absl::Now();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Child. Own process group, so a timeout kills helpers the tool started too.
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(dev_null.get(), 0);
    dup2(out_w.get(), 1);
    dup2(err_w.get(), 2);
    // Everything else (gRPC sockets, state files) stays with the plugin; the status pipe is
    // close-on-exec and tells the parent why exec failed.
    dup2(status_w.get(), 3);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
      for (int fd = 4; fd < 65536; ++fd) close(fd);
    }
    execvpe(argv[0], argv.data(), envp);
    int exec_errno = errno;
    ssize_t ignored = write(3, &exec_errno, sizeof(exec_errno));
    (void)ignored;
    _exit(127);
  }

  out_w.Reset();
  err_w.Reset();
  status_w.Reset();
  CommandResult result;
  int exec_errno = 0;
  bool exec_failed = read(status_r.get(), &exec_errno, sizeof(exec_errno)) ==
                     static_cast<ssize_t>(sizeof(exec_errno));

  const absl::Time deadline = start + command.timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.stdout_text, &result.stderr_text};
  int open_streams = 2;
  char buffer[16384];
  while (open_streams > 0) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    int timeout_ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    int ready = poll(fds, 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        size_t room = kMaxOutputBytes - std::min(kMaxOutputBytes, sinks[i]->size());
        sinks[i]->append(buffer, std::min(room, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  if (timed_out) kill(-pid, SIGKILL);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const absl::Duration took = absl::Now() - start;
  const std::string line = command.ToString();
  if (exec_failed) {
    if (exec_errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(command.Tool(), " is not installed (",
                                              values[0], " not found in PATH)"));
    }
    return absl::InternalError(
        absl::StrCat("cannot run ", values[0], ": ", strerror(exec_errno)));
  }
  if (timed_out) {
    LOG(WARNING) << "exec: killed after " << absl::FormatDuration(command.timeout) << ": " << line;
    return absl::DeadlineExceededError(absl::StrCat(command.Tool(), " did not finish within ",
                                                    absl::FormatDuration(command.timeout)));
  }
  if (WIFSIGNALED(status)) {
    return absl::InternalError(
        absl::StrCat(command.Tool(), " was killed by signal ", WTERMSIG(status)));
  }
  result.exit_code = WEXITSTATUS(status);
  result.stdout_text = command.Mask(result.stdout_text);
  result.stderr_text = command.Mask(result.stderr_text);
  if (!prefix_.empty() && result.exit_code == 127) {
    // nsenter reports a program it cannot execute with 127 (util-linux errexec).
    return absl::NotFoundError(absl::StrCat(command.Tool(), " is not installed on the host (",
                                            FirstLine(result.stderr_text), ")"));
  }
  VLOG(1) << "exec: exit " << result.exit_code << " after " << absl::FormatDuration(took) << ": "
          << line;
  if (result.exit_code != 0) {
    VLOG(2) << "exec: stderr: " << result.stderr_text;
  }
  return result;
}

}  // namespace iscsi_csi::node
