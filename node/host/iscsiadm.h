// iscsiadm: everything the node plugin asks of open-iscsi, as argv builders, the exit-code table
// (open-iscsi include/iscsi_err.h, iscsiadm(8) EXIT STATUS) mapped to status codes, and pure
// parsers of iscsiadm's output, tested on captured output in tests/testdata/node/.
//
// Every record and session this plugin creates goes through its own iface record (kIscsiIface)
// whose iface.initiatorname is derived from the node id, so the host's initiatorname.iscsi and
// any session an administrator made by hand are never touched.
#ifndef ISCSI_CSI_NODE_HOST_ISCSIADM_H_
#define ISCSI_CSI_NODE_HOST_ISCSIADM_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node/host/command_runner.h"

namespace iscsi_csi::node {

// iscsiadm exit codes the plugin treats specially (include/iscsi_err.h).
inline constexpr int kIscsiErrSessionNotFound = 2;
inline constexpr int kIscsiErrIdbm = 6;
inline constexpr int kIscsiErrSessionExists = 15;
inline constexpr int kIscsiErrNoObjectsFound = 21;
inline constexpr int kIscsiErrLoginAuthFailed = 24;

// Portal: "10.0.0.5:3260" or "[fd00::5]:3260".
struct Portal {
  std::string host;  // without brackets
  int port = 3260;
  // ToString: the form iscsiadm -p takes and prints.
  std::string ToString() const;
  friend bool operator==(const Portal& a, const Portal& b) {
    return a.host == b.host && a.port == b.port;
  }
};

// ParsePortal accepts "host", "host:port", "[v6]" and "[v6]:port" (default port 3260).
absl::StatusOr<Portal> ParsePortal(absl::string_view text);
// ParsePortalList parses a comma-separated list (the volume context's "portals").
absl::StatusOr<std::vector<Portal>> ParsePortalList(absl::string_view text);

// One attached SCSI device of a session (-P 3).
struct ScsiDevice {
  int host = -1;
  int channel = 0;
  int id = 0;
  int lun = 0;
  std::string disk;   // "sdb"; empty when not attached as a disk
  std::string state;  // "running"
};

struct IscsiSession {
  int sid = 0;
  std::string transport;
  std::string target_iqn;
  Portal portal;  // persistent portal: what the node record says
  int tpgt = 0;
  std::string iface;
  std::string initiator_iqn;
  std::string connection_state;  // "LOGGED IN"
  std::string session_state;     // "LOGGED_IN", "FAILED", "FREE"
  int host_number = -1;
  std::vector<ScsiDevice> devices;
};

// A node record (one target at one portal through one iface).
struct NodeRecordRef {
  std::string target_iqn;
  Portal portal;
  std::string iface;
};

// ParseSessionList parses `iscsiadm -m session` (one session a line).
absl::StatusOr<std::vector<IscsiSession>> ParseSessionList(absl::string_view text);
// ParseSessionTree parses `iscsiadm -m session -P 1|2|3`.
absl::StatusOr<std::vector<IscsiSession>> ParseSessionTree(absl::string_view text);
// ParseNodeTree parses `iscsiadm -m node -P 1`.
absl::StatusOr<std::vector<NodeRecordRef>> ParseNodeTree(absl::string_view text);
// ParseRecord parses "key = value" lines of `iscsiadm -m iface -I x` or `-m node -T ...`;
// "<empty>" becomes "".
std::map<std::string, std::string> ParseRecord(absl::string_view text);

// CHAP settings for a node record; empty `user` means no authentication.
struct ChapCredentials {
  std::string user;
  std::string secret;
  std::string target_user;  // mutual CHAP when set
  std::string target_secret;
  bool enabled() const { return !user.empty(); }
  bool mutual() const { return !target_user.empty(); }
};

// Argv builders (pure; the timeout is the caller's).
Command BuildIfaceShowArgs(absl::string_view iface);
Command BuildIfaceNewArgs(absl::string_view iface);
Command BuildIfaceUpdateArgs(absl::string_view iface, absl::string_view key, absl::string_view value);
Command BuildNodeNewArgs(const NodeRecordRef& node);
Command BuildNodeUpdateArgs(const NodeRecordRef& node, absl::string_view key, Arg value);
Command BuildLoginArgs(const NodeRecordRef& node);
Command BuildLogoutArgs(const NodeRecordRef& node);
Command BuildNodeDeleteArgs(const NodeRecordRef& node);
Command BuildSessionListArgs();
Command BuildNodeListArgs();
Command BuildSessionRescanArgs(int sid);

// IscsiadmExitName: "ISCSI_ERR_LOGIN_AUTH_FAILED" for 24, "" when unknown.
absl::string_view IscsiadmExitName(int exit_code);
// IscsiadmError maps a failed iscsiadm run to a status whose message tells the operator what to
// fix: 24 Unauthenticated, 4/5/8/11/29 Unavailable (portal unreachable), 12/18/20
// FailedPrecondition (host set-up), 19 FailedPrecondition (login failed for good: no target, not
// in the ACL, or the target failed mutual CHAP), 13 PermissionDenied, 2/21 NotFound, 15
// AlreadyExists, others Internal.
absl::Status IscsiadmError(absl::string_view step, const CommandResult& result);

class Iscsiadm {
 public:
  Iscsiadm(CommandRunner& runner, absl::Duration timeout);

  // EnsureIface creates the iface record when missing and sets its initiator name.
  absl::Status EnsureIface(absl::string_view iface, absl::string_view initiator_iqn);
  // EnsureNodeRecord creates (or resets) the record for `node` with node.startup=manual and the
  // CHAP settings (none when `chap` is not enabled). Secrets travel as Secret() arguments.
  absl::Status EnsureNodeRecord(const NodeRecordRef& node, const ChapCredentials& chap);
  // Login logs in; OK when a session already exists (exit 15).
  absl::Status Login(const NodeRecordRef& node);
  // Logout logs out; OK when there is no session (exit 21).
  absl::Status Logout(const NodeRecordRef& node);
  // DeleteNodeRecord deletes the record; OK when there is none (exit 21).
  absl::Status DeleteNodeRecord(const NodeRecordRef& node);
  // ListSessions runs `-m session -P 3`; no sessions (exit 21) is an empty list.
  absl::StatusOr<std::vector<IscsiSession>> ListSessions();
  // ListNodeRecords runs `-m node -P 1`; no records (exit 21) is an empty list.
  absl::StatusOr<std::vector<NodeRecordRef>> ListNodeRecords();
  // RescanSession asks the kernel to rescan the session's LUNs (new sizes, new LUNs).
  absl::Status RescanSession(int sid);

 private:
  absl::StatusOr<CommandResult> Run(Command command);
  absl::Status RunExpectingSuccess(Command command, absl::string_view step,
                                   int also_ok_exit = -1);

  CommandRunner& runner_;
  const absl::Duration timeout_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_ISCSIADM_H_
