// controller_mode: `iscsi-csi controller`: CSI Identity + Controller and the embedded iSCSI
// target in one process. The Controller service and the target arrive with their issues; today
// the mode serves Identity and prepares its data directory.
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
