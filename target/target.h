// target.h: the facade of the embedded iSCSI target, used by the controller at run time and by
// the standalone `iscsi-csi target` entry point. Everything is configured through this API, with
// no restart and no configuration file: targets (one per volume in the controller's shape),
// their LUNs over sparse backing files, which initiators may see and log in to them, and their
// CHAP credentials. The facade owns the portals (listening sockets), the I/O event loops, the
// sessions and the backing-store worker pool.
//
// Thread safety: every method may be called from any thread at any time while the target runs.
#ifndef ISCSI_CSI_TARGET_TARGET_H_
#define ISCSI_CSI_TARGET_TARGET_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "target/stats.h"
#include "target/negotiation.h"

namespace iscsi_csi::target {

namespace backend {
class BlockStore;
}  // namespace backend
struct LunConfig;

// A TCP address to listen on: IPv4 ("127.0.0.1"), IPv6 without brackets ("::1"), or empty for
// all interfaces. Port 0 lets the kernel choose (see Target::portals()).
struct PortalAddress {
  std::string host;
  uint16_t port = 3260;
  std::string ToString() const;  // "127.0.0.1:3260", "[::1]:3260"
  friend bool operator==(const PortalAddress&, const PortalAddress&) = default;
};
// ParsePortalAddress accepts "host:port", "[v6]:port", "host" (port 3260).
absl::StatusOr<PortalAddress> ParsePortalAddress(absl::string_view text);

struct TargetOptions {
  std::vector<PortalAddress> portals = {PortalAddress{"127.0.0.1", 3260}};
  // Event-loop threads for network I/O (sessions are spread over them; no thread per
  // connection). 0 picks min(number of cores, 4).
  int io_threads = 0;
  // Threads running backing-store I/O. 0 picks a default from the number of cores.
  int backing_threads = 0;
  // Our negotiation limits and preferences.
  TargetPolicy policy;
  // Portal group tag announced in logins and SendTargets.
  uint16_t portal_group_tag = 1;
  // Seconds of silence on a full-feature connection before a NOP-In ping; a second interval
  // without any answer closes the connection (dead-peer detection). 0 disables.
  int nop_in_interval_seconds = 15;
  // What a connection may buffer before it stops reading from its socket (back-pressure).
  uint32_t max_connection_buffer_bytes = 16u << 20;
  // A connection that has not finished its login by then is closed (initiators give up after
  // 15-30 s themselves).
  absl::Duration login_timeout = absl::Seconds(30);
  // Connections open at once, logged in or not. Past it new connections are accepted and
  // closed at once, so that a flood of idle sockets cannot use up memory (about 70 KiB each)
  // or file descriptors. 0: no limit.
  int max_connections = 4096;
  // Test hook (unset in production): AddLun hands every LUN's opened backing store to it and
  // exports what it returns, so tests can put a fault-injecting store under the whole stack.
  std::function<std::shared_ptr<backend::BlockStore>(absl::string_view iqn, const LunConfig& config,
                                                     std::shared_ptr<backend::BlockStore> store)>
      wrap_store_for_test;
};

struct TargetConfig {
  std::string iqn;    // iqn./eui./naa. name, validated
  std::string alias;  // TargetAlias, may be empty
};

struct LunConfig {
  uint64_t lun = 0;
  std::string backing_file;  // created sparse at size_bytes when missing
  uint64_t size_bytes = 0;   // 0: use the existing file's size (it must exist)
  uint32_t block_size = 512; // 512 or 4096; size_bytes must be a multiple
  bool read_only = false;
  std::string serial;                 // VPD 0x80 unit serial number
  std::array<uint8_t, 16> naa_wwn{};  // VPD 0x83 NAA IEEE Registered Extended (first nibble 6)
};

// Which initiators may discover and log in to a target.
struct InitiatorAcl {
  bool allow_all = true;                // true: every initiator (the standalone default)
  std::set<std::string> initiators;    // used when !allow_all; empty admits nobody
};

struct ChapSecretPair {
  std::string user;
  std::string secret;  // never logged
};

struct TargetChap {
  // Credentials the initiator must present (one-way CHAP); nullopt: no authentication.
  std::optional<ChapSecretPair> initiator;
  // Credentials we present when the initiator asks for mutual CHAP; needs `initiator`.
  std::optional<ChapSecretPair> target;
};

struct SessionInfo {
  std::string target_iqn;      // empty for discovery sessions
  std::string initiator_name;
  std::string isid;            // 12 hex digits
  uint16_t tsih = 0;
  std::string peer;            // "address:port" of the initiator
  bool discovery = false;
};

class Target {
 public:
  // Start binds every portal and starts the event loops. Fails when a portal cannot be bound.
  static absl::StatusOr<std::unique_ptr<Target>> Start(TargetOptions options);

  // Stops (see Stop) and releases everything.
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  // Stop closes the portals and every connection, waits for backing I/O in flight, and joins
  // the threads. Idempotent.
  void Stop();

  // The bound portals, with the actual ports when port 0 was requested.
  std::vector<PortalAddress> portals() const;

  // AddTarget creates an empty target (no LUNs, allow_all ACL, no CHAP). AlreadyExists when
  // the IQN is taken; InvalidArgument for a malformed name.
  absl::Status AddTarget(const TargetConfig& config);
  // RemoveTarget closes the target's sessions and releases its LUNs (their files stay).
  // NotFound when unknown.
  absl::Status RemoveTarget(absl::string_view iqn);

  // AddLun opens (or creates sparse) the backing file and exports it. AlreadyExists for a
  // used LUN number; the target's sessions get REPORTED LUNS DATA HAS CHANGED.
  absl::Status AddLun(absl::string_view iqn, const LunConfig& config);
  // RemoveLun aborts the LUN's tasks, waits for them, and stops exporting it.
  absl::Status RemoveLun(absl::string_view iqn, uint64_t lun);
  // ResizeLun grows the backing file (shrinking is refused: OutOfRange), raises CAPACITY DATA
  // HAS CHANGED for every nexus and an Async Message to logged-in sessions.
  absl::Status ResizeLun(absl::string_view iqn, uint64_t lun, uint64_t new_size_bytes);

  // SetInitiatorAcl replaces the target's ACL; sessions of initiators no longer admitted are
  // closed.
  absl::Status SetInitiatorAcl(absl::string_view iqn, const InitiatorAcl& acl);
  // SetChap replaces the target's CHAP settings (validated: secret lengths, mutual needs
  // one-way). Existing sessions stay; new logins use the new settings.
  absl::Status SetChap(absl::string_view iqn, const TargetChap& chap);

  std::vector<SessionInfo> ListSessions() const;
  // Stats: counters since Start (logins, task management, digest errors, dropped
  // connections) and each exported target's SCSI commands, errors, bytes and latency.
  TargetStats::Snapshot Stats() const;
  // CloseSessions closes the sessions of `initiator_name` (to target `iqn`, or to every
  // target when `iqn` is empty) and returns how many were closed.
  int CloseSessions(absl::string_view iqn, absl::string_view initiator_name);

 private:
  class Impl;
  explicit Target(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_TARGET_H_
