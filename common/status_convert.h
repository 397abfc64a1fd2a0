// status_convert: the one place where absl::Status becomes grpc::Status.
// absl and gRPC share the google.rpc.Code numbering, so codes map one to one.
#ifndef ISCSI_CSI_COMMON_STATUS_CONVERT_H_
#define ISCSI_CSI_COMMON_STATUS_CONVERT_H_

#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace iscsi_csi {

// ToGrpcStatus returns the gRPC status with the same code and message as `status`.
grpc::Status ToGrpcStatus(const absl::Status& status);

// FromGrpcStatus is the inverse, for clients of our own services (tests, tools).
absl::Status FromGrpcStatus(const grpc::Status& status);

// WithContext returns `status` with "<context>: " prefixed to its message, keeping the code.
// OK stays OK.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_STATUS_CONVERT_H_
