// iscsi-bench: the benchmark tools behind scripts/bench.sh (issue #11).
//   iscsi-bench load ...           an iSCSI load generator (load_generator.h)
//   iscsi-bench memcpy ...         the single-thread memory copy ceiling
//   iscsi-bench control-plane ...  CSI controller figures with many volumes (control_plane.h)
// Each prints a few lines for humans on stderr and one JSON object on one line on stdout.
// Flags are spelled with dashes, as in iscsi-csi; a bad flag exits 2 naming it.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "tests/bench/control_plane.h"
#include "tests/bench/load_generator.h"

ABSL_FLAG(std::string, portal, "127.0.0.1:3260",
          "load: the target's portal, host:port. control-plane: where the controller's "
          "embedded target listens.");
ABSL_FLAG(std::string, target, "", "load: IQN of the target to log in to (required).");
ABSL_FLAG(int, lun, 0, "load: the LUN to drive (tgt's first disk is LUN 1).");
ABSL_FLAG(std::string, initiator, "iqn.2026-11.io.iscsi-csi:bench",
          "load: initiator name every session logs in with (each with its own ISID).");
ABSL_FLAG(std::string, pattern, "random", "load: random or sequential offsets.");
ABSL_FLAG(std::string, mode, "read", "load: read, write or mixed (see --read-pct).");
ABSL_FLAG(int, read_pct, 70, "load: percentage of reads in --mode=mixed.");
ABSL_FLAG(std::string, bs, "4k",
          "load: bytes per I/O (k, M suffixes; a multiple of the LUN's block size). memcpy: "
          "bytes per copy.");
ABSL_FLAG(int, qd, 1, "load: outstanding I/Os per session.");
ABSL_FLAG(int, sessions, 1,
          "load: iSCSI sessions, each its own connection; each drives its own slice of the "
          "span. control-plane: idle sessions opened to measure the target's memory per session.");
ABSL_FLAG(int, threads, 1, "load: threads servicing the sessions (round robin).");
ABSL_FLAG(absl::Duration, ramp, absl::Seconds(1),
          "load: warm-up before the measured window (I/O runs, nothing is counted).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "load: the measured window. memcpy: how long to copy.");
ABSL_FLAG(std::string, span, "0",
          "load: bytes of the LUN used, from LBA 0 (0: all). memcpy: size of each buffer "
          "(0: 256M).");
ABSL_FLAG(bool, verify, false,
          "load: write chunks that encode their offset and generation, check every read against "
          "the last acknowledged write and read everything written back at the end; a mismatch "
          "exits 1.");
ABSL_FLAG(int, cpu_pid, 0,
          "load: sample this process's CPU time (/proc/PID/stat utime+stime) over the window.");
ABSL_FLAG(std::string, label, "", "load: a name copied into the JSON line.");
ABSL_FLAG(std::string, binary, "",
          "control-plane: the iscsi-csi binary to start (default: the one built with this "
          "tool).");
ABSL_FLAG(std::string, work_dir, "",
          "control-plane: where the controller keeps its pool, catalogue and socket (default: "
          "a new directory under /dev/shm, else $TMPDIR). Removed at the end when created here.");
ABSL_FLAG(int, volumes, 1000, "control-plane: volumes created, published and deleted.");
ABSL_FLAG(std::string, volume_size, "1M", "control-plane: capacity of each volume.");

namespace iscsi_csi::bench {
namespace {

constexpr char kProgram[] = "iscsi-bench";

int UsageError(const std::string& command, const std::string& message) {
  std::cerr << kProgram << " " << command << ": " << message << "\n";
  return 2;
}

int RunLoadCommand() {
  LoadOptions options;
  options.portal = absl::GetFlag(FLAGS_portal);
  options.target_iqn = absl::GetFlag(FLAGS_target);
  options.lun = absl::GetFlag(FLAGS_lun);
  options.initiator = absl::GetFlag(FLAGS_initiator);
  absl::StatusOr<Pattern> pattern = ParsePattern(absl::GetFlag(FLAGS_pattern));
  if (!pattern.ok()) return UsageError("load", std::string(pattern.status().message()));
  options.pattern = *pattern;
  absl::StatusOr<Mode> mode = ParseMode(absl::GetFlag(FLAGS_mode));
  if (!mode.ok()) return UsageError("load", std::string(mode.status().message()));
  options.mode = *mode;
  options.read_percent = absl::GetFlag(FLAGS_read_pct);
  absl::StatusOr<uint64_t> bs = ParseByteSize(absl::GetFlag(FLAGS_bs));
  if (!bs.ok()) return UsageError("load", "--bs: " + std::string(bs.status().message()));
  options.io_size = *bs;
  absl::StatusOr<uint64_t> span = ParseByteSize(absl::GetFlag(FLAGS_span));
  if (!span.ok()) return UsageError("load", "--span: " + std::string(span.status().message()));
  options.span = *span;
  options.queue_depth = absl::GetFlag(FLAGS_qd);
  options.sessions = absl::GetFlag(FLAGS_sessions);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.ramp = absl::GetFlag(FLAGS_ramp);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.verify = absl::GetFlag(FLAGS_verify);
  options.cpu_pid = absl::GetFlag(FLAGS_cpu_pid);
  options.label = absl::GetFlag(FLAGS_label);
  if (absl::Status valid = ValidateLoadOptions(options); !valid.ok()) {
    return UsageError("load", std::string(valid.message()));
  }
  absl::StatusOr<LoadResult> result = RunLoad(options);
  if (!result.ok()) {
    std::cerr << kProgram << " load: " << result.status().message() << "\n";
    return result.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cerr << LoadResultText(options, *result);
  std::cout << LoadResultJson(options, *result) << std::endl;
  return result->errors == 0 && result->mismatches == 0 ? 0 : 1;
}

int RunMemcpyCommand() {
  absl::StatusOr<uint64_t> bs = ParseByteSize(absl::GetFlag(FLAGS_bs));
  if (!bs.ok() || *bs == 0) return UsageError("memcpy", "--bs must be a positive size");
  absl::StatusOr<uint64_t> span = ParseByteSize(absl::GetFlag(FLAGS_span));
  if (!span.ok()) return UsageError("memcpy", "--span: " + std::string(span.status().message()));
  const uint64_t buffer = *span == 0 ? (256ULL << 20) : *span;
  if (*bs > buffer) return UsageError("memcpy", "--bs must not exceed --span");
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (duration <= absl::ZeroDuration()) return UsageError("memcpy", "--duration must be positive");
  const double mib_s = MeasureMemcpy(buffer, *bs, duration);
  std::cerr << absl::StrFormat("memcpy: %.0f MiB/s (chunks of %d bytes, buffers of %d bytes)\n",
                               mib_s, *bs, buffer);
  std::cout << absl::StrFormat("{\"memcpy_mib_s\":%.1f,\"bs\":%d,\"buffer_bytes\":%d}", mib_s, *bs,
                               buffer)
            << std::endl;
  return 0;
}

int RunControlPlaneCommand() {
  ControlPlaneOptions options;
  options.binary = absl::GetFlag(FLAGS_binary);
  if (options.binary.empty()) options.binary = ISCSI_CSI_BINARY;
  options.work_dir = absl::GetFlag(FLAGS_work_dir);
  options.portal = absl::GetFlag(FLAGS_portal);
  options.volumes = absl::GetFlag(FLAGS_volumes);
  options.idle_sessions = absl::GetFlag(FLAGS_sessions);
  absl::StatusOr<uint64_t> size = ParseByteSize(absl::GetFlag(FLAGS_volume_size));
  if (!size.ok() || *size == 0) {
    return UsageError("control-plane", "--volume-size must be a positive size");
  }
  options.volume_bytes = *size;
  if (options.volumes < 1 || options.volumes > 100000) {
    return UsageError("control-plane", "--volumes must be 1..100000");
  }
  if (options.idle_sessions < 1 || options.idle_sessions > options.volumes) {
    return UsageError("control-plane", "--sessions must be 1..--volumes (one per volume)");
  }
  absl::StatusOr<ControlPlaneResult> result = RunControlPlane(options);
  if (!result.ok()) {
    std::cerr << kProgram << " control-plane: " << result.status().message() << "\n";
    return 1;
  }
  std::cerr << ControlPlaneText(options, *result);
  std::cout << ControlPlaneJson(options, *result) << std::endl;
  return result->errors == 0 ? 0 : 1;
}

std::vector<Subcommand> Commands() {
  return {
      {"load",
       "drive an iSCSI LUN and report IOPS, MiB/s, latency and errors",
       "Logs in --sessions sessions to LUN --lun of --target at --portal and keeps --qd I/Os of "
       "--bs bytes outstanding in each for --ramp plus --duration, then prints IOPS, MiB/s, "
       "latency quantiles (p50, p99, p99.9), errors and, with --cpu-pid, that process's CPU "
       "time per million I/Os. Human lines go to stderr, one JSON line to stdout. Exits 1 on "
       "I/O errors or verify mismatches, 2 on bad flags.",
       {"portal", "target", "lun", "initiator", "pattern", "mode", "read_pct", "bs", "qd",
        "sessions", "threads", "ramp", "duration", "span", "verify", "cpu_pid", "label"},
       {},
       RunLoadCommand},
      {"memcpy",
       "the single-thread memcpy bandwidth ceiling",
       "Copies --bs chunks between two --span buffers on one thread for --duration and prints "
       "MiB/s: the ceiling of any data path that copies each byte once.",
       {"bs", "span", "duration"},
       {},
       RunMemcpyCommand},
      {"control-plane",
       "CSI controller figures with many volumes",
       "Starts `iscsi-csi controller` on a fresh pool, creates --volumes volumes of "
       "--volume-size, publishes each to one node, opens --sessions idle iSCSI sessions and "
       "measures the controller's memory per session, restarts it and times Probe-ready, then "
       "unpublishes and deletes every volume. Prints throughput and p50/p99 latency per "
       "method and the issue #11 goals.",
       {"binary", "work_dir", "portal", "volumes", "volume_size", "sessions"},
       {},
       RunControlPlaneCommand},
  };
}

void PrintHelp(std::ostream& out) {
  out << "Usage: " << kProgram << " <command> [flags]\n\nBenchmarks for iscsi-csi.\n\nCommands:\n";
  for (const Subcommand& c : Commands()) {
    out << absl::StrFormat("  %-15s%s\n", c.name, c.summary);
  }
  out << "\nRun '" << kProgram << " <command> --help' for the flags of a command.\n";
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintHelp(std::cerr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintHelp(std::cout);
    return 0;
  }
  for (const Subcommand& command : Commands()) {
    if (command.name != args[0]) continue;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const std::string& a : rest) {
      if (a == "--help" || a == "-h") {
        PrintSubcommandHelp(kProgram, command, std::cout);
        return 0;
      }
    }
    if (absl::Status parsed = ParseSubcommandFlags(command, rest); !parsed.ok()) {
      return UsageError(command.name, std::string(parsed.message()));
    }
    return command.run();
  }
  std::cerr << kProgram << ": unknown command '" << args[0] << "'\n\n";
  PrintHelp(std::cerr);
  return 2;
}

}  // namespace
}  // namespace iscsi_csi::bench

int main(int argc, char** argv) { return iscsi_csi::bench::Main(argc, argv); }
