#include "common/flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"

ABSL_FLAG(iscsi_csi::Endpoint, endpoint,
          (iscsi_csi::Endpoint{iscsi_csi::Endpoint::Kind::kUnix, "/run/csi/csi.sock", "", 0}),
          "Where the CSI gRPC server listens: unix:///path/to/csi.sock (a stale socket file left "
          "by a crashed process is removed at start) or tcp://host:port.");
ABSL_FLAG(std::string, driver_name, "iscsi-csi.io",
          "CSI driver name reported by GetPluginInfo; must match the CSIDriver object and the "
          "StorageClass provisioner (at most 63 characters, domain-name style).");
ABSL_FLAG(std::string, node_id, "",
          "Identity of this node as the CO knows it (node mode: required, e.g. the Kubernetes "
          "node name; controller mode: used in logs only).");
ABSL_FLAG(std::string, data_dir, "/var/lib/iscsi-csi",
          "Directory for durable state: the controller's catalogue and volume pool, the node "
          "plugin's staging records. Created if missing.");
ABSL_FLAG(iscsi_csi::ListenAddress, metrics_address, iscsi_csi::ListenAddress{},
          "Serve Prometheus metrics on http://ADDRESS/metrics, as host:port, [v6]:port or :port. "
          "Empty (the default) disables the metrics endpoint.");
ABSL_FLAG(iscsi_csi::LogLevel, log_level, iscsi_csi::LogLevel{},
          "Log detail: error, warning, info, debug (adds request bodies with secrets masked), "
          "trace (adds Probe calls), or a number N for info plus verbose level N.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "On SIGTERM/SIGINT, how long in-flight RPCs may run before they are cancelled "
          "(e.g. 30s, 2m).");

namespace iscsi_csi {

bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "error") {
    *level = {2, 0};
  } else if (lower == "warning" || lower == "warn") {
    *level = {1, 0};
  } else if (lower == "info") {
    *level = {0, 0};
  } else if (lower == "debug") {
    *level = {0, 4};
  } else if (lower == "trace") {
    *level = {0, 5};
  } else {
    int v = 0;
    if (!absl::SimpleAtoi(lower, &v) || v < 0 || v > 10) {
      *error = "want error, warning, info, debug, trace or a verbosity from 0 to 10";
      return false;
    }
    *level = {0, v};
  }
  return true;
}

std::string AbslUnparseFlag(const LogLevel& level) {
  if (level.min_severity >= 2) return "error";
  if (level.min_severity == 1) return "warning";
  if (level.verbosity == 0) return "info";
  return absl::StrCat(level.verbosity);
}

std::string ListenAddress::ToString() const {
  if (!enabled) return "";
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host.empty() ? "0.0.0.0" : host, ":", port);
}

bool AbslParseFlag(absl::string_view text, ListenAddress* address, std::string* error) {
  if (text.empty()) {
    *address = ListenAddress{};
    return true;
  }
  ListenAddress parsed;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "want [v6-address]:port";
      return false;
    }
    parsed.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      *error = "want host:port or :port";
      return false;
    }
    parsed.host = std::string(text.substr(0, colon));
    if (parsed.host.find(':') != std::string::npos) {
      *error = "IPv6 addresses need brackets: [::1]:port";
      return false;
    }
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    *error = absl::StrCat("port '", port_text, "' is not a number from 1 to 65535");
    return false;
  }
  parsed.port = static_cast<uint16_t>(port);
  parsed.enabled = true;
  *address = parsed;
  return true;
}

std::string AbslUnparseFlag(const ListenAddress& address) { return address.ToString(); }

absl::Status ValidateDriverName(absl::string_view name) {
  auto alnum = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("driver name must have 1 to 63 characters, not ", name.size()));
  }
  if (!alnum(name.front()) || !alnum(name.back())) {
    return absl::InvalidArgumentError("driver name must begin and end with a letter or digit");
  }
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("driver name may contain only letters, digits, '-' and '.', not '",
                       std::string(1, c), "'"));
    }
  }
  return absl::OkStatus();
}

void ApplyLogLevel(const LogLevel& level) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = level.min_severity;
  FLAGS_v = level.verbosity;
}

}  // namespace iscsi_csi
