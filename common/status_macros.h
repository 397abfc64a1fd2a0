// status_macros.h: early-return helpers for absl::Status / absl::StatusOr.
// Abseil 20220623 (Debian 12) predates absl's own RETURN_IF_ERROR / ASSIGN_OR_RETURN; these
// look-alikes keep call sites the same for when the pin moves.
#ifndef ISCSI_CSI_COMMON_STATUS_MACROS_H_
#define ISCSI_CSI_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ISCSI_CSI_CONCAT_INNER_(a, b) a##b
#define ISCSI_CSI_CONCAT_(a, b) ISCSI_CSI_CONCAT_INNER_(a, b)

// RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing function when not OK.
#define RETURN_IF_ERROR(expr)                                       \
  do {                                                              \
    if (absl::Status _iscsi_csi_st = (expr); !_iscsi_csi_st.ok()) { \
      return _iscsi_csi_st;                                         \
    }                                                               \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates a StatusOr expression; on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  ISCSI_CSI_ASSIGN_OR_RETURN_IMPL_(ISCSI_CSI_CONCAT_(_iscsi_csi_sor_, __LINE__), lhs, expr)
#define ISCSI_CSI_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = std::move(tmp).value()

#endif  // ISCSI_CSI_COMMON_STATUS_MACROS_H_
