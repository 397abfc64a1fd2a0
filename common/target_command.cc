#include "common/target_command.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/metrics.h"
#include "common/server.h"
#include "glog/logging.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "target/target_metrics.h"

ABSL_FLAG(std::vector<std::string>, portal, {"127.0.0.1:3260"},
          "Address to accept iSCSI connections on, as host:port, [v6]:port or host (port 3260). "
          "Repeat for several portals.");
ABSL_FLAG(std::vector<std::string>, export, {},
          "IQN=FILE[:SIZE]: serve FILE as LUN 0 of target IQN, creating it sparse at SIZE "
          "(bytes, or with K, M, G, T) when it does not exist. Repeat for several targets.");
ABSL_FLAG(std::vector<std::string>, allow, {},
          "IQN=INITIATOR-IQN: only the listed initiators may discover and log in to target IQN. "
          "Repeat per initiator. Without --allow a target admits every initiator.");
ABSL_FLAG(std::vector<std::string>, read_only, {},
          "IQN: serve target IQN write-protected (writes get DATA PROTECT / WRITE PROTECTED). "
          "Repeat per target.");
ABSL_FLAG(std::vector<std::string>, chap, {},
          "IQN=USER:SECRET: initiators must authenticate to target IQN with CHAP (secret of 12 "
          "to 255 bytes).");
ABSL_FLAG(std::vector<std::string>, mutual_chap, {},
          "IQN=USER:SECRET: credentials target IQN presents when the initiator asks for mutual "
          "CHAP (needs --chap for the same target).");
ABSL_FLAG(uint32_t, block_size, 512, "Logical block size of every exported LUN: 512 or 4096.");
ABSL_FLAG(int, io_threads, 0, "Network event-loop threads; 0 picks min(cores, 4).");
ABSL_FLAG(int, nop_in_interval, 15,
          "Seconds of silence before the target pings an initiator (NOP-In); a connection that "
          "stays silent for another interval is closed. 0 disables.");
ABSL_FLAG(int, max_connections, 4096,
          "iSCSI connections open at once, logged in or not; more are closed as soon as they "
          "are accepted. 0: no limit.");

namespace iscsi_csi {

absl::StatusOr<target::StandaloneOptions> StandaloneOptionsFromFlags() {
  target::StandaloneOptions options;
  options.target.portals.clear();
  for (const std::string& text : absl::GetFlag(FLAGS_portal)) {
    auto portal = target::ParsePortalAddress(text);
    if (!portal.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid value '", text, "' for flag --portal: ", portal.status().message()));
    }
    options.target.portals.push_back(*portal);
  }
  for (const std::string& text : absl::GetFlag(FLAGS_export)) {
    auto spec = target::ParseExportSpec(text);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --export: ", spec.status().message()));
    }
    options.exports.push_back(*spec);
  }
  for (const std::string& text : absl::GetFlag(FLAGS_allow)) {
    auto spec = target::ParseAllowSpec(text);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --allow: ", spec.status().message()));
    }
    options.allows.push_back(*spec);
  }
  for (const std::string& iqn : absl::GetFlag(FLAGS_read_only)) {
    if (iqn.empty()) return absl::InvalidArgumentError("flag --read-only: empty target IQN");
    options.read_only.push_back(iqn);
  }
  for (const std::string& text : absl::GetFlag(FLAGS_chap)) {
    auto spec = target::ParseChapSpec(text);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --chap: ", spec.status().message()));
    }
    options.chaps.push_back(*spec);
  }
  for (const std::string& text : absl::GetFlag(FLAGS_mutual_chap)) {
    auto spec = target::ParseChapSpec(text);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --mutual-chap: ", spec.status().message()));
    }
    options.mutual_chaps.push_back(*spec);
  }
  options.block_size = absl::GetFlag(FLAGS_block_size);
  if (options.block_size != 512 && options.block_size != 4096) {
    return absl::InvalidArgumentError("invalid value for flag --block-size: must be 512 or 4096");
  }
  options.target.io_threads = absl::GetFlag(FLAGS_io_threads);
  if (options.target.io_threads < 0 || options.target.io_threads > 64) {
    return absl::InvalidArgumentError("invalid value for flag --io-threads: must be 0 to 64");
  }
  options.target.nop_in_interval_seconds = absl::GetFlag(FLAGS_nop_in_interval);
  if (options.target.nop_in_interval_seconds < 0) {
    return absl::InvalidArgumentError("invalid value for flag --nop-in-interval: must be >= 0");
  }
  options.target.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (options.target.max_connections < 0) {
    return absl::InvalidArgumentError("invalid value for flag --max-connections: must be >= 0");
  }
  if (absl::Status st = target::CheckStandaloneOptions(options); !st.ok()) return st;
  return options;
}

Subcommand TargetSubcommand() {
  Subcommand command;
  command.name = "target";
  command.summary = "the iSCSI target alone (tests, benchmarks, a plain target)";
  command.description =
      "Serves the embedded iSCSI target without CSI. Each --export is LUN 0 of its own target, "
      "the shape the controller uses for volumes. Logs every login and logout; exits cleanly on "
      "SIGTERM or SIGINT.";
  command.flags = {
      "portal",          "export",     "allow",      "read_only",       "chap",
      "mutual_chap",     "block_size", "io_threads", "nop_in_interval", "max_connections",
      "metrics_address", "log_level"};
  command.repeatable = {"portal", "export", "allow", "read_only", "chap", "mutual_chap"};
  command.run = [] {
    ApplyLogLevel(absl::GetFlag(FLAGS_log_level));
    absl::StatusOr<target::StandaloneOptions> options = StandaloneOptionsFromFlags();
    if (!options.ok()) {
      LOG(ERROR) << "target: " << options.status().message();
      return 2;
    }
    const ListenAddress metrics_address = absl::GetFlag(FLAGS_metrics_address);
    return target::RunStandaloneTarget(*options, [&metrics_address](target::Target& target) {
      // The exposer goes away before the target stops: its collector reads the target. The
      // exposer only holds a weak reference to the collector, which lives here.
      auto collector = std::make_shared<target::TargetCollector>(target);
      std::unique_ptr<prometheus::Exposer> exposer;
      if (metrics_address.enabled) {
        auto started =
            StartMetricsEndpoint(metrics_address, std::make_shared<prometheus::Registry>());
        if (!started.ok()) {
          LOG(ERROR) << "--metrics-address: " << started.status().message();
          return 1;
        }
        exposer = *std::move(started);
        exposer->RegisterCollectable(collector);
        LOG(INFO) << "serving metrics on http://" << metrics_address.ToString() << "/metrics";
      }
      int signal_number = WaitForTerminationSignal();
      LOG(INFO) << "received signal " << signal_number;
      return 0;
    });
  };
  return command;
}

}  // namespace iscsi_csi
