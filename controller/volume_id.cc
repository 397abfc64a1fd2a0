#include "controller/volume_id.h"

#include <openssl/rand.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi::controller {
namespace {

constexpr size_t kIdRandomBytes = 8;  // 16 hex digits

bool HasIdShape(absl::string_view text, absl::string_view prefix) {
  if (!absl::StartsWith(text, prefix)) return false;
  absl::string_view digits = text.substr(prefix.size());
  if (digits.size() != 2 * kIdRandomBytes) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (bytes > 0 && RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) {
    return absl::InternalError("RAND_bytes failed: the CSPRNG is not available");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()));
}

absl::StatusOr<std::string> NewVolumeId() {
  absl::StatusOr<std::string> hex = RandomHex(kIdRandomBytes);
  if (!hex.ok()) return hex.status();
  return absl::StrCat(kVolumeIdPrefix, *hex);
}

absl::StatusOr<std::string> NewSnapshotId() {
  absl::StatusOr<std::string> hex = RandomHex(kIdRandomBytes);
  if (!hex.ok()) return hex.status();
  return absl::StrCat(kSnapshotIdPrefix, *hex);
}

bool IsVolumeId(absl::string_view text) { return HasIdShape(text, kVolumeIdPrefix); }
bool IsSnapshotId(absl::string_view text) { return HasIdShape(text, kSnapshotIdPrefix); }

}  // namespace iscsi_csi::controller
