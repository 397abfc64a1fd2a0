// Full feature phase of a live Target over TCP: data transfer, residuals, the CmdSN window,
// NOP, task management, malformed input, unit attentions.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "target/bytes.h"
#include "tests/target/target_fixture.h"

namespace iscsi_csi::target::testing {
namespace {

void ExpectWriteThenReadBack(TestInitiator& initiator, uint32_t lba, size_t bytes, uint8_t seed,
                             int min_r2ts) {
  const std::vector<uint8_t> data = Pattern(bytes, seed);
  absl::StatusOr<ScsiResult> written = WriteBlocks(initiator, lba, data);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->status, 0);
  EXPECT_FALSE(written->overflow || written->underflow);
  EXPECT_GE(written->r2ts, min_r2ts);
  absl::StatusOr<ScsiResult> read =
      ReadBlocks(initiator, lba, static_cast<uint16_t>(bytes / kBlock));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status, 0);
  EXPECT_TRUE(read->collapsed_status);
  EXPECT_TRUE(read->data == data);
}

TEST_F(TargetTest, WriteWithImmediateDataOnlyReadsBackTheSameBytes) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  ExpectWriteThenReadBack(*initiator, 8, 4096, 1, 0);
}

TEST_F(TargetTest, WriteWithImmediateUnsolicitedAndSolicitedDataReadsBackTheSameBytes) {
  LoginOptions options = Normal();
  options.initial_r2t = false;
  options.immediate_data = true;
  options.first_burst_length = 65536;
  options.max_burst_length = 65536;
  options.max_recv_data_segment_length = 8192;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  // 8 KiB immediate, 56 KiB unsolicited, then 4 R2Ts of 64 KiB (and a shorter last one).
  ExpectWriteThenReadBack(*initiator, 100, 320 * 1024 + 4096, 2, 4);
}

TEST_F(TargetTest, WriteWithInitialR2tAndNoImmediateDataUsesOnlyR2ts) {
  LoginOptions options = Normal();
  options.initial_r2t = true;
  options.immediate_data = false;
  options.max_burst_length = 16384;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  ExpectWriteThenReadBack(*initiator, 2000, 64 * 1024, 3, 4);
}

TEST_F(TargetTest, ReadLongerThanTheInitiatorsSegmentLimitArrivesInManyDataInPdus) {
  LoginOptions options = Normal();
  options.max_recv_data_segment_length = 4096;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  ASSERT_TRUE(WriteBlocks(*initiator, 0, Pattern(64 * 1024, 9)).ok());
  absl::StatusOr<ScsiResult> read = ReadBlocks(*initiator, 0, 64 * 1024 / kBlock);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->data_in_pdus, 16);
  EXPECT_TRUE(read->data == Pattern(64 * 1024, 9));
}

TEST_F(TargetTest, ReadWithLargerExpectedLengthReportsUnderflow) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  CommandOptions read;
  read.cdb = Read10(0, 1);
  read.read = true;
  read.expected_length = 10000;
  absl::StatusOr<ScsiResult> result = initiator->Command(read);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  EXPECT_EQ(result->data.size(), kBlock);
  EXPECT_TRUE(result->underflow);
  EXPECT_EQ(result->residual, 10000 - kBlock);
}

TEST_F(TargetTest, ReadWithSmallerExpectedLengthReportsOverflow) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  CommandOptions read;
  read.cdb = Read10(0, 1);
  read.read = true;
  read.expected_length = 200;
  absl::StatusOr<ScsiResult> result = initiator->Command(read);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  EXPECT_EQ(result->data.size(), 200u);
  EXPECT_TRUE(result->overflow);
  EXPECT_EQ(result->residual, kBlock - 200);
}

TEST_F(TargetTest, WriteWithSmallerExpectedLengthReportsOverflowAndWritesOnlyThatMuch) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  ASSERT_TRUE(WriteBlocks(*initiator, 50, std::vector<uint8_t>(2 * kBlock, 'a')).ok());
  CommandOptions write;
  write.cdb = Write10(50, 2);
  write.write = true;
  write.expected_length = kBlock;
  write.data_out = std::vector<uint8_t>(kBlock, 'b');
  absl::StatusOr<ScsiResult> result = initiator->Command(write);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  EXPECT_TRUE(result->overflow);
  EXPECT_EQ(result->residual, kBlock);
  absl::StatusOr<ScsiResult> read = ReadBlocks(*initiator, 50, 2);
  ASSERT_TRUE(read.ok());
  std::vector<uint8_t> expected(kBlock, 'b');
  expected.resize(2 * kBlock, 'a');
  EXPECT_TRUE(read->data == expected);
}

TEST_F(TargetTest, CommandsOutsideTheCmdSnWindowAreIgnored) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  const uint32_t good = initiator->cmd_sn();
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  // Past MaxCmdSN.
  initiator->set_cmd_sn(initiator->max_cmd_sn() + 1);
  ASSERT_TRUE(initiator->StartCommand(tur).ok());
  EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(500)));
  // Before ExpCmdSN.
  initiator->set_cmd_sn(good - 1);
  ASSERT_TRUE(initiator->StartCommand(tur).ok());
  EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(500)));
  // In the window again.
  initiator->set_cmd_sn(good);
  absl::StatusOr<ScsiResult> result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  EXPECT_EQ(initiator->exp_cmd_sn(), good + 1);
  EXPECT_EQ(initiator->max_cmd_sn(), good + 64);
}

TEST_F(TargetTest, CommandAfterAGapWaitsForTheMissingCmdSn) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  const uint32_t first = initiator->cmd_sn();
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  initiator->set_cmd_sn(first + 1);
  absl::StatusOr<uint32_t> later = initiator->StartCommand(tur);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(300)));
  initiator->set_cmd_sn(first);
  absl::StatusOr<uint32_t> earlier = initiator->StartCommand(tur);
  ASSERT_TRUE(earlier.ok());
  absl::StatusOr<ScsiResult> a = initiator->FinishCommand(*earlier, tur);
  absl::StatusOr<ScsiResult> b = initiator->FinishCommand(*later, tur);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(initiator->exp_cmd_sn(), first + 2);
}

TEST_F(TargetTest, NopOutPingIsEchoedWithItsData) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  const std::vector<uint8_t> data = {'p', 'i', 'n', 'g', 0, 1, 2};
  absl::StatusOr<TargetPdu> pong = initiator->Ping(data);
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(pong->opcode(), Opcode::kNopIn);
  EXPECT_EQ(pong->data, data);
  EXPECT_EQ(LoadBe32(pong->bhs, 20), kReservedTag);
}

TEST_F(TargetTest, IdleConnectionGetsNopInAndASilentPeerIsDropped) {
  TargetOptions options = DefaultOptions();
  options.nop_in_interval_seconds = 1;
  StartTarget(options);
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<TargetPdu> ping = initiator->ReadPdu(absl::Seconds(5));
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(ping->opcode(), Opcode::kNopIn);
  EXPECT_EQ(LoadBe32(ping->bhs, 16), kReservedTag);
  EXPECT_NE(LoadBe32(ping->bhs, 20), kReservedTag);
  // Answering keeps the connection; silence then closes it.
  NopOut answer;
  answer.immediate_bit = true;
  answer.itt = kReservedTag;
  answer.ttt = LoadBe32(ping->bhs, 20);
  answer.cmd_sn = initiator->cmd_sn();
  ASSERT_TRUE(initiator->SendPdu(EncodeNopOut(answer)).ok());
  absl::StatusOr<TargetPdu> second = initiator->ReadPdu(absl::Seconds(5));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->opcode(), Opcode::kNopIn);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
}

TEST_F(TargetTest, LogoutAnswersThenClosesTheSession) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<LogoutResponse> response = initiator->Logout();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->response, LogoutResponseCode::kClosedSuccessfully);
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
  for (int i = 0; i < 50 && !target_->ListSessions().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(target_->ListSessions().empty());
}

TEST_F(TargetTest, LogoutForConnectionRecoveryIsNotSupported) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<LogoutResponse> response =
      initiator->Logout(LogoutReason::kRemoveConnectionForRecovery);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->response, LogoutResponseCode::kConnectionRecoveryNotSupported);
  EXPECT_TRUE(initiator->Ping({}).ok());
}

TEST_F(TargetTest, AbortTaskOfAWriteWaitingForDataEndsItWithoutAResponse) {
  LoginOptions options = Normal();
  options.initial_r2t = true;
  options.immediate_data = false;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  CommandOptions write;
  write.cdb = Write10(300, 8);
  write.write = true;
  write.expected_length = 8 * kBlock;
  write.data_out = std::vector<uint8_t>(8 * kBlock, 0xee);
  const uint32_t cmd_sn = initiator->cmd_sn();
  absl::StatusOr<uint32_t> itt = initiator->StartCommand(write);
  ASSERT_TRUE(itt.ok());
  absl::StatusOr<TargetPdu> r2t = initiator->ReadFor(*itt);
  ASSERT_TRUE(r2t.ok());
  ASSERT_EQ(r2t->opcode(), Opcode::kR2t);
  absl::StatusOr<TaskMgmtResponse> abort =
      initiator->TaskManagement(TmfFunction::kAbortTask, 0, *itt, cmd_sn);
  ASSERT_TRUE(abort.ok()) << abort.status();
  EXPECT_EQ(abort->response, TmfResponse::kFunctionComplete);
  // Late Data-Out for the aborted task is dropped quietly; the next command is answered
  // and nothing arrives for the aborted one.
  DataOut late;
  late.final_bit = true;
  late.itt = *itt;
  late.ttt = LoadBe32(r2t->bhs, 20);
  late.data_segment_length = 8 * kBlock;
  ASSERT_TRUE(initiator->SendPdu(EncodeDataOut(late), write.data_out).ok());
  absl::StatusOr<ScsiResult> read = ReadBlocks(*initiator, 300, 8);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->data == std::vector<uint8_t>(8 * kBlock, 0));
}

TEST_F(TargetTest, AbortTaskOfAnUnknownTaskReportsTaskDoesNotExist) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  absl::StatusOr<TaskMgmtResponse> abort =
      initiator->TaskManagement(TmfFunction::kAbortTask, 0, 0xabcdef, initiator->cmd_sn() - 1);
  ASSERT_TRUE(abort.ok()) << abort.status();
  EXPECT_EQ(abort->response, TmfResponse::kTaskDoesNotExist);
}

TEST_F(TargetTest, LogicalUnitResetAbortsQueuedWorkBeforeAnswering) {
  TargetOptions options_for_target = DefaultOptions();
  options_for_target.backing_threads = 1;
  StartTarget(options_for_target);
  LoginOptions options = Normal();
  options.initial_r2t = true;
  options.immediate_data = false;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  // One write waits for data; many reads queue behind each other on one backing thread.
  CommandOptions write;
  write.cdb = Write10(400, 8);
  write.write = true;
  write.expected_length = 8 * kBlock;
  write.data_out = std::vector<uint8_t>(8 * kBlock, 0x77);
  absl::StatusOr<uint32_t> write_itt = initiator->StartCommand(write);
  ASSERT_TRUE(write_itt.ok());
  std::vector<uint32_t> reads;
  for (int i = 0; i < 24; ++i) {
    CommandOptions read;
    read.cdb = Read10(0, 2048);
    read.read = true;
    read.expected_length = 2048 * kBlock;
    absl::StatusOr<uint32_t> itt = initiator->StartCommand(read);
    ASSERT_TRUE(itt.ok());
    reads.push_back(*itt);
  }
  TaskMgmtRequest reset;
  reset.immediate_bit = true;
  reset.function = TmfFunction::kLogicalUnitReset;
  reset.lun = TestInitiator::LunField(0);
  reset.itt = initiator->NextItt();
  reset.referenced_task_tag = kReservedTag;
  reset.cmd_sn = initiator->cmd_sn();
  ASSERT_TRUE(initiator->SendPdu(EncodeTaskMgmtRequest(reset)).ok());
  // Until the TMF response: Data-In/status of reads that finished first, the write's R2T.
  bool answered = false;
  int completed_reads = 0;
  while (!answered) {
    absl::StatusOr<TargetPdu> pdu = initiator->ReadPdu(absl::Seconds(20));
    ASSERT_TRUE(pdu.ok()) << pdu.status();
    if (pdu->opcode() == Opcode::kTaskMgmtResponse) {
      EXPECT_EQ(LoadBe32(pdu->bhs, 16), reset.itt);
      EXPECT_EQ(pdu->bhs[2], 0);  // function complete
      answered = true;
    } else if (pdu->opcode() == Opcode::kDataIn && (pdu->bhs[1] & kStatusBit)) {
      ++completed_reads;
    }
  }
  EXPECT_LT(completed_reads, 24);
  // After the response, nothing more arrives for the aborted tasks.
  EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(500)));
  // The reset is reported to this nexus too (BUS DEVICE RESET FUNCTION OCCURRED), once.
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  absl::StatusOr<ScsiResult> result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0x02);
  EXPECT_EQ(result->sense_key(), 0x06);
  EXPECT_EQ(result->asc(), 0x29);
  EXPECT_EQ(result->ascq(), 0x03);
  result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
}

TEST_F(TargetTest, WritesBeyondTheBufferBudgetWaitForTheirR2ts) {
  TargetOptions target_options = DefaultOptions();
  target_options.max_connection_buffer_bytes = 128 * 1024;
  StartTarget(target_options);
  LoginOptions options = Normal();
  options.initial_r2t = true;
  options.immediate_data = false;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  std::vector<CommandOptions> writes(3);
  std::vector<uint32_t> itts;
  for (int i = 0; i < 3; ++i) {
    writes[i].cdb = Write10(5000 + i * 128, 128);
    writes[i].write = true;
    writes[i].expected_length = 128 * kBlock;
    writes[i].data_out = Pattern(128 * kBlock, static_cast<uint8_t>(i));
    absl::StatusOr<uint32_t> itt = initiator->StartCommand(writes[i]);
    ASSERT_TRUE(itt.ok());
    itts.push_back(*itt);
  }
  // Two writes fit the 128 KiB budget; the third is solicited once one of them is done.
  std::vector<TargetPdu> r2ts;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<TargetPdu> r2t = initiator->ReadPdu();
    ASSERT_TRUE(r2t.ok()) << r2t.status();
    ASSERT_EQ(r2t->opcode(), Opcode::kR2t);
    EXPECT_EQ(LoadBe32(r2t->bhs, 16), itts[i]);
    r2ts.push_back(*r2t);
  }
  EXPECT_TRUE(initiator->ExpectSilence(absl::Milliseconds(300)));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(initiator->AnswerR2t(r2ts[i], writes[i]).ok());
    absl::StatusOr<ScsiResult> result = initiator->FinishCommand(itts[i], writes[i]);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 0);
  }
  absl::StatusOr<ScsiResult> third = initiator->FinishCommand(itts[2], writes[2]);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->status, 0);
  EXPECT_EQ(third->r2ts, 1);
  absl::StatusOr<ScsiResult> read = ReadBlocks(*initiator, 5000, 3 * 128);
  ASSERT_TRUE(read.ok());
  std::vector<uint8_t> expected;
  for (const CommandOptions& write : writes) {
    expected.insert(expected.end(), write.data_out.begin(), write.data_out.end());
  }
  EXPECT_TRUE(read->data == expected);
}

TEST_F(TargetTest, DataSegmentLongerThanNegotiatedIsRejected) {
  TargetOptions options = DefaultOptions();
  options.policy.max_recv_data_segment_length = 8192;
  StartTarget(options);
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  NopOut ping;
  ping.immediate_bit = true;
  ping.itt = initiator->NextItt();
  ping.cmd_sn = initiator->cmd_sn();
  ping.data_segment_length = 16384;
  ASSERT_TRUE(initiator->SendPdu(EncodeNopOut(ping), std::vector<uint8_t>(16384, 1)).ok());
  absl::StatusOr<TargetPdu> reject = initiator->ReadPdu();
  ASSERT_TRUE(reject.ok()) << reject.status();
  ASSERT_EQ(reject->opcode(), Opcode::kReject);
  EXPECT_EQ(reject->bhs[2], static_cast<uint8_t>(RejectReason::kProtocolError));
  ASSERT_EQ(reject->data.size(), kBhsLength);
  EXPECT_EQ(LoadBe32(reject->data, 16), ping.itt);
  EXPECT_TRUE(initiator->Ping({1}).ok());
}

TEST_F(TargetTest, UnknownOpcodeIsRejectedAndTheConnectionSurvives) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  Bhs bhs{};
  bhs[0] = 0x1d;  // vendor specific
  ASSERT_TRUE(initiator->SendPdu(bhs).ok());
  absl::StatusOr<TargetPdu> reject = initiator->ReadPdu();
  ASSERT_TRUE(reject.ok()) << reject.status();
  ASSERT_EQ(reject->opcode(), Opcode::kReject);
  EXPECT_EQ(reject->bhs[2], static_cast<uint8_t>(RejectReason::kCommandNotSupported));
  EXPECT_TRUE(initiator->Ping({}).ok());
}

TEST_F(TargetTest, HeaderDigestMismatchClosesTheConnection) {
  LoginOptions options = Normal();
  options.header_digest = true;
  options.data_digest = true;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  ASSERT_TRUE(initiator->digests().header_digest);
  EXPECT_TRUE(initiator->Ping({1, 2, 3, 4, 5}).ok());
  NopOut ping;
  ping.immediate_bit = true;
  ping.itt = initiator->NextItt();
  ping.cmd_sn = initiator->cmd_sn();
  Bhs bhs = EncodeNopOut(ping);
  std::vector<uint8_t> wire(kBhsLength + kDigestLength);
  ASSERT_TRUE(BuildPdu(bhs, {}, initiator->digests(), absl::MakeSpan(wire)).ok());
  wire[kBhsLength] ^= 0xff;  // corrupt the header digest
  ASSERT_TRUE(initiator->SendRaw(wire).ok());
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
}

TEST_F(TargetTest, DataDigestMismatchIsRejected) {
  LoginOptions options = Normal();
  options.data_digest = true;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  NopOut ping;
  ping.immediate_bit = true;
  ping.itt = initiator->NextItt();
  ping.cmd_sn = initiator->cmd_sn();
  ping.data_segment_length = 4;
  const std::vector<uint8_t> data = {1, 2, 3, 4};
  std::vector<uint8_t> wire(kBhsLength + 4 + kDigestLength);
  ASSERT_TRUE(BuildPdu(EncodeNopOut(ping), data, initiator->digests(), absl::MakeSpan(wire)).ok());
  wire.back() ^= 0x55;
  ASSERT_TRUE(initiator->SendRaw(wire).ok());
  absl::StatusOr<TargetPdu> reject = initiator->ReadPdu();
  ASSERT_TRUE(reject.ok()) << reject.status();
  ASSERT_EQ(reject->opcode(), Opcode::kReject);
  EXPECT_EQ(reject->bhs[2], static_cast<uint8_t>(RejectReason::kDataDigestError));
  EXPECT_TRUE(initiator->Ping({9}).ok());
}

TEST_F(TargetTest, DataOutWithAWrongDataSnIsRejectedAndTheWriteFails) {
  LoginOptions options = Normal();
  options.initial_r2t = true;
  options.immediate_data = false;
  std::unique_ptr<TestInitiator> initiator = LoggedIn(options);
  ASSERT_NE(initiator, nullptr);
  CommandOptions write;
  write.cdb = Write10(0, 2);
  write.write = true;
  write.expected_length = 2 * kBlock;
  absl::StatusOr<uint32_t> itt = initiator->StartCommand(write);
  ASSERT_TRUE(itt.ok());
  absl::StatusOr<TargetPdu> r2t = initiator->ReadFor(*itt);
  ASSERT_TRUE(r2t.ok());
  ASSERT_EQ(r2t->opcode(), Opcode::kR2t);
  for (uint32_t i = 0; i < 2; ++i) {
    DataOut data_out;
    data_out.final_bit = i == 1;
    data_out.itt = *itt;
    data_out.ttt = LoadBe32(r2t->bhs, 20);
    data_out.data_sn = 0;  // the second one must be 1
    data_out.buffer_offset = i * kBlock;
    data_out.data_segment_length = kBlock;
    ASSERT_TRUE(initiator->SendPdu(EncodeDataOut(data_out), std::vector<uint8_t>(kBlock)).ok());
  }
  absl::StatusOr<TargetPdu> reject = initiator->ReadPdu();
  ASSERT_TRUE(reject.ok()) << reject.status();
  ASSERT_EQ(reject->opcode(), Opcode::kReject);
  EXPECT_EQ(reject->bhs[2], static_cast<uint8_t>(RejectReason::kProtocolError));
  // §11.17.1: the task then ends in CHECK CONDITION once its sequence has ended.
  absl::StatusOr<TargetPdu> status = initiator->ReadFor(*itt);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->opcode(), Opcode::kScsiResponse);
  EXPECT_EQ(status->bhs[3], 0x02);
  ASSERT_GE(status->data.size(), 2u + 14);
  EXPECT_EQ(status->data[2 + 2] & 0x0f, 0x0b);  // ABORTED COMMAND
  EXPECT_EQ(status->data[2 + 12], 0x4b);        // DATA PHASE ERROR
  EXPECT_TRUE(initiator->Ping({}).ok());
}

TEST_F(TargetTest, ResizeRaisesCapacityDataHasChangedOnTheNextCommand) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  ASSERT_TRUE(target_->ResizeLun(kTargetIqn, 0, 2 * kLunBytes).ok());
  EXPECT_EQ(target_->ResizeLun(kTargetIqn, 0, kLunBytes).code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<TargetPdu> async = initiator->ReadPdu();
  ASSERT_TRUE(async.ok()) << async.status();
  ASSERT_EQ(async->opcode(), Opcode::kAsyncMessage);
  EXPECT_EQ(async->bhs[36], 0);  // SCSI async event
  ASSERT_GE(async->data.size(), 2u + 14);
  EXPECT_EQ(async->data[2 + 12], 0x2a);
  EXPECT_EQ(async->data[2 + 13], 0x09);
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  absl::StatusOr<ScsiResult> result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0x02);
  EXPECT_EQ(result->sense_key(), 0x06);
  EXPECT_EQ(result->asc(), 0x2a);
  EXPECT_EQ(result->ascq(), 0x09);
  result = initiator->Command(tur);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status, 0);
  // READ CAPACITY(16) reports the new size: RETURNED LOGICAL BLOCK ADDRESS is the last LBA.
  CommandOptions capacity;
  capacity.cdb = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0};
  capacity.read = true;
  capacity.expected_length = 32;
  result = initiator->Command(capacity);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->status, 0);
  ASSERT_EQ(result->data.size(), 32u);
  uint64_t last_lba = 0;
  for (int i = 0; i < 8; ++i) last_lba = (last_lba << 8) | result->data[i];
  EXPECT_EQ(last_lba, 2 * kLunBytes / 512 - 1);
}

TEST_F(TargetTest, LogoutReleasesReserve6BeforeTheResponseArrives) {
  std::unique_ptr<TestInitiator> holder = LoggedIn();
  ASSERT_NE(holder, nullptr);
  LoginOptions other_options = Normal();
  other_options.initiator_name = "iqn.2026-01.io.iscsi-csi.test:other";
  other_options.isid = {0x80, 0x12, 0x34, 0x56, 0x00, 0x02};
  std::unique_ptr<TestInitiator> other = LoggedIn(other_options);
  ASSERT_NE(other, nullptr);
  CommandOptions reserve;
  reserve.cdb = {0x16, 0, 0, 0, 0, 0};
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<ScsiResult> held = holder->Command(reserve);
    ASSERT_TRUE(held.ok()) << held.status();
    ASSERT_EQ(held->status, 0);
    absl::StatusOr<ScsiResult> refused = other->Command(reserve);
    ASSERT_TRUE(refused.ok()) << refused.status();
    ASSERT_EQ(refused->status, 0x18);  // RESERVATION CONFLICT
    ASSERT_TRUE(holder->Logout().ok());
    // The moment the Logout Response is in, the reservation is gone.
    absl::StatusOr<ScsiResult> taken = other->Command(reserve);
    ASSERT_TRUE(taken.ok()) << taken.status();
    ASSERT_EQ(taken->status, 0) << "round " << round;
    CommandOptions release;
    release.cdb = {0x17, 0, 0, 0, 0, 0};
    ASSERT_EQ(other->Command(release)->status, 0);
    holder = LoggedIn();
    ASSERT_NE(holder, nullptr);
  }
}

TEST_F(TargetTest, CommandsToAMissingLunAnswerLikeSpcSays) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  CommandOptions inquiry;
  inquiry.lun = 5;
  inquiry.cdb = Inquiry(96);
  inquiry.read = true;
  inquiry.expected_length = 96;
  absl::StatusOr<ScsiResult> result = initiator->Command(inquiry);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  ASSERT_FALSE(result->data.empty());
  EXPECT_EQ(result->data[0], 0x7f);

  CommandOptions report;
  report.lun = 5;
  report.cdb = ReportLuns(256);
  report.read = true;
  report.expected_length = 256;
  result = initiator->Command(report);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0);
  ASSERT_GE(result->data.size(), 16u);
  EXPECT_EQ(LoadBe32(result->data, 0), 8u);  // one LUN

  CommandOptions tur;
  tur.lun = 5;
  tur.cdb = TestUnitReady();
  result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 0x02);
  EXPECT_EQ(result->sense_key(), 0x05);
  EXPECT_EQ(result->asc(), 0x25);
}

TEST_F(TargetTest, AddLunRaisesReportedLunsDataHasChangedAndShowsInReportLuns) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  AddLun(kTargetIqn, 1, 1 << 20);
  CommandOptions tur;
  tur.cdb = TestUnitReady();
  absl::StatusOr<ScsiResult> result = initiator->Command(tur);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sense_key(), 0x06);
  EXPECT_EQ(result->asc(), 0x3f);
  EXPECT_EQ(result->ascq(), 0x0e);
  CommandOptions report;
  report.cdb = ReportLuns(256);
  report.read = true;
  report.expected_length = 256;
  result = initiator->Command(report);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(LoadBe32(result->data, 0), 16u);  // two LUNs
  ASSERT_TRUE(target_->RemoveLun(kTargetIqn, 1).ok());
  EXPECT_EQ(target_->RemoveLun(kTargetIqn, 1).code(), absl::StatusCode::kNotFound);
}

TEST_F(TargetTest, RemoveTargetClosesItsSessions) {
  std::unique_ptr<TestInitiator> initiator = LoggedIn();
  ASSERT_NE(initiator, nullptr);
  ASSERT_TRUE(target_->RemoveTarget(kTargetIqn).ok());
  EXPECT_TRUE(initiator->WaitForClose(absl::Seconds(5)));
  EXPECT_EQ(target_->RemoveTarget(kTargetIqn).code(), absl::StatusCode::kNotFound);
}

TEST_F(TargetTest, ManyConcurrentSessionsKeepWorkingWhileOneMisbehaves) {
  std::vector<std::unique_ptr<TestInitiator>> sessions;
  for (int i = 0; i < 6; ++i) {
    LoginOptions options = Normal();
    options.isid[5] = static_cast<uint8_t>(10 + i);
    sessions.push_back(LoggedIn(options));
    ASSERT_NE(sessions.back(), nullptr);
  }
  std::unique_ptr<TestInitiator> bad = Connect();
  std::vector<uint8_t> garbage(4096, 0xff);
  ASSERT_TRUE(bad->SendRaw(garbage).ok());
  EXPECT_TRUE(bad->WaitForClose(absl::Seconds(5)));
  for (size_t i = 0; i < sessions.size(); ++i) {
    ExpectWriteThenReadBack(*sessions[i], static_cast<uint32_t>(1000 + i * 16), 8192,
                            static_cast<uint8_t>(i), 0);
  }
}

}  // namespace
}  // namespace iscsi_csi::target::testing
