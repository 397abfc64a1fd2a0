// iscsi_session: a blocking libiscsi session for tests that read and write LUNs as an initiator
// would. It drives libiscsi's async API itself (login and logout included), so a connection
// lost mid-command is safe: libiscsi's *_sync calls keep their state on the stack and a command
// they abandon is called back into a dead frame when the context is destroyed. Every command
// hands back its SCSI status and sense (key, ASC, ASCQ), a lost connection is told apart from a
// SCSI answer, the login may use (mutual) CHAP, and the caller may pick the ISID (a re-login
// with the same ISID reinstates the session, RFC 7143 §6.3.5, as the kernel initiator does
// after a connection failure). Unit attentions (a new nexus, CAPACITY DATA HAS CHANGED) are
// retried away.
#ifndef ISCSI_CSI_TESTS_TESTUTIL_ISCSI_SESSION_H_
#define ISCSI_CSI_TESTS_TESTUTIL_ISCSI_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct iscsi_context;
typedef void (*iscsi_command_cb)(struct iscsi_context* iscsi, int status, void* command_data,
                                 void* private_data);

namespace iscsi_csi::testing {

struct SessionOptions {
  std::string portal;  // "127.0.0.1:3260"
  std::string target_iqn;
  std::string initiator_name = "iqn.2026-11.io.iscsi-csi.test:initiator";
  // With a value: the ISID's random part is fixed (from the pid) and this is its qualifier, so
  // the same value reinstates the session. Without: libiscsi's own random ISID.
  std::optional<uint32_t> isid_qualifier;
  std::string chap_user;  // empty: no CHAP
  std::string chap_secret;
  std::string target_chap_user;  // non-empty: mutual CHAP (the target must prove this secret)
  std::string target_chap_secret;
  int timeout_seconds = 15;  // libiscsi's per-command timeout
};

// What one command came back with. `connected` is false when the command never got an answer
// (connection lost, timeout): the data may or may not have reached the medium.
struct CommandResult {
  bool connected = true;
  int status = -1;  // SCSI status (0 GOOD, 2 CHECK CONDITION)
  int sense_key = 0;
  int asc = 0;
  int ascq = 0;
  std::string data;   // Data-In
  std::string error;  // libiscsi's message when !connected

  bool good() const { return connected && status == 0; }
  bool Sense(int key, int want_asc, int want_ascq) const {
    return connected && status == 2 && sense_key == key && asc == want_asc && ascq == want_ascq;
  }
  std::string Describe() const;
  // ToStatus: OK when good(); Unavailable without an answer; Internal for any other SCSI status.
  absl::Status ToStatus() const;
};

struct UnmapRange {
  uint64_t lba = 0;
  uint32_t blocks = 0;
};

class IscsiSession {
 public:
  // Login connects and logs in to LUN 0, then reads the capacity. Unavailable with libiscsi's
  // message when the login or READ CAPACITY(16) fails.
  static absl::StatusOr<std::unique_ptr<IscsiSession>> Login(const SessionOptions& options);
  ~IscsiSession();  // logs out when still logged in
  IscsiSession(const IscsiSession&) = delete;
  IscsiSession& operator=(const IscsiSession&) = delete;

  // The capacity as of the login or the last good ReadCapacity16().
  uint32_t block_size() const { return block_size_; }
  uint64_t blocks() const { return blocks_; }
  uint64_t capacity_bytes() const { return blocks_ * block_size_; }

  CommandResult ReadCapacity16();  // updates blocks() and block_size() when good
  CommandResult Read(uint64_t lba, uint32_t blocks);
  // Write writes `data` (a multiple of the block size) at `lba`; with `fua` the target must
  // have it on stable storage before it answers.
  CommandResult Write(uint64_t lba, const std::string& data, bool fua = false);
  CommandResult Unmap(const std::vector<UnmapRange>& ranges);
  CommandResult SynchronizeCache();
  // Drop closes the TCP connection without a Logout (a crashed or cut-off initiator).
  void Drop();
  // Logout logs out; false when the target did not answer.
  bool Logout();
  // Whether a command went unanswered (the connection is gone).
  bool broken() const { return broken_; }

 private:
  struct Pending;
  // Issue starts one libiscsi async call with our callback and its private data; false when
  // libiscsi did not take it.
  using Issue = std::function<bool(iscsi_command_cb, void*)>;

  IscsiSession(iscsi_context* context, int timeout_seconds);
  // Run issues a SCSI command and services the connection until it completes, again while it
  // meets a unit attention.
  CommandResult Run(const Issue& issue, std::string data_out = "");
  // RunOnce issues one call (a SCSI command when `scsi`, else a login or logout) and services
  // the connection until it completes or is given up.
  CommandResult RunOnce(const Issue& issue, std::string data_out, bool scsi);

  iscsi_context* context_;
  const int timeout_seconds_;
  uint32_t block_size_ = 512;
  uint64_t blocks_ = 0;
  // Set once a call went unanswered: the connection is unusable and no Logout is tried.
  bool broken_ = false;
  // Calls libiscsi may still call back (abandoned ones, until the context is destroyed).
  std::vector<std::unique_ptr<Pending>> pending_;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_TESTUTIL_ISCSI_SESSION_H_
