// node_flags: the flags only `iscsi-csi node` has (the shared ones are in common/flags.h).
#ifndef ISCSI_CSI_NODE_NODE_FLAGS_H_
#define ISCSI_CSI_NODE_NODE_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/time/time.h"
#include "node/host/command_runner_posix.h"

ABSL_DECLARE_FLAG(int64_t, max_volumes_per_node);
ABSL_DECLARE_FLAG(std::vector<std::string>, topology);
ABSL_DECLARE_FLAG(iscsi_csi::node::HostExec, host_exec);
ABSL_DECLARE_FLAG(absl::Duration, device_timeout);
ABSL_DECLARE_FLAG(absl::Duration, command_timeout);
ABSL_DECLARE_FLAG(absl::Duration, format_timeout);

#endif  // ISCSI_CSI_NODE_NODE_FLAGS_H_
