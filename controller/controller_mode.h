// controller_mode: `iscsi-csi controller`: CSI Identity + Controller and the embedded iSCSI
// target in one process (one replica, next to its storage pool in --data-dir).
#ifndef ISCSI_CSI_CONTROLLER_CONTROLLER_MODE_H_
#define ISCSI_CSI_CONTROLLER_CONTROLLER_MODE_H_

#include <string>
#include <vector>

#include "common/cli.h"

namespace iscsi_csi::controller {

// ControllerSubcommand describes the subcommand: its help, its flags and how to run it.
Subcommand ControllerSubcommand(const std::string& version);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CONTROLLER_MODE_H_
