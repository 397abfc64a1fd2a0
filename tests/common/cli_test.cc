#include "common/cli.h"

#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "common/flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::vector<std::string>, cli_test_list, {}, "A repeatable list flag for the test.");
ABSL_FLAG(bool, cli_test_switch, false, "A boolean flag for the test.");

namespace iscsi_csi {
namespace {

using ::testing::HasSubstr;

Subcommand TestCommand() {
  Subcommand c;
  c.name = "demo";
  c.summary = "demo";
  c.description = "A command used by the tests.";
  c.flags = {"endpoint", "driver_name", "log_level", "cli_test_list", "cli_test_switch"};
  c.repeatable = {"cli_test_list"};
  c.run = [] { return 0; };
  return c;
}

class CliTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;
};

TEST_F(CliTest, DashedNamesSetUnderscoredFlags) {
  ASSERT_TRUE(ParseSubcommandFlags(TestCommand(), {"--driver-name=example.com",
                                                   "--endpoint", "tcp://127.0.0.1:5"})
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_driver_name), "example.com");
  EXPECT_EQ(absl::GetFlag(FLAGS_endpoint).GrpcAddress(), "127.0.0.1:5");
}

TEST_F(CliTest, BadValueNamesTheFlag) {
  absl::Status st = ParseSubcommandFlags(TestCommand(), {"--endpoint=nowhere"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("--endpoint"));
  st = ParseSubcommandFlags(TestCommand(), {"--log-level=shout"});
  EXPECT_THAT(std::string(st.message()), HasSubstr("--log-level"));
}

TEST_F(CliTest, UnknownFlagAndFlagOfAnotherCommandAreRefused) {
  absl::Status st = ParseSubcommandFlags(TestCommand(), {"--frobnicate=1"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("--frobnicate"));
  // node_id exists in the binary but is not one of this command's flags.
  st = ParseSubcommandFlags(TestCommand(), {"--node-id=n1"});
  EXPECT_THAT(std::string(st.message()), HasSubstr("unknown flag --node-id"));
}

TEST_F(CliTest, MissingValueAndStrayArgumentAreRefused) {
  EXPECT_THAT(std::string(ParseSubcommandFlags(TestCommand(), {"--endpoint"}).message()),
              HasSubstr("needs a value"));
  EXPECT_THAT(std::string(ParseSubcommandFlags(TestCommand(), {"extra"}).message()),
              HasSubstr("unexpected argument 'extra'"));
}

TEST_F(CliTest, NonRepeatableFlagGivenTwiceIsRefused) {
  absl::Status st =
      ParseSubcommandFlags(TestCommand(), {"--driver-name=a.b", "--driver-name=c.d"});
  EXPECT_THAT(std::string(st.message()), HasSubstr("more than once"));
}

TEST_F(CliTest, RepeatableFlagCollectsEveryValue) {
  ASSERT_TRUE(ParseSubcommandFlags(TestCommand(), {"--cli-test-list=a", "--cli-test-list", "b"})
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_test_list), (std::vector<std::string>{"a", "b"}));
}

TEST_F(CliTest, BooleanFlagsTakeBareAndNegatedForms) {
  ASSERT_TRUE(ParseSubcommandFlags(TestCommand(), {"--cli-test-switch"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_test_switch));
  ASSERT_TRUE(ParseSubcommandFlags(TestCommand(), {"--nocli-test-switch"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_cli_test_switch));
}

TEST_F(CliTest, HelpListsEveryFlagWithDashes) {
  std::ostringstream out;
  PrintSubcommandHelp("iscsi-csi", TestCommand(), out);
  for (const char* flag : {"--endpoint", "--driver-name", "--log-level", "--cli-test-list",
                           "--cli-test-switch", "--help"}) {
    EXPECT_THAT(out.str(), HasSubstr(flag));
  }
  EXPECT_THAT(out.str(), HasSubstr("[repeatable]"));
}

}  // namespace
}  // namespace iscsi_csi
