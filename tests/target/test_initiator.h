// TestInitiator: a small blocking iSCSI initiator for tests, built on the Encode*/Parse*
// functions of target/pdu.h. It logs in (with CHAP when asked), runs SCSI commands with
// immediate data, unsolicited Data-Out and R2T-solicited Data-Out, and speaks NOP, Text,
// task management and Logout. It also lets a test send raw or deliberately broken PDUs.
#ifndef ISCSI_CSI_TESTS_TARGET_TEST_INITIATOR_H_
#define ISCSI_CSI_TESTS_TARGET_TEST_INITIATOR_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "target/protocol.h"
#include "target/target.h"

namespace iscsi_csi::target::testing {

struct TargetPdu {
  Bhs bhs{};
  std::vector<uint8_t> data;
  Opcode opcode() const { return static_cast<Opcode>(bhs[0] & kOpcodeMask); }
};

struct ChapCredentialsForTest {
  std::string user;
  std::string secret;
};

struct LoginOptions {
  std::string initiator_name = "iqn.2026-01.io.iscsi-csi.test:initiator";
  std::string target_name;  // empty: a discovery session
  std::array<uint8_t, 6> isid = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
  uint16_t tsih = 0;
  uint32_t cmd_sn = 1;
  std::optional<ChapCredentialsForTest> chap;
  // Mutual CHAP: the credentials we expect the target to prove.
  std::optional<ChapCredentialsForTest> mutual_chap;
  bool header_digest = false;
  bool data_digest = false;
  uint32_t max_recv_data_segment_length = 262144;
  bool immediate_data = true;
  bool initial_r2t = false;
  uint32_t first_burst_length = 65536;
  uint32_t max_burst_length = 262144;
};

struct LoginResult {
  uint8_t status_class = 0;
  uint8_t status_detail = 0;
  uint16_t tsih = 0;
  std::map<std::string, std::string> keys;  // every key the target sent
  bool ok() const { return status_class == 0; }
};

struct CommandOptions {
  uint64_t lun = 0;  // a LUN number (encoded with single-level addressing)
  std::vector<uint8_t> cdb;
  bool read = false;
  bool write = false;
  uint32_t expected_length = 0;   // Expected Data Transfer Length
  std::vector<uint8_t> data_out;  // what we send (normally expected_length bytes)
  bool immediate = false;         // the I bit
};

struct ScsiResult {
  uint8_t status = 0;
  std::vector<uint8_t> sense;  // without the SenseLength prefix
  std::vector<uint8_t> data;
  bool overflow = false;
  bool underflow = false;
  uint32_t residual = 0;
  int r2ts = 0;
  int data_in_pdus = 0;
  bool collapsed_status = false;  // status arrived in the last Data-In
  uint8_t sense_key() const { return sense.size() > 2 ? sense[2] & 0x0f : 0; }
  uint8_t asc() const { return sense.size() > 12 ? sense[12] : 0; }
  uint8_t ascq() const { return sense.size() > 13 ? sense[13] : 0; }
};

// ParseKeys adds the key=value pairs of a Login/Text data segment to `keys` (later wins).
void ParseKeys(const std::vector<uint8_t>& data, std::map<std::string, std::string>* keys);

class TestInitiator {
 public:
  static absl::StatusOr<std::unique_ptr<TestInitiator>> Connect(const PortalAddress& portal);
  ~TestInitiator();

  // --- raw access ---
  absl::Status SendRaw(absl::Span<const uint8_t> bytes);
  // SendPdu frames a PDU with the negotiated digests (override with `digests`).
  absl::Status SendPdu(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data = {},
                       std::optional<DigestSettings> digests = std::nullopt);
  absl::StatusOr<TargetPdu> ReadPdu(absl::Duration timeout = absl::Seconds(5));
  // WaitForClose: true when the target closed the connection within `timeout` (any PDUs
  // received meanwhile are discarded).
  bool WaitForClose(absl::Duration timeout);
  // ExpectSilence: true when no PDU arrives within `timeout` and the connection stays open.
  bool ExpectSilence(absl::Duration timeout);

  // --- login ---
  absl::StatusOr<LoginResult> Login(const LoginOptions& options);

  // --- full feature phase ---
  // Command sends a SCSI command and its data and waits for its status.
  absl::StatusOr<ScsiResult> Command(const CommandOptions& options);
  // StartCommand sends the command (and immediate data) only; returns its ITT.
  absl::StatusOr<uint32_t> StartCommand(const CommandOptions& options);
  // FinishCommand serves R2Ts and collects Data-In/status for a started command.
  absl::StatusOr<ScsiResult> FinishCommand(uint32_t itt, const CommandOptions& options);
  // AnswerR2t sends the Data-Out an R2T (read by the test itself) asks for.
  absl::Status AnswerR2t(const TargetPdu& r2t, const CommandOptions& options);
  // TestUnitReady until GOOD (swallowing the unit attentions of a new nexus).
  absl::Status ClearUnitAttentions(uint64_t lun = 0);

  absl::StatusOr<std::string> SendTargets(const std::string& value);
  absl::StatusOr<TargetPdu> Ping(const std::vector<uint8_t>& data);
  absl::StatusOr<TaskMgmtResponse> TaskManagement(TmfFunction function, uint64_t lun,
                                                  uint32_t referenced_itt, uint32_t ref_cmd_sn);
  absl::StatusOr<LogoutResponse> Logout(LogoutReason reason = LogoutReason::kCloseSession);

  // Reads until a PDU for `itt` arrives (answering pings, keeping async messages).
  absl::StatusOr<TargetPdu> ReadFor(uint32_t itt, absl::Duration timeout = absl::Seconds(5));

  uint32_t NextItt() { return next_itt_++; }
  uint32_t TakeCmdSn() { return cmd_sn_++; }
  uint32_t cmd_sn() const { return cmd_sn_; }
  void set_cmd_sn(uint32_t value) { cmd_sn_ = value; }
  uint32_t exp_stat_sn() const { return exp_stat_sn_; }
  uint32_t max_cmd_sn() const { return max_cmd_sn_; }
  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  const DigestSettings& digests() const { return digests_; }
  uint32_t target_max_recv_data_segment_length() const { return target_mrdsl_; }
  const std::vector<TargetPdu>& async_messages() const { return async_messages_; }
  int fd() const { return fd_; }

  static uint64_t LunField(uint64_t lun);

 private:
  explicit TestInitiator(int fd) : fd_(fd) {}
  absl::Status ReadExact(uint8_t* out, size_t length, absl::Time deadline);
  absl::StatusOr<TargetPdu> LoginStep(const LoginOptions& options, uint8_t csg, uint8_t nsg,
                                      bool transit, const std::string& text,
                                      std::map<std::string, std::string>* keys,
                                      LoginResult* result);
  absl::Status SendDataOut(uint32_t itt, uint64_t lun_field, uint32_t ttt,
                           absl::Span<const uint8_t> data, uint32_t offset, uint32_t length);
  void NoteSn(const TargetPdu& pdu);

  int fd_;
  DigestSettings digests_;
  uint32_t next_itt_ = 0x1000;
  uint32_t cmd_sn_ = 1;
  uint32_t exp_stat_sn_ = 0;
  uint32_t exp_cmd_sn_ = 0;
  uint32_t max_cmd_sn_ = 0;
  uint32_t target_mrdsl_ = 8192;
  bool immediate_data_ = false;
  bool initial_r2t_ = true;
  uint32_t first_burst_ = 65536;
  uint32_t max_burst_ = 262144;
  std::vector<TargetPdu> async_messages_;
  std::vector<TargetPdu> stray_;  // PDUs read while waiting for another ITT
};

}  // namespace iscsi_csi::target::testing

#endif  // ISCSI_CSI_TESTS_TARGET_TEST_INITIATOR_H_
