#include "tests/e2e/guest_harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/volume_context.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace iscsi_csi::e2e {
namespace {

using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;
using ::iscsi_csi::testing::ProcessResult;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& text, size_t max_lines) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  const size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  return absl::StrJoin(lines.begin() + static_cast<std::ptrdiff_t>(from), lines.end(), "\n");
}

std::string Describe(const ProcessResult& result) {
  if (result.signaled) return absl::StrCat("killed by signal ", result.term_signal);
  return absl::StrCat("exit ", result.exit_code);
}

// The paths kubelet would use for a volume (the plugin only needs them to be absolute).
std::string StagingPathFor(const std::string& name, bool block) {
  return block ? absl::StrCat("/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/staging/",
                              name)
               : absl::StrCat("/var/lib/kubelet/plugins/kubernetes.io/csi/iscsi-csi.io/", name,
                              "/globalmount");
}

std::string TargetPathFor(const std::string& name, bool block) {
  return block ? absl::StrCat("/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/",
                              name, "/pod-e2e")
               : absl::StrCat("/var/lib/kubelet/pods/pod-e2e/volumes/kubernetes.io~csi/", name,
                              "/mount");
}

// WithPath resolves a bare program name the way a shell would (RunProcess does not search).
std::vector<std::string> WithPath(std::vector<std::string> argv) {
  if (argv.empty() || argv[0].find('/') != std::string::npos) return argv;
  for (absl::string_view dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    std::string candidate = absl::StrCat(dir, "/", argv[0]);
    if (access(candidate.c_str(), X_OK) == 0) {
      argv[0] = candidate;
      break;
    }
  }
  return argv;
}

}  // namespace

std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
}

::testing::AssertionResult Succeeded(const grpc::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << CodeName(status) << ": " << status.error_message();
}

::testing::AssertionResult Succeeded(const absl::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

void Note(absl::string_view text) {
  static const absl::Time start = absl::Now();
  std::cout << "[e2e " << absl::StrFormat("%7.1f", absl::ToDoubleSeconds(absl::Now() - start))
            << "s] " << text << std::endl;
}

ProcessResult Exec(const std::vector<std::string>& argv, absl::Duration timeout) {
  ProcessResult result = ::iscsi_csi::testing::RunProcess(WithPath(argv), timeout);
  if (result.signaled || result.exit_code != 0) {
    Note(absl::StrCat("$ ", absl::StrJoin(argv, " "), " -> ", Describe(result), "\n",
                      Tail(result.stdout_text, 20), Tail(result.stderr_text, 20)));
  }
  return result;
}

ProcessResult Shell(const std::string& script, absl::Duration timeout) {
  return Exec({"/bin/sh", "-c", script}, timeout);
}

// --- Plugin -----------------------------------------------------------------------------------

Plugin::Plugin(std::string mode, std::vector<std::string> flags, std::string socket_path,
               std::string log_prefix)
    : mode_(std::move(mode)),
      flags_(std::move(flags)),
      socket_path_(std::move(socket_path)),
      log_prefix_(std::move(log_prefix)) {}

Plugin::~Plugin() {
  if (child_ != nullptr) (void)Kill(SIGTERM);
}

absl::Status Plugin::Start(absl::Duration timeout) {
  if (child_ != nullptr) return absl::FailedPreconditionError(mode_ + " is already running");
  std::vector<std::string> argv = {BinaryPath(), mode_, "--endpoint=unix://" + socket_path_};
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  ++starts_;
  child_ = std::make_unique<ChildProcess>(argv, absl::StrCat(log_prefix_, ".", starts_, ".log"));
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    // A fresh channel per attempt: one that saw the socket refuse would wait out its backoff.
    channel_ = grpc::CreateChannel("unix://" + socket_path_, grpc::InsecureChannelCredentials());
    auto identity = csi::v1::Identity::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    csi::v1::ProbeResponse probe;
    if (identity->Probe(&context, {}, &probe).ok() && probe.ready().value()) {
      Note(absl::StrCat(mode_, " (start ", starts_, ", pid ", child_->pid(), ") is ready"));
      return absl::OkStatus();
    }
    if (std::optional<ProcessResult> exited = child_->Wait(absl::ZeroDuration())) {
      child_.reset();
      return absl::InternalError(absl::StrCat(mode_, " exited during start-up (", Describe(*exited),
                                              "): ", Tail(exited->stderr_text, 30)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(mode_, " did not report ready within ", absl::FormatDuration(timeout)));
}

absl::Status Plugin::Kill(int signal_number) {
  if (child_ == nullptr) return absl::OkStatus();
  Note(absl::StrCat("sending signal ", signal_number, " to ", mode_, " (pid ", child_->pid(), ")"));
  child_->Signal(signal_number);
  std::optional<ProcessResult> exited = child_->Wait(absl::Seconds(60));
  if (!exited.has_value()) {
    child_->Signal(SIGKILL);
    exited = child_->Wait(absl::Seconds(10));
  }
  child_.reset();
  channel_.reset();
  if (!exited.has_value()) return absl::InternalError(mode_ + " did not exit");
  return absl::OkStatus();
}

std::string Plugin::LogTail(size_t max_lines) const {
  std::string out;
  for (int i = 1; i <= starts_; ++i) {
    absl::StrAppend(&out, "---- ", mode_, " log, start ", i, " ----\n",
                    Tail(ReadFile(absl::StrCat(log_prefix_, ".", i, ".log")), max_lines), "\n");
  }
  return out;
}

// --- observations ---------------------------------------------------------------------------

std::vector<SessionInfo> SessionsTo(const std::string& target_iqn) {
  ProcessResult result = ::iscsi_csi::testing::RunProcess(WithPath({"iscsiadm", "-m", "session"}));
  std::vector<SessionInfo> sessions;
  if (result.exit_code == 21) return sessions;  // ISCSI_ERR_NO_OBJS_FOUND: no sessions
  EXPECT_EQ(result.exit_code, 0) << "iscsiadm -m session: " << result.stderr_text;
  // "tcp: [3] 127.0.0.1:3260,1 iqn.2026-11.io.iscsi-csi:vol-1 (non-flash)"
  for (absl::string_view line : absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 4 || fields[3] != target_iqn) continue;
    SessionInfo session;
    absl::string_view sid = fields[1];
    if (!absl::ConsumePrefix(&sid, "[") || !absl::ConsumeSuffix(&sid, "]") ||
        !absl::SimpleAtoi(sid, &session.sid)) {
      ADD_FAILURE() << "unexpected iscsiadm session line: " << line;
      continue;
    }
    session.portal = fields[2];
    session.state = std::string(absl::StripAsciiWhitespace(
        ReadFile(absl::StrCat("/sys/class/iscsi_session/session", session.sid, "/state"))));
    sessions.push_back(session);
  }
  return sessions;
}

std::vector<std::string> NodeRecordsFor(const std::string& target_iqn) {
  ProcessResult result = ::iscsi_csi::testing::RunProcess(WithPath({"iscsiadm", "-m", "node"}));
  std::vector<std::string> records;
  if (result.exit_code == 21) return records;  // no records at all
  EXPECT_EQ(result.exit_code, 0) << "iscsiadm -m node: " << result.stderr_text;
  // "127.0.0.1:3260,1 iqn.2026-11.io.iscsi-csi:vol-1"
  for (absl::string_view line : absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() >= 2 && fields[1] == target_iqn) records.emplace_back(line);
  }
  return records;
}

std::map<std::string, std::string> NodeRecordSettings(const std::string& target_iqn) {
  ProcessResult result =
      Exec({"iscsiadm", "-m", "node", "-T", target_iqn, "-p", kPortal, "-I", kIface});
  std::map<std::string, std::string> settings;
  for (absl::string_view line : absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(" = ", 1));
    settings[std::string(absl::StripAsciiWhitespace(kv.first))] =
        std::string(absl::StripAsciiWhitespace(kv.second));
  }
  return settings;
}

std::optional<MountEntry> MountAt(const std::string& path) {
  std::optional<MountEntry> found;
  std::istringstream in(ReadFile("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    // "36 35 98:0 /root /mnt opts [optional fields] - fstype source superopts"
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 10 || fields[4] != path) continue;
    size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 2 >= fields.size()) continue;
    found =
        MountEntry{fields[2], fields[3], fields[4], fields[5], fields[dash + 1], fields[dash + 2]};
  }
  return found;
}

std::string MajorMinor(const std::string& device) {
  struct stat st {};
  if (stat(device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return "";
  return absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev));
}

std::string ResolveLink(const std::string& link, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::error_code ec;
    std::filesystem::path target = std::filesystem::canonical(link, ec);
    if (!ec) return target.string();
    if (absl::Now() >= deadline) return "";
    absl::SleepFor(absl::Milliseconds(100));
  }
}

std::string KernelWwid(const std::string& device) {
  const std::string disk = std::filesystem::path(device).filename().string();
  return std::string(
      absl::StripAsciiWhitespace(ReadFile(absl::StrCat("/sys/block/", disk, "/device/wwid"))));
}

int64_t DeviceBytes(const std::string& device) {
  ProcessResult result = Exec({"blockdev", "--getsize64", device});
  int64_t bytes = -1;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(result.stdout_text), &bytes)) return -1;
  return bytes;
}

int64_t FilesystemBytes(const std::string& path) {
  ProcessResult result = Exec({"df", "-B1", "--output=size", path});
  std::vector<std::string> lines = absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty());
  int64_t bytes = -1;
  if (lines.size() != 2 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[1]), &bytes)) {
    return -1;
  }
  return bytes;
}

// --- volumes ----------------------------------------------------------------------------------

std::string TestVolume::iqn() const {
  auto it = volume.volume_context().find(kCtxTargetIqn);
  return it == volume.volume_context().end() ? "" : it->second;
}

std::string TestVolume::wwn() const {
  auto it = volume.volume_context().find(kCtxWwn);
  return it == volume.volume_context().end() ? "" : it->second;
}

std::string TestVolume::ByPathLink() const {
  return absl::StrCat("/dev/disk/by-path/ip-", kPortal, "-iscsi-", iqn(), "-lun-0");
}

csi::v1::VolumeCapability MountCapability(const std::string& fs_type) {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(AccessMode::SINGLE_NODE_WRITER);
  capability.mutable_mount()->set_fs_type(fs_type);
  return capability;
}

csi::v1::CreateVolumeRequest CreateRequest(const std::string& name, int64_t bytes,
                                           const csi::v1::VolumeCapability& capability) {
  csi::v1::CreateVolumeRequest request;
  request.set_name(name);
  request.mutable_capacity_range()->set_required_bytes(bytes);
  *request.add_volume_capabilities() = capability;
  if (capability.has_mount()) {
    (*request.mutable_parameters())["fsType"] = capability.mount().fs_type();
  }
  return request;
}

csi::v1::VolumeCapability BlockCapability() {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(AccessMode::SINGLE_NODE_WRITER);
  capability.mutable_block();
  return capability;
}

// --- fixture ----------------------------------------------------------------------------------

std::string E2eTest::Inject() {
  const char* inject = std::getenv("ISCSI_CSI_E2E_INJECT");
  return inject == nullptr ? "" : inject;
}

void E2eTest::SetUp() {
  Note("starting the controller and the node plugin");
  pool_dir_ = "/var/lib/iscsi-csi";
  node_dir_ = "/var/lib/iscsi-csi-node";
  for (const std::string& dir : {pool_dir_, node_dir_, std::string("/run/e2e")}) {
    std::filesystem::create_directories(dir);
  }
  // The pool on a tmpfs of its own: sparse volumes cost only what is written, and the pool's
  // free space (which CreateVolume checks) is not the overlay's.
  if (!MountAt(pool_dir_).has_value()) {
    ASSERT_EQ(
        Exec({"mount", "-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", pool_dir_}).exit_code, 0);
  }
  if (!Inject().empty()) Note(absl::StrCat("fault injection active: ", Inject()));
  controller_ = std::make_unique<Plugin>(
      "controller",
      std::vector<std::string>{"--data-dir=" + pool_dir_, absl::StrCat("--portal=", kPortal),
                               "--shutdown-grace=5s"},
      "/run/e2e/controller.sock", "/run/e2e/controller");
  node_ = std::make_unique<Plugin>(
      "node",
      std::vector<std::string>{absl::StrCat("--node-id=", kNodeId), "--data-dir=" + node_dir_,
                               "--device-timeout=90s", "--shutdown-grace=5s"},
      "/run/e2e/node.sock", "/run/e2e/node");
  ASSERT_TRUE(Succeeded(controller_->Start())) << controller_->LogTail(40);
  ASSERT_TRUE(Succeeded(node_->Start())) << node_->LogTail(40);
  Connect();
}

void E2eTest::TearDown() {
  if (HasFailure()) {
    std::cout << "==== the scenario failed; state of the guest ====\n";
    if (controller_ != nullptr) std::cout << controller_->LogTail(60);
    if (node_ != nullptr) std::cout << node_->LogTail(60);
    for (const char* script :
         {"iscsiadm -m session -P 1", "iscsiadm -m node", "grep -v cgroup /proc/self/mounts",
          "ls -l /dev/disk/by-path /dev/disk/by-id", "dmesg | tail -n 40"}) {
      ProcessResult result = ::iscsi_csi::testing::RunProcess({"/bin/sh", "-c", script});
      std::cout << "---- $ " << script << " (" << Describe(result) << ")\n"
                << result.stdout_text << result.stderr_text;
    }
    std::cout << std::endl;
  }
  if (node_ != nullptr) {
    EXPECT_TRUE(Succeeded(node_->Kill(SIGTERM)));
  }
  if (controller_ != nullptr) {
    EXPECT_TRUE(Succeeded(controller_->Kill(SIGTERM)));
  }
}

void E2eTest::Connect() {
  controller_stub_ =
      controller_->running() ? csi::v1::Controller::NewStub(controller_->channel()) : nullptr;
  node_stub_ = node_->running() ? csi::v1::Node::NewStub(node_->channel()) : nullptr;
}

void E2eTest::Provision(const csi::v1::CreateVolumeRequest& create, TestVolume* volume,
                        const std::string& node_id) {
  ASSERT_EQ(create.volume_capabilities_size(), 1);
  const csi::v1::VolumeCapability& capability = create.volume_capabilities(0);
  const std::string& name = create.name();
  const int64_t bytes = create.capacity_range().required_bytes();
  csi::v1::CreateVolumeResponse created;
  ASSERT_TRUE(Succeeded(
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::CreateVolume, create, &created)));
  volume->volume = created.volume();
  volume->capability = capability;
  volume->staging_path = StagingPathFor(name, capability.has_block());
  volume->target_path = TargetPathFor(name, capability.has_block());
  Note(absl::StrCat("CreateVolume ", name, " -> ", volume->id(), " (",
                    created.volume().capacity_bytes(), " bytes, ", volume->iqn(), ", wwn ",
                    volume->wwn(), ")"));
  EXPECT_GE(created.volume().capacity_bytes(), bytes);
  const ContextMap& context = created.volume().volume_context();
  EXPECT_EQ(volume->iqn(), TargetIqnForVolume(volume->id()));
  EXPECT_THAT(volume->wwn(), ::testing::MatchesRegex("6[0-9a-f]{31}"));
  ASSERT_EQ(context.count(kCtxPortals), 1u);
  EXPECT_EQ(context.at(kCtxPortals), kPortal);
  ASSERT_EQ(context.count(kCtxLun), 1u);
  EXPECT_EQ(context.at(kCtxLun), "0");

  ASSERT_TRUE(Succeeded(ControllerPublish(*volume, node_id, &volume->publish_context)));
  // Mutual CHAP: the node proves itself to the target and the target to the node.
  for (const char* key : {kPubChapUser, kPubChapSecret, kPubChapTargetUser, kPubChapTargetSecret}) {
    ASSERT_EQ(volume->publish_context.count(key), 1u) << key;
    EXPECT_FALSE(volume->publish_context.at(key).empty()) << key;
  }
}

grpc::Status E2eTest::ControllerPublish(const TestVolume& volume, const std::string& node_id,
                                        ContextMap* publish_context) {
  csi::v1::ControllerPublishVolumeRequest request;
  request.set_volume_id(volume.id());
  request.set_node_id(node_id);
  *request.mutable_volume_capability() = volume.capability;
  csi::v1::ControllerPublishVolumeResponse response;
  grpc::Status status =
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerPublishVolume, request,
           &response);
  Note(absl::StrCat("ControllerPublishVolume ", volume.id(), " to ", node_id, " -> ",
                    CodeName(status)));
  if (status.ok()) *publish_context = response.publish_context();
  return status;
}

grpc::Status E2eTest::NodeStage(const TestVolume& volume, const ContextMap& publish_context) {
  csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id(volume.id());
  request.set_staging_target_path(volume.staging_path);
  *request.mutable_volume_capability() = volume.capability;
  *request.mutable_publish_context() = publish_context;
  *request.mutable_volume_context() = volume.volume.volume_context();
  if (Inject() == "wrong-wwn") {
    // Another volume's WWN: what a stale volume context or a reused target name looks like.
    std::string wwn = volume.wwn();
    wwn.back() = wwn.back() == '0' ? '1' : '0';
    (*request.mutable_volume_context())[kCtxWwn] = wwn;
    Note(absl::StrCat("INJECTED FAULT: staging ", volume.id(), " with wwn ", wwn));
  }
  if (!volume.block()) std::filesystem::create_directories(volume.staging_path);
  csi::v1::NodeStageVolumeResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status =
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodeStageVolume, request, &response);
  Note(absl::StrCat("NodeStageVolume ", volume.id(), " -> ", CodeName(status),
                    status.ok() ? "" : ": " + status.error_message(), " (",
                    absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(100))),
                    ")"));
  return status;
}

grpc::Status E2eTest::NodeUnstage(const TestVolume& volume) {
  csi::v1::NodeUnstageVolumeRequest request;
  request.set_volume_id(volume.id());
  request.set_staging_target_path(volume.staging_path);
  csi::v1::NodeUnstageVolumeResponse response;
  grpc::Status status =
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodeUnstageVolume, request, &response);
  Note(absl::StrCat("NodeUnstageVolume ", volume.id(), " -> ", CodeName(status)));
  return status;
}

std::string E2eTest::Disk(const TestVolume& volume) {
  return ResolveLink(volume.ByPathLink(), absl::Seconds(20));
}

std::vector<std::string> E2eTest::DiscoveredTargets() {
  ProcessResult result = Exec({"iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", kPortal,
                               "-I", kIface, "-o", "nonpersistent"});
  std::vector<std::string> names;
  if (result.exit_code == 21) return names;  // nothing offered
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  // "127.0.0.1:3260,1 iqn.2026-11.io.iscsi-csi:vol-1"
  for (absl::string_view line : absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() >= 2) names.push_back(fields[1]);
  }
  return names;
}

int E2eTest::RawLogin(const TestVolume& volume, const ContextMap& publish_context) {
  const std::vector<std::string> node = {"iscsiadm", "-m",    "node", "-T",  volume.iqn(),
                                         "-p",       kPortal, "-I",   kIface};
  auto with = [&node](std::vector<std::string> more) {
    std::vector<std::string> argv = node;
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  };
  EXPECT_EQ(Exec(with({"-o", "new"})).exit_code, 0);
  auto set = [&](const std::string& key, const std::string& value) {
    EXPECT_EQ(Exec(with({"-o", "update", "-n", key, "-v", value})).exit_code, 0) << key;
  };
  set("node.session.auth.authmethod", "CHAP");
  set("node.session.auth.username", publish_context.at(kPubChapUser));
  set("node.session.auth.password", publish_context.at(kPubChapSecret));
  set("node.session.auth.username_in", publish_context.at(kPubChapTargetUser));
  set("node.session.auth.password_in", publish_context.at(kPubChapTargetSecret));
  ProcessResult login = Exec(with({"--login"}));
  Note(absl::StrCat("raw login to ", volume.iqn(), " as this node -> iscsiadm exit ",
                    login.exit_code));
  if (login.exit_code == 0) {
    EXPECT_EQ(Exec(with({"--logout"})).exit_code, 0);
  }
  EXPECT_EQ(Exec(with({"-o", "delete"})).exit_code, 0);
  return login.signaled ? -1 : login.exit_code;
}

void E2eTest::Stage(const TestVolume& volume) {
  ASSERT_TRUE(Succeeded(NodeStage(volume, volume.publish_context)));
  std::vector<SessionInfo> sessions = SessionsTo(volume.iqn());
  ASSERT_THAT(sessions, SizeIs(1)) << "exactly one session to " << volume.iqn();
  EXPECT_EQ(sessions[0].portal, absl::StrCat(kPortal, ",1"));
  EXPECT_EQ(sessions[0].state, "LOGGED_IN");
  EXPECT_EQ(
      ReadFile(absl::StrCat("/sys/class/iscsi_session/session", sessions[0].sid, "/ifacename")),
      absl::StrCat(kIface, "\n"));
  EXPECT_EQ(
      ReadFile(absl::StrCat("/sys/class/iscsi_session/session", sessions[0].sid, "/initiatorname")),
      absl::StrCat(*InitiatorIqnForNode(kNodeId), "\n"));
  // The record the plugin wrote: manual start-up, CHAP both ways (iscsiadm masks passwords).
  std::map<std::string, std::string> record = NodeRecordSettings(volume.iqn());
  EXPECT_EQ(record["node.startup"], "manual");
  EXPECT_EQ(record["node.session.auth.authmethod"], "CHAP");
  EXPECT_EQ(record["node.session.auth.username"], volume.publish_context.at(kPubChapUser));
  EXPECT_EQ(record["node.session.auth.username_in"], volume.publish_context.at(kPubChapTargetUser));

  // The disk, found through udev (by path) and checked against the volume's WWN twice: udev's
  // by-id link and the kernel's own wwid, both read from VPD page 0x83 of the logical unit.
  const std::string disk = Disk(volume);
  ASSERT_THAT(disk, ::testing::StartsWith("/dev/sd")) << "no " << volume.ByPathLink();
  EXPECT_EQ(ResolveLink(absl::StrCat("/dev/disk/by-id/wwn-0x", volume.wwn()), absl::Seconds(20)),
            disk);
  EXPECT_EQ(KernelWwid(disk), absl::StrCat("naa.", volume.wwn()));
  EXPECT_EQ(DeviceBytes(disk), volume.volume.capacity_bytes());
  if (volume.block()) {
    EXPECT_FALSE(MountAt(volume.staging_path).has_value());
  } else {
    std::optional<MountEntry> mount = MountAt(volume.staging_path);
    ASSERT_TRUE(mount.has_value()) << "nothing mounted at " << volume.staging_path;
    EXPECT_EQ(mount->major_minor, MajorMinor(disk));
    EXPECT_EQ(mount->fs_type, volume.capability.mount().fs_type());
  }
  Note(absl::StrCat("staged ", volume.id(), ": ", disk, " (session ", sessions[0].sid, ")"));
}

void E2eTest::Publish(const TestVolume& volume) {
  csi::v1::NodePublishVolumeRequest request;
  request.set_volume_id(volume.id());
  request.set_staging_target_path(volume.staging_path);
  request.set_target_path(volume.target_path);
  *request.mutable_volume_capability() = volume.capability;
  *request.mutable_publish_context() = volume.publish_context;
  *request.mutable_volume_context() = volume.volume.volume_context();
  // kubelet creates the parent; the plugin creates the target itself.
  std::filesystem::create_directories(std::filesystem::path(volume.target_path).parent_path());
  csi::v1::NodePublishVolumeResponse response;
  grpc::Status status =
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodePublishVolume, request, &response);
  Note(absl::StrCat("NodePublishVolume ", volume.id(), " -> ", CodeName(status)));
  ASSERT_TRUE(Succeeded(status));
  std::optional<MountEntry> mount = MountAt(volume.target_path);
  ASSERT_TRUE(mount.has_value()) << "nothing mounted at " << volume.target_path;
  EXPECT_THAT(mount->options, ::testing::StartsWith("rw"));
  const std::string disk = Disk(volume);
  if (volume.block()) {
    EXPECT_EQ(MajorMinor(volume.target_path), MajorMinor(disk));
  } else {
    EXPECT_EQ(mount->major_minor, MajorMinor(disk));
    EXPECT_EQ(mount->fs_type, volume.capability.mount().fs_type());
  }
}

void E2eTest::Unpublish(const TestVolume& volume) {
  csi::v1::NodeUnpublishVolumeRequest request;
  request.set_volume_id(volume.id());
  request.set_target_path(volume.target_path);
  csi::v1::NodeUnpublishVolumeResponse response;
  grpc::Status status =
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodeUnpublishVolume, request, &response);
  Note(absl::StrCat("NodeUnpublishVolume ", volume.id(), " -> ", CodeName(status)));
  ASSERT_TRUE(Succeeded(status));
  EXPECT_FALSE(MountAt(volume.target_path).has_value());
  EXPECT_FALSE(std::filesystem::exists(volume.target_path));
}

void E2eTest::Unstage(const TestVolume& volume) {
  const std::string disk = Disk(volume);
  ASSERT_TRUE(Succeeded(NodeUnstage(volume)));
  ExpectNothingLeft(volume);
  if (!disk.empty()) {
    EXPECT_FALSE(std::filesystem::exists(
        absl::StrCat("/sys/block/", std::filesystem::path(disk).filename().string())))
        << disk << " is still attached";
  }
}

void E2eTest::ExpectNothingLeft(const TestVolume& volume) {
  EXPECT_THAT(SessionsTo(volume.iqn()), IsEmpty()) << "a session to " << volume.iqn() << " remains";
  EXPECT_THAT(NodeRecordsFor(volume.iqn()), IsEmpty())
      << "a node record for " << volume.iqn() << " remains";
  EXPECT_FALSE(MountAt(volume.staging_path).has_value()) << volume.staging_path << " is mounted";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(node_dir_ + "/staging", ec)) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(volume.id())))
        << "a staging record remains";
  }
}

void E2eTest::Deprovision(const TestVolume& volume) {
  csi::v1::ControllerUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(volume.id());
  unpublish.set_node_id(kNodeId);
  csi::v1::ControllerUnpublishVolumeResponse unpublished;
  ASSERT_TRUE(
      Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerUnpublishVolume,
                     unpublish, &unpublished)));
  csi::v1::DeleteVolumeRequest remove;
  remove.set_volume_id(volume.id());
  csi::v1::DeleteVolumeResponse removed;
  ASSERT_TRUE(Succeeded(
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::DeleteVolume, remove, &removed)));
  Note(absl::StrCat("ControllerUnpublishVolume + DeleteVolume ", volume.id(), " -> OK"));
}

// --- data ---------------------------------------------------------------------------------------

namespace {
constexpr char kChecksummedFiles[] = "data.bin small sub/hello";
}  // namespace

std::string WriteFiles(const std::string& dir, int mib) {
  ProcessResult written = Shell(absl::StrCat(
      "set -e; cd '", dir, "'; dd if=/dev/urandom of=data.bin bs=1M count=", mib,
      " status=none; head -c 12345 /dev/urandom >small; mkdir -p sub; echo hello >sub/hello; "
      "sha256sum ",
      kChecksummedFiles, " >SHA256SUMS; sync"));
  EXPECT_EQ(written.exit_code, 0) << written.stderr_text;
  std::string listing = ReadFile(dir + "/SHA256SUMS");
  EXPECT_THAT(listing, HasSubstr("data.bin"));
  return listing;
}

std::string Checksums(const std::string& dir) {
  ProcessResult result = Shell(absl::StrCat("cd '", dir, "' && sha256sum ", kChecksummedFiles));
  return result.exit_code == 0 ? result.stdout_text : "";
}

}  // namespace iscsi_csi::e2e
