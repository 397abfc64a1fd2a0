// iscsi_session: a blocking libiscsi session for the reliability tests. Unlike
// tests/controller/iscsi_client it hands back every command's SCSI status and sense (key, ASC,
// ASCQ) instead of folding them into a Status, tells a lost connection apart from a SCSI
// answer, and lets the caller pick the ISID (a re-login with the same ISID reinstates the
// session, RFC 7143 §6.3.5, as the kernel initiator does after a connection failure).
#ifndef ISCSI_CSI_TESTS_RELIABILITY_ISCSI_SESSION_H_
#define ISCSI_CSI_TESTS_RELIABILITY_ISCSI_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct iscsi_context;
struct scsi_task;
typedef void (*iscsi_command_cb)(struct iscsi_context* iscsi, int status, void* command_data,
                                 void* private_data);

namespace iscsi_csi::reliability {

struct SessionOptions {
  std::string portal;  // "127.0.0.1:3260"
  std::string target_iqn;
  std::string initiator_name = "iqn.2026-11.io.iscsi-csi.test:reliability";
  uint32_t isid_qualifier = 0;  // with a fixed random part: the same value reinstates
  int timeout_seconds = 15;     // libiscsi's per-command timeout
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
};

struct UnmapRange {
  uint64_t lba = 0;
  uint32_t blocks = 0;
};

class IscsiSession {
 public:
  // Login connects and logs in to LUN 0, then reads the capacity (retrying unit attentions).
  static absl::StatusOr<std::unique_ptr<IscsiSession>> Login(const SessionOptions& options);
  ~IscsiSession();  // logs out when still logged in
  IscsiSession(const IscsiSession&) = delete;
  IscsiSession& operator=(const IscsiSession&) = delete;

  uint32_t block_size() const { return block_size_; }
  uint64_t blocks() const { return blocks_; }

  // Each command is retried while it meets a unit attention (a new nexus sees one first).
  CommandResult Read(uint64_t lba, uint32_t blocks);
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
  IscsiSession(iscsi_context* context, int timeout_seconds);
  // Run issues a command through `issue` (libiscsi's async API with our callback) and services
  // the connection until it completes, again while it meets a unit attention.
  CommandResult Run(const std::function<scsi_task*(iscsi_command_cb, void*)>& issue,
                    std::string data_out = "");
  CommandResult RunOnce(const std::function<scsi_task*(iscsi_command_cb, void*)>& issue,
                        std::string data_out);

  iscsi_context* context_;
  const int timeout_seconds_;
  uint32_t block_size_ = 512;
  uint64_t blocks_ = 0;
  // Set once a command went unanswered: the connection is unusable and no Logout is tried.
  bool broken_ = false;
  // Commands libiscsi may still call back (abandoned ones, until the context is destroyed).
  std::vector<std::unique_ptr<Pending>> pending_;
};

}  // namespace iscsi_csi::reliability

#endif  // ISCSI_CSI_TESTS_RELIABILITY_ISCSI_SESSION_H_
