// Serial number arithmetic (RFC 1982, SERIAL_BITS = 32) for the iSCSI sequence numbers
// CmdSN, ExpCmdSN, MaxCmdSN, StatSN, ExpStatSN, DataSN and R2TSN; RFC 7143 §4.2.2.1 requires
// serial arithmetic with SERIAL_BITS = 32 for comparing them.
//
// Two numbers a != b compare by their distance modulo 2**32: a < b when b is 1..2**31-1
// steps ahead of a. RFC 1982 §3.2 leaves the comparison undefined when the distance is
// exactly 2**31. Here that case is deterministic: such a pair is neither less nor greater
// (SerialCompare returns kUndefined), so a sequence number half the space away from a
// window edge is never inside the window. Addition is plain unsigned arithmetic
// (`cmd_sn + 1` wraps as RFC 1982 §3.1 requires for increments below 2**31).

#ifndef ISCSI_CSI_TARGET_SERIAL_H_
#define ISCSI_CSI_TARGET_SERIAL_H_

#include <cstdint>

namespace iscsi_csi::target {

// The distance at which RFC 1982 comparison becomes undefined (2**(SERIAL_BITS - 1)).
inline constexpr uint32_t kSerialHalfRange = 0x80000000u;

enum class SerialOrder { kEqual, kLess, kGreater, kUndefined };

// SerialCompare orders `a` relative to `b`: kLess when b - a (mod 2**32) is in
// [1, 2**31 - 1], kGreater when a - b is, kEqual when a == b, kUndefined otherwise.
constexpr SerialOrder SerialCompare(uint32_t a, uint32_t b) {
  if (a == b) return SerialOrder::kEqual;
  const uint32_t ahead = b - a;  // how far b is ahead of a, modulo 2**32
  if (ahead < kSerialHalfRange) return SerialOrder::kLess;
  if (ahead > kSerialHalfRange) return SerialOrder::kGreater;
  return SerialOrder::kUndefined;
}

// SerialLess is RFC 1982's "a < b"; false for equal and for undefined pairs.
constexpr bool SerialLess(uint32_t a, uint32_t b) {
  return SerialCompare(a, b) == SerialOrder::kLess;
}

// SerialGreater is RFC 1982's "a > b"; false for equal and for undefined pairs.
constexpr bool SerialGreater(uint32_t a, uint32_t b) {
  return SerialCompare(a, b) == SerialOrder::kGreater;
}

constexpr bool SerialLessOrEqual(uint32_t a, uint32_t b) {
  const SerialOrder order = SerialCompare(a, b);
  return order == SerialOrder::kEqual || order == SerialOrder::kLess;
}

constexpr bool SerialGreaterOrEqual(uint32_t a, uint32_t b) {
  const SerialOrder order = SerialCompare(a, b);
  return order == SerialOrder::kEqual || order == SerialOrder::kGreater;
}

// SerialInWindow reports low <= value <= high in serial order, e.g. the command window
// ExpCmdSN <= CmdSN <= MaxCmdSN (RFC 7143 §4.2.2.1). A window with high = low - 1 is empty,
// which is how a target closes the window (MaxCmdSN = ExpCmdSN - 1).
constexpr bool SerialInWindow(uint32_t value, uint32_t low, uint32_t high) {
  return SerialLessOrEqual(low, value) && SerialLessOrEqual(value, high);
}

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_SERIAL_H_
