// status_matchers: assert on status codes (absl::Status, absl::StatusOr, grpc::Status), never on
// message text. TODO(tests): share one copy with tests/node in tests/testutil.
#ifndef ISCSI_CSI_TESTS_CONTROLLER_STATUS_MATCHERS_H_
#define ISCSI_CSI_TESTS_CONTROLLER_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "grpcpp/support/status.h"

namespace iscsi_csi::controller::testing {

inline absl::StatusCode CodeOf(const absl::Status& status) { return status.code(); }
template <typename T>
absl::StatusCode CodeOf(const absl::StatusOr<T>& status_or) {
  return status_or.status().code();
}
inline absl::StatusCode CodeOf(const grpc::Status& status) {
  return static_cast<absl::StatusCode>(status.error_code());
}
inline std::string MessageOf(const absl::Status& status) { return std::string(status.message()); }
template <typename T>
std::string MessageOf(const absl::StatusOr<T>& status_or) {
  return std::string(status_or.status().message());
}
inline std::string MessageOf(const grpc::Status& status) { return status.error_message(); }

MATCHER_P(StatusIs, code,
          std::string(negation ? "does not have" : "has") + " code " +
              absl::StatusCodeToString(code)) {
  const absl::StatusCode actual = CodeOf(arg);
  if (actual != code) {
    *result_listener << "code " << absl::StatusCodeToString(actual) << ": " << MessageOf(arg);
    return false;
  }
  return true;
}

MATCHER(IsOk, "is OK") {
  if (CodeOf(arg) != absl::StatusCode::kOk) {
    *result_listener << absl::StatusCodeToString(CodeOf(arg)) << ": " << MessageOf(arg);
    return false;
  }
  return true;
}

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_STATUS_MATCHERS_H_
