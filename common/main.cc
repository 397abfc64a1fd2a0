// iscsi-csi: one binary, three modes.
//   controller  CSI Identity + Controller with the embedded iSCSI target
//   node        CSI Identity + Node (open-iscsi initiator, mkfs, mount)
//   target      the iSCSI target alone (tests, benchmarks, users who want only the target)
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/cli.h"
#include "common/server.h"
#include "common/target_command.h"
#include "common/version.h"
#include "controller/controller_mode.h"
#include "glog/logging.h"
#include "node/node_mode.h"

int main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask and only the main thread
  // receives SIGTERM/SIGINT (through sigwait).
  iscsi_csi::BlockTerminationSignals();
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
#ifdef NDEBUG
  // Debian builds abseil without NDEBUG, so every Mutex acquisition would also feed
  // abseil's lock-order graph (a few percent of the target's CPU under load). Tests and
  // debug builds keep that deadlock detection; release binaries turn it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  std::vector<iscsi_csi::Subcommand> commands = {
      iscsi_csi::controller::ControllerSubcommand(iscsi_csi::kVersion),
      iscsi_csi::node::NodeSubcommand(iscsi_csi::kVersion),
      iscsi_csi::TargetSubcommand(),
  };
  return iscsi_csi::RunCli(argc, argv, commands, iscsi_csi::kVersion);
}
