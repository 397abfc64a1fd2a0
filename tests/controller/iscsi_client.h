// iscsi_client: a blocking libiscsi session for tests that read and write volumes through the
// embedded target as a real initiator would: login with an initiator name and (mutual) CHAP,
// READ CAPACITY(16), READ(16), WRITE(16), SYNCHRONIZE CACHE. Unit attentions (a new nexus,
// CAPACITY DATA HAS CHANGED) are swallowed by retrying.
#ifndef ISCSI_CSI_TESTS_CONTROLLER_ISCSI_CLIENT_H_
#define ISCSI_CSI_TESTS_CONTROLLER_ISCSI_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct iscsi_context;

namespace iscsi_csi::controller::testing {

struct IscsiLogin {
  std::string portal;  // "127.0.0.1:3260"
  std::string target_iqn;
  std::string initiator_name;
  std::string chap_user;  // empty: no CHAP
  std::string chap_secret;
  std::string target_chap_user;  // non-empty: mutual CHAP (we check the target)
  std::string target_chap_secret;
};

struct Capacity {
  uint64_t bytes = 0;
  uint32_t block_size = 0;
};

class IscsiClient {
 public:
  // Login connects and logs in to LUN 0. Unavailable with libiscsi's message on failure.
  static absl::StatusOr<std::unique_ptr<IscsiClient>> Login(const IscsiLogin& login);
  ~IscsiClient();
  IscsiClient(const IscsiClient&) = delete;
  IscsiClient& operator=(const IscsiClient&) = delete;

  absl::StatusOr<Capacity> ReadCapacity16();
  absl::StatusOr<std::string> Read(uint64_t lba, uint32_t blocks);
  // Write writes `data` (a multiple of the block size) at `lba`; with `fua` the target must
  // have it on stable storage before it answers.
  absl::Status Write(uint64_t lba, const std::string& data, bool fua = false);
  absl::Status SynchronizeCache();
  uint32_t block_size() const { return block_size_; }

 private:
  explicit IscsiClient(iscsi_context* context) : context_(context) {}
  iscsi_context* context_;
  uint32_t block_size_ = 512;
};

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_ISCSI_CLIENT_H_
