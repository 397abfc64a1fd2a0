// ErrnoStatus / ErrnoFromStatus: errno-preserving Status helpers for stores.
#include "target/backend/block_store.h"

#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi::target::backend {
namespace {

constexpr absl::string_view kErrnoPayloadUrl =
    "type.iscsi-csi.io/target.backend.Errno";

}  // namespace

absl::Status ErrnoStatus(int error_number, absl::string_view what) {
  absl::Status status = absl::ErrnoToStatus(
      error_number, absl::StrCat(what, ": ", std::strerror(error_number)));
  status.SetPayload(kErrnoPayloadUrl, absl::Cord(absl::StrCat(error_number)));
  return status;
}

std::optional<int> ErrnoFromStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  int error_number = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &error_number)) {
    return std::nullopt;
  }
  return error_number;
}

}  // namespace iscsi_csi::target::backend
