// Tables for the controller's flag parsing (ParseControllerOptions).
#include "controller/options.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/controller/status_matchers.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::StatusIs;
using Code = absl::StatusCode;

ControllerFlagValues Flags() {
  ControllerFlagValues flags;
  flags.data_dir = "/var/lib/iscsi-csi";
  flags.portals = {"127.0.0.1:3260"};
  return flags;
}

TEST(ParseControllerOptionsTest, ChecksEveryFlag) {
  struct Case {
    std::string name;
    ControllerFlagValues flags;
    Code code;
  };
  std::vector<Case> cases;
  cases.push_back({"defaults", Flags(), Code::kOk});
  {
    ControllerFlagValues f = Flags();
    f.portals = {"0.0.0.0:3260"};
    cases.push_back({"wildcard portal without advertise", f, Code::kInvalidArgument});
    f.advertise_portals = {"10.0.0.5:3260"};
    cases.push_back({"wildcard portal with advertise", f, Code::kOk});
    f.advertise_portals = {"0.0.0.0:3260"};
    cases.push_back({"wildcard advertise", f, Code::kInvalidArgument});
    f.advertise_portals = {"10.0.0.5:0"};
    cases.push_back({"advertise port 0", f, Code::kInvalidArgument});
  }
  {
    ControllerFlagValues f = Flags();
    f.portals = {};
    cases.push_back({"no portal", f, Code::kInvalidArgument});
    f.portals = {"[::1]:3260", "127.0.0.1:0"};
    cases.push_back({"v6 and port 0", f, Code::kOk});
    f.portals = {"not a portal:x"};
    cases.push_back({"bad portal", f, Code::kInvalidArgument});
  }
  {
    ControllerFlagValues f = Flags();
    f.capacity = "100G";
    cases.push_back({"capacity with suffix", f, Code::kOk});
    f.capacity = "0";
    cases.push_back({"capacity zero", f, Code::kInvalidArgument});
    f.capacity = "lots";
    cases.push_back({"capacity not a size", f, Code::kInvalidArgument});
  }
  {
    ControllerFlagValues f = Flags();
    f.topology = {"topology.iscsi-csi.io/zone=z1"};
    cases.push_back({"topology", f, Code::kOk});
    f.topology = {"zone"};
    cases.push_back({"topology without value", f, Code::kInvalidArgument});
  }
  {
    ControllerFlagValues f = Flags();
    f.nop_in_interval = 0;
    cases.push_back({"nop-in off", f, Code::kOk});
    f.nop_in_interval = -1;
    cases.push_back({"nop-in negative", f, Code::kInvalidArgument});
  }
  {
    ControllerFlagValues f = Flags();
    f.max_connections = 0;
    cases.push_back({"no connection limit", f, Code::kOk});
    f.max_connections = -5;
    cases.push_back({"connection limit negative", f, Code::kInvalidArgument});
  }
  for (const Case& c : cases)
    EXPECT_THAT(ParseControllerOptions(c.flags), StatusIs(c.code)) << c.name;
}

TEST(ParseControllerOptionsTest, ParsesSizesInBinaryUnits) {
  ControllerFlagValues f = Flags();
  f.capacity = "2G";
  absl::StatusOr<ControllerOptions> options = ParseControllerOptions(f);
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->capacity_bytes, 2ull << 30);
}

TEST(ParseControllerOptionsTest, PassesTargetTuningThroughAndNamesTheFlag) {
  ControllerFlagValues f = Flags();
  absl::StatusOr<ControllerOptions> defaults = ParseControllerOptions(f);
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->nop_in_interval_seconds, 15);
  EXPECT_EQ(defaults->max_connections, 4096);
  f.nop_in_interval = 5;
  f.max_connections = 64;
  absl::StatusOr<ControllerOptions> tuned = ParseControllerOptions(f);
  ASSERT_THAT(tuned, IsOk());
  EXPECT_EQ(tuned->nop_in_interval_seconds, 5);
  EXPECT_EQ(tuned->max_connections, 64);
  f.max_connections = -1;
  absl::StatusOr<ControllerOptions> bad = ParseControllerOptions(f);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--max-connections"), std::string::npos) << bad.status();
  f.max_connections = 1;
  f.nop_in_interval = -2;
  bad = ParseControllerOptions(f);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--nop-in-interval"), std::string::npos) << bad.status();
}

TEST(AdvertisedPortalsTest, NamesTheBoundPortalsUnlessAdvertised) {
  ControllerFlagValues f = Flags();
  f.portals = {"127.0.0.1:0"};
  ControllerOptions options = *ParseControllerOptions(f);
  EXPECT_EQ(AdvertisedPortals(options, {target::PortalAddress{"127.0.0.1", 40123}}),
            std::vector<std::string>{"127.0.0.1:40123"});
  f.advertise_portals = {"10.0.0.5:3260", "[fd00::5]:3260"};
  options = *ParseControllerOptions(f);
  EXPECT_EQ(AdvertisedPortals(options, {target::PortalAddress{"127.0.0.1", 40123}}),
            (std::vector<std::string>{"10.0.0.5:3260", "[fd00::5]:3260"}));
}

}  // namespace
}  // namespace iscsi_csi::controller
