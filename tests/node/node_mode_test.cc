// The node subcommand's command line: its own flags are listed in --help and parse as documented
// (repeatable --topology, --host-exec values, durations).
#include "node/node_mode.h"

#include <sstream>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/node_flags.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(NodeSubcommandTest, HelpExplainsTheNodeFlags) {
  Subcommand command = NodeSubcommand("test");
  std::ostringstream help;
  PrintSubcommandHelp("iscsi-csi", command, help);
  for (const char* flag : {"--node-id", "--max-volumes-per-node", "--topology", "--host-exec",
                           "--device-timeout", "--command-timeout", "--format-timeout"}) {
    EXPECT_THAT(help.str(), HasSubstr(flag));
  }
  EXPECT_THAT(help.str(), HasSubstr("[repeatable]"));
}

TEST(NodeSubcommandTest, FlagsParse) {
  Subcommand command = NodeSubcommand("test");
  ASSERT_THAT(ParseSubcommandFlags(command, {"--node-id=worker-1", "--topology=zone=z1",
                                             "--topology", "rack=r7", "--host-exec=nsenter",
                                             "--max-volumes-per-node=16",
                                             "--device-timeout=45s"}),
              IsOk());
  EXPECT_THAT(absl::GetFlag(FLAGS_topology), ElementsAre("zone=z1", "rack=r7"));
  EXPECT_EQ(absl::GetFlag(FLAGS_host_exec), HostExec::kNsenter);
  EXPECT_EQ(absl::GetFlag(FLAGS_max_volumes_per_node), 16);
  EXPECT_EQ(absl::GetFlag(FLAGS_device_timeout), absl::Seconds(45));
  EXPECT_THAT(ParseSubcommandFlags(command, {"--host-exec=chroot"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSubcommandFlags(command, {"--device-timeout=soon"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace iscsi_csi::node
