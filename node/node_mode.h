// node_mode: `iscsi-csi node`: CSI Identity + Node on every node. The Node service arrives with
// its issue; today the mode checks its identity, prepares its state directory and serves
// Identity.
#ifndef ISCSI_CSI_NODE_NODE_MODE_H_
#define ISCSI_CSI_NODE_NODE_MODE_H_

#include <string>

#include "common/cli.h"

namespace iscsi_csi::node {

// NodeSubcommand describes the subcommand: its help, its flags and how to run it.
Subcommand NodeSubcommand(const std::string& version);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_NODE_MODE_H_
