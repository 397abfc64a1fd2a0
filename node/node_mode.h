// node_mode: `iscsi-csi node`: CSI Identity + Node on every node. It builds the host layer
// (command runner, mounter, sysfs), the staging store under <data-dir>/staging, the Stager and the
// Node service; reconciles staging records with the host before Probe turns ready; then serves
// until SIGTERM/SIGINT.
#ifndef ISCSI_CSI_NODE_NODE_MODE_H_
#define ISCSI_CSI_NODE_NODE_MODE_H_

#include <string>

#include "common/cli.h"

namespace iscsi_csi::node {

// NodeSubcommand describes the subcommand: its help, its flags and how to run it.
Subcommand NodeSubcommand(const std::string& version);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_NODE_MODE_H_
