#include "node/host/iscsiadm.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

absl::Status Malformed(absl::string_view what, absl::string_view line) {
  return absl::InvalidArgumentError(absl::StrCat("iscsiadm output: bad ", what, " in '", line, "'"));
}

// ParsePortalTag splits "10.0.0.5:3260,1" into the portal and the tag.
absl::Status ParsePortalTag(absl::string_view text, Portal* portal, int* tpgt) {
  size_t comma = text.rfind(',');
  absl::string_view address = text;
  int tag = 0;
  if (comma != absl::string_view::npos) {
    address = text.substr(0, comma);
    long long value = 0;
    if (!absl::SimpleAtoi(text.substr(comma + 1), &value)) return Malformed("portal tag", text);
    tag = static_cast<int>(value);
  }
  absl::StatusOr<Portal> parsed = ParsePortal(address);
  if (!parsed.ok()) return Malformed("portal", text);
  *portal = *parsed;
  if (tpgt != nullptr) *tpgt = tag;
  return absl::OkStatus();
}

// Value returns the text after "<key>:" with surrounding whitespace removed.
bool KeyValue(absl::string_view line, absl::string_view key, absl::string_view* value) {
  if (!absl::ConsumePrefix(&line, key)) return false;
  if (!absl::ConsumePrefix(&line, ":")) return false;
  *value = absl::StripAsciiWhitespace(line);
  return true;
}

// FirstToken returns the text up to the first whitespace.
absl::string_view FirstToken(absl::string_view text) {
  size_t end = text.find_first_of(" \t");
  return end == absl::string_view::npos ? text : text.substr(0, end);
}

Command IscsiadmCommand(std::vector<Arg> args) {
  Command command;
  command.argv.reserve(args.size() + 1);
  command.argv.push_back("iscsiadm");
  for (Arg& arg : args) command.argv.push_back(std::move(arg));
  return command;
}

std::vector<Arg> NodeSelector(const NodeRecordRef& node) {
  return {"-m", "node", "-T", node.target_iqn, "-p", node.portal.ToString(), "-I", node.iface};
}

}  // namespace

std::string Portal::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<Portal> ParsePortal(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  Portal portal;
  absl::string_view port_text;
  if (absl::ConsumePrefix(&text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close == 0) {
      return absl::InvalidArgumentError(absl::StrCat("portal '[", text, "' has no closing ']'"));
    }
    portal.host = std::string(text.substr(0, close));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!absl::ConsumePrefix(&rest, ":")) {
        return absl::InvalidArgumentError(absl::StrCat("portal '[", text, "' is malformed"));
      }
      port_text = rest;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != absl::string_view::npos && text.find(':', colon + 1) != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("portal '", text, "': put IPv6 addresses in brackets ([fd00::5]:3260)"));
    }
    portal.host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (portal.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("portal '", text, "' has no address"));
  }
  for (char c : portal.host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '%' && c != '_') {
      return absl::InvalidArgumentError(
          absl::StrCat("portal '", text, "' has a character an address cannot hold"));
    }
  }
  if (!port_text.empty()) {
    if (!absl::SimpleAtoi(port_text, &portal.port) || portal.port <= 0 || portal.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("portal '", text, "' has a bad port"));
    }
  }
  return portal;
}

absl::StatusOr<std::vector<Portal>> ParsePortalList(absl::string_view text) {
  std::vector<Portal> portals;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<Portal> portal = ParsePortal(item);
    if (!portal.ok()) return portal.status();
    portals.push_back(*std::move(portal));
  }
  if (portals.empty()) return absl::InvalidArgumentError("no portal given");
  return portals;
}

absl::StatusOr<std::vector<IscsiSession>> ParseSessionList(absl::string_view text) {
  std::vector<IscsiSession> sessions;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || absl::StartsWith(line, "iscsiadm:")) continue;
    // tcp: [1] 10.0.0.5:3260,1 iqn.2026-11.io.iscsi-csi:vol-1 (non-flash)
    std::vector<absl::string_view> tokens = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (tokens.size() < 4 || !absl::EndsWith(tokens[0], ":")) return Malformed("session line", line);
    IscsiSession session;
    session.transport = std::string(absl::StripSuffix(tokens[0], ":"));
    absl::string_view sid = tokens[1];
    if (!absl::ConsumePrefix(&sid, "[") || !absl::ConsumeSuffix(&sid, "]") ||
        !absl::SimpleAtoi(sid, &session.sid)) {
      return Malformed("session id", line);
    }
    if (absl::Status st = ParsePortalTag(tokens[2], &session.portal, &session.tpgt); !st.ok()) {
      return st;
    }
    session.target_iqn = std::string(tokens[3]);
    sessions.push_back(std::move(session));
  }
  return sessions;
}

absl::StatusOr<std::vector<IscsiSession>> ParseSessionTree(absl::string_view text) {
  std::vector<IscsiSession> sessions;
  std::string target;
  Portal current_portal, persistent_portal;
  int tpgt = 0;
  bool have_portal = false;
  auto start_session = [&]() -> IscsiSession& {
    IscsiSession session;
    session.target_iqn = target;
    session.portal = persistent_portal;
    session.tpgt = tpgt;
    sessions.push_back(std::move(session));
    return sessions.back();
  };
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    absl::string_view value;
    if (line.empty() || absl::StartsWith(line, "*") || absl::StartsWith(line, "iscsiadm:")) {
      continue;
    }
    if (KeyValue(line, "Target", &value)) {
      target = std::string(FirstToken(value));
      have_portal = false;
    } else if (KeyValue(line, "Current Portal", &value)) {
      if (absl::Status st = ParsePortalTag(value, &current_portal, &tpgt); !st.ok()) return st;
      if (!have_portal) persistent_portal = current_portal;
    } else if (KeyValue(line, "Persistent Portal", &value)) {
      if (absl::Status st = ParsePortalTag(value, &persistent_portal, &tpgt); !st.ok()) return st;
      have_portal = true;
    } else if (KeyValue(line, "Portal", &value)) {  // older -P 1 layout
      if (absl::Status st = ParsePortalTag(value, &persistent_portal, &tpgt); !st.ok()) return st;
      have_portal = true;
    } else if (KeyValue(line, "Iface Name", &value)) {
      start_session().iface = std::string(value);
    } else if (KeyValue(line, "Iface Transport", &value)) {
      if (!sessions.empty()) sessions.back().transport = std::string(value);
    } else if (KeyValue(line, "Iface Initiatorname", &value)) {
      if (!sessions.empty()) sessions.back().initiator_iqn = std::string(value);
    } else if (KeyValue(line, "SID", &value)) {
      IscsiSession* session = sessions.empty() || sessions.back().sid != 0 ? &start_session()
                                                                           : &sessions.back();
      if (!absl::SimpleAtoi(value, &session->sid)) return Malformed("SID", line);
    } else if (KeyValue(line, "iSCSI Connection State", &value)) {
      if (!sessions.empty()) sessions.back().connection_state = std::string(value);
    } else if (KeyValue(line, "iSCSI Session State", &value)) {
      if (!sessions.empty()) sessions.back().session_state = std::string(value);
    } else if (KeyValue(line, "Host Number", &value)) {
      if (!sessions.empty() && !absl::SimpleAtoi(FirstToken(value), &sessions.back().host_number)) {
        return Malformed("host number", line);
      }
    } else if (absl::StartsWith(line, "scsi") && absl::StrContains(line, " Channel ")) {
      // scsi2 Channel 00 Id 0 Lun: 0
      if (sessions.empty()) return Malformed("device outside a session", line);
      std::vector<absl::string_view> t = absl::StrSplit(line, ' ', absl::SkipEmpty());
      ScsiDevice device;
      if (t.size() != 7 || !absl::SimpleAtoi(t[0].substr(4), &device.host) ||
          !absl::SimpleAtoi(t[2], &device.channel) || !absl::SimpleAtoi(t[4], &device.id) ||
          !absl::SimpleAtoi(t[6], &device.lun)) {
        return Malformed("scsi device", line);
      }
      sessions.back().devices.push_back(device);
    } else if (absl::ConsumePrefix(&line, "Attached scsi disk ")) {
      // Attached scsi disk sdb		State: running
      if (sessions.empty() || sessions.back().devices.empty()) {
        return Malformed("disk outside a device", line);
      }
      ScsiDevice& device = sessions.back().devices.back();
      device.disk = std::string(FirstToken(line));
      size_t state = line.find("State:");
      if (state != absl::string_view::npos) {
        device.state = std::string(absl::StripAsciiWhitespace(line.substr(state + 6)));
      }
    }
  }
  return sessions;
}

absl::StatusOr<std::vector<NodeRecordRef>> ParseNodeTree(absl::string_view text) {
  std::vector<NodeRecordRef> records;
  std::string target;
  Portal portal;
  bool have_portal = false;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    absl::string_view value;
    if (KeyValue(line, "Target", &value)) {
      target = std::string(FirstToken(value));
      have_portal = false;
    } else if (KeyValue(line, "Portal", &value)) {
      if (absl::Status st = ParsePortalTag(value, &portal, nullptr); !st.ok()) return st;
      have_portal = true;
    } else if (KeyValue(line, "Iface Name", &value)) {
      if (target.empty() || !have_portal) return Malformed("record without target or portal", line);
      records.push_back(NodeRecordRef{target, portal, std::string(value)});
    }
  }
  return records;
}

std::map<std::string, std::string> ParseRecord(absl::string_view text) {
  std::map<std::string, std::string> record;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find(" = ");
    if (eq == absl::string_view::npos) continue;
    std::string value(absl::StripAsciiWhitespace(line.substr(eq + 3)));
    if (value == "<empty>") value.clear();
    record[std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))] = value;
  }
  return record;
}

Command BuildIfaceShowArgs(absl::string_view iface) {
  return IscsiadmCommand({"-m", "iface", "-I", iface});
}
Command BuildIfaceNewArgs(absl::string_view iface) {
  return IscsiadmCommand({"-m", "iface", "-I", iface, "-o", "new"});
}
Command BuildIfaceUpdateArgs(absl::string_view iface, absl::string_view key,
                             absl::string_view value) {
  return IscsiadmCommand({"-m", "iface", "-I", iface, "-o", "update", "-n", key, "-v", value});
}
Command BuildNodeNewArgs(const NodeRecordRef& node) {
  std::vector<Arg> args = NodeSelector(node);
  args.insert(args.end(), {"-o", "new"});
  return IscsiadmCommand(std::move(args));
}
Command BuildNodeUpdateArgs(const NodeRecordRef& node, absl::string_view key, Arg value) {
  std::vector<Arg> args = NodeSelector(node);
  args.insert(args.end(), {"-o", "update", "-n", key, "-v"});
  args.push_back(std::move(value));
  return IscsiadmCommand(std::move(args));
}
Command BuildLoginArgs(const NodeRecordRef& node) {
  std::vector<Arg> args = NodeSelector(node);
  args.push_back("--login");
  return IscsiadmCommand(std::move(args));
}
Command BuildLogoutArgs(const NodeRecordRef& node) {
  std::vector<Arg> args = NodeSelector(node);
  args.push_back("--logout");
  return IscsiadmCommand(std::move(args));
}
Command BuildNodeDeleteArgs(const NodeRecordRef& node) {
  std::vector<Arg> args = NodeSelector(node);
  args.insert(args.end(), {"-o", "delete"});
  return IscsiadmCommand(std::move(args));
}
Command BuildSessionListArgs() { return IscsiadmCommand({"-m", "session", "-P", "3"}); }
Command BuildNodeListArgs() { return IscsiadmCommand({"-m", "node", "-P", "1"}); }
Command BuildSessionRescanArgs(int sid) {
  return IscsiadmCommand({"-m", "session", "-r", absl::StrCat(sid), "-R"});
}

absl::string_view IscsiadmExitName(int exit_code) {
  static constexpr absl::string_view kNames[] = {
      "ISCSI_SUCCESS",            "ISCSI_ERR",
      "ISCSI_ERR_SESS_NOT_FOUND", "ISCSI_ERR_NOMEM",
      "ISCSI_ERR_TRANS",          "ISCSI_ERR_LOGIN",
      "ISCSI_ERR_IDBM",           "ISCSI_ERR_INVAL",
      "ISCSI_ERR_TRANS_TIMEOUT",  "ISCSI_ERR_INTERNAL",
      "ISCSI_ERR_LOGOUT",         "ISCSI_ERR_PDU_TIMEOUT",
      "ISCSI_ERR_TRANS_NOT_FOUND", "ISCSI_ERR_ACCESS",
      "ISCSI_ERR_TRANS_CAPS",     "ISCSI_ERR_SESS_EXISTS",
      "ISCSI_ERR_INVALID_MGMT_REQ", "ISCSI_ERR_ISNS_UNAVAILABLE",
      "ISCSI_ERR_ISCSID_COMM_ERR", "ISCSI_ERR_FATAL_LOGIN",
      "ISCSI_ERR_ISCSID_NOTCONN", "ISCSI_ERR_NO_OBJS_FOUND",
      "ISCSI_ERR_SYSFS_LOOKUP",   "ISCSI_ERR_HOST_NOT_FOUND",
      "ISCSI_ERR_LOGIN_AUTH_FAILED", "ISCSI_ERR_ISNS_QUERY",
      "ISCSI_ERR_ISNS_REG_FAILED", "ISCSI_ERR_OP_NOT_SUPP",
      "ISCSI_ERR_BUSY",           "ISCSI_ERR_AGAIN",
      "ISCSI_ERR_UNKNOWN_DISCOVERY_TYPE", "ISCSI_ERR_CHILD_TERMINATED",
      "ISCSI_ERR_SESSION_NOT_CONNECTED",
  };
  if (exit_code < 0 || exit_code >= static_cast<int>(std::size(kNames))) return "";
  return kNames[exit_code];
}

absl::Status IscsiadmError(absl::string_view step, const CommandResult& result) {
  const int code = result.exit_code;
  const std::string detail =
      absl::StrCat(step, ": iscsiadm exited ", code,
                   IscsiadmExitName(code).empty() ? "" : absl::StrCat(" (", IscsiadmExitName(code), ")"));
  const std::string said = Summarize(result.stderr_text);
  const std::string tail = said.empty() ? "" : absl::StrCat(": ", said);
  // Without the iscsi_tcp module iscsiadm fails even record updates, with exit 7 or 12.
  if (absl::StrContains(result.stderr_text, "Could not insert module") ||
      absl::StrContains(result.stderr_text, "locate transport")) {
    return absl::FailedPreconditionError(absl::StrCat(
        detail, ": the iscsi_tcp kernel module is not loaded on this host (modprobe iscsi_tcp)",
        tail));
  }
  switch (code) {
    case 24:
      return absl::UnauthenticatedError(absl::StrCat(
          detail, ": the target refused the CHAP credentials or this node (iSCSI "
                  "authorization failure); check that the volume is published to this node "
                  "(ControllerPublishVolume) and that the chapUser/chapSecret (and "
                  "chapTargetUser/chapTargetSecret) in the publish context match the target's "
                  "CHAP settings for this volume"));
    case 19:
      return absl::FailedPreconditionError(absl::StrCat(
          detail, ": the login failed for good (no such target, this node's initiator is not "
                  "in its ACL, or the target failed mutual CHAP); check that "
                  "ControllerPublishVolume ran for this node and that chapTargetUser/"
                  "chapTargetSecret in the publish context match the target's",
          tail));
    case 4:
    case 5:
    case 8:
    case 11:
    case 28:
    case 29:
      return absl::UnavailableError(absl::StrCat(
          detail, ": could not reach the target (check the portal address, the network and that "
                  "the controller is running)",
          tail));
    case 12:
      return absl::FailedPreconditionError(absl::StrCat(
          detail, ": the iscsi_tcp kernel module is not loaded on this host (modprobe iscsi_tcp)",
          tail));
    case 18:
    case 20:
      return absl::FailedPreconditionError(absl::StrCat(
          detail, ": cannot talk to iscsid on this host (install open-iscsi and start iscsid)",
          tail));
    case 13:
      return absl::PermissionDeniedError(absl::StrCat(
          detail, ": not allowed (the node plugin must run as root in a privileged container)",
          tail));
    case 2:
    case 21:
      return absl::NotFoundError(absl::StrCat(detail, tail));
    case 15:
      return absl::AlreadyExistsError(absl::StrCat(detail, tail));
    default:
      return absl::InternalError(absl::StrCat(detail, tail));
  }
}

Iscsiadm::Iscsiadm(CommandRunner& runner, absl::Duration timeout)
    : runner_(runner), timeout_(timeout) {}

absl::StatusOr<CommandResult> Iscsiadm::Run(Command command) {
  command.timeout = timeout_;
  return runner_.Run(command);
}

absl::Status Iscsiadm::RunExpectingSuccess(Command command, absl::string_view step,
                                           int also_ok_exit) {
  absl::StatusOr<CommandResult> result = Run(std::move(command));
  if (!result.ok()) return result.status();
  if (result->exit_code == 0 || result->exit_code == also_ok_exit) return absl::OkStatus();
  return IscsiadmError(step, *result);
}

absl::Status Iscsiadm::EnsureIface(absl::string_view iface, absl::string_view initiator_iqn) {
  absl::StatusOr<CommandResult> shown = Run(BuildIfaceShowArgs(iface));
  if (!shown.ok()) return shown.status();
  std::string current;
  if (shown->exit_code == 0) {
    current = ParseRecord(shown->stdout_text)["iface.initiatorname"];
  } else if (shown->exit_code == kIscsiErrIdbm || shown->exit_code == kIscsiErrNoObjectsFound) {
    LOG(INFO) << "creating open-iscsi iface " << iface << " for initiator " << initiator_iqn;
    if (absl::Status st = RunExpectingSuccess(BuildIfaceNewArgs(iface),
                                              absl::StrCat("create iface ", iface));
        !st.ok()) {
      return st;
    }
  } else {
    return IscsiadmError(absl::StrCat("read iface ", iface), *shown);
  }
  if (current == initiator_iqn) return absl::OkStatus();
  return RunExpectingSuccess(BuildIfaceUpdateArgs(iface, "iface.initiatorname", initiator_iqn),
                             absl::StrCat("set initiator name of iface ", iface));
}

absl::Status Iscsiadm::EnsureNodeRecord(const NodeRecordRef& node, const ChapCredentials& chap) {
  const std::string step = absl::StrCat("node record ", node.target_iqn, " ", node.portal.ToString());
  if (absl::Status st = RunExpectingSuccess(BuildNodeNewArgs(node), step); !st.ok()) return st;
  std::vector<std::pair<std::string, Arg>> settings = {
      {"node.startup", Arg("manual")},
      {"node.conn[0].startup", Arg("manual")},
  };
  if (chap.enabled()) {
    settings.push_back({"node.session.auth.authmethod", Arg("CHAP")});
    settings.push_back({"node.session.auth.username", Arg(chap.user)});
    settings.push_back({"node.session.auth.password", Secret(chap.secret)});
    if (chap.mutual()) {
      settings.push_back({"node.session.auth.username_in", Arg(chap.target_user)});
      settings.push_back({"node.session.auth.password_in", Secret(chap.target_secret)});
    }
  } else {
    settings.push_back({"node.session.auth.authmethod", Arg("None")});
  }
  for (auto& [key, value] : settings) {
    if (absl::Status st = RunExpectingSuccess(BuildNodeUpdateArgs(node, key, std::move(value)),
                                              absl::StrCat(step, ": set ", key));
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status Iscsiadm::Login(const NodeRecordRef& node) {
  return RunExpectingSuccess(
      BuildLoginArgs(node),
      absl::StrCat("login to ", node.target_iqn, " at ", node.portal.ToString()),
      kIscsiErrSessionExists);
}

absl::Status Iscsiadm::Logout(const NodeRecordRef& node) {
  return RunExpectingSuccess(
      BuildLogoutArgs(node),
      absl::StrCat("logout from ", node.target_iqn, " at ", node.portal.ToString()),
      kIscsiErrNoObjectsFound);
}

absl::Status Iscsiadm::DeleteNodeRecord(const NodeRecordRef& node) {
  return RunExpectingSuccess(
      BuildNodeDeleteArgs(node),
      absl::StrCat("delete node record ", node.target_iqn, " ", node.portal.ToString()),
      kIscsiErrNoObjectsFound);
}

absl::StatusOr<std::vector<IscsiSession>> Iscsiadm::ListSessions() {
  absl::StatusOr<CommandResult> result = Run(BuildSessionListArgs());
  if (!result.ok()) return result.status();
  if (result->exit_code == kIscsiErrNoObjectsFound) return std::vector<IscsiSession>{};
  if (result->exit_code != 0) return IscsiadmError("list sessions", *result);
  return ParseSessionTree(result->stdout_text);
}

absl::StatusOr<std::vector<NodeRecordRef>> Iscsiadm::ListNodeRecords() {
  absl::StatusOr<CommandResult> result = Run(BuildNodeListArgs());
  if (!result.ok()) return result.status();
  if (result->exit_code == kIscsiErrNoObjectsFound) return std::vector<NodeRecordRef>{};
  if (result->exit_code != 0) return IscsiadmError("list node records", *result);
  return ParseNodeTree(result->stdout_text);
}

absl::Status Iscsiadm::RescanSession(int sid) {
  return RunExpectingSuccess(BuildSessionRescanArgs(sid), absl::StrCat("rescan session ", sid));
}

}  // namespace iscsi_csi::node
