// Tests for target/serial.h: RFC 1982 comparison of 32-bit sequence numbers.

#include "target/serial.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

static_assert(SerialLess(1, 2));
static_assert(SerialCompare(0xffffffff, 0) == SerialOrder::kLess);

TEST(SerialTest, NearbyNumbersCompareLikeIntegers) {
  EXPECT_TRUE(SerialLess(1, 2));
  EXPECT_FALSE(SerialLess(2, 1));
  EXPECT_TRUE(SerialGreater(2, 1));
  EXPECT_FALSE(SerialLess(5, 5));
  EXPECT_FALSE(SerialGreater(5, 5));
  EXPECT_TRUE(SerialLessOrEqual(5, 5));
  EXPECT_TRUE(SerialGreaterOrEqual(5, 5));
  EXPECT_EQ(SerialCompare(7, 7), SerialOrder::kEqual);
}

TEST(SerialTest, ComparisonIsCorrectAcrossWrap) {
  EXPECT_TRUE(SerialLess(0xffffffff, 0));
  EXPECT_TRUE(SerialGreater(0, 0xffffffff));
  EXPECT_TRUE(SerialLess(0xfffffff0, 0x10));
  EXPECT_FALSE(SerialLess(0x10, 0xfffffff0));
  EXPECT_TRUE(SerialLessOrEqual(0xfffffffe, 1));
  EXPECT_TRUE(SerialGreaterOrEqual(1, 0xfffffffe));
  const uint32_t cmd_sn = 0xffffffff;
  EXPECT_TRUE(SerialLess(cmd_sn, cmd_sn + 1));  // increment wraps to 0
}

TEST(SerialTest, LargestDefinedDistanceStillCompares) {
  // 2**31 - 1 apart: defined.
  EXPECT_TRUE(SerialLess(0, 0x7fffffff));
  EXPECT_TRUE(SerialGreater(0x7fffffff, 0));
  EXPECT_TRUE(SerialLess(0x80000001, 0));  // 0 is 0x7fffffff ahead
  EXPECT_EQ(SerialCompare(0x80000000, 0xffffffff), SerialOrder::kLess);
}

TEST(SerialTest, HalfRangeApartIsUndefinedAndNeitherLessNorGreater) {
  for (uint32_t a : {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
    const uint32_t b = a + kSerialHalfRange;
    EXPECT_EQ(SerialCompare(a, b), SerialOrder::kUndefined) << a;
    EXPECT_EQ(SerialCompare(b, a), SerialOrder::kUndefined) << a;
    EXPECT_FALSE(SerialLess(a, b));
    EXPECT_FALSE(SerialGreater(a, b));
    EXPECT_FALSE(SerialLessOrEqual(a, b));
    EXPECT_FALSE(SerialGreaterOrEqual(a, b));
  }
}

TEST(SerialTest, CommandWindowContainsItsEdgesAcrossWrap) {
  const uint32_t exp_cmd_sn = 0xfffffff0;
  const uint32_t max_cmd_sn = 0x0000000f;  // window of 32 that wraps
  EXPECT_TRUE(SerialInWindow(exp_cmd_sn, exp_cmd_sn, max_cmd_sn));
  EXPECT_TRUE(SerialInWindow(0xffffffff, exp_cmd_sn, max_cmd_sn));
  EXPECT_TRUE(SerialInWindow(0, exp_cmd_sn, max_cmd_sn));
  EXPECT_TRUE(SerialInWindow(max_cmd_sn, exp_cmd_sn, max_cmd_sn));
  EXPECT_FALSE(SerialInWindow(max_cmd_sn + 1, exp_cmd_sn, max_cmd_sn));
  EXPECT_FALSE(SerialInWindow(exp_cmd_sn - 1, exp_cmd_sn, max_cmd_sn));
  EXPECT_FALSE(SerialInWindow(exp_cmd_sn + kSerialHalfRange, exp_cmd_sn, max_cmd_sn));
}

TEST(SerialTest, WindowWithMaxOneBelowExpIsEmpty) {
  const uint32_t exp_cmd_sn = 0;
  const uint32_t max_cmd_sn = exp_cmd_sn - 1;  // 0xffffffff: window closed
  for (uint32_t cmd_sn : {0u, 1u, 0xffffffffu, 0x7fffffffu, 0x80000000u}) {
    EXPECT_FALSE(SerialInWindow(cmd_sn, exp_cmd_sn, max_cmd_sn)) << cmd_sn;
  }
}

}  // namespace
}  // namespace iscsi_csi::target
