#include "common/flags.h"

#include <string>

#include "gtest/gtest.h"

namespace iscsi_csi {
namespace {

TEST(LogLevelFlagTest, NamesMapToSeverityAndVerbosity) {
  struct Case {
    std::string text;
    int severity;
    int verbosity;
  };
  for (const Case& c : {Case{"error", 2, 0}, Case{"warning", 1, 0}, Case{"info", 0, 0},
                        Case{"debug", 0, 4}, Case{"TRACE", 0, 5}, Case{"3", 0, 3}}) {
    LogLevel level;
    std::string error;
    ASSERT_TRUE(AbslParseFlag(c.text, &level, &error)) << c.text << ": " << error;
    EXPECT_EQ(level.min_severity, c.severity) << c.text;
    EXPECT_EQ(level.verbosity, c.verbosity) << c.text;
  }
}

TEST(LogLevelFlagTest, UnknownNameOrOutOfRangeNumberIsRefused) {
  for (const char* text : {"loud", "", "-1", "11", "2x"}) {
    LogLevel level;
    std::string error;
    EXPECT_FALSE(AbslParseFlag(text, &level, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(ListenAddressFlagTest, AcceptsHostPortFormsAndEmpty) {
  ListenAddress address;
  std::string error;
  ASSERT_TRUE(AbslParseFlag("127.0.0.1:9808", &address, &error)) << error;
  EXPECT_TRUE(address.enabled);
  EXPECT_EQ(address.ToString(), "127.0.0.1:9808");
  ASSERT_TRUE(AbslParseFlag(":9100", &address, &error)) << error;
  EXPECT_EQ(address.ToString(), "0.0.0.0:9100");
  ASSERT_TRUE(AbslParseFlag("[::1]:9100", &address, &error)) << error;
  EXPECT_EQ(address.ToString(), "[::1]:9100");
  ASSERT_TRUE(AbslParseFlag("", &address, &error)) << error;
  EXPECT_FALSE(address.enabled);
}

TEST(ListenAddressFlagTest, MissingOrBadPortIsRefused) {
  for (const char* text : {"localhost", "host:", "host:0", "host:65536", "::1:80", "[::1]80"}) {
    ListenAddress address;
    std::string error;
    EXPECT_FALSE(AbslParseFlag(text, &address, &error)) << text;
  }
}

TEST(ValidateDriverNameTest, FollowsCsiNamingRule) {
  EXPECT_TRUE(ValidateDriverName("iscsi-csi.io").ok());
  EXPECT_TRUE(ValidateDriverName("a").ok());
  EXPECT_TRUE(ValidateDriverName(std::string(63, 'x')).ok());
  EXPECT_FALSE(ValidateDriverName("").ok());
  EXPECT_FALSE(ValidateDriverName(std::string(64, 'x')).ok());
  EXPECT_FALSE(ValidateDriverName("-leading").ok());
  EXPECT_FALSE(ValidateDriverName("trailing.").ok());
  EXPECT_FALSE(ValidateDriverName("under_score").ok());
  EXPECT_FALSE(ValidateDriverName("sp ace").ok());
}

}  // namespace
}  // namespace iscsi_csi
