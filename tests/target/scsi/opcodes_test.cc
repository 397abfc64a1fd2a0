// REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT
// FUNCTIONS, and the promise behind them: the table lists exactly the
// commands ParseCdb accepts.
#include "target/scsi/opcodes.h"

#include <set>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using ::testing::ElementsAre;
using testing::Bytes;
using testing::LunHarness;
using testing::Outcome;

Bytes Rsoc(uint8_t options, uint8_t opcode = 0, uint16_t service_action = 0,
           bool rctd = false, uint32_t allocation_length = 8192) {
  Bytes cdb(12, 0);
  cdb[0] = 0xa3;
  cdb[1] = 0x0c;
  cdb[2] = static_cast<uint8_t>((rctd ? 0x80 : 0) | options);
  cdb[3] = opcode;
  StoreBe16(&cdb[4], service_action);
  StoreBe32(&cdb[6], allocation_length);
  return cdb;
}

Bytes Rstmf(bool reptd) {
  Bytes cdb(12, 0);
  cdb[0] = 0xa3;
  cdb[1] = 0x0d;
  cdb[2] = reptd ? 0x80 : 0;
  StoreBe32(&cdb[6], 64);
  return cdb;
}

bool IsInvalidOpcode(const CdbParseResult& r) {
  const auto* c = std::get_if<CheckCondition>(&r);
  return c != nullptr && c->reason == SenseReason::kInvalidCommandOperationCode;
}

TEST(SupportedCommandsTest, EveryListedCommandIsAcceptedByTheParser) {
  const CdbLimits limits{1000, 128, 128, 16};
  for (const SupportedCommand& c : SupportedCommands()) {
    Bytes cdb(c.cdb_length, 0);
    cdb[0] = c.opcode;
    if (c.has_service_action) cdb[1] = static_cast<uint8_t>(c.service_action);
    if (c.opcode == 0x5f) cdb[8] = 24;  // PR OUT parameter list length
    if (c.opcode == 0x5f && (c.service_action == 1 || c.service_action == 2)) cdb[2] = 0x01;
    EXPECT_FALSE(IsInvalidOpcode(ParseCdb(cdb, limits)))
        << "opcode " << int{c.opcode} << " sa " << c.service_action;
  }
}

TEST(SupportedCommandsTest, EveryUnlistedOpcodeAndServiceActionIsInvalidOpcode) {
  const CdbLimits limits{1000, 128, 128, 16};
  for (int op = 0; op < 256; ++op) {
    const uint8_t length = CdbLengthForOpcode(static_cast<uint8_t>(op));
    if (length == 0) continue;
    for (int sa = 0; sa < 32; ++sa) {
      const bool has_sa = OpcodeHasServiceActions(static_cast<uint8_t>(op));
      if (!has_sa && sa > 0) break;
      Bytes cdb(length, 0);
      cdb[0] = static_cast<uint8_t>(op);
      cdb[1] = static_cast<uint8_t>(sa);
      const bool listed =
          FindSupportedCommand(static_cast<uint8_t>(op),
                               has_sa ? std::optional<uint16_t>(sa) : std::nullopt) != nullptr;
      if (listed) continue;
      const CdbParseResult r = ParseCdb(cdb, limits);
      if (op == 0x5e || op == 0x5f) {
        // Unknown PERSISTENT RESERVE service actions are an invalid field.
        const auto* c = std::get_if<CheckCondition>(&r);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(EncodeSense(*c, SenseFormat::kFixed),
                  EncodeSense(CheckCondition::InvalidFieldInCdb(1, 4), SenseFormat::kFixed))
            << op << "/" << sa;
      } else {
        EXPECT_TRUE(IsInvalidOpcode(r)) << "opcode " << op << " sa " << sa;
      }
    }
  }
}

TEST(SupportedCommandsTest, TableIsSortedWithoutDuplicates) {
  std::set<std::pair<uint8_t, uint16_t>> seen;
  std::pair<uint8_t, uint16_t> last{0, 0};
  for (const SupportedCommand& c : SupportedCommands()) {
    const std::pair<uint8_t, uint16_t> key{c.opcode, c.service_action};
    EXPECT_TRUE(seen.insert(key).second);
    EXPECT_LE(last, key);
    last = key;
    EXPECT_EQ(c.usage[0], c.opcode);
    EXPECT_EQ(c.cdb_length, CdbLengthForOpcode(c.opcode));
  }
}

class ReportOpcodesTest : public ::testing::Test {
 protected:
  ReportOpcodesTest() { harness_.ClearUnitAttention(); }
  LunHarness harness_;
};

TEST_F(ReportOpcodesTest, AllCommandsFormListsTheTableInOrder) {
  const Outcome out = harness_.Run(Rsoc(0));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  const auto table = SupportedCommands();
  ASSERT_EQ(out.data_in.size(), 4 + 8 * table.size());
  EXPECT_EQ(LoadBe32(&out.data_in[0]), 8 * table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const uint8_t* d = &out.data_in[4 + 8 * i];
    EXPECT_EQ(d[0], table[i].opcode);
    EXPECT_EQ(LoadBe16(d + 2), table[i].service_action);
    EXPECT_EQ(d[5], table[i].has_service_action ? 0x01 : 0x00);
    EXPECT_EQ(LoadBe16(d + 6), table[i].cdb_length);
  }
  // Spot check: READ(10) is there with a 10-byte CDB, GET LBA STATUS with its
  // service action.
  EXPECT_THAT(Bytes(out.data_in.begin() + 4, out.data_in.begin() + 12),
              ElementsAre(0x00, 0, 0, 0, 0, 0x00, 0, 6));
}

TEST_F(ReportOpcodesTest, AllCommandsWithRctdAppendsTimeoutsDescriptors) {
  const Outcome out = harness_.Run(Rsoc(0, 0, 0, true, 65535));
  ASSERT_EQ(out.status, ScsiStatus::kGood);
  const size_t n = SupportedCommands().size();
  ASSERT_EQ(out.data_in.size(), 4 + 20 * n);
  EXPECT_THAT(Bytes(out.data_in.begin() + 4, out.data_in.begin() + 24),
              ElementsAre(0x00, 0, 0, 0, 0, 0x02, 0, 6, 0x00, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          30));
}

TEST_F(ReportOpcodesTest, OneCommandReportsUsageDataOfRead10) {
  EXPECT_THAT(harness_.Run(Rsoc(1, 0x28)).data_in,
              ElementsAre(0, 0x03, 0, 10, 0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff,
                          0x05));
}

TEST_F(ReportOpcodesTest, OneCommandWithServiceActionAndTimeouts) {
  EXPECT_THAT(harness_.Run(Rsoc(2, 0x9e, 0x12, true)).data_in,
              ElementsAre(0, 0x83, 0, 16, 0x9e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x05, 0x00, 0x0a, 0, 0, 0, 0, 0, 0,
                          0, 0, 0, 30));
}

TEST_F(ReportOpcodesTest, UnsupportedCommandIsReportedAsNotSupported) {
  EXPECT_THAT(harness_.Run(Rsoc(1, 0x04)).data_in, ElementsAre(0, 0x01, 0, 0));
  EXPECT_THAT(harness_.Run(Rsoc(2, 0x9e, 0x13)).data_in, ElementsAre(0, 0x01, 0, 0));
  EXPECT_THAT(harness_.Run(Rsoc(3, 0x28)).data_in[1], 0x03);
}

TEST_F(ReportOpcodesTest, ServiceActionMismatchIsInvalidFieldAtReportingOptions) {
  const Bytes sense = {0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0xca, 0, 2};
  EXPECT_EQ(harness_.Run(Rsoc(1, 0x9e)).sense, sense);  // needs a service action
  EXPECT_EQ(harness_.Run(Rsoc(2, 0x28)).sense, sense);  // has none
}

TEST_F(ReportOpcodesTest, TaskManagementFunctionsBasicForm) {
  EXPECT_THAT(harness_.Run(Rstmf(false)).data_in, ElementsAre(0xd8, 0x00, 0x00, 0x00));
}

TEST_F(ReportOpcodesTest, TaskManagementFunctionsExtendedForm) {
  EXPECT_THAT(harness_.Run(Rstmf(true)).data_in,
              ElementsAre(0xd8, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
