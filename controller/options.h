// options: the controller's configuration, parsed from its command-line flags by a pure
// function (ParseControllerOptions) so that tests can check every rule without flags.
#ifndef ISCSI_CSI_CONTROLLER_OPTIONS_H_
#define ISCSI_CSI_CONTROLLER_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/params.h"
#include "target/target.h"

namespace iscsi_csi::controller {

struct ControllerOptions {
  std::string data_dir;                          // catalogue and pool
  std::vector<target::PortalAddress> listen;     // where the embedded target listens
  std::vector<target::PortalAddress> advertise;  // what volume contexts name; empty: `listen`
  std::optional<uint64_t> capacity_bytes;        // pool limit on provisioned bytes
  Topology topology;                             // empty: no accessibility constraints
  uint64_t default_volume_bytes = kDefaultVolumeBytes;
  // Target tuning (tests lower these).
  int io_threads = 0;
  int backing_threads = 0;
  int nop_in_interval_seconds = 15;
  int max_connections = 4096;  // TargetOptions::max_connections
};

// The raw flag values, as the command line gave them.
struct ControllerFlagValues {
  std::string data_dir;
  std::vector<std::string> portals;            // --portal (repeatable)
  std::vector<std::string> advertise_portals;  // --advertise-portal (repeatable)
  std::string capacity;                        // --capacity: "" or bytes or K/M/G/T
  std::vector<std::string> topology;           // --topology=KEY=VALUE (repeatable)
  int nop_in_interval = 15;                    // --nop-in-interval: seconds, 0 disables
  int max_connections = 4096;                  // --max-connections: 0 means no limit
};

// ParseControllerOptions validates the flags; InvalidArgument names the flag. A portal that
// listens on every interface (0.0.0.0, ::) needs --advertise-portal, since a volume context
// must name an address nodes can reach.
absl::StatusOr<ControllerOptions> ParseControllerOptions(const ControllerFlagValues& flags);

// AdvertisedPortals: the "host:port" strings volume contexts carry: --advertise-portal, or
// else the portals the target actually bound (`bound`, with kernel-chosen ports filled in).
std::vector<std::string> AdvertisedPortals(const ControllerOptions& options,
                                           const std::vector<target::PortalAddress>& bound);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_OPTIONS_H_
