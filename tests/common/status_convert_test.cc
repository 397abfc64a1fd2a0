#include "common/status_convert.h"

#include "gtest/gtest.h"

namespace iscsi_csi {
namespace {

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  grpc::Status st = ToGrpcStatus(absl::NotFoundError("volume vol-1 not found"));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "volume vol-1 not found");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::AbortedError("x")).error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ToGrpcStatus(absl::ResourceExhaustedError("x")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(FromGrpcStatusTest, IsTheInverse) {
  absl::Status st = FromGrpcStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "busy"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "busy");
}

TEST(WithContextTest, PrefixesMessageAndKeepsCode) {
  absl::Status st = WithContext(absl::UnauthenticatedError("iscsiadm exited 24"), "stage vol-7f3");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(st.message(), "stage vol-7f3: iscsiadm exited 24");
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace iscsi_csi
