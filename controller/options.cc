#include "controller/options.h"

#include "absl/strings/str_cat.h"
#include "target/standalone/standalone.h"

namespace iscsi_csi::controller {
namespace {

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

absl::StatusOr<std::vector<target::PortalAddress>> ParsePortals(
    const std::vector<std::string>& items, absl::string_view flag) {
  std::vector<target::PortalAddress> out;
  for (const std::string& item : items) {
    absl::StatusOr<target::PortalAddress> portal = target::ParsePortalAddress(item);
    if (!portal.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid value '", item, "' for flag --", flag,
                                                     ": ", portal.status().message()));
    }
    out.push_back(*portal);
  }
  return out;
}

}  // namespace

absl::StatusOr<ControllerOptions> ParseControllerOptions(const ControllerFlagValues& flags) {
  ControllerOptions options;
  options.data_dir = flags.data_dir;
  absl::StatusOr<std::vector<target::PortalAddress>> listen = ParsePortals(flags.portals, "portal");
  if (!listen.ok()) return listen.status();
  if (listen->empty()) return absl::InvalidArgumentError("flag --portal: at least one is required");
  options.listen = *std::move(listen);

  absl::StatusOr<std::vector<target::PortalAddress>> advertise =
      ParsePortals(flags.advertise_portals, "advertise-portal");
  if (!advertise.ok()) return advertise.status();
  for (const target::PortalAddress& portal : *advertise) {
    if (IsWildcard(portal.host) || portal.port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid value '", portal.ToString(),
                       "' for flag --advertise-portal: nodes need a concrete address and port"));
    }
  }
  options.advertise = *std::move(advertise);
  if (options.advertise.empty()) {
    for (const target::PortalAddress& portal : options.listen) {
      if (IsWildcard(portal.host)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "flag --portal: ", portal.ToString(),
            " listens on every interface; give --advertise-portal with the address nodes use"));
      }
    }
  }

  if (!flags.capacity.empty()) {
    absl::StatusOr<uint64_t> bytes = target::ParseSize(flags.capacity);
    if (!bytes.ok() || *bytes == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid value '", flags.capacity,
                       "' for flag --capacity: want a positive size in bytes or with K, M, G, T"));
    }
    options.capacity_bytes = *bytes;
  }

  absl::StatusOr<Topology> topology = ParseTopology(flags.topology);
  if (!topology.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --topology: ", topology.status().message()));
  }
  options.topology = *std::move(topology);

  if (flags.nop_in_interval < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value '", flags.nop_in_interval,
                                                   "' for flag --nop-in-interval: must be >= 0"));
  }
  options.nop_in_interval_seconds = flags.nop_in_interval;
  if (flags.max_connections < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value '", flags.max_connections,
                                                   "' for flag --max-connections: must be >= 0"));
  }
  options.max_connections = flags.max_connections;
  return options;
}

std::vector<std::string> AdvertisedPortals(const ControllerOptions& options,
                                           const std::vector<target::PortalAddress>& bound) {
  std::vector<std::string> out;
  for (const target::PortalAddress& portal :
       options.advertise.empty() ? bound : options.advertise) {
    out.push_back(portal.ToString());
  }
  return out;
}

}  // namespace iscsi_csi::controller
