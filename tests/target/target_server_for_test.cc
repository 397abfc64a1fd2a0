// target_server_for_test: runs a Target on one portal with one exported LUN until SIGTERM
// or SIGINT, for libiscsi's tools (iscsi-ls, iscsi-inq, iscsi-test-cu) and manual tests.
//
//   target_server_for_test --portal=127.0.0.1:3260 --iqn=iqn.2026-01.io.test:disk
//       --file=/tmp/disk.img --size=67108864 [--chap_user=u --chap_secret=s
//       --target_chap_user=t --target_chap_secret=ts] [--luns=2]
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "target/target.h"

ABSL_FLAG(std::string, portal, "127.0.0.1:3260", "host:port to listen on");
ABSL_FLAG(std::string, iqn, "iqn.2026-01.io.iscsi-csi.test:disk", "target name");
ABSL_FLAG(std::string, file, "/tmp/iscsi-csi-test-disk.img", "backing file of LUN 0");
ABSL_FLAG(uint64_t, size, 64ull << 20, "LUN size in bytes (created sparse)");
ABSL_FLAG(uint32_t, block_size, 512, "logical block size");
ABSL_FLAG(int, luns, 1, "number of LUNs (LUN n uses <file>.n for n > 0)");
ABSL_FLAG(std::string, chap_user, "", "CHAP user the initiator must present");
ABSL_FLAG(std::string, chap_secret, "", "CHAP secret the initiator must present");
ABSL_FLAG(std::string, target_chap_user, "", "mutual CHAP user of the target");
ABSL_FLAG(std::string, target_chap_secret, "", "mutual CHAP secret of the target");
ABSL_FLAG(int, nop_in_interval, 15, "seconds of silence before a NOP-In ping (0: never)");
ABSL_FLAG(int, vlog, 0, "glog verbosity (VLOG level)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_v = absl::GetFlag(FLAGS_vlog);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  using iscsi_csi::target::Target;
  absl::StatusOr<iscsi_csi::target::PortalAddress> portal =
      iscsi_csi::target::ParsePortalAddress(absl::GetFlag(FLAGS_portal));
  if (!portal.ok()) {
    LOG(ERROR) << portal.status();
    return 2;
  }
  iscsi_csi::target::TargetOptions options;
  options.portals = {*portal};
  options.nop_in_interval_seconds = absl::GetFlag(FLAGS_nop_in_interval);
  absl::StatusOr<std::unique_ptr<Target>> target = Target::Start(options);
  if (!target.ok()) {
    LOG(ERROR) << target.status();
    return 1;
  }
  const std::string iqn = absl::GetFlag(FLAGS_iqn);
  absl::Status status = (*target)->AddTarget({iqn, "iscsi-csi test disk"});
  for (int lun = 0; status.ok() && lun < absl::GetFlag(FLAGS_luns); ++lun) {
    iscsi_csi::target::LunConfig config;
    config.lun = static_cast<uint64_t>(lun);
    config.backing_file =
        lun == 0 ? absl::GetFlag(FLAGS_file) : absl::StrCat(absl::GetFlag(FLAGS_file), ".", lun);
    config.size_bytes = absl::GetFlag(FLAGS_size);
    config.block_size = absl::GetFlag(FLAGS_block_size);
    status = (*target)->AddLun(iqn, config);
  }
  if (status.ok() && !absl::GetFlag(FLAGS_chap_user).empty()) {
    iscsi_csi::target::TargetChap chap;
    chap.initiator = {absl::GetFlag(FLAGS_chap_user), absl::GetFlag(FLAGS_chap_secret)};
    if (!absl::GetFlag(FLAGS_target_chap_user).empty()) {
      chap.target = {absl::GetFlag(FLAGS_target_chap_user),
                     absl::GetFlag(FLAGS_target_chap_secret)};
    }
    status = (*target)->SetChap(iqn, chap);
  }
  if (!status.ok()) {
    LOG(ERROR) << status;
    return 1;
  }
  std::printf("ready %s\n", (*target)->portals().at(0).ToString().c_str());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LOG(INFO) << "signal " << signal_number << ": stopping";
  (*target)->Stop();
  return 0;
}
