// load_generator: drives one iSCSI LUN with fio-like workloads over libiscsi's asynchronous API
// (iscsi_which_events / iscsi_service under poll): random or sequential, read, write or a
// read/write mix, an I/O size, a queue depth per session, several sessions (each its own
// iscsi_context) spread over a few threads, a warm-up then a measured window. Reports IOPS,
// MiB/s, latency quantiles, errors and, given a process id, that process's CPU time over the
// window. --verify writes chunks that name their offset and generation (verify_pattern.h),
// checks every read against the last acknowledged write, and reads everything written back at
// the end.
#ifndef ISCSI_CSI_TESTS_BENCH_LOAD_GENERATOR_H_
#define ISCSI_CSI_TESTS_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/bench/latency_histogram.h"

namespace iscsi_csi::bench {

enum class Pattern { kRandom, kSequential };
enum class Mode { kRead, kWrite, kMixed };

struct LoadOptions {
  std::string portal = "127.0.0.1:3260";
  std::string target_iqn;
  int lun = 0;
  std::string initiator;
  Pattern pattern = Pattern::kRandom;
  Mode mode = Mode::kRead;
  int read_percent = 100;  // kMixed only
  uint64_t io_size = 4096;
  int queue_depth = 1;  // per session
  int sessions = 1;
  int threads = 1;
  absl::Duration ramp = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(10);
  uint64_t span = 0;  // bytes of the LUN used, from LBA 0; 0: all of it
  bool verify = false;
  int cpu_pid = 0;  // 0: do not sample
  std::string label;
};

struct LoadResult {
  double seconds = 0;  // the measured window
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  LatencyHistogram latency;
  LatencyHistogram read_latency;
  LatencyHistogram write_latency;
  uint64_t errors = 0;
  uint64_t unit_attentions = 0;  // retried, not errors
  uint64_t verified_reads = 0;
  uint64_t unverified_reads = 0;  // region never written in this run
  uint64_t mismatches = 0;
  std::vector<std::string> error_samples;  // the first few, for humans
  uint32_t block_size = 0;
  uint64_t lun_bytes = 0;
  double target_cpu_seconds = -1;  // -1: not sampled
  double client_cpu_seconds = 0;

  uint64_t ios() const { return reads + writes; }
  double Iops() const { return seconds > 0 ? static_cast<double>(ios()) / seconds : 0; }
  double MibPerSecond() const {
    return seconds > 0 ? static_cast<double>(read_bytes + write_bytes) / seconds / 1048576.0 : 0;
  }
};

// ParseByteSize reads "4096", "4k", "1M", "2G" (binary multiples, case-insensitive).
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);
absl::StatusOr<Pattern> ParsePattern(absl::string_view text);
absl::StatusOr<Mode> ParseMode(absl::string_view text);

// ValidateLoadOptions checks the options that need no target; InvalidArgument names the flag.
absl::Status ValidateLoadOptions(const LoadOptions& options);

// RunLoad logs in every session, runs the workload and logs out. Fails only when the run could
// not happen (login, READ CAPACITY, a span the LUN cannot hold); I/O errors and mismatches are
// counted in the result.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options);

// One JSON object on one line: the workload, the figures, latency quantiles in microseconds.
std::string LoadResultJson(const LoadOptions& options, const LoadResult& result);
// A few lines for humans.
std::string LoadResultText(const LoadOptions& options, const LoadResult& result);

// ProcessCpuSeconds is utime + stime of `pid` from /proc/PID/stat (all its threads); -1 when
// the process cannot be read.
double ProcessCpuSeconds(int pid);

// MeasureMemcpy copies `chunk`-sized pieces between two `buffer_bytes` buffers for `duration`
// on one thread and returns MiB/s: the memory-bandwidth ceiling a copying data path has.
double MeasureMemcpy(uint64_t buffer_bytes, uint64_t chunk, absl::Duration duration);

}  // namespace iscsi_csi::bench

#endif  // ISCSI_CSI_TESTS_BENCH_LOAD_GENERATOR_H_
