// guest_harness: what the end-to-end scenarios drive inside the QEMU guest that run_vm.sh boots
// (guest_run.sh has started udev and iscsid there): the real `iscsi-csi controller` with its
// embedded target on 127.0.0.1:3260 and the real `iscsi-csi node` on unix sockets, a CSI client
// on the generated stubs, and checks of the guest's state made with the real tools (iscsiadm,
// udev's links, the kernel's wwid, mountinfo) rather than with the plugin's own code, so a
// plugin bug cannot vouch for itself.
//
// A deliberate fault can be injected (ISCSI_CSI_E2E_INJECT) to prove the harness notices a
// broken step: `wrong-wwn` stages every volume with a volume context whose WWN is not the
// volume's (a node plugin that skipped its WWN check would stage it anyway).
#ifndef ISCSI_CSI_TESTS_E2E_GUEST_HARNESS_H_
#define ISCSI_CSI_TESTS_E2E_GUEST_HARNESS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "csi.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"
#include "tests/testutil/process.h"

namespace iscsi_csi::e2e {

inline constexpr int64_t kMiB = int64_t{1} << 20;
inline constexpr char kNodeId[] = "e2e-node";
inline constexpr char kOtherNodeId[] = "e2e-other-node";
inline constexpr char kPortal[] = "127.0.0.1:3260";
// The iface the node plugin logs in through (common/volume_context.h kIscsiIface).
inline constexpr char kIface[] = "iscsi-csi";

using AccessMode = csi::v1::VolumeCapability::AccessMode;
using ContextMap = google::protobuf::Map<std::string, std::string>;

// CodeName: "FAILED_PRECONDITION" for a gRPC status.
std::string CodeName(const grpc::Status& status);
// Succeeded: for ASSERT_TRUE/EXPECT_TRUE; a failure carries the code and the message.
::testing::AssertionResult Succeeded(const grpc::Status& status);
::testing::AssertionResult Succeeded(const absl::Status& status);

// Note prints one timestamped progress line to the console (the ctest log).
void Note(absl::string_view text);

// Exec runs argv (no shell), notes it with its exit status and output when it fails.
::iscsi_csi::testing::ProcessResult Exec(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Minutes(3));
// Shell runs a /bin/sh -c script the same way.
::iscsi_csi::testing::ProcessResult Shell(const std::string& script,
                                          absl::Duration timeout = absl::Minutes(3));

// Plugin is one `iscsi-csi <mode>` process serving CSI on a unix socket; it can be killed and
// started again on the same state (each start logs to its own file).
class Plugin {
 public:
  Plugin(std::string mode, std::vector<std::string> flags, std::string socket_path,
         std::string log_prefix);
  ~Plugin();
  // Start spawns the process and waits until Probe reports ready.
  absl::Status Start(absl::Duration timeout = absl::Seconds(90));
  // Kill sends `signal_number` and waits until the process is gone.
  absl::Status Kill(int signal_number);
  bool running() const { return child_ != nullptr; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // LogTail: the last lines of every start's log, oldest start first.
  std::string LogTail(size_t max_lines) const;

 private:
  std::string mode_;
  std::vector<std::string> flags_;
  std::string socket_path_;
  std::string log_prefix_;
  int starts_ = 0;
  std::unique_ptr<::iscsi_csi::testing::ChildProcess> child_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Observations of the guest, made with the real tools.
struct SessionInfo {
  int sid = 0;
  std::string portal;  // "127.0.0.1:3260,1"
  std::string state;   // /sys/class/iscsi_session/session<sid>/state, "LOGGED_IN"
};
// SessionsTo lists the kernel's iSCSI sessions to `target_iqn` (`iscsiadm -m session`).
std::vector<SessionInfo> SessionsTo(const std::string& target_iqn);
// NodeRecordsFor lists the open-iscsi node records for `target_iqn` (`iscsiadm -m node`).
std::vector<std::string> NodeRecordsFor(const std::string& target_iqn);
// NodeRecordSettings: `iscsiadm -m node -T iqn -p portal -I iface` as key -> value.
std::map<std::string, std::string> NodeRecordSettings(const std::string& target_iqn);

struct MountEntry {
  std::string major_minor;
  std::string root;
  std::string mount_point;
  std::string options;
  std::string fs_type;
  std::string source;
};
// MountAt: the last /proc/self/mountinfo entry mounted on `path`.
std::optional<MountEntry> MountAt(const std::string& path);
// MajorMinor of a block device node ("8:16"), "" when it is not one.
std::string MajorMinor(const std::string& device);
// ResolveLink waits up to `timeout` for the symlink and returns its absolute target ("" if none).
std::string ResolveLink(const std::string& link, absl::Duration timeout);
// KernelWwid: /sys/block/<disk>/device/wwid (the kernel's reading of VPD page 0x83).
std::string KernelWwid(const std::string& device);
// DeviceBytes: `blockdev --getsize64`.
int64_t DeviceBytes(const std::string& device);
// FilesystemBytes: the size `df` reports for the filesystem at `path`.
int64_t FilesystemBytes(const std::string& path);

// A volume as the CO sees it through the scenario.
struct TestVolume {
  csi::v1::Volume volume;
  csi::v1::VolumeCapability capability;
  ContextMap publish_context;
  std::string staging_path;
  std::string target_path;

  const std::string& id() const { return volume.volume_id(); }
  std::string iqn() const;
  std::string wwn() const;
  bool block() const { return capability.has_block(); }
  // ByPathLink: udev's /dev/disk/by-path name of LUN 0 through the portal.
  std::string ByPathLink() const;
};

csi::v1::VolumeCapability MountCapability(const std::string& fs_type);
csi::v1::VolumeCapability BlockCapability();
// CreateRequest: a CreateVolumeRequest named `name` for `bytes` with one capability (mount
// volumes also carry the StorageClass parameter fsType).
csi::v1::CreateVolumeRequest CreateRequest(const std::string& name, int64_t bytes,
                                           const csi::v1::VolumeCapability& capability);

// E2eTest: the fixture every scenario runs in. SetUp starts the controller (pool on its own
// tmpfs) and the node plugin; TearDown prints the plugins' logs and the kernel's last messages
// when the scenario failed, then stops both.
class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)creates the stubs after a plugin restarted.
  void Connect();
  static std::string Inject();

  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response,
                    absl::Duration timeout = absl::Minutes(5)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    return (stub->*method)(&context, request, response);
  }

  // CreateVolume and ControllerPublishVolume to `node_id`; checks the volume context and the
  // mutual CHAP credentials in the publish context. The capability is the request's first.
  void Provision(const csi::v1::CreateVolumeRequest& request, TestVolume* volume,
                 const std::string& node_id = kNodeId);
  // ControllerPublishVolume of `volume` to `node_id`; the context lands in `publish_context`.
  grpc::Status ControllerPublish(const TestVolume& volume, const std::string& node_id,
                                 ContextMap* publish_context);
  // The bare NodeStageVolume call with `publish_context` (the fault injection applies here).
  grpc::Status NodeStage(const TestVolume& volume, const ContextMap& publish_context);
  grpc::Status NodeUnstage(const TestVolume& volume);

  // Stage: NodeStageVolume succeeds and the guest shows exactly one session to the volume's
  // target through the plugin's iface, its node record with mutual CHAP, the disk udev names
  // by path carrying the volume's WWN, and (mount volumes) that disk mounted at the staging
  // path with the requested filesystem.
  void Stage(const TestVolume& volume);
  // Publish: NodePublishVolume succeeds and the target path is the staged filesystem (mount)
  // or the volume's device node (block).
  void Publish(const TestVolume& volume);
  // Unpublish: NodeUnpublishVolume succeeds and nothing is mounted at the target path.
  void Unpublish(const TestVolume& volume);
  // Unstage: NodeUnstageVolume succeeds; no session, no node record, no staging mount remain.
  void Unstage(const TestVolume& volume);
  // Deprovision: ControllerUnpublishVolume and DeleteVolume succeed.
  void Deprovision(const TestVolume& volume);
  // ExpectNothingLeft: no session, node record, staging record or mount for `volume`.
  void ExpectNothingLeft(const TestVolume& volume);

  // Disk: the /dev/sdX of the staged volume, through udev's by-path link.
  std::string Disk(const TestVolume& volume);
  // DiscoveredTargets: the target names a SendTargets discovery through the plugin's iface
  // (this node's initiator name) reports; nothing is recorded (-o nonpersistent).
  std::vector<std::string> DiscoveredTargets();
  // RawLogin logs in to the volume's target by hand through the plugin's iface with the CHAP
  // credentials of `publish_context`, logs out again, removes the record and returns
  // iscsiadm's exit status (0: admitted; 24: refused, authorization; 19: no such target).
  int RawLogin(const TestVolume& volume, const ContextMap& publish_context);

  std::unique_ptr<Plugin> controller_;
  std::unique_ptr<Plugin> node_;
  std::unique_ptr<csi::v1::Controller::Stub> controller_stub_;
  std::unique_ptr<csi::v1::Node::Stub> node_stub_;
  std::string pool_dir_;
  std::string node_dir_;
};

// WriteFiles writes a few files (one of `mib` MiB of random bytes) under `dir`, stores their
// sha256sum listing there as SHA256SUMS, syncs, and returns the listing.
std::string WriteFiles(const std::string& dir, int mib);
// Checksums recomputes the listing of the files WriteFiles wrote ("" when one is missing).
std::string Checksums(const std::string& dir);

}  // namespace iscsi_csi::e2e

#endif  // ISCSI_CSI_TESTS_E2E_GUEST_HARNESS_H_
