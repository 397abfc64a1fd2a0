// flags: the flags every mode of iscsi-csi shares, their value types and validation.
// On the command line they are spelled with dashes (--driver-name); Abseil names use
// underscores (FLAGS_driver_name). common/cli translates.
#ifndef ISCSI_CSI_COMMON_FLAGS_H_
#define ISCSI_CSI_COMMON_FLAGS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/endpoint.h"

namespace iscsi_csi {

// LogLevel: "error", "warning", "info", "debug" (= info + VLOG 4: request bodies, redacted),
// "trace" (= VLOG 5: Probe too), or a number N meaning info + VLOG N.
struct LogLevel {
  int min_severity = 0;  // glog severity: 0 INFO, 1 WARNING, 2 ERROR
  int verbosity = 0;     // glog VLOG level
};
bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error);
std::string AbslUnparseFlag(const LogLevel& level);

// ListenAddress: "host:port", "[v6]:port" or ":port" (all interfaces); empty disables.
struct ListenAddress {
  std::string host;  // empty: all interfaces
  uint16_t port = 0;
  bool enabled = false;
  std::string ToString() const;  // "host:port" as prometheus-cpp's Exposer takes it
};
bool AbslParseFlag(absl::string_view text, ListenAddress* address, std::string* error);
std::string AbslUnparseFlag(const ListenAddress& address);

// ValidateDriverName applies the CSI rule for GetPluginInfo.name: at most 63 characters,
// alphanumerics at both ends, and only alphanumerics, '-' and '.' in between.
absl::Status ValidateDriverName(absl::string_view name);

// ApplyLogLevel configures glog (stderr, severity threshold, verbosity).
void ApplyLogLevel(const LogLevel& level);

}  // namespace iscsi_csi

ABSL_DECLARE_FLAG(iscsi_csi::Endpoint, endpoint);
ABSL_DECLARE_FLAG(std::string, driver_name);
ABSL_DECLARE_FLAG(std::string, node_id);
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(iscsi_csi::ListenAddress, metrics_address);
ABSL_DECLARE_FLAG(iscsi_csi::LogLevel, log_level);
ABSL_DECLARE_FLAG(absl::Duration, shutdown_grace);

#endif  // ISCSI_CSI_COMMON_FLAGS_H_
