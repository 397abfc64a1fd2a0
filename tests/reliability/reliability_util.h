// reliability_util: what the reliability tests share besides the target process and the iSCSI
// session (tests/testutil): a scratch directory per test that stays when the test fails, the
// /proc figures the tests watch (VmRSS, open descriptors), and durations from the environment.
#ifndef ISCSI_CSI_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
#define ISCSI_CSI_TESTS_RELIABILITY_RELIABILITY_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace iscsi_csi::reliability {

// ScratchDir returns an empty directory named after the running test.
std::string ScratchDir();
// RemoveScratchDir deletes `dir` unless the running test has failed (its logs stay for a look).
void RemoveScratchDir(const std::string& dir);

// ProcessRssBytes: VmRSS of `pid` from /proc/PID/status; 0 when unreadable.
uint64_t ProcessRssBytes(pid_t pid);
// ProcessFdCount: the entries of /proc/PID/fd; -1 when unreadable.
int ProcessFdCount(pid_t pid);

// EnvSeconds reads a positive number of seconds from the environment variable `name`.
double EnvSeconds(const char* name, double default_seconds);

}  // namespace iscsi_csi::reliability

#endif  // ISCSI_CSI_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
