// A hostile initiator against a live Target over loopback TCP (issue #12): malformed CHAP,
// misplaced and oversized PDUs and text, bad Data-Out, CmdSN outside the window, inconsistent
// WRITE SAME / UNMAP / COMPARE AND WRITE, task management against tasks in flight, stalled
// and slow connections, and a login storm. Each test asserts the answer RFC 7143, SBC-3 or
// SPC-4 calls for (Reject reason, Login status, sense key/ASC/ASCQ, or a dropped connection)
// and, in TearDown, that a well-behaved session opened before the attack still writes and
// reads back, and that the data it had written before the attack is unchanged.
#include <dirent.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "target/bytes.h"
#include "target/chap.h"
#include "target/login.h"
#include "target/session.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

// What the target declares as its MaxRecvDataSegmentLength: small, so that oversized data
// segments are cheap to send.
constexpr uint32_t kTargetMaxRecv = 16384;

// The bystander's acknowledged data, and where it proves after the attack that it still works.
constexpr uint32_t kBystanderLba = 1000;
constexpr uint16_t kBystanderBlocks = 16;
constexpr uint32_t kBystanderCheckLba = 3000;
// Scratch space for attacks that are allowed to change the medium.
constexpr uint32_t kScratchLba = 6000;

constexpr char kBystanderName[] = "iqn.2026-01.io.iscsi-csi.test:bystander";
constexpr char kAttackerName[] = "iqn.2026-01.io.iscsi-csi.test:attacker";
constexpr std::array<uint8_t, 6> kBystanderIsid = {0x80, 0x12, 0x34, 0x56, 0x00, 0xb0};
constexpr std::array<uint8_t, 6> kAttackerIsid = {0x80, 0x12, 0x34, 0x56, 0x00, 0xa0};

constexpr char kChapUser[] = "alice";
constexpr char kChapSecret[] = "initiator-secret-1";
constexpr char kTargetChapUser[] = "target";
constexpr char kTargetChapSecret[] = "target-secret-2222";

// The SAM-5 status and SPC-4 sense keys the tests expect.
constexpr uint8_t kIllegalRequest = 0x05;
constexpr uint8_t kAbortedCommand = 0x0b;
constexpr uint8_t kUnitAttention = 0x06;
constexpr uint8_t kCheckCondition = 0x02;

absl::Span<const uint8_t> Bytes(const std::string& text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

std::map<std::string, std::string> Keys(const std::vector<uint8_t>& data) {
  std::map<std::string, std::string> keys;
  ParseKeys(data, &keys);
  return keys;
}

// --- SCSI commands -------------------------------------------------------------------------

// WRITE SAME(16) (SBC-3 5.43): byte 1 carries UNMAP (bit 3) and NDOB (bit 0).
std::vector<uint8_t> WriteSame16(uint8_t byte1, uint64_t lba, uint32_t blocks) {
  std::vector<uint8_t> cdb(16, 0);
  cdb[0] = 0x93;
  cdb[1] = byte1;
  StoreBe64(absl::MakeSpan(cdb), 2, lba);
  StoreBe32(absl::MakeSpan(cdb), 10, blocks);
  return cdb;
}

// COMPARE AND WRITE (SBC-3 5.2): NUMBER OF LOGICAL BLOCKS in byte 13; the data-out buffer
// holds that many verify blocks followed by as many write blocks.
std::vector<uint8_t> CompareAndWrite(uint64_t lba, uint8_t blocks) {
  std::vector<uint8_t> cdb(16, 0);
  cdb[0] = 0x89;
  StoreBe64(absl::MakeSpan(cdb), 2, lba);
  cdb[13] = blocks;
  return cdb;
}

// UNMAP (SBC-3 5.28) with its PARAMETER LIST LENGTH.
std::vector<uint8_t> Unmap(uint16_t parameter_list_length) {
  std::vector<uint8_t> cdb(10, 0);
  cdb[0] = 0x42;
  StoreBe16(absl::MakeSpan(cdb), 7, parameter_list_length);
  return cdb;
}

struct UnmapDescriptor {
  uint64_t lba = 0;
  uint32_t blocks = 0;
};

// UNMAP parameter data (SBC-3 table 81) with whatever header lengths the caller claims.
std::vector<uint8_t> UnmapParameters(uint16_t unmap_data_length, uint16_t descriptor_data_length,
                                     const std::vector<UnmapDescriptor>& descriptors) {
  std::vector<uint8_t> data(8 + 16 * descriptors.size(), 0);
  StoreBe16(absl::MakeSpan(data), 0, unmap_data_length);
  StoreBe16(absl::MakeSpan(data), 2, descriptor_data_length);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    StoreBe64(absl::MakeSpan(data), 8 + 16 * i, descriptors[i].lba);
    StoreBe32(absl::MakeSpan(data), 8 + 16 * i + 8, descriptors[i].blocks);
  }
  return data;
}

void ExpectCheckCondition(const absl::StatusOr<ScsiResult>& result, uint8_t key, uint8_t asc,
                          uint8_t ascq) {
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, kCheckCondition);
  EXPECT_EQ(result->sense_key(), key);
  EXPECT_EQ(result->asc(), asc);
  EXPECT_EQ(result->ascq(), ascq);
}

// ExpectData: a GOOD read that returned `expected`.
void ExpectData(const absl::StatusOr<ScsiResult>& result, const std::vector<uint8_t>& expected,
                const char* what) {
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  EXPECT_TRUE(result->data == expected) << what;
}

void ExpectGood(const absl::StatusOr<ScsiResult>& result) {
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0) << "sense " << int{result->sense_key()} << "/" << int{result->asc()}
                               << "/" << int{result->ascq()};
}

// ExpectStillServed: a TEST UNIT READY on `initiator` is answered GOOD, so its session goes on
// with its CmdSN window in step.
void ExpectStillServed(TestInitiator& initiator) {
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  ExpectGood(initiator.Command(tur));
}

// A write waiting for the data its first R2T solicits.
struct SolicitedWrite {
  uint32_t itt = 0;
  TargetPdu r2t;
  uint32_t ttt() const { return LoadBe32(r2t.bhs, 20); }
};
// StartSolicitedWrite starts `write`, which must wait for solicited data, and reads its R2T.
void StartSolicitedWrite(TestInitiator& initiator, const CommandOptions& write,
                         SolicitedWrite* out) {
  absl::StatusOr<uint32_t> itt = initiator.StartCommand(write);
  ASSERT_TRUE(itt.ok()) << itt.status();
  out->itt = *itt;
  absl::StatusOr<TargetPdu> r2t = initiator.ReadFor(*itt);
  ASSERT_TRUE(r2t.ok()) << r2t.status();
  ASSERT_EQ(r2t->opcode(), Opcode::kR2t);
  out->r2t = *std::move(r2t);
}

// ExpectTmfResponse: a task management request for LUN 0 is answered with `expected`.
void ExpectTmfResponse(TestInitiator& initiator, TmfFunction function, uint32_t referenced_itt,
                       uint32_t ref_cmd_sn, TmfResponse expected) {
  absl::StatusOr<TaskMgmtResponse> response =
      initiator.TaskManagement(function, 0, referenced_itt, ref_cmd_sn);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->response, expected);
}

// --- raw PDUs ------------------------------------------------------------------------------

struct LoginPdu {
  uint8_t csg = 0;
  uint8_t nsg = 0;
  bool transit = false;
  bool continue_bit = false;
  std::array<uint8_t, 6> isid = kAttackerIsid;
  uint32_t itt = 1;
};

absl::Status SendLogin(TestInitiator& initiator, const LoginPdu& spec, const std::string& text) {
  LoginRequest request;
  request.transit_bit = spec.transit;
  request.continue_bit = spec.continue_bit;
  request.csg = spec.csg;
  request.nsg = spec.transit ? spec.nsg : 0;
  request.isid = spec.isid;
  request.itt = spec.itt;
  request.cmd_sn = 1;
  request.exp_stat_sn = initiator.exp_stat_sn();
  request.data_segment_length = static_cast<uint32_t>(text.size());
  return initiator.SendPdu(EncodeLoginRequest(request), Bytes(text), DigestSettings{});
}

absl::StatusOr<TargetPdu> LoginExchange(TestInitiator& initiator, const LoginPdu& spec,
                                        const std::string& text) {
  if (absl::Status s = SendLogin(initiator, spec, text); !s.ok()) return s;
  return initiator.ReadPdu();
}

// ExpectClosedUnanswered: the target closes the connection without sending a PDU.
void ExpectClosedUnanswered(TestInitiator& connection) {
  absl::StatusOr<TargetPdu> answer = connection.ReadPdu();
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable) << "got a PDU instead";
}

void ExpectLoginStatus(const absl::StatusOr<TargetPdu>& pdu, LoginStatus status) {
  ASSERT_TRUE(pdu.ok()) << pdu.status();
  ASSERT_EQ(pdu->opcode(), Opcode::kLoginResponse);
  EXPECT_EQ(pdu->bhs[36], status.status_class);
  EXPECT_EQ(pdu->bhs[37], status.status_detail);
}

void ExpectReject(const absl::StatusOr<TargetPdu>& pdu, RejectReason reason, uint32_t itt) {
  ASSERT_TRUE(pdu.ok()) << pdu.status();
  ASSERT_EQ(pdu->opcode(), Opcode::kReject);
  EXPECT_EQ(pdu->bhs[2], static_cast<uint8_t>(reason));
  ASSERT_EQ(pdu->data.size(), kBhsLength);  // §11.17: the rejected BHS comes back
  EXPECT_EQ(LoadBe32(pdu->data, 16), itt);
}

// Write10Pdu: the SCSI Command PDU of a SIMPLE WRITE(10) of `blocks` blocks at `lba` on LUN 0,
// F=1, announcing `immediate_bytes` of immediate data; ITT, CmdSN and ExpStatSN are left to
// the caller.
ScsiCommand Write10Pdu(uint32_t lba, uint16_t blocks, uint32_t immediate_bytes) {
  ScsiCommand write;
  write.final_bit = true;
  write.write_bit = true;
  write.attr = static_cast<uint8_t>(TaskAttribute::kSimple);
  write.lun = TestInitiator::LunField(0);
  write.expected_data_transfer_length = uint32_t{blocks} * kBlock;
  const std::vector<uint8_t> cdb = Write10(lba, blocks);
  std::copy(cdb.begin(), cdb.end(), write.cdb.begin());
  write.data_segment_length = immediate_bytes;
  return write;
}

std::string IdentityText(const std::string& initiator_name) {
  return EncodeTextPairs(
      {{"InitiatorName", initiator_name}, {"SessionType", "Normal"}, {"TargetName", kTargetIqn}});
}

absl::Status SendText(TestInitiator& initiator, uint32_t itt, uint32_t ttt, bool continue_bit,
                      const std::string& text) {
  TextRequest request;
  request.final_bit = !continue_bit;
  request.continue_bit = continue_bit;
  request.itt = itt;
  request.ttt = ttt;
  request.cmd_sn = initiator.TakeCmdSn();
  request.exp_stat_sn = initiator.exp_stat_sn();
  request.data_segment_length = static_cast<uint32_t>(text.size());
  return initiator.SendPdu(EncodeTextRequest(request), Bytes(text));
}

absl::Status SendDataOut(TestInitiator& initiator, uint32_t itt, uint32_t ttt, uint32_t data_sn,
                         uint32_t offset, const std::vector<uint8_t>& data, bool final_bit) {
  DataOut pdu;
  pdu.final_bit = final_bit;
  pdu.lun = TestInitiator::LunField(0);
  pdu.itt = itt;
  pdu.ttt = ttt;
  pdu.exp_stat_sn = initiator.exp_stat_sn();
  pdu.data_sn = data_sn;
  pdu.buffer_offset = offset;
  pdu.data_segment_length = static_cast<uint32_t>(data.size());
  return initiator.SendPdu(EncodeDataOut(pdu), data);
}

int OpenFileDescriptors() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++count;
    closedir(dir);
  }
  return count;
}

// --- fixture -------------------------------------------------------------------------------

class HostileInitiatorTest : public TargetTest {
 protected:
  void SetUp() override {
    TargetOptions options = DefaultOptions();
    options.policy.max_recv_data_segment_length = kTargetMaxRecv;
    StartTarget(options);
    if (HasFatalFailure()) return;
    LoginOptions login = Normal();
    login.initiator_name = kBystanderName;
    login.isid = kBystanderIsid;
    bystander_ = LoggedIn(login);
    ASSERT_NE(bystander_, nullptr);
    bystander_tsih_ = target_->ListSessions().at(0).tsih;
    bystander_data_ = Pattern(kBystanderBlocks * kBlock, 0x5a);
    ExpectGood(WriteBlocks(*bystander_, kBystanderLba, bystander_data_));
  }

  void TearDown() override {
    if (bystander_ != nullptr) ExpectBystanderUnharmed();
    bystander_.reset();
    TargetTest::TearDown();
  }

  // The session opened before the attack is still listed, writes and reads back, and the
  // data it wrote before the attack is unchanged.
  void ExpectBystanderUnharmed() {
    SCOPED_TRACE("bystander after the attack");
    bool listed = false;
    for (const SessionInfo& session : target_->ListSessions()) {
      listed =
          listed || (session.tsih == bystander_tsih_ && session.initiator_name == kBystanderName);
    }
    EXPECT_TRUE(listed) << "the bystander's session is gone";
    const std::vector<uint8_t> fresh = Pattern(8 * kBlock, ++bystander_round_);
    ExpectGood(WriteBlocks(*bystander_, kBystanderCheckLba, fresh));
    ExpectData(ReadBlocks(*bystander_, kBystanderCheckLba, 8), fresh, "read-back differs");
    ExpectData(ReadBlocks(*bystander_, kBystanderLba, kBystanderBlocks), bystander_data_,
               "acknowledged data changed");
  }

  static LoginOptions AttackerOptions(uint8_t isid_low = 0xa0) {
    LoginOptions options = Normal();
    options.initiator_name = kAttackerName;
    options.isid = kAttackerIsid;
    options.isid[5] = isid_low;
    return options;
  }
  // An attacker whose writes always wait for R2Ts (InitialR2T=Yes, ImmediateData=No).
  static LoginOptions SolicitedOnly() {
    LoginOptions options = AttackerOptions();
    options.initial_r2t = true;
    options.immediate_data = false;
    return options;
  }

  void RequireChap(bool mutual) {
    TargetChap chap;
    chap.initiator = ChapSecretPair{kChapUser, kChapSecret};
    if (mutual) chap.target = ChapSecretPair{kTargetChapUser, kTargetChapSecret};
    ASSERT_TRUE(target_->SetChap(kTargetIqn, chap).ok());
  }

  // BeginLogin connects and sends a first Login Request (security stage, no transit) with
  // the identity of `initiator_name` and AuthMethod=`auth_method`; the target must answer it
  // with success. `response` (if set) receives that answer.
  void BeginLogin(const std::string& initiator_name, const std::string& auth_method,
                  std::unique_ptr<TestInitiator>* connection, TargetPdu* response = nullptr) {
    *connection = Connect();
    ASSERT_NE(*connection, nullptr);
    absl::StatusOr<TargetPdu> pdu = LoginExchange(
        **connection, LoginPdu{},
        IdentityText(initiator_name) + EncodeTextPairs({{"AuthMethod", auth_method}}));
    ASSERT_NO_FATAL_FAILURE(ExpectLoginStatus(pdu, kLoginSuccess));
    if (response != nullptr) *response = *std::move(pdu);
  }

  struct ChapStart {
    std::unique_ptr<TestInitiator> connection;
    uint8_t identifier = 0;
    std::vector<uint8_t> challenge;
  };
  // StartChap runs the first two CHAP steps (AuthMethod=CHAP, CHAP_A=5) as `initiator_name`
  // (a fresh name per attempt keeps the CHAP throttle out of the picture).
  void StartChap(const std::string& initiator_name, ChapStart* out) {
    TargetPdu first;
    ASSERT_NO_FATAL_FAILURE(BeginLogin(initiator_name, "CHAP", &out->connection, &first));
    ASSERT_EQ(Keys(first.data)["AuthMethod"], "CHAP");
    absl::StatusOr<TargetPdu> pdu =
        LoginExchange(*out->connection, LoginPdu{}, EncodeTextPairs({{"CHAP_A", "5"}}));
    ASSERT_NO_FATAL_FAILURE(ExpectLoginStatus(pdu, kLoginSuccess));
    std::map<std::string, std::string> keys = Keys(pdu->data);
    ASSERT_EQ(keys["CHAP_A"], "5");
    uint32_t identifier = 0;
    ASSERT_TRUE(absl::SimpleAtoi(keys["CHAP_I"], &identifier));
    out->identifier = static_cast<uint8_t>(identifier);
    std::optional<std::vector<uint8_t>> challenge =
        ParseBinaryValue(keys["CHAP_C"], kMaxChapBinaryLength);
    ASSERT_TRUE(challenge.has_value());
    out->challenge = *challenge;
  }

  std::string GoodChapResponse(const ChapStart& start) {
    absl::StatusOr<std::vector<uint8_t>> answer =
        ComputeChapResponse(ChapAlgorithm::kMd5, start.identifier, kChapSecret, start.challenge);
    EXPECT_TRUE(answer.ok());
    return answer.ok() ? EncodeHexConstant(*answer) : "";
  }

  // ExpectLoginRefused: the response is a Login reject with `status`, the connection closes
  // and no session of `initiator_name` exists.
  void ExpectLoginRefused(TestInitiator& connection, const absl::StatusOr<TargetPdu>& pdu,
                          LoginStatus status) {
    ExpectLoginStatus(pdu, status);
    EXPECT_TRUE(connection.WaitForClose(absl::Seconds(5)));
    for (const SessionInfo& session : target_->ListSessions()) {
      EXPECT_FALSE(absl::StartsWith(session.initiator_name, kAttackerName))
          << "a session for " << session.initiator_name;
    }
  }

  // WaitForSessions polls until only `count` sessions are listed.
  bool WaitForSessions(size_t count, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (target_->ListSessions().size() != count) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  std::unique_ptr<TestInitiator> bystander_;
  uint16_t bystander_tsih_ = 0;
  std::vector<uint8_t> bystander_data_;
  uint8_t bystander_round_ = 0;
};

// --- CHAP ----------------------------------------------------------------------------------

TEST_F(HostileInitiatorTest, ChapResponseOfTheWrongLengthFailsWithAuthenticationFailure) {
  ASSERT_NO_FATAL_FAILURE(RequireChap(/*mutual=*/false));
  // MD5 answers are 16 bytes: shorter, longer, empty, and longer than CHAP allows at all.
  const std::vector<size_t> lengths = {15, 17, 0, kMaxChapBinaryLength + 1};
  for (size_t i = 0; i < lengths.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("CHAP_R of ", lengths[i], " bytes"));
    ChapStart start;
    ASSERT_NO_FATAL_FAILURE(StartChap(absl::StrCat(kAttackerName, "-r", i), &start));
    const std::string response = EncodeHexConstant(std::vector<uint8_t>(lengths[i], 0x42));
    absl::StatusOr<TargetPdu> pdu =
        LoginExchange(*start.connection, LoginPdu{.nsg = 1, .transit = true},
                      EncodeTextPairs({{"CHAP_N", kChapUser}, {"CHAP_R", response}}));
    ExpectLoginRefused(*start.connection, pdu, kLoginAuthenticationFailure);
  }
}

TEST_F(HostileInitiatorTest, MutualChapChallengeOfTheWrongLengthFailsWithAuthenticationFailure) {
  ASSERT_NO_FATAL_FAILURE(RequireChap(/*mutual=*/true));
  // RFC 7143 §12.1.3: CHAP_C is at most 1024 bytes; an empty challenge proves nothing.
  const std::vector<size_t> lengths = {0, kMaxChapBinaryLength + 1};
  for (size_t i = 0; i < lengths.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("CHAP_C of ", lengths[i], " bytes"));
    ChapStart start;
    ASSERT_NO_FATAL_FAILURE(StartChap(absl::StrCat(kAttackerName, "-c", i), &start));
    absl::StatusOr<TargetPdu> pdu = LoginExchange(
        *start.connection, LoginPdu{.nsg = 1, .transit = true},
        EncodeTextPairs({{"CHAP_N", kChapUser},
                         {"CHAP_R", GoodChapResponse(start)},
                         {"CHAP_I", "7"},
                         {"CHAP_C", EncodeHexConstant(std::vector<uint8_t>(lengths[i], 0x17))}}));
    ExpectLoginRefused(*start.connection, pdu, kLoginAuthenticationFailure);
    if (pdu.ok()) {
      EXPECT_EQ(Keys(pdu->data).count("CHAP_R"), 0u) << "the target answered";
    }
  }
}

TEST_F(HostileInitiatorTest, MutualChapChallengeReflectingOursFailsWithAuthenticationFailure) {
  ASSERT_NO_FATAL_FAILURE(RequireChap(/*mutual=*/true));
  ChapStart start;
  ASSERT_NO_FATAL_FAILURE(StartChap(absl::StrCat(kAttackerName, "-reflect"), &start));
  absl::StatusOr<TargetPdu> pdu =
      LoginExchange(*start.connection, LoginPdu{.nsg = 1, .transit = true},
                    EncodeTextPairs({{"CHAP_N", kChapUser},
                                     {"CHAP_R", GoodChapResponse(start)},
                                     {"CHAP_I", std::to_string(start.identifier)},
                                     {"CHAP_C", EncodeHexConstant(start.challenge)}}));
  ExpectLoginRefused(*start.connection, pdu, kLoginAuthenticationFailure);
  if (pdu.ok()) {
    EXPECT_EQ(Keys(pdu->data).count("CHAP_R"), 0u) << "the target answered";
  }
}

TEST_F(HostileInitiatorTest, ChapAlgorithmListWithoutASupportedAlgorithmFailsTheLogin) {
  ASSERT_NO_FATAL_FAILURE(RequireChap(/*mutual=*/false));
  std::unique_ptr<TestInitiator> connection;
  ASSERT_NO_FATAL_FAILURE(BeginLogin(kAttackerName, "CHAP", &connection));
  // §12.1.3: the target answers a list without an algorithm it supports with a Login reject
  // (Authentication Failure). 99 and 0x80 name no algorithm we know; "MD5" is not a number.
  absl::StatusOr<TargetPdu> pdu =
      LoginExchange(*connection, LoginPdu{}, EncodeTextPairs({{"CHAP_A", "99,0x80,MD5"}}));
  ExpectLoginRefused(*connection, pdu, kLoginAuthenticationFailure);
  if (pdu.ok()) {
    EXPECT_EQ(Keys(pdu->data)["CHAP_A"], "Reject");
  }
}

TEST_F(HostileInitiatorTest, EmptyChapAlgorithmListFailsTheLogin) {
  ASSERT_NO_FATAL_FAILURE(RequireChap(/*mutual=*/false));
  std::unique_ptr<TestInitiator> connection;
  ASSERT_NO_FATAL_FAILURE(BeginLogin(kAttackerName, "CHAP", &connection));
  absl::StatusOr<TargetPdu> pdu =
      LoginExchange(*connection, LoginPdu{}, EncodeTextPairs({{"CHAP_A", ""}}));
  ExpectLoginRefused(*connection, pdu, kLoginAuthenticationFailure);
}

// --- login framing and text ----------------------------------------------------------------

TEST_F(HostileInitiatorTest, ScsiWriteDuringLoginClosesTheConnectionAndWritesNothing) {
  std::unique_ptr<TestInitiator> connection;
  ASSERT_NO_FATAL_FAILURE(BeginLogin(kAttackerName, "None", &connection));
  // §6.3: only Login Requests belong to the login phase. A WRITE with immediate data over
  // the bystander's blocks ends the connection unanswered.
  const std::vector<uint8_t> data(4 * kBlock, 0xee);
  ScsiCommand write = Write10Pdu(kBystanderLba, 4, static_cast<uint32_t>(data.size()));
  write.itt = 0x77;
  write.cmd_sn = 1;
  // The target may close before it has read everything: the send result does not matter.
  connection->SendPdu(EncodeScsiCommand(write), data).IgnoreError();
  ExpectClosedUnanswered(*connection);
}

TEST_F(HostileInitiatorTest, KeyRepeatedInOneLoginRequestFailsWithInitiatorError) {
  std::unique_ptr<TestInitiator> connection = Connect();
  ASSERT_NE(connection, nullptr);
  absl::StatusOr<TargetPdu> pdu = LoginExchange(
      *connection, LoginPdu{.csg = 1, .nsg = 3, .transit = true},
      IdentityText(kAttackerName) + EncodeTextPairs({{"MaxRecvDataSegmentLength", "8192"},
                                                     {"MaxRecvDataSegmentLength", "65536"}}));
  ExpectLoginRefused(*connection, pdu, kLoginInitiatorError);
}

TEST_F(HostileInitiatorTest, KeyRedeclaredInALaterLoginRequestFailsWithInitiatorError) {
  std::unique_ptr<TestInitiator> connection = Connect();
  ASSERT_NE(connection, nullptr);
  absl::StatusOr<TargetPdu> pdu =
      LoginExchange(*connection, LoginPdu{.csg = 1},
                    IdentityText(kAttackerName) + EncodeTextPairs({{"MaxBurstLength", "65536"}}));
  ASSERT_NO_FATAL_FAILURE(ExpectLoginStatus(pdu, kLoginSuccess));
  // §6.3: a key may not be negotiated twice in a login.
  pdu = LoginExchange(*connection, LoginPdu{.csg = 1, .nsg = 3, .transit = true},
                      EncodeTextPairs({{"MaxBurstLength", "262144"}}));
  ExpectLoginRefused(*connection, pdu, kLoginInitiatorError);
}

TEST_F(HostileInitiatorTest, LoginDataSegmentOverTheLoginLimitClosesTheConnection) {
  std::unique_ptr<TestInitiator> connection = Connect();
  ASSERT_NE(connection, nullptr);
  // §13.12: 8192 bytes is the most a login data segment may carry in either direction.
  std::string text = IdentityText(kAttackerName);
  text += EncodeTextPairs({{"X-io.iscsi-csi.padding", std::string(200, 'p')}});
  while (text.size() <= kLoginMaxDataSegmentLength) {
    text += EncodeTextPairs({{absl::StrCat("X-io.iscsi-csi.pad", text.size()), "x"}});
  }
  // The target may close before it has read everything: the send result does not matter.
  SendLogin(*connection, LoginPdu{.csg = 1, .nsg = 3, .transit = true}, text).IgnoreError();
  ExpectClosedUnanswered(*connection);
}

TEST_F(HostileInitiatorTest, LoginTextOverItsLimitAcrossContinuationsFailsWithInitiatorError) {
  std::unique_ptr<TestInitiator> connection = Connect();
  ASSERT_NE(connection, nullptr);
  // Continued requests (C=1) are each acknowledged; the joined text may not pass 64 KiB.
  std::string text = IdentityText(kAttackerName);
  for (int i = 0; text.size() < kMaxTextDataLength + 8000; ++i) {
    text += EncodeTextPairs({{absl::StrCat("X-io.iscsi-csi.pad", i), std::string(200, 'p')}});
  }
  constexpr size_t kPiece = 8000;
  size_t sent = 0;
  absl::StatusOr<TargetPdu> pdu;
  while (sent < text.size()) {
    const size_t piece = std::min(kPiece, text.size() - sent);
    const bool last = sent + piece == text.size();
    ASSERT_TRUE(
        SendLogin(*connection, LoginPdu{.csg = 1, .continue_bit = !last}, text.substr(sent, piece))
            .ok());
    sent += piece;
    pdu = connection->ReadPdu();
    ASSERT_TRUE(pdu.ok()) << pdu.status() << " after " << sent << " bytes";
    if (pdu->bhs[36] != 0) break;
    ASSERT_TRUE(pdu->data.empty()) << "a continued request is acknowledged empty";
  }
  EXPECT_LE(sent, kMaxTextDataLength + kPiece) << "the target never refused the text";
  ExpectLoginRefused(*connection, pdu, kLoginInitiatorError);
}

TEST_F(HostileInitiatorTest, KeyRepeatedInATextRequestIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const uint32_t itt = attacker->NextItt();
  ASSERT_TRUE(SendText(*attacker, itt, kReservedTag, false,
                       EncodeTextPairs({{"MaxRecvDataSegmentLength", "8192"},
                                        {"MaxRecvDataSegmentLength", "4096"}}))
                  .ok());
  ExpectReject(attacker->ReadFor(itt), RejectReason::kProtocolError, itt);
  // The attacker's own session goes on, its CmdSN window in step.
  ExpectStillServed(*attacker);
}

TEST_F(HostileInitiatorTest, TextRequestLongerThanMaxRecvDataSegmentLengthIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  ASSERT_EQ(attacker->target_max_recv_data_segment_length(), kTargetMaxRecv);
  const uint32_t itt = attacker->NextItt();
  ASSERT_TRUE(SendText(*attacker, itt, kReservedTag, false,
                       EncodeTextPairs({{"X-io.iscsi-csi.pad", std::string(kTargetMaxRecv, 'p')}}))
                  .ok());
  ExpectReject(attacker->ReadFor(itt), RejectReason::kProtocolError, itt);
  ExpectStillServed(*attacker);
}

TEST_F(HostileInitiatorTest, TextRequestOverItsLimitAcrossContinuationsIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const uint32_t itt = attacker->NextItt();
  const std::string piece(8000, 'p');
  uint32_t ttt = kReservedTag;
  size_t sent = 0;
  bool rejected = false;
  while (!rejected && sent <= kMaxTextDataLength + piece.size()) {
    ASSERT_TRUE(SendText(*attacker, itt, ttt, /*continue_bit=*/true, piece).ok());
    sent += piece.size();
    absl::StatusOr<TargetPdu> pdu = attacker->ReadFor(itt);
    ASSERT_TRUE(pdu.ok()) << pdu.status();
    if (pdu->opcode() == Opcode::kReject) {
      ExpectReject(pdu, RejectReason::kProtocolError, itt);
      rejected = true;
      break;
    }
    // §11.10.4: each piece is acknowledged by an empty Text Response carrying a TTT.
    ASSERT_EQ(pdu->opcode(), Opcode::kTextResponse);
    EXPECT_TRUE(pdu->data.empty());
    ttt = LoadBe32(pdu->bhs, 20);
  }
  EXPECT_TRUE(rejected);
  EXPECT_GT(sent, kMaxTextDataLength);
  ExpectStillServed(*attacker);
}

// --- full feature phase: data segments and Data-Out ----------------------------------------

TEST_F(HostileInitiatorTest, ImmediateDataLongerThanMaxRecvDataSegmentLengthIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // A WRITE over the bystander's blocks whose immediate data passes our declared limit.
  const uint16_t blocks = kTargetMaxRecv / kBlock + 1;
  const std::vector<uint8_t> data(blocks * kBlock, 0xee);
  ScsiCommand write = Write10Pdu(kBystanderLba, blocks, static_cast<uint32_t>(data.size()));
  write.itt = attacker->NextItt();
  write.cmd_sn = attacker->TakeCmdSn();
  write.exp_stat_sn = attacker->exp_stat_sn();
  ASSERT_TRUE(attacker->SendPdu(EncodeScsiCommand(write), data).ok());
  ExpectReject(attacker->ReadFor(write.itt), RejectReason::kProtocolError, write.itt);
  // §11.17.1: a rejected command is discarded; no response follows, its CmdSN is used up.
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(300)));
  ExpectStillServed(*attacker);
}

TEST_F(HostileInitiatorTest, DataOutLongerThanMaxRecvDataSegmentLengthIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  const uint32_t cmd_sn = attacker->cmd_sn();
  SolicitedWrite started;
  ASSERT_NO_FATAL_FAILURE(
      StartSolicitedWrite(*attacker, WriteCommand(kBystanderLba, 64), &started));
  ASSERT_EQ(LoadBe32(started.r2t.bhs, 44), 64 * kBlock);
  // The whole burst in one Data-Out: twice our MaxRecvDataSegmentLength.
  ASSERT_TRUE(SendDataOut(*attacker, started.itt, started.ttt(), 0, 0,
                          std::vector<uint8_t>(64 * kBlock, 0xee), true)
                  .ok());
  ExpectReject(attacker->ReadFor(started.itt), RejectReason::kProtocolError, started.itt);
  // §11.17.1: a Reject does not end the task; the initiator still may abort it.
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTask, started.itt, cmd_sn,
                    TmfResponse::kFunctionComplete);
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(300)));
}

TEST_F(HostileInitiatorTest, DataOutOutsideItsR2tFailsTheWriteWithDataOffsetError) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  // BufferOffset past the R2T, and one that wraps around 2^32 with the data length.
  for (uint32_t offset : {4096u, 0xffffff00u}) {
    SCOPED_TRACE(absl::StrCat("BufferOffset ", offset));
    const CommandOptions write = WriteCommand(kBystanderLba, 2);
    SolicitedWrite started;
    ASSERT_NO_FATAL_FAILURE(StartSolicitedWrite(*attacker, write, &started));
    ASSERT_TRUE(SendDataOut(*attacker, started.itt, started.ttt(), 0, offset,
                            std::vector<uint8_t>(2 * kBlock, 0xee), true)
                    .ok());
    ExpectReject(attacker->ReadFor(started.itt), RejectReason::kProtocolError, started.itt);
    // §11.17.1: the task ends in CHECK CONDITION: ABORTED COMMAND, DATA OFFSET ERROR.
    ExpectCheckCondition(attacker->FinishCommand(started.itt, write), kAbortedCommand, 0x4b, 0x05);
  }
}

TEST_F(HostileInitiatorTest, UnsolicitedDataOutAtTheWrongOffsetFailsTheWrite) {
  LoginOptions options = AttackerOptions();
  options.initial_r2t = false;
  options.immediate_data = false;
  std::unique_ptr<TestInitiator> attacker = LoggedIn(options);
  ASSERT_NE(attacker, nullptr);
  ScsiCommand write = Write10Pdu(kBystanderLba, 4, 0);
  write.final_bit = false;  // unsolicited Data-Out follows
  write.itt = attacker->NextItt();
  write.cmd_sn = attacker->TakeCmdSn();
  write.exp_stat_sn = attacker->exp_stat_sn();
  ASSERT_TRUE(attacker->SendPdu(EncodeScsiCommand(write)).ok());
  // The first unsolicited Data-Out must start at offset 0.
  ASSERT_TRUE(SendDataOut(*attacker, write.itt, kReservedTag, 0, kBlock,
                          std::vector<uint8_t>(4 * kBlock, 0xee), true)
                  .ok());
  ExpectReject(attacker->ReadFor(write.itt), RejectReason::kProtocolError, write.itt);
  CommandOptions same;
  ExpectCheckCondition(attacker->FinishCommand(write.itt, same), kAbortedCommand, 0x4b, 0x05);
}

TEST_F(HostileInitiatorTest, DataOutForATaskThatNeverExistedIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const uint32_t itt = 0x7777777;
  ASSERT_TRUE(
      SendDataOut(*attacker, itt, 0x1234, 0, 0, std::vector<uint8_t>(kBlock, 0xee), true).ok());
  // §11.17.1: an ITT naming no task is an invalid PDU field.
  ExpectReject(attacker->ReadFor(itt), RejectReason::kInvalidPduField, itt);
  ExpectStillServed(*attacker);
}

TEST_F(HostileInitiatorTest, DataOutWithAnUnknownTargetTransferTagFailsTheWrite) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  const CommandOptions write =
      WriteCommand(kBystanderLba, 2, std::vector<uint8_t>(2 * kBlock, 0xee));
  SolicitedWrite started;
  ASSERT_NO_FATAL_FAILURE(StartSolicitedWrite(*attacker, write, &started));
  ASSERT_TRUE(
      SendDataOut(*attacker, started.itt, started.ttt() + 77, 0, 0, write.data_out, true).ok());
  ExpectReject(attacker->ReadFor(started.itt), RejectReason::kProtocolError, started.itt);
  // The outstanding R2T is still answered; then the task ends in CHECK CONDITION: ABORTED
  // COMMAND, INVALID TARGET PORT TRANSFER TAG RECEIVED, and nothing was written.
  ASSERT_TRUE(attacker->AnswerR2t(started.r2t, write).ok());
  ExpectCheckCondition(attacker->FinishCommand(started.itt, write), kAbortedCommand, 0x4b, 0x01);
}

// --- CmdSN window --------------------------------------------------------------------------

TEST_F(HostileInitiatorTest, WritesOutsideTheCmdSnWindowAreIgnoredWithTheirData) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const uint32_t good = attacker->cmd_sn();
  const uint32_t max = attacker->max_cmd_sn();
  // 32 KiB: 16 KiB of immediate data and 16 KiB of unsolicited Data-Out per write.
  const CommandOptions write =
      WriteCommand(kBystanderLba, 64, std::vector<uint8_t>(64 * kBlock, 0xee));
  // §4.2.2.1: past MaxCmdSN, before ExpCmdSN, and half the serial space away.
  for (uint32_t cmd_sn : {max + 1, good - 1, good + 0x80000001u, good + 0x7fffffffu}) {
    attacker->set_cmd_sn(cmd_sn);
    ASSERT_TRUE(attacker->StartCommand(write).ok());
  }
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(500)));
  attacker->set_cmd_sn(good);
  ExpectStillServed(*attacker);
  EXPECT_EQ(attacker->exp_cmd_sn(), good + 1);
}

TEST_F(HostileInitiatorTest, ImmediateCommandsPastAFullTaskQueueAreRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  // Immediate commands skip the CmdSN window, which is what bounds a session's tasks. Writes
  // over the bystander's blocks that wait for data (never sent) fill the queue; the ones
  // past it are refused (§11.17.1: Immediate Command Reject) instead of piling up.
  constexpr int kExtra = 16;
  std::vector<uint32_t> itts;
  for (uint32_t i = 0; i < kQueueDepth + kExtra; ++i) {
    CommandOptions write = WriteCommand(kBystanderLba, 1);
    write.immediate = true;
    absl::StatusOr<uint32_t> itt = attacker->StartCommand(write);
    ASSERT_TRUE(itt.ok()) << itt.status();
    itts.push_back(*itt);
  }
  int r2ts = 0;
  std::vector<uint32_t> rejected;
  for (int i = 0; i < static_cast<int>(itts.size()); ++i) {
    absl::StatusOr<TargetPdu> pdu = attacker->ReadPdu();
    ASSERT_TRUE(pdu.ok()) << pdu.status() << " after " << r2ts << " R2Ts and " << rejected.size()
                          << " Rejects";
    if (pdu->opcode() == Opcode::kR2t) {
      ++r2ts;
    } else {
      ASSERT_EQ(pdu->opcode(), Opcode::kReject);
      EXPECT_EQ(pdu->bhs[2], static_cast<uint8_t>(RejectReason::kImmediateCommandReject));
      rejected.push_back(LoadBe32(pdu->data, 16));
    }
  }
  EXPECT_EQ(r2ts, static_cast<int>(kQueueDepth));
  EXPECT_EQ(rejected, std::vector<uint32_t>(itts.end() - kExtra, itts.end()));
  // Once the queue is empty again, immediate commands are welcome.
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTaskSet, kReservedTag, attacker->cmd_sn(),
                    TmfResponse::kFunctionComplete);
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  tur.immediate = true;
  ExpectGood(attacker->Command(tur));
}

TEST_F(HostileInitiatorTest, CommandReusingTheTagOfATaskInProgressIsRejected) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // A write to scratch space waits for its solicited data (past FirstBurstLength) ...
  constexpr uint16_t kBlocks = 192;
  const CommandOptions first = WriteCommand(kScratchLba, kBlocks, Pattern(kBlocks * kBlock, 0x21));
  SolicitedWrite started;
  ASSERT_NO_FATAL_FAILURE(StartSolicitedWrite(*attacker, first, &started));
  // ... when a second write with the same ITT and immediate data targets the bystander.
  const std::vector<uint8_t> data(4 * kBlock, 0xee);
  ScsiCommand second = Write10Pdu(kBystanderLba, 4, static_cast<uint32_t>(data.size()));
  second.itt = started.itt;
  second.cmd_sn = attacker->TakeCmdSn();
  second.exp_stat_sn = attacker->exp_stat_sn();
  ASSERT_TRUE(attacker->SendPdu(EncodeScsiCommand(second), data).ok());
  // §11.17.1: Task in progress; the first write then completes as if nothing happened.
  ExpectReject(attacker->ReadFor(started.itt), RejectReason::kTaskInProgress, started.itt);
  ASSERT_TRUE(attacker->AnswerR2t(started.r2t, first).ok());
  ExpectGood(attacker->FinishCommand(started.itt, first));
  ExpectData(ReadBlocks(*attacker, kScratchLba, kBlocks), first.data_out, "first write");
}

TEST_F(HostileInitiatorTest, ReaderThatNeverReadsStallsOnlyItsOwnConnection) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // 48 MiB of reads, none of it read back: the target's output for this connection backs up
  // (and it stops reading from it) while everyone else is served.
  for (int i = 0; i < 48; ++i) {
    ASSERT_TRUE(attacker->StartCommand(ReadCommand(0, 2048)).ok());
  }
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(ExpectBystanderUnharmed());
  std::unique_ptr<TestInitiator> fresh = LoggedIn(AttackerOptions(0xa1));
  ASSERT_NE(fresh, nullptr);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Dropping the stalled connection frees its session.
  attacker.reset();
  EXPECT_TRUE(WaitForSessions(2));
}

// --- SBC-3 commands with inconsistent data -------------------------------------------------

TEST_F(HostileInitiatorTest, WriteSame16WithoutNdobAndWithoutDataIsRefused) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // NDOB=0 needs one block of data-out; none comes. Zeroing the range would be a guess.
  CommandOptions write_same;
  write_same.cdb = WriteSame16(0x00, kBystanderLba, kBystanderBlocks);
  ExpectCheckCondition(attacker->Command(write_same), kIllegalRequest, 0x0e, 0x03);
}

TEST_F(HostileInitiatorTest, WriteSame16WithNdobAndDataIsRefused) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // NDOB=1 transfers nothing, yet a block of data comes along.
  CommandOptions write_same;
  write_same.cdb = WriteSame16(0x01, kBystanderLba, kBystanderBlocks);
  write_same.write = true;
  write_same.expected_length = kBlock;
  write_same.data_out = std::vector<uint8_t>(kBlock, 0xee);
  ExpectCheckCondition(attacker->Command(write_same), kIllegalRequest, 0x0e, 0x03);
}

TEST_F(HostileInitiatorTest, UnmapDescriptorsBeyondTheParameterListLengthAreIgnored) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const std::vector<uint8_t> scratch = Pattern(8 * kBlock, 0x33);
  ExpectGood(WriteBlocks(*attacker, kScratchLba, scratch));
  // The parameter list length covers the header and one descriptor; the block descriptor
  // data length claims two, and the second (over the bystander's blocks) is sent as well.
  const std::vector<uint8_t> parameters =
      UnmapParameters(38, 32, {{kScratchLba, 8}, {kBystanderLba, kBystanderBlocks}});
  CommandOptions unmap;
  unmap.cdb = Unmap(24);
  unmap.write = true;
  unmap.expected_length = static_cast<uint32_t>(parameters.size());
  unmap.data_out = parameters;
  absl::StatusOr<ScsiResult> result = attacker->Command(unmap);
  ExpectGood(result);
  // SPC-4: only PARAMETER LIST LENGTH bytes are parameter data; the rest is a residual.
  if (result.ok()) {
    EXPECT_TRUE(result->underflow);
    EXPECT_EQ(result->residual, 16u);
  }
  ExpectData(ReadBlocks(*attacker, kScratchLba, 8), std::vector<uint8_t>(8 * kBlock, 0),
             "unmapped blocks read as zeros");
}

TEST_F(HostileInitiatorTest, UnmapWithAnInconsistentBlockDescriptorDataLengthUnmapsOnlyWholeOnes) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  const std::vector<uint8_t> scratch = Pattern(8 * kBlock, 0x44);
  ExpectGood(WriteBlocks(*attacker, kScratchLba, scratch));
  // SBC-3 5.28.2: a length that is not a multiple of 16 leaves the last descriptor
  // incomplete, and it is ignored. 20 covers one whole descriptor and 4 bytes of the next.
  // The UNMAP DATA LENGTH (0xffff) matches nothing.
  std::vector<uint8_t> parameters =
      UnmapParameters(0xffff, 20, {{kScratchLba, 8}, {kBystanderLba, kBystanderBlocks}});
  CommandOptions unmap;
  unmap.cdb = Unmap(static_cast<uint16_t>(parameters.size()));
  unmap.write = true;
  unmap.expected_length = static_cast<uint32_t>(parameters.size());
  unmap.data_out = parameters;
  ExpectGood(attacker->Command(unmap));
  ExpectData(ReadBlocks(*attacker, kScratchLba, 8), std::vector<uint8_t>(8 * kBlock, 0),
             "unmapped blocks read as zeros");

  // A zero length means no descriptors at all, whatever follows (not an error).
  ExpectGood(WriteBlocks(*attacker, kScratchLba, scratch));
  parameters = UnmapParameters(0, 0, {{kScratchLba, 8}, {kBystanderLba, kBystanderBlocks}});
  unmap.data_out = parameters;
  ExpectGood(attacker->Command(unmap));
  ExpectData(ReadBlocks(*attacker, kScratchLba, 8), scratch, "nothing was unmapped");
}

TEST_F(HostileInitiatorTest, UnmapWithMoreDescriptorsThanTheLimitIsRefused) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT is 256 (Block Limits VPD); 257 are sent, the first
  // over the bystander's blocks.
  std::vector<UnmapDescriptor> descriptors(257, UnmapDescriptor{kScratchLba, 1});
  descriptors[0] = {kBystanderLba, kBystanderBlocks};
  const std::vector<uint8_t> parameters =
      UnmapParameters(static_cast<uint16_t>(6 + 16 * descriptors.size()),
                      static_cast<uint16_t>(16 * descriptors.size()), descriptors);
  CommandOptions unmap;
  unmap.cdb = Unmap(static_cast<uint16_t>(parameters.size()));
  unmap.write = true;
  unmap.expected_length = static_cast<uint32_t>(parameters.size());
  unmap.data_out = parameters;
  ExpectCheckCondition(attacker->Command(unmap), kIllegalRequest, 0x26, 0x00);
  // A parameter list length of 1..7 cannot hold the header (PARAMETER LIST LENGTH ERROR).
  unmap.cdb = Unmap(7);
  unmap.expected_length = 7;
  unmap.data_out.resize(7);
  ExpectCheckCondition(attacker->Command(unmap), kIllegalRequest, 0x1a, 0x00);
}

TEST_F(HostileInitiatorTest, CompareAndWriteWithTheWrongDataLengthIsRefused) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  // The verify half matches the medium, so a lax target would go on and write.
  const std::vector<uint8_t> verify(bystander_data_.begin(), bystander_data_.begin() + kBlock);
  for (uint32_t blocks_sent : {1u, 3u}) {
    SCOPED_TRACE(absl::StrCat(blocks_sent, " blocks of data for a 1-block COMPARE AND WRITE"));
    CommandOptions caw;
    caw.cdb = CompareAndWrite(kBystanderLba, 1);
    caw.write = true;
    caw.expected_length = blocks_sent * kBlock;
    caw.data_out = verify;
    caw.data_out.resize(blocks_sent * kBlock, 0xee);
    absl::StatusOr<ScsiResult> result = attacker->Command(caw);
    ExpectCheckCondition(result, kIllegalRequest, 0x24, 0x00);
    // The field pointer names NUMBER OF LOGICAL BLOCKS (CDB byte 13).
    if (result.ok() && result->sense.size() >= 18) {
      EXPECT_EQ(result->sense[15] & 0xc0, 0xc0);  // SKSV, C/D=CDB
      EXPECT_EQ(LoadBe16(result->sense, 16), 13);
    }
  }
}

// --- task management -----------------------------------------------------------------------

TEST_F(HostileInitiatorTest, AbortTaskOfAWriteInFlightKeepsItsDataOffTheMedium) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  const CommandOptions write = WriteCommand(kBystanderLba, kBystanderBlocks,
                                            std::vector<uint8_t>(kBystanderBlocks * kBlock, 0xee));
  const uint32_t cmd_sn = attacker->cmd_sn();
  SolicitedWrite started;
  ASSERT_NO_FATAL_FAILURE(StartSolicitedWrite(*attacker, write, &started));
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTask, started.itt, cmd_sn,
                    TmfResponse::kFunctionComplete);
  // The data arrives anyway: dropped quietly, no response for the aborted task.
  ASSERT_TRUE(attacker->AnswerR2t(started.r2t, write).ok());
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(300)));
  // Aborting it again: the task is gone and its CmdSN is behind the window.
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTask, started.itt, cmd_sn,
                    TmfResponse::kTaskDoesNotExist);
}

TEST_F(HostileInitiatorTest, LogicalUnitResetWithTasksInFlightAbortsThemAndTellsEveryNexus) {
  std::unique_ptr<TestInitiator> attacker = LoggedIn(SolicitedOnly());
  ASSERT_NE(attacker, nullptr);
  // A write over the bystander's blocks waiting for data, and reads queued behind it.
  ASSERT_TRUE(attacker->StartCommand(WriteCommand(kBystanderLba, kBystanderBlocks)).ok());
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(attacker->StartCommand(ReadCommand(0, 1024)).ok());
  }
  TaskMgmtRequest reset;
  reset.immediate_bit = true;
  reset.function = TmfFunction::kLogicalUnitReset;
  reset.lun = TestInitiator::LunField(0);
  reset.itt = attacker->NextItt();
  reset.referenced_task_tag = kReservedTag;
  reset.cmd_sn = attacker->cmd_sn();
  reset.exp_stat_sn = attacker->exp_stat_sn();
  ASSERT_TRUE(attacker->SendPdu(EncodeTaskMgmtRequest(reset)).ok());
  bool answered = false;
  while (!answered) {
    absl::StatusOr<TargetPdu> pdu = attacker->ReadPdu(absl::Seconds(20));
    ASSERT_TRUE(pdu.ok()) << pdu.status();
    if (pdu->opcode() == Opcode::kTaskMgmtResponse) {
      EXPECT_EQ(LoadBe32(pdu->bhs, 16), reset.itt);
      EXPECT_EQ(pdu->bhs[2], static_cast<uint8_t>(TmfResponse::kFunctionComplete));
      answered = true;
    }
  }
  // Nothing more for the aborted tasks, and the write's data never came.
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(300)));
  // SAM-5: every I_T nexus hears of the reset once (BUS DEVICE RESET FUNCTION OCCURRED).
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  ExpectCheckCondition(bystander_->Command(tur), kUnitAttention, 0x29, 0x03);
  ExpectCheckCondition(attacker->Command(tur), kUnitAttention, 0x29, 0x03);
  ExpectGood(attacker->Command(tur));
}

TEST_F(HostileInitiatorTest, TaskManagementNamingAnotherSessionsTaskLeavesItAlone) {
  // The bystander's write waits for its R2T-solicited data ...
  constexpr uint16_t kBlocks = 192;  // past FirstBurstLength: the rest is solicited
  const CommandOptions write = WriteCommand(kScratchLba, kBlocks, Pattern(kBlocks * kBlock, 0x66));
  SolicitedWrite started;
  ASSERT_NO_FATAL_FAILURE(StartSolicitedWrite(*bystander_, write, &started));
  // ... while the attacker names that ITT (ITTs are per session) and aborts its own task set.
  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions());
  ASSERT_NE(attacker, nullptr);
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTask, started.itt, attacker->cmd_sn() - 1,
                    TmfResponse::kTaskDoesNotExist);
  ExpectTmfResponse(*attacker, TmfFunction::kAbortTaskSet, kReservedTag, attacker->cmd_sn(),
                    TmfResponse::kFunctionComplete);
  // The bystander's write completes and reads back.
  ASSERT_TRUE(bystander_->AnswerR2t(started.r2t, write).ok());
  ExpectGood(bystander_->FinishCommand(started.itt, write));
  ExpectData(ReadBlocks(*bystander_, kScratchLba, kBlocks), write.data_out, "read-back differs");
}

// --- stalled, slow and many connections ----------------------------------------------------

TEST_F(HostileInitiatorTest, ConnectionsThatSendNothingDoNotHoldUpOthers) {
  std::vector<std::unique_ptr<TestInitiator>> idle;
  for (int i = 0; i < 32; ++i) {
    idle.push_back(Connect());
    ASSERT_NE(idle.back(), nullptr);
  }
  // While they sit there (the login timeout, 30 s, ends them later), others are served.
  const absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(ExpectBystanderUnharmed());
  std::unique_ptr<TestInitiator> fresh = LoggedIn(AttackerOptions());
  ASSERT_NE(fresh, nullptr);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  for (auto& connection : idle) EXPECT_TRUE(connection->ExpectSilence(absl::Milliseconds(10)));
  EXPECT_EQ(target_->ListSessions().size(), 2u);
}

TEST_F(HostileInitiatorTest, HalfABasicHeaderSegmentStallsOnlyItsOwnConnection) {
  // A new connection sends half a Login Request BHS, a logged-in one half a SCSI Command.
  std::unique_ptr<TestInitiator> half_login = Connect();
  ASSERT_NE(half_login, nullptr);
  LoginRequest login;
  login.csg = 1;
  login.isid = kAttackerIsid;
  const Bhs login_bhs = EncodeLoginRequest(login);
  ASSERT_TRUE(half_login->SendRaw(absl::MakeConstSpan(login_bhs.data(), kBhsLength / 2)).ok());

  std::unique_ptr<TestInitiator> attacker = LoggedIn(AttackerOptions(0xa1));
  ASSERT_NE(attacker, nullptr);
  ScsiCommand tur;
  tur.final_bit = true;
  tur.attr = static_cast<uint8_t>(TaskAttribute::kSimple);
  tur.lun = TestInitiator::LunField(0);
  tur.itt = attacker->NextItt();
  tur.cmd_sn = attacker->TakeCmdSn();
  tur.exp_stat_sn = attacker->exp_stat_sn();
  const std::vector<uint8_t> tur_pdu = EncodeScsiCommand(tur);
  ASSERT_EQ(tur_pdu.size(), kBhsLength);
  ASSERT_TRUE(attacker->SendRaw(absl::MakeConstSpan(tur_pdu.data(), kBhsLength / 2)).ok());

  ASSERT_NO_FATAL_FAILURE(ExpectBystanderUnharmed());
  std::unique_ptr<TestInitiator> fresh = LoggedIn(AttackerOptions(0xa2));
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(half_login->ExpectSilence(absl::Milliseconds(100)));
  EXPECT_TRUE(attacker->ExpectSilence(absl::Milliseconds(100)));

  // The rest of the BHS, late, is still a good command.
  ASSERT_TRUE(
      attacker->SendRaw(absl::MakeConstSpan(tur_pdu.data() + kBhsLength / 2, kBhsLength / 2)).ok());
  CommandOptions same;
  ExpectGood(attacker->FinishCommand(tur.itt, same));
}

TEST_F(HostileInitiatorTest, SlowLorisLoginsDoNotHoldUpOthers) {
  // Each slow connection sends its Login Request one byte at a time, 10 ms apart.
  constexpr int kSlow = 8;
  std::vector<std::unique_ptr<TestInitiator>> slow;
  std::vector<std::vector<uint8_t>> wire(kSlow);
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(Connect());
    ASSERT_NE(slow.back(), nullptr);
    const std::string text = IdentityText(kAttackerName);
    LoginRequest request;
    request.transit_bit = true;
    request.csg = 1;
    request.nsg = 3;
    request.isid = kAttackerIsid;
    request.isid[5] = static_cast<uint8_t>(0x40 + i);
    request.itt = 1;
    request.cmd_sn = 1;
    request.data_segment_length = static_cast<uint32_t>(text.size());
    wire[i].resize(PduWireLength(kBhsLength, text.size(), DigestSettings{}));
    ASSERT_TRUE(BuildPdu(EncodeLoginRequest(request), Bytes(text), DigestSettings{},
                         absl::MakeSpan(wire[i]))
                    .ok());
  }
  std::atomic<bool> failed{false};
  std::thread trickle([&] {
    for (size_t at = 0; at < wire[0].size(); ++at) {
      for (int i = 0; i < kSlow; ++i) {
        if (at < wire[i].size() && !slow[i]->SendRaw(absl::MakeConstSpan(&wire[i][at], 1)).ok()) {
          failed = true;
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  // Meanwhile the bystander works and a normal login goes through, each promptly.
  for (int round = 0; round < 3; ++round) {
    const absl::Time start = absl::Now();
    ExpectBystanderUnharmed();
    std::unique_ptr<TestInitiator> fresh =
        LoggedIn(AttackerOptions(static_cast<uint8_t>(0xa3 + round)));
    EXPECT_NE(fresh, nullptr);
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "round " << round;
  }
  trickle.join();
  EXPECT_FALSE(failed.load());
  // Slow but inside the login timeout: each login completes.
  for (int i = 0; i < kSlow; ++i) {
    absl::StatusOr<TargetPdu> pdu = slow[i]->ReadPdu();
    ExpectLoginStatus(pdu, kLoginSuccess);
  }
}

TEST_F(HostileInitiatorTest, ThousandsOfLoginsAndLogoutsLeaveNoSessionsOrDescriptorsBehind) {
  // Warm up once (log files, lazily created pools) before counting descriptors.
  {
    std::unique_ptr<TestInitiator> warm = LoggedIn(AttackerOptions());
    ASSERT_NE(warm, nullptr);
    ASSERT_TRUE(warm->Logout().ok());
    EXPECT_TRUE(warm->WaitForClose(absl::Seconds(5)));
  }
  ASSERT_TRUE(WaitForSessions(1));
  const int fds_before = OpenFileDescriptors();
  const TargetStats::Snapshot stats_before = target_->Stats();

  constexpr int kThreads = 4;
  constexpr int kCyclesPerThread = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCyclesPerThread; ++i) {
        absl::StatusOr<std::unique_ptr<TestInitiator>> initiator = TestInitiator::Connect(portal_);
        if (!initiator.ok()) {
          ++failures;
          continue;
        }
        LoginOptions options = AttackerOptions();
        options.isid = {0x80,
                        static_cast<uint8_t>(t),
                        static_cast<uint8_t>(i >> 8),
                        static_cast<uint8_t>(i),
                        0x00,
                        0x01};
        absl::StatusOr<LoginResult> login = (*initiator)->Login(options);
        if (!login.ok() || !login->ok()) {
          ++failures;
          continue;
        }
        absl::StatusOr<LogoutResponse> logout = (*initiator)->Logout();
        if (!logout.ok() || logout->response != LogoutResponseCode::kClosedSuccessfully) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(failures.load(), 0);
  const int cycles = kThreads * kCyclesPerThread;
  RecordProperty("login_logout_cycles_per_second",
                 static_cast<int>(cycles / absl::ToDoubleSeconds(elapsed)));
  std::cout << cycles << " login+logout cycles in " << elapsed << "\n";

  // Only the bystander's session is left, and every socket was released.
  EXPECT_TRUE(WaitForSessions(1));
  ASSERT_EQ(target_->ListSessions().size(), 1u);
  EXPECT_EQ(target_->ListSessions()[0].tsih, bystander_tsih_);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (OpenFileDescriptors() > fds_before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_LE(OpenFileDescriptors(), fds_before);
  const TargetStats::Snapshot stats_after = target_->Stats();
  constexpr size_t kSuccess = static_cast<size_t>(target::LoginResult::kSuccess);
  EXPECT_EQ(stats_after.logins[kSuccess] - stats_before.logins[kSuccess],
            static_cast<uint64_t>(cycles));
}

TEST_F(HostileInitiatorTest, LoginsDroppedMidwayAndReinstatedLeaveNoSessionsOrDescriptorsBehind) {
  {
    std::unique_ptr<TestInitiator> warm = LoggedIn(AttackerOptions());
    ASSERT_NE(warm, nullptr);
  }
  ASSERT_TRUE(WaitForSessions(1));
  const int fds_before = OpenFileDescriptors();
  // Four threads share four ISIDs, so logins keep reinstating each other's sessions, and
  // each connection is dropped without a logout: after its first login request, after the
  // login, or with a write waiting for its data.
  constexpr int kThreads = 4;
  constexpr int kCyclesPerThread = 150;
  std::atomic<int> failures{0};
  std::atomic<int> logged_in{0};
  std::atomic<int> reinstated{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCyclesPerThread; ++i) {
        absl::StatusOr<std::unique_ptr<TestInitiator>> initiator = TestInitiator::Connect(portal_);
        if (!initiator.ok()) {
          ++failures;
          continue;
        }
        LoginOptions options = AttackerOptions(static_cast<uint8_t>(0x10 + (i + t) % 4));
        if (i % 3 == 0) {
          (*initiator)
              ->SendPdu(EncodeLoginRequest(LoginRequest{.csg = 1, .isid = options.isid, .itt = 1}),
                        {}, DigestSettings{})
              .IgnoreError();
          continue;
        }
        absl::StatusOr<LoginResult> login = (*initiator)->Login(options);
        if (!login.ok() && login.status().code() == absl::StatusCode::kUnavailable) {
          // §6.3.5: a later login with the same ISID reinstated this one before it finished.
          ++reinstated;
          continue;
        }
        if (!login.ok() || !login->ok()) {
          ADD_FAILURE() << "login " << t << "/" << i << ": "
                        << (login.ok() ? absl::StrCat("status ", login->status_class, "/",
                                                      login->status_detail)
                                       : login.status().ToString());
          continue;
        }
        ++logged_in;
        if (i % 3 == 2) {
          (*initiator)->StartCommand(WriteCommand(kScratchLba, 256)).IgnoreError();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(logged_in.load(), kThreads * kCyclesPerThread / 2);
  std::cout << logged_in.load() << " logins dropped, " << reinstated.load()
            << " lost to a concurrent reinstatement\n";
  EXPECT_TRUE(WaitForSessions(1));
  ASSERT_EQ(target_->ListSessions().size(), 1u);
  EXPECT_EQ(target_->ListSessions()[0].tsih, bystander_tsih_);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (OpenFileDescriptors() > fds_before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_LE(OpenFileDescriptors(), fds_before);
}

}  // namespace
}  // namespace iscsi_csi::target::testing
