// target_command: the `iscsi-csi target` subcommand: its flags and their translation into
// target::StandaloneOptions. (The target library knows nothing of our command line, so the glue
// lives with main.cc.)
#ifndef ISCSI_CSI_COMMON_TARGET_COMMAND_H_
#define ISCSI_CSI_COMMON_TARGET_COMMAND_H_

#include "absl/status/statusor.h"
#include "common/cli.h"
#include "target/standalone/standalone.h"

namespace iscsi_csi {

// TargetSubcommand describes `iscsi-csi target`: help, flags, run.
Subcommand TargetSubcommand();

// StandaloneOptionsFromFlags reads the target flags; InvalidArgument names the bad flag.
absl::StatusOr<target::StandaloneOptions> StandaloneOptionsFromFlags();

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_TARGET_COMMAND_H_
