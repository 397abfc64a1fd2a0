// Tests for target/pdu.h: framing, decoding, encoding and assembly of iSCSI PDUs.
// Expected bytes are written out row by row as in the RFC 7143 §11 layout figures
// (4 bytes a row, row offset in the comment), not derived from the code under test.

#include "target/pdu.h"

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "target/bytes.h"
#include "target/digest.h"

namespace iscsi_csi::target {
namespace {

using ::testing::ElementsAreArray;

// Hex turns "43 81 00 00\n 00 00 00 10 ..." into bytes.
std::vector<uint8_t> Hex(absl::string_view text) {
  const std::string compact = absl::StrReplaceAll(text, {{" ", ""}, {"\n", ""}});
  const std::string bytes = absl::HexStringToBytes(compact);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

std::vector<uint8_t> Sequence(size_t length, uint8_t first = 1) {
  std::vector<uint8_t> v(length);
  for (size_t i = 0; i < length; ++i) v[i] = static_cast<uint8_t>(first + i);
  return v;
}

template <typename T>
std::string Describe(const ParseResult<T>& result) {
  if (result.ok()) return "ok";
  if (result.rejected()) {
    return "reject reason " + std::to_string(static_cast<int>(result.reject_reason()));
  }
  return "fatal: " + result.status().ToString();
}

template <typename T>
void ExpectReject(const ParseResult<T>& result, RejectReason reason) {
  ASSERT_TRUE(result.rejected()) << Describe(result);
  EXPECT_EQ(result.reject_reason(), reason);
  EXPECT_TRUE(result.status().ok());
}

template <typename T>
void ExpectFatal(const ParseResult<T>& result, absl::StatusCode code) {
  ASSERT_TRUE(result.fatal()) << Describe(result);
  EXPECT_EQ(result.status().code(), code);
}

// RFC 7143 Appendix A.4: a SCSI Read (10) command PDU, READ(10) of 2 blocks.
constexpr absl::string_view kRfcReadPdu =
    "01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00"
    "14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18"
    "28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00";

// ---------------------------------------------------------------------------------------
// Framing.

TEST(FramePduTest, ShortHeaderIsConnectionFatal) {
  const std::vector<uint8_t> bhs(kBhsLength - 1, 0);
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FramePdu({}, FramingParams{}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FramePduTest, CountsAhsHeaderDigestDataPaddingAndDataDigest) {
  Bhs bhs = EncodeNopOut(NopOut{.immediate_bit = true, .data_segment_length = 5});
  bhs[4] = 2;  // TotalAHSLength: two words
  FramingParams params;
  params.digests = {.header_digest = true, .data_digest = true};
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, params);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->opcode, Opcode::kNopOut);
  EXPECT_TRUE(frame->immediate);
  EXPECT_EQ(frame->ahs_length, 8u);
  EXPECT_EQ(frame->header_digest_length, 4u);
  EXPECT_EQ(frame->data_segment_length, 5u);
  EXPECT_EQ(frame->padding_length, 3u);
  EXPECT_EQ(frame->data_digest_length, 4u);
  EXPECT_EQ(frame->RemainingLength(), 8u + 4 + 5 + 3 + 4);
  EXPECT_EQ(frame->HeaderLength(), 56u);
  EXPECT_FALSE(frame->reject_reason.has_value());
}

TEST(FramePduTest, DataDigestIsAbsentWithoutData) {
  const Bhs bhs = EncodeNopOut(NopOut{.immediate_bit = true});
  FramingParams params;
  params.digests = {.header_digest = true, .data_digest = true};
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, params);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->data_digest_length, 0u);
  EXPECT_EQ(frame->RemainingLength(), 4u);  // just the header digest
}

TEST(FramePduTest, PaddingRoundsDataUpToFourBytes) {
  EXPECT_EQ(PaddingLength(0), 0u);
  EXPECT_EQ(PaddingLength(1), 3u);
  EXPECT_EQ(PaddingLength(2), 2u);
  EXPECT_EQ(PaddingLength(3), 1u);
  EXPECT_EQ(PaddingLength(4), 0u);
  EXPECT_EQ(PaddingLength(8191), 1u);
  for (uint32_t length = 0; length < 12; ++length) {
    const Bhs bhs = EncodeNopOut(NopOut{.immediate_bit = true, .data_segment_length = length});
    const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
    ASSERT_TRUE(frame.ok());
    EXPECT_EQ((frame->data_segment_length + frame->padding_length) % 4, 0u) << length;
    EXPECT_LT(frame->padding_length, 4u);
  }
}

TEST(FramePduTest, DataSegmentLongerThanNegotiatedIsRejected) {
  FramingParams params;
  params.max_recv_data_segment_length = 8192;
  const Bhs at_limit = EncodeDataOut(DataOut{.itt = 1, .data_segment_length = 8192});
  const Bhs over_limit = EncodeDataOut(DataOut{.itt = 1, .data_segment_length = 8193});

  const absl::StatusOr<PduFrame> ok = FramePdu(at_limit, params);
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->reject_reason.has_value());

  const absl::StatusOr<PduFrame> rejected = FramePdu(over_limit, params);
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(rejected->reject_reason, RejectReason::kProtocolError);
  // The frame still says how much to skip.
  EXPECT_EQ(rejected->RemainingLength(), 8196u);
}

TEST(FramePduTest, UnassignedOpcodeIsRejectedAsProtocolError) {
  Bhs bhs{};
  bhs[0] = 0x07;
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->reject_reason, RejectReason::kProtocolError);
}

TEST(FramePduTest, VendorSpecificOpcodeIsRejectedAsCommandNotSupported) {
  Bhs bhs{};
  bhs[0] = 0x1d;
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->reject_reason, RejectReason::kCommandNotSupported);
}

TEST(FramePduTest, TargetOpcodeFromInitiatorIsRejected) {
  const Bhs bhs = EncodeNopIn(NopIn{});
  const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->reject_reason, RejectReason::kProtocolError);
  // The same bytes are fine for an initiator reading what the target sent.
  const absl::StatusOr<PduFrame> at_initiator = FramePdu(bhs, FramingParams{}, PduSender::kTarget);
  ASSERT_TRUE(at_initiator.ok());
  EXPECT_FALSE(at_initiator->reject_reason.has_value());
}

TEST(FramePduTest, EveryInitiatorOpcodeIsAccepted) {
  for (uint8_t opcode : {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10}) {
    Bhs bhs{};
    bhs[0] = opcode | kImmediateBit;
    const absl::StatusOr<PduFrame> frame = FramePdu(bhs, FramingParams{});
    ASSERT_TRUE(frame.ok());
    EXPECT_FALSE(frame->reject_reason.has_value()) << int{opcode};
    EXPECT_EQ(static_cast<uint8_t>(frame->opcode), opcode);
  }
}

// ---------------------------------------------------------------------------------------
// Digests on the wire.

TEST(DigestPlacementTest, HeaderDigestFollowsTheHeaderLeastSignificantByteFirst) {
  const std::vector<uint8_t> header = Hex(kRfcReadPdu);
  std::vector<uint8_t> wire(PduWireLength(header.size(), 0, {.header_digest = true}));
  ASSERT_EQ(wire.size(), 52u);
  const absl::StatusOr<size_t> written =
      BuildPdu(header, {}, {.header_digest = true, .data_digest = true}, absl::MakeSpan(wire));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 52u);  // no data, so no data digest
  // RFC 7143 A.4 gives this PDU's CRC as the bytes 56 3a 96 d9.
  EXPECT_THAT(absl::MakeConstSpan(wire).subspan(48), ElementsAreArray(Hex("56 3a 96 d9")));
  EXPECT_TRUE(
      CheckHeaderDigest(absl::MakeConstSpan(wire).first(48), absl::MakeConstSpan(wire).subspan(48))
          .ok());
}

TEST(DigestPlacementTest, HeaderDigestMismatchIsDataLoss) {
  const std::vector<uint8_t> header = Hex(kRfcReadPdu);
  EXPECT_EQ(CheckHeaderDigest(header, Hex("d9 96 3a 56")).code(),  // byte-swapped
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckHeaderDigest(header, Hex("56 3a")).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DigestPlacementTest, DataDigestCoversDataAndPadding) {
  const Bhs bhs = EncodeNopIn(NopIn{.data_segment_length = 5});
  const std::vector<uint8_t> data = {0xde, 0xad, 0xbe, 0xef, 0x01};
  std::vector<uint8_t> wire(PduWireLength(kBhsLength, data.size(), {.data_digest = true}));
  ASSERT_EQ(wire.size(), 48u + 5 + 3 + 4);
  ASSERT_TRUE(BuildPdu(bhs, data, {.data_digest = true}, absl::MakeSpan(wire)).ok());

  const std::vector<uint8_t> padded = {0xde, 0xad, 0xbe, 0xef, 0x01, 0, 0, 0};
  const uint32_t crc = Crc32c(padded);
  const std::vector<uint8_t> expected_digest = {
      static_cast<uint8_t>(crc), static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc >> 16),
      static_cast<uint8_t>(crc >> 24)};
  EXPECT_THAT(absl::MakeConstSpan(wire).subspan(48, 8), ElementsAreArray(padded));
  EXPECT_THAT(absl::MakeConstSpan(wire).subspan(56), ElementsAreArray(expected_digest));
  EXPECT_TRUE(DataDigestMatches(padded, absl::MakeConstSpan(wire).subspan(56)));
  wire[50] ^= 0x01;
  EXPECT_FALSE(DataDigestMatches(absl::MakeConstSpan(wire).subspan(48, 8),
                                 absl::MakeConstSpan(wire).subspan(56)));
}

// ---------------------------------------------------------------------------------------
// Literal layouts of the PDUs the target sends.

TEST(EncodeTest, LoginResponseMatchesRfcLayout) {
  const LoginResponse pdu{.transit_bit = true,
                          .csg = 1,
                          .nsg = 3,
                          .version_max = 0,
                          .version_active = 0,
                          .isid = {0x80, 0x12, 0x34, 0x56, 0x78, 0x9a},
                          .tsih = 0x0102,
                          .itt = 0x11223344,
                          .stat_sn = 0x01020304,
                          .exp_cmd_sn = 0x05060708,
                          .max_cmd_sn = 0x090a0b0c,
                          .status_class = 2,
                          .status_detail = 1,
                          .data_segment_length = 0x123};
  EXPECT_THAT(EncodeLoginResponse(pdu), ElementsAreArray(Hex("23 87 00 00"      // 0
                                                             "00 00 01 23"      // 4
                                                             "80 12 34 56"      // 8 ISID
                                                             "78 9a 01 02"      // 12 TSIH
                                                             "11 22 33 44"      // 16 ITT
                                                             "00 00 00 00"      // 20
                                                             "01 02 03 04"      // 24 StatSN
                                                             "05 06 07 08"      // 28
                                                             "09 0a 0b 0c"      // 32
                                                             "02 01 00 00"      // 36 status
                                                             "00 00 00 00"      // 40
                                                             "00 00 00 00")));  // 44
}

TEST(EncodeTest, TextResponseMatchesRfcLayout) {
  const TextResponse pdu{.final_bit = true,
                         .lun = 0,
                         .itt = 1,
                         .ttt = kReservedTag,
                         .stat_sn = 2,
                         .exp_cmd_sn = 3,
                         .max_cmd_sn = 4,
                         .data_segment_length = 5};
  EXPECT_THAT(EncodeTextResponse(pdu), ElementsAreArray(Hex("24 80 00 00  00 00 00 05"
                                                            "00 00 00 00  00 00 00 00"
                                                            "00 00 00 01  ff ff ff ff"
                                                            "00 00 00 02  00 00 00 03"
                                                            "00 00 00 04  00 00 00 00"
                                                            "00 00 00 00  00 00 00 00")));
}

TEST(EncodeTest, ScsiResponseMatchesRfcLayout) {
  const ScsiResponse pdu{.bidi_residual_underflow_bit = true,
                         .residual_underflow_bit = true,
                         .response = kScsiResponseTargetFailure,
                         .status = 0x02,
                         .itt = 0xa1a2a3a4,
                         .snack_tag = 0xb1b2b3b4,
                         .stat_sn = 0x10,
                         .exp_cmd_sn = 0x20,
                         .max_cmd_sn = 0x30,
                         .exp_data_sn = 0x40,
                         .bidi_read_residual_count = 0x50,
                         .residual_count = 0x60,
                         .data_segment_length = 0x12};
  EXPECT_THAT(EncodeScsiResponse(pdu), ElementsAreArray(Hex("21 8a 01 02  00 00 00 12"
                                                            "00 00 00 00  00 00 00 00"
                                                            "a1 a2 a3 a4  b1 b2 b3 b4"
                                                            "00 00 00 10  00 00 00 20"
                                                            "00 00 00 30  00 00 00 40"
                                                            "00 00 00 50  00 00 00 60")));
  const ScsiResponse overflow{.bidi_residual_overflow_bit = true, .residual_overflow_bit = true};
  EXPECT_EQ(EncodeScsiResponse(overflow)[1], 0x94);
}

TEST(EncodeTest, DataInWithStatusMatchesRfcLayout) {
  const DataIn pdu{.final_bit = true,
                   .residual_underflow_bit = true,
                   .status_bit = true,
                   .status = 0x08,
                   .lun = 0x0001000000000000,
                   .itt = 0x01020304,
                   .ttt = kReservedTag,
                   .stat_sn = 7,
                   .exp_cmd_sn = 8,
                   .max_cmd_sn = 9,
                   .data_sn = 0x0a,
                   .buffer_offset = 0x2000,
                   .residual_count = 0x200,
                   .data_segment_length = 0x1000};
  EXPECT_THAT(EncodeDataIn(pdu), ElementsAreArray(Hex("25 83 00 08  00 00 10 00"
                                                      "00 01 00 00  00 00 00 00"
                                                      "01 02 03 04  ff ff ff ff"
                                                      "00 00 00 07  00 00 00 08"
                                                      "00 00 00 09  00 00 00 0a"
                                                      "00 00 20 00  00 00 02 00")));
}

TEST(EncodeTest, DataInWithoutStatusLeavesStatusFieldsReserved) {
  const DataIn pdu{.ack_bit = true,
                   .residual_overflow_bit = true,
                   .status = 0x02,
                   .itt = 5,
                   .stat_sn = 99,
                   .exp_cmd_sn = 8,
                   .max_cmd_sn = 9,
                   .data_sn = 1,
                   .buffer_offset = 0x10,
                   .residual_count = 77,
                   .data_segment_length = 0x10};
  EXPECT_THAT(EncodeDataIn(pdu), ElementsAreArray(Hex("25 40 00 00  00 00 00 10"
                                                      "00 00 00 00  00 00 00 00"
                                                      "00 00 00 05  ff ff ff ff"
                                                      "00 00 00 00  00 00 00 08"
                                                      "00 00 00 09  00 00 00 01"
                                                      "00 00 00 10  00 00 00 00")));
}

TEST(EncodeTest, R2tMatchesRfcLayout) {
  const R2t pdu{.lun = 0x0002000000000000,
                .itt = 0x11,
                .ttt = 0x22,
                .stat_sn = 0x33,
                .exp_cmd_sn = 0x44,
                .max_cmd_sn = 0x55,
                .r2t_sn = 0x66,
                .buffer_offset = 0x77,
                .desired_data_transfer_length = 0x88};
  EXPECT_THAT(EncodeR2t(pdu), ElementsAreArray(Hex("31 80 00 00  00 00 00 00"
                                                   "00 02 00 00  00 00 00 00"
                                                   "00 00 00 11  00 00 00 22"
                                                   "00 00 00 33  00 00 00 44"
                                                   "00 00 00 55  00 00 00 66"
                                                   "00 00 00 77  00 00 00 88")));
}

TEST(EncodeTest, NopInMatchesRfcLayout) {
  const NopIn pdu{
      .itt = kReservedTag, .ttt = 0x12345678, .stat_sn = 1, .exp_cmd_sn = 2, .max_cmd_sn = 3};
  EXPECT_THAT(EncodeNopIn(pdu), ElementsAreArray(Hex("20 80 00 00  00 00 00 00"
                                                     "00 00 00 00  00 00 00 00"
                                                     "ff ff ff ff  12 34 56 78"
                                                     "00 00 00 01  00 00 00 02"
                                                     "00 00 00 03  00 00 00 00"
                                                     "00 00 00 00  00 00 00 00")));
}

TEST(EncodeTest, LogoutResponseMatchesRfcLayout) {
  const LogoutResponse pdu{.response = LogoutResponseCode::kCidNotFound,
                           .itt = 0x0a0b0c0d,
                           .stat_sn = 1,
                           .exp_cmd_sn = 2,
                           .max_cmd_sn = 3,
                           .time2wait = 2,
                           .time2retain = 20};
  EXPECT_THAT(EncodeLogoutResponse(pdu), ElementsAreArray(Hex("26 80 01 00  00 00 00 00"
                                                              "00 00 00 00  00 00 00 00"
                                                              "0a 0b 0c 0d  00 00 00 00"
                                                              "00 00 00 01  00 00 00 02"
                                                              "00 00 00 03  00 00 00 00"
                                                              "00 02 00 14  00 00 00 00")));
}

TEST(EncodeTest, TaskMgmtResponseMatchesRfcLayout) {
  const TaskMgmtResponse pdu{.response = TmfResponse::kTaskDoesNotExist,
                             .itt = 0x99,
                             .stat_sn = 4,
                             .exp_cmd_sn = 5,
                             .max_cmd_sn = 6};
  EXPECT_THAT(EncodeTaskMgmtResponse(pdu), ElementsAreArray(Hex("22 80 01 00  00 00 00 00"
                                                                "00 00 00 00  00 00 00 00"
                                                                "00 00 00 99  00 00 00 00"
                                                                "00 00 00 04  00 00 00 05"
                                                                "00 00 00 06  00 00 00 00"
                                                                "00 00 00 00  00 00 00 00")));
}

TEST(EncodeTest, RejectMatchesRfcLayout) {
  const Reject pdu{.reason = RejectReason::kInvalidPduField,
                   .stat_sn = 0x100,
                   .exp_cmd_sn = 0x200,
                   .max_cmd_sn = 0x300};
  EXPECT_THAT(EncodeReject(pdu), ElementsAreArray(Hex("3f 80 09 00  00 00 00 30"
                                                      "00 00 00 00  00 00 00 00"
                                                      "ff ff ff ff  00 00 00 00"
                                                      "00 00 01 00  00 00 02 00"
                                                      "00 00 03 00  00 00 00 00"
                                                      "00 00 00 00  00 00 00 00")));
}

TEST(EncodeTest, AsyncMessageMatchesRfcLayout) {
  const AsyncMessage pdu{.lun = 0x0003000000000000,
                         .stat_sn = 1,
                         .exp_cmd_sn = 2,
                         .max_cmd_sn = 3,
                         .async_event = AsyncEvent::kLogoutRequest,
                         .async_vcode = 0,
                         .parameter1 = 0x1111,
                         .parameter2 = 2,
                         .parameter3 = 20};
  EXPECT_THAT(EncodeAsyncMessage(pdu), ElementsAreArray(Hex("32 80 00 00  00 00 00 00"
                                                            "00 03 00 00  00 00 00 00"
                                                            "ff ff ff ff  00 00 00 00"
                                                            "00 00 00 01  00 00 00 02"
                                                            "00 00 00 03  01 00 11 11"
                                                            "00 02 00 14  00 00 00 00")));
}

// ---------------------------------------------------------------------------------------
// Literal layouts of the PDUs the target receives.

TEST(ParseTest, RfcReadCommandExampleDecodes) {
  const std::vector<uint8_t> bhs = Hex(kRfcReadPdu);
  const ParseResult<ScsiCommand> cmd = ParseScsiCommand(bhs, {}, {});
  ASSERT_TRUE(cmd.ok()) << Describe(cmd);
  EXPECT_FALSE(cmd->immediate_bit);
  EXPECT_TRUE(cmd->final_bit);
  EXPECT_TRUE(cmd->read_bit);
  EXPECT_FALSE(cmd->write_bit);
  EXPECT_EQ(cmd->attr, static_cast<uint8_t>(TaskAttribute::kUntagged));
  EXPECT_EQ(cmd->lun, 0u);
  EXPECT_EQ(cmd->itt, 0x14000000u);
  EXPECT_EQ(cmd->expected_data_transfer_length, 1024u);
  EXPECT_EQ(cmd->cmd_sn, 0x14u);
  EXPECT_EQ(cmd->exp_stat_sn, 0x18u);
  EXPECT_EQ(cmd->cdb_length, 16);
  EXPECT_THAT(cmd->Cdb(), ElementsAreArray(Hex("28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00")));
  EXPECT_FALSE(cmd->bidi_read_expected_data_transfer_length.has_value());
  // Encoding the decoded command gives the same bytes back.
  EXPECT_EQ(EncodeScsiCommand(cmd.value()), bhs);
}

TEST(ParseTest, LoginRequestFieldsComeFromRfcOffsets) {
  const std::vector<uint8_t> bhs =
      Hex("43 81 00 00  00 00 00 10"    // 0: I|0x03, T|CSG 0|NSG 1, max 0, min 0; DSL 16
          "40 00 01 37  00 00 00 00"    // 8: ISID, TSIH 0
          "00 00 00 01  00 01 00 00"    // 16: ITT 1, CID 1
          "00 00 00 01  00 00 00 00"    // 24: CmdSN 1, ExpStatSN 0
          "00 00 00 00  00 00 00 00"    // 32
          "00 00 00 00  00 00 00 00");  // 40
  const std::vector<uint8_t> data = Sequence(16);
  const ParseResult<LoginRequest> login = ParseLoginRequest(bhs, data);
  ASSERT_TRUE(login.ok()) << Describe(login);
  EXPECT_TRUE(login->transit_bit);
  EXPECT_FALSE(login->continue_bit);
  EXPECT_EQ(login->csg, static_cast<uint8_t>(LoginStage::kSecurityNegotiation));
  EXPECT_EQ(login->nsg, static_cast<uint8_t>(LoginStage::kLoginOperationalNegotiation));
  EXPECT_EQ(login->isid, (std::array<uint8_t, 6>{0x40, 0x00, 0x01, 0x37, 0x00, 0x00}));
  EXPECT_EQ(login->tsih, 0);
  EXPECT_EQ(login->itt, 1u);
  EXPECT_EQ(login->cid, 1);
  EXPECT_EQ(login->cmd_sn, 1u);
  EXPECT_EQ(login->exp_stat_sn, 0u);
  EXPECT_EQ(login->data.data(), data.data());  // zero-copy view of the caller's buffer
  EXPECT_THAT(EncodeLoginRequest(login.value()), ElementsAreArray(bhs));
}

TEST(ParseTest, DataOutFieldsComeFromRfcOffsets) {
  const std::vector<uint8_t> bhs =
      Hex("05 80 00 00  00 00 00 06"
          "00 01 00 00  00 00 00 00"
          "00 00 00 42  00 00 10 01"
          "00 00 00 00  00 00 00 07"
          "00 00 00 00  00 00 00 03"
          "00 00 04 00  00 00 00 00");
  const std::vector<uint8_t> data = Sequence(6);
  const ParseResult<DataOut> out = ParseDataOut(bhs, data);
  ASSERT_TRUE(out.ok()) << Describe(out);
  EXPECT_TRUE(out->final_bit);
  EXPECT_EQ(out->lun, 0x0001000000000000u);
  EXPECT_EQ(out->itt, 0x42u);
  EXPECT_EQ(out->ttt, 0x1001u);
  EXPECT_EQ(out->exp_stat_sn, 7u);
  EXPECT_EQ(out->data_sn, 3u);
  EXPECT_EQ(out->buffer_offset, 0x400u);
  EXPECT_EQ(out->data_segment_length, 6u);
  EXPECT_THAT(EncodeDataOut(out.value()), ElementsAreArray(bhs));
}

TEST(ParseTest, TaskMgmtRequestFieldsComeFromRfcOffsets) {
  const std::vector<uint8_t> bhs =
      Hex("42 81 00 00  00 00 00 00"  // immediate, F|ABORT TASK
          "00 01 00 00  00 00 00 00"  // LUN
          "00 00 00 10  00 00 00 0f"  // ITT, RTT
          "00 00 00 11  00 00 00 12"  // CmdSN, ExpStatSN
          "00 00 00 0e  00 00 00 05"  // RefCmdSN, ExpDataSN
          "00 00 00 00  00 00 00 00");
  const ParseResult<TaskMgmtRequest> tmf = ParseTaskMgmtRequest(bhs, {});
  ASSERT_TRUE(tmf.ok()) << Describe(tmf);
  EXPECT_TRUE(tmf->immediate_bit);
  EXPECT_EQ(tmf->function, TmfFunction::kAbortTask);
  EXPECT_EQ(tmf->lun, 0x0001000000000000u);
  EXPECT_EQ(tmf->itt, 0x10u);
  EXPECT_EQ(tmf->referenced_task_tag, 0x0fu);
  EXPECT_EQ(tmf->cmd_sn, 0x11u);
  EXPECT_EQ(tmf->exp_stat_sn, 0x12u);
  EXPECT_EQ(tmf->ref_cmd_sn, 0x0eu);
  EXPECT_EQ(tmf->exp_data_sn, 5u);
  EXPECT_THAT(EncodeTaskMgmtRequest(tmf.value()), ElementsAreArray(bhs));
}

TEST(ParseTest, LogoutAndNopOutAndTextFieldsComeFromRfcOffsets) {
  const std::vector<uint8_t> logout_bhs =
      Hex("46 81 00 00  00 00 00 00  00 00 00 00  00 00 00 00"
          "00 00 00 07  01 02 00 00  00 00 00 08  00 00 00 09"
          "00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00");
  const ParseResult<LogoutRequest> logout = ParseLogoutRequest(logout_bhs, {});
  ASSERT_TRUE(logout.ok()) << Describe(logout);
  EXPECT_TRUE(logout->immediate_bit);
  EXPECT_EQ(logout->reason_code, LogoutReason::kCloseConnection);
  EXPECT_EQ(logout->itt, 7u);
  EXPECT_EQ(logout->cid, 0x0102);
  EXPECT_EQ(logout->cmd_sn, 8u);
  EXPECT_EQ(logout->exp_stat_sn, 9u);
  EXPECT_THAT(EncodeLogoutRequest(logout.value()), ElementsAreArray(logout_bhs));

  const std::vector<uint8_t> nop_bhs =
      Hex("40 80 00 00  00 00 00 00  00 00 00 00  00 00 00 00"
          "ff ff ff ff  12 34 56 78  00 00 00 05  00 00 00 06"
          "00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00");
  const ParseResult<NopOut> nop = ParseNopOut(nop_bhs, {});
  ASSERT_TRUE(nop.ok()) << Describe(nop);
  EXPECT_TRUE(nop->immediate_bit);
  EXPECT_EQ(nop->itt, kReservedTag);
  EXPECT_EQ(nop->ttt, 0x12345678u);
  EXPECT_EQ(nop->cmd_sn, 5u);
  EXPECT_EQ(nop->exp_stat_sn, 6u);
  EXPECT_THAT(EncodeNopOut(nop.value()), ElementsAreArray(nop_bhs));

  const std::vector<uint8_t> text_bhs =
      Hex("04 80 00 00  00 00 00 14  00 00 00 00  00 00 00 00"
          "00 00 00 02  ff ff ff ff  00 00 00 03  00 00 00 04"
          "00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00");
  const std::vector<uint8_t> text_data = Sequence(0x14);
  const ParseResult<TextRequest> text = ParseTextRequest(text_bhs, text_data);
  ASSERT_TRUE(text.ok()) << Describe(text);
  EXPECT_FALSE(text->immediate_bit);
  EXPECT_TRUE(text->final_bit);
  EXPECT_FALSE(text->continue_bit);
  EXPECT_EQ(text->itt, 2u);
  EXPECT_EQ(text->ttt, kReservedTag);
  EXPECT_EQ(text->cmd_sn, 3u);
  EXPECT_EQ(text->exp_stat_sn, 4u);
  EXPECT_THAT(EncodeTextRequest(text.value()), ElementsAreArray(text_bhs));
}

// ---------------------------------------------------------------------------------------
// Round trips: every PDU type, encode then parse.

TEST(RoundTripTest, LoginRequestSurvivesEncodeAndParse) {
  const std::vector<uint8_t> data = Sequence(37);
  LoginRequest pdu{.transit_bit = false,
                   .continue_bit = true,
                   .csg = 1,
                   .nsg = 0,
                   .version_max = 0,
                   .version_min = 0,
                   .isid = {1, 2, 3, 4, 5, 6},
                   .tsih = 0x1234,
                   .itt = 0xdeadbeef,
                   .cid = 0x4321,
                   .cmd_sn = 0xfffffffe,
                   .exp_stat_sn = 0x7fffffff,
                   .data_segment_length = 37,
                   .data = data};
  const ParseResult<LoginRequest> parsed = ParseLoginRequest(EncodeLoginRequest(pdu), data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

TEST(RoundTripTest, TextRequestSurvivesEncodeAndParse) {
  const std::vector<uint8_t> data = Sequence(9);
  const TextRequest pdu{.immediate_bit = true,
                        .final_bit = false,
                        .continue_bit = true,
                        .lun = 0x0102030405060708,
                        .itt = 3,
                        .ttt = 0x77,
                        .cmd_sn = 4,
                        .exp_stat_sn = 5,
                        .data_segment_length = 9,
                        .data = data};
  const ParseResult<TextRequest> parsed = ParseTextRequest(EncodeTextRequest(pdu), data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

TEST(RoundTripTest, ScsiCommandWithSixteenByteCdbSurvivesEncodeAndParse) {
  const std::vector<uint8_t> data = Sequence(512);
  ScsiCommand pdu{.immediate_bit = true,
                  .final_bit = true,
                  .write_bit = true,
                  .attr = static_cast<uint8_t>(TaskAttribute::kSimple),
                  .lun = 0x0001000000000000,
                  .itt = 0x100,
                  .expected_data_transfer_length = 4096,
                  .cmd_sn = 9,
                  .exp_stat_sn = 10,
                  .data_segment_length = 512,
                  .data = data};
  const std::vector<uint8_t> cdb = Hex("8a 00 00 00 00 00 00 00 00 10 00 00 00 08 00 00");
  std::copy(cdb.begin(), cdb.end(), pdu.cdb.begin());
  const std::vector<uint8_t> header = EncodeScsiCommand(pdu);
  ASSERT_EQ(header.size(), kBhsLength);
  const ParseResult<ScsiCommand> parsed =
      ParseScsiCommand(absl::MakeConstSpan(header).first(kBhsLength), {}, data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

TEST(RoundTripTest, ScsiCommandWithExtendedCdbAndBidiLengthCarriesBothAhs) {
  ScsiCommand pdu{.final_bit = true,
                  .read_bit = true,
                  .write_bit = true,
                  .attr = static_cast<uint8_t>(TaskAttribute::kOrdered),
                  .itt = 0x200,
                  .expected_data_transfer_length = 512,
                  .cmd_sn = 1,
                  .exp_stat_sn = 2,
                  .cdb_length = 32,
                  .bidi_read_expected_data_transfer_length = 0x00010000};
  const std::vector<uint8_t> cdb = Sequence(32, 0x7f);
  std::copy(cdb.begin(), cdb.end(), pdu.cdb.begin());
  const std::vector<uint8_t> header = EncodeScsiCommand(pdu);
  // Extended CDB AHS: AHSLength 17 (32 - 15), 3 + 17 = 20 bytes; bidi AHS: 8 bytes.
  ASSERT_EQ(header.size(), kBhsLength + 20 + 8);
  EXPECT_EQ(header[4], 7);  // TotalAHSLength in words
  const auto ahs = absl::MakeConstSpan(header).subspan(kBhsLength);
  EXPECT_THAT(ahs.first(4), ElementsAreArray(Hex("00 11 01 00")));
  EXPECT_THAT(ahs.subspan(4, 16), ElementsAreArray(Sequence(16, 0x7f + 16)));
  EXPECT_THAT(ahs.subspan(20), ElementsAreArray(Hex("00 05 02 00  00 01 00 00")));

  const ParseResult<ScsiCommand> parsed =
      ParseScsiCommand(absl::MakeConstSpan(header).first(kBhsLength), ahs, {});
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
  EXPECT_THAT(parsed->Cdb(), ElementsAreArray(cdb));
}

TEST(RoundTripTest, DataOutSurvivesEncodeAndParse) {
  const std::vector<uint8_t> data = Sequence(7);
  const DataOut pdu{.final_bit = true,
                    .lun = 5,
                    .itt = 6,
                    .ttt = 7,
                    .exp_stat_sn = 8,
                    .data_sn = 9,
                    .buffer_offset = 10,
                    .data_segment_length = 7,
                    .data = data};
  const ParseResult<DataOut> parsed = ParseDataOut(EncodeDataOut(pdu), data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

TEST(RoundTripTest, NopOutSurvivesEncodeAndParse) {
  const std::vector<uint8_t> data = Sequence(3);
  const NopOut pdu{.immediate_bit = false,
                   .lun = 1,
                   .itt = 2,
                   .ttt = kReservedTag,
                   .cmd_sn = 3,
                   .exp_stat_sn = 4,
                   .data_segment_length = 3,
                   .data = data};
  const ParseResult<NopOut> parsed = ParseNopOut(EncodeNopOut(pdu), data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

TEST(RoundTripTest, LogoutRequestSurvivesEncodeAndParse) {
  for (LogoutReason reason : {LogoutReason::kCloseSession, LogoutReason::kCloseConnection,
                              LogoutReason::kRemoveConnectionForRecovery}) {
    const LogoutRequest pdu{.immediate_bit = true,
                            .reason_code = reason,
                            .itt = 11,
                            .cid = 12,
                            .cmd_sn = 13,
                            .exp_stat_sn = 14};
    const ParseResult<LogoutRequest> parsed = ParseLogoutRequest(EncodeLogoutRequest(pdu), {});
    ASSERT_TRUE(parsed.ok()) << Describe(parsed);
    EXPECT_EQ(parsed.value(), pdu);
  }
}

TEST(RoundTripTest, TaskMgmtRequestSurvivesEncodeAndParseForEveryFunction) {
  for (uint8_t function = 1; function <= 8; ++function) {
    const TaskMgmtRequest pdu{.immediate_bit = true,
                              .function = static_cast<TmfFunction>(function),
                              .lun = 0x0002000000000000,
                              .itt = 21,
                              .referenced_task_tag = 22,
                              .cmd_sn = 23,
                              .exp_stat_sn = 24,
                              .ref_cmd_sn = 25,
                              .exp_data_sn = 26};
    const ParseResult<TaskMgmtRequest> parsed =
        ParseTaskMgmtRequest(EncodeTaskMgmtRequest(pdu), {});
    ASSERT_TRUE(parsed.ok()) << Describe(parsed);
    EXPECT_EQ(parsed.value(), pdu);
  }
}

TEST(RoundTripTest, SnackSurvivesEncodeAndParseAboveErrorRecoveryLevelZero) {
  const Snack pdu{.type = SnackType::kStatus,
                  .lun = 0,
                  .itt = kReservedTag,
                  .ttt_or_snack_tag = 0,
                  .exp_stat_sn = 31,
                  .beg_run = 32,
                  .run_length = 33};
  const ParseResult<Snack> parsed = ParseSnack(EncodeSnack(pdu), {}, 1);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  EXPECT_EQ(parsed.value(), pdu);
}

template <typename T, typename Encode, typename Parse>
void ExpectTargetPduRoundTrip(const T& pdu, Encode encode, Parse parse) {
  const Bhs bhs = encode(pdu);
  const absl::StatusOr<T> parsed = parse(bhs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, pdu);
}

TEST(RoundTripTest, EveryTargetPduSurvivesEncodeAndParse) {
  ExpectTargetPduRoundTrip(LoginResponse{.transit_bit = true,
                                         .csg = 1,
                                         .nsg = 3,
                                         .version_max = 0,
                                         .version_active = 0,
                                         .isid = {9, 8, 7, 6, 5, 4},
                                         .tsih = 0x22,
                                         .itt = 1,
                                         .stat_sn = 2,
                                         .exp_cmd_sn = 3,
                                         .max_cmd_sn = 4,
                                         .status_class = 2,
                                         .status_detail = 5,
                                         .data_segment_length = 100},
                           EncodeLoginResponse, ParseLoginResponse);
  ExpectTargetPduRoundTrip(TextResponse{.final_bit = false,
                                        .continue_bit = true,
                                        .lun = 7,
                                        .itt = 8,
                                        .ttt = 9,
                                        .stat_sn = 10,
                                        .exp_cmd_sn = 11,
                                        .max_cmd_sn = 12,
                                        .data_segment_length = 13},
                           EncodeTextResponse, ParseTextResponse);
  ExpectTargetPduRoundTrip(ScsiResponse{.bidi_residual_overflow_bit = true,
                                        .residual_overflow_bit = true,
                                        .response = 0,
                                        .status = 0x02,
                                        .itt = 14,
                                        .snack_tag = 15,
                                        .stat_sn = 16,
                                        .exp_cmd_sn = 17,
                                        .max_cmd_sn = 18,
                                        .exp_data_sn = 19,
                                        .bidi_read_residual_count = 20,
                                        .residual_count = 21,
                                        .data_segment_length = 22},
                           EncodeScsiResponse, ParseScsiResponse);
  ExpectTargetPduRoundTrip(DataIn{.final_bit = true,
                                  .ack_bit = true,
                                  .residual_overflow_bit = true,
                                  .status_bit = true,
                                  .status = 0,
                                  .lun = 23,
                                  .itt = 24,
                                  .ttt = 25,
                                  .stat_sn = 26,
                                  .exp_cmd_sn = 27,
                                  .max_cmd_sn = 28,
                                  .data_sn = 29,
                                  .buffer_offset = 30,
                                  .residual_count = 31,
                                  .data_segment_length = 32},
                           EncodeDataIn, ParseDataIn);
  ExpectTargetPduRoundTrip(R2t{.lun = 33,
                               .itt = 34,
                               .ttt = 35,
                               .stat_sn = 36,
                               .exp_cmd_sn = 37,
                               .max_cmd_sn = 38,
                               .r2t_sn = 39,
                               .buffer_offset = 40,
                               .desired_data_transfer_length = 41},
                           EncodeR2t, ParseR2t);
  ExpectTargetPduRoundTrip(NopIn{.lun = 42,
                                 .itt = 43,
                                 .ttt = 44,
                                 .stat_sn = 45,
                                 .exp_cmd_sn = 46,
                                 .max_cmd_sn = 47,
                                 .data_segment_length = 48},
                           EncodeNopIn, ParseNopIn);
  ExpectTargetPduRoundTrip(LogoutResponse{.response = LogoutResponseCode::kCleanupFailed,
                                          .itt = 49,
                                          .stat_sn = 50,
                                          .exp_cmd_sn = 51,
                                          .max_cmd_sn = 52,
                                          .time2wait = 53,
                                          .time2retain = 54},
                           EncodeLogoutResponse, ParseLogoutResponse);
  ExpectTargetPduRoundTrip(TaskMgmtResponse{.response = TmfResponse::kFunctionRejected,
                                            .itt = 55,
                                            .stat_sn = 56,
                                            .exp_cmd_sn = 57,
                                            .max_cmd_sn = 58},
                           EncodeTaskMgmtResponse, ParseTaskMgmtResponse);
  ExpectTargetPduRoundTrip(Reject{.reason = RejectReason::kDataDigestError,
                                  .stat_sn = 59,
                                  .exp_cmd_sn = 60,
                                  .max_cmd_sn = 61,
                                  .data_sn_or_r2t_sn = 62,
                                  .data_segment_length = kBhsLength},
                           EncodeReject, ParseReject);
  ExpectTargetPduRoundTrip(AsyncMessage{.lun = 63,
                                        .stat_sn = 64,
                                        .exp_cmd_sn = 65,
                                        .max_cmd_sn = 66,
                                        .async_event = AsyncEvent::kScsiAsyncEvent,
                                        .async_vcode = 67,
                                        .parameter1 = 68,
                                        .parameter2 = 69,
                                        .parameter3 = 70,
                                        .data_segment_length = 20},
                           EncodeAsyncMessage, ParseAsyncMessage);
}

// ---------------------------------------------------------------------------------------
// Rejects and fatal errors in the parsers.

TEST(ParseRejectTest, WrongOpcodeOrMismatchedDataIsConnectionFatal) {
  const Bhs nop = EncodeNopOut(NopOut{.immediate_bit = true, .data_segment_length = 4});
  ExpectFatal(ParseTextRequest(nop, Sequence(4)), absl::StatusCode::kInvalidArgument);
  ExpectFatal(ParseNopOut(nop, Sequence(3)), absl::StatusCode::kInvalidArgument);
  ExpectFatal(ParseNopOut(absl::MakeConstSpan(nop).first(47), Sequence(4)),
              absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNopIn(nop).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRejectTest, LoginRequestWithTransitAndContinueIsProtocolError) {
  const LoginRequest pdu{.transit_bit = true, .continue_bit = true, .csg = 0, .nsg = 1, .itt = 1};
  ExpectReject(ParseLoginRequest(EncodeLoginRequest(pdu), {}), RejectReason::kProtocolError);
}

TEST(ParseRejectTest, LoginRequestWithReservedOrBackwardStageIsProtocolError) {
  ExpectReject(ParseLoginRequest(EncodeLoginRequest(LoginRequest{.csg = 2, .itt = 1}), {}),
               RejectReason::kProtocolError);
  ExpectReject(ParseLoginRequest(EncodeLoginRequest(LoginRequest{.csg = 3, .itt = 1}), {}),
               RejectReason::kProtocolError);
  ExpectReject(
      ParseLoginRequest(
          EncodeLoginRequest(LoginRequest{.transit_bit = true, .csg = 1, .nsg = 2, .itt = 1}), {}),
      RejectReason::kProtocolError);
  ExpectReject(
      ParseLoginRequest(
          EncodeLoginRequest(LoginRequest{.transit_bit = true, .csg = 1, .nsg = 0, .itt = 1}), {}),
      RejectReason::kProtocolError);
  // Without T the NSG field is not looked at.
  EXPECT_TRUE(
      ParseLoginRequest(EncodeLoginRequest(LoginRequest{.csg = 1, .nsg = 2, .itt = 1}), {}).ok());
}

TEST(ParseRejectTest, ReservedInitiatorTaskTagIsProtocolError) {
  ExpectReject(ParseLoginRequest(EncodeLoginRequest(LoginRequest{.itt = kReservedTag}), {}),
               RejectReason::kProtocolError);
  ExpectReject(
      ParseTextRequest(EncodeTextRequest(TextRequest{.final_bit = true, .itt = kReservedTag}), {}),
      RejectReason::kProtocolError);
  ExpectReject(ParseDataOut(EncodeDataOut(DataOut{.itt = kReservedTag}), {}),
               RejectReason::kProtocolError);
  ExpectReject(ParseLogoutRequest(EncodeLogoutRequest(LogoutRequest{.itt = kReservedTag}), {}),
               RejectReason::kProtocolError);
}

TEST(ParseRejectTest, TextRequestWithFinalAndContinueIsProtocolError) {
  const TextRequest pdu{.final_bit = true, .continue_bit = true, .itt = 1};
  ExpectReject(ParseTextRequest(EncodeTextRequest(pdu), {}), RejectReason::kProtocolError);
}

TEST(ParseRejectTest, NopOutWithoutAnswerMustBeImmediate) {
  const NopOut pdu{.immediate_bit = false, .itt = kReservedTag};
  ExpectReject(ParseNopOut(EncodeNopOut(pdu), {}), RejectReason::kProtocolError);
}

TEST(ParseRejectTest, LogoutRequestWithReservedReasonIsProtocolError) {
  const LogoutRequest pdu{.reason_code = static_cast<LogoutReason>(3), .itt = 1};
  ExpectReject(ParseLogoutRequest(EncodeLogoutRequest(pdu), {}), RejectReason::kProtocolError);
}

TEST(ParseRejectTest, TaskMgmtRequestWithReservedFunctionIsProtocolError) {
  for (uint8_t function : {0, 9, 0x7f}) {
    const TaskMgmtRequest pdu{.function = static_cast<TmfFunction>(function), .itt = 1};
    ExpectReject(ParseTaskMgmtRequest(EncodeTaskMgmtRequest(pdu), {}),
                 RejectReason::kProtocolError);
  }
}

TEST(ParseRejectTest, SnackAtErrorRecoveryLevelZeroIsProtocolError) {
  const Snack pdu{.type = SnackType::kDataR2t, .itt = 5};
  ExpectReject(ParseSnack(EncodeSnack(pdu), {}, 0), RejectReason::kProtocolError);
  const Snack reserved_type{.type = static_cast<SnackType>(7), .itt = 5};
  ExpectReject(ParseSnack(EncodeSnack(reserved_type), {}, 2), RejectReason::kProtocolError);
}

// A minimal valid READ for the SCSI Command reject tests to vary.
ScsiCommand ValidRead() {
  return ScsiCommand{
      .final_bit = true, .read_bit = true, .itt = 1, .expected_data_transfer_length = 512};
}

ParseResult<ScsiCommand> ParseEncoded(const ScsiCommand& pdu, absl::Span<const uint8_t> data) {
  const std::vector<uint8_t> header = EncodeScsiCommand(pdu);  // the result does not point here
  return ParseScsiCommand(absl::MakeConstSpan(header).first(kBhsLength),
                          absl::MakeConstSpan(header).subspan(kBhsLength), data);
}

TEST(ScsiCommandRejectTest, WriteAndFinalBothClearIsInvalidPduField) {
  ScsiCommand pdu = ValidRead();
  pdu.final_bit = false;
  ExpectReject(ParseEncoded(pdu, {}), RejectReason::kInvalidPduField);
}

TEST(ScsiCommandRejectTest, TransferLengthWithoutDirectionIsInvalidPduField) {
  ScsiCommand pdu = ValidRead();
  pdu.read_bit = false;
  ExpectReject(ParseEncoded(pdu, {}), RejectReason::kInvalidPduField);
  pdu.expected_data_transfer_length = 0;  // no data expected: fine without R/W
  EXPECT_TRUE(ParseEncoded(pdu, {}).ok());
}

TEST(ScsiCommandRejectTest, ImmediateDataOnReadIsProtocolError) {
  const std::vector<uint8_t> data = Sequence(8);
  ScsiCommand pdu = ValidRead();
  pdu.data_segment_length = 8;
  ExpectReject(ParseEncoded(pdu, data), RejectReason::kProtocolError);
}

TEST(ScsiCommandRejectTest, ImmediateDataBeyondExpectedLengthIsProtocolError) {
  const std::vector<uint8_t> data = Sequence(16);
  ScsiCommand pdu{.final_bit = true,
                  .write_bit = true,
                  .itt = 1,
                  .expected_data_transfer_length = 8,
                  .data_segment_length = 16};
  ExpectReject(ParseEncoded(pdu, data), RejectReason::kProtocolError);
  pdu.expected_data_transfer_length = 16;
  EXPECT_TRUE(ParseEncoded(pdu, data).ok());
}

TEST(ScsiCommandRejectTest, ReservedTaskAttributeIsProtocolError) {
  ScsiCommand pdu = ValidRead();
  pdu.attr = 5;
  ExpectReject(ParseEncoded(pdu, {}), RejectReason::kProtocolError);
}

TEST(ScsiCommandRejectTest, AhsSpanNotMatchingTotalAhsLengthIsFatal) {
  const std::vector<uint8_t> bhs = Hex(kRfcReadPdu);
  ExpectFatal(ParseScsiCommand(bhs, Sequence(4), {}), absl::StatusCode::kInvalidArgument);
}

// ParseWithAhs parses the RFC read command with `ahs` attached.
ParseResult<ScsiCommand> ParseWithAhs(const std::vector<uint8_t>& ahs) {
  std::vector<uint8_t> bhs = Hex(kRfcReadPdu);
  bhs[4] = static_cast<uint8_t>(ahs.size() / 4);
  return ParseScsiCommand(bhs, ahs, {});
}

TEST(ScsiCommandRejectTest, AhsLengthRunningPastTotalAhsLengthIsProtocolError) {
  // AHSLength 9 needs 12 bytes; only 8 are there.
  ExpectReject(ParseWithAhs(Hex("00 09 01 00  01 02 03 04")), RejectReason::kProtocolError);
}

TEST(ScsiCommandRejectTest, ReservedAhsTypeIsProtocolError) {
  ExpectReject(ParseWithAhs(Hex("00 01 00 00")), RejectReason::kProtocolError);  // type 0
  ExpectReject(ParseWithAhs(Hex("00 01 03 00")), RejectReason::kProtocolError);  // type 3
}

TEST(ScsiCommandRejectTest, ExtensionAhsTypeIsSkipped) {
  const ParseResult<ScsiCommand> cmd = ParseWithAhs(Hex("00 05 3c 00  aa bb cc dd"));
  ASSERT_TRUE(cmd.ok()) << Describe(cmd);
  EXPECT_EQ(cmd->cdb_length, 16);
}

TEST(ScsiCommandRejectTest, MalformedOrDuplicateAhsIsProtocolError) {
  // Extended CDB with no CDB bytes (AHSLength 1), bidi AHS with the wrong length, two
  // extended CDB AHSs (each 3 + 2 bytes, padded to 8), two bidi AHSs.
  ExpectReject(ParseWithAhs(Hex("00 01 01 00")), RejectReason::kProtocolError);
  ExpectReject(ParseWithAhs(Hex("00 04 02 00  00 00 10 00")), RejectReason::kProtocolError);
  EXPECT_TRUE(ParseWithAhs(Hex("00 02 01 00  aa 00 00 00")).ok());
  ExpectReject(ParseWithAhs(Hex("00 02 01 00  aa 00 00 00  00 02 01 00  bb 00 00 00")),
               RejectReason::kProtocolError);
  ExpectReject(ParseWithAhs(Hex("00 05 02 00  00 00 10 00  00 05 02 00  00 00 10 00")),
               RejectReason::kProtocolError);
}

TEST(ScsiCommandRejectTest, ExtendedCdbUpToTheMaximumIsAccepted) {
  std::vector<uint8_t> ahs = Hex("00 f5 01 00");  // AHSLength 245: CDB of 260 bytes
  const std::vector<uint8_t> extra = Sequence(244, 0x40);
  ahs.insert(ahs.end(), extra.begin(), extra.end());
  ASSERT_EQ(ahs.size(), 248u);  // 3 + 245, already a multiple of 4
  const ParseResult<ScsiCommand> cmd = ParseWithAhs(ahs);
  ASSERT_TRUE(cmd.ok()) << Describe(cmd);
  EXPECT_EQ(size_t{cmd->cdb_length}, kMaxCdbLength);
  EXPECT_EQ(cmd->cdb[16], 0x40);
  EXPECT_EQ(cmd->cdb[259], static_cast<uint8_t>(0x40 + 243));

  std::vector<uint8_t> too_long = Hex("00 f6 01 00");  // AHSLength 246: 261 bytes
  too_long.resize(252, 0);
  ExpectReject(ParseWithAhs(too_long), RejectReason::kProtocolError);
}

// ---------------------------------------------------------------------------------------
// Whole PDUs.

TEST(BuildPduTest, WithoutDigestsWritesHeaderDataAndZeroPadding) {
  const Bhs bhs =
      EncodeTextResponse(TextResponse{.final_bit = true, .itt = 1, .data_segment_length = 6});
  const std::vector<uint8_t> data = Hex("61 62 3d 63 64 00");  // "ab=cd\0"
  std::vector<uint8_t> wire(64, 0xee);
  const absl::StatusOr<size_t> written = BuildPdu(bhs, data, {}, absl::MakeSpan(wire));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 56u);
  EXPECT_THAT(absl::MakeConstSpan(wire).first(48), ElementsAreArray(bhs));
  EXPECT_THAT(absl::MakeConstSpan(wire).subspan(48, 8),
              ElementsAreArray(Hex("61 62 3d 63 64 00 00 00")));
  EXPECT_EQ(wire[56], 0xee);  // nothing written past the PDU
}

TEST(BuildPduTest, MismatchedLengthsAndShortBufferAreErrors) {
  const Bhs bhs = EncodeNopIn(NopIn{.data_segment_length = 4});
  std::vector<uint8_t> wire(128);
  EXPECT_EQ(BuildPdu(bhs, Sequence(5), {}, absl::MakeSpan(wire)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      BuildPdu(absl::MakeConstSpan(bhs).first(40), {}, {}, absl::MakeSpan(wire)).status().code(),
      absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> small(51);
  EXPECT_EQ(BuildPdu(bhs, Sequence(4), {}, absl::MakeSpan(small)).status().code(),
            absl::StatusCode::kOutOfRange);
  PduIovecs iov;
  EXPECT_EQ(BuildPduIovecs(bhs, {}, {}, &iov).code(), absl::StatusCode::kInvalidArgument);
}

std::vector<uint8_t> Concatenate(absl::Span<const struct iovec> iovecs) {
  std::vector<uint8_t> out;
  for (const struct iovec& v : iovecs) {
    const auto* p = static_cast<const uint8_t*>(v.iov_base);
    out.insert(out.end(), p, p + v.iov_len);
  }
  return out;
}

TEST(BuildPduTest, IovecsCarryTheSameBytesAsTheContiguousBuild) {
  const std::vector<uint8_t> data = Sequence(1001);
  const std::vector<absl::Span<const uint8_t>> pieces = {
      absl::MakeConstSpan(data).first(100),
      {},
      absl::MakeConstSpan(data).subspan(100, 401),
      absl::MakeConstSpan(data).subspan(501)};
  ScsiCommand cmd{.final_bit = true,
                  .write_bit = true,
                  .itt = 3,
                  .expected_data_transfer_length = 1001,
                  .cdb_length = 24,
                  .data_segment_length = 1001};
  const std::vector<uint8_t> header = EncodeScsiCommand(cmd);  // has an AHS
  for (bool header_digest : {false, true}) {
    for (bool data_digest : {false, true}) {
      const DigestSettings digests{header_digest, data_digest};
      std::vector<uint8_t> wire(PduWireLength(header.size(), data.size(), digests));
      ASSERT_TRUE(BuildPdu(header, data, digests, absl::MakeSpan(wire)).ok());
      PduIovecs iov;
      ASSERT_TRUE(BuildPduIovecs(header, pieces, digests, &iov).ok());
      EXPECT_EQ(iov.total_length(), wire.size());
      EXPECT_EQ(Concatenate(iov.iovecs()), wire)
          << "header_digest " << header_digest << " data_digest " << data_digest;
      // The data pieces are referenced, not copied.
      EXPECT_EQ(iov.iovecs()[header_digest ? 2 : 1].iov_base, data.data());
    }
  }
}

TEST(BuildPduTest, BuiltPduFramesChecksAndParsesOnTheReceivingSide) {
  const std::vector<uint8_t> immediate = Sequence(13);
  ScsiCommand cmd{.immediate_bit = false,
                  .final_bit = true,
                  .write_bit = true,
                  .attr = static_cast<uint8_t>(TaskAttribute::kSimple),
                  .itt = 0x55,
                  .expected_data_transfer_length = 4096,
                  .cmd_sn = 77,
                  .exp_stat_sn = 78,
                  .cdb_length = 20,
                  .data_segment_length = 13};
  for (size_t i = 0; i < 20; ++i) cmd.cdb[i] = static_cast<uint8_t>(0xa0 + i);
  const std::vector<uint8_t> header = EncodeScsiCommand(cmd);
  FramingParams params{.digests = {.header_digest = true, .data_digest = true},
                       .max_recv_data_segment_length = 8192};
  std::vector<uint8_t> wire(PduWireLength(header.size(), immediate.size(), params.digests));
  ASSERT_TRUE(BuildPdu(header, immediate, params.digests, absl::MakeSpan(wire)).ok());

  // What a connection's receive path does with those bytes.
  const auto in = absl::MakeConstSpan(wire);
  const absl::StatusOr<PduFrame> frame = FramePdu(in.first(kBhsLength), params);
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_FALSE(frame->reject_reason.has_value());
  ASSERT_EQ(kBhsLength + frame->RemainingLength(), wire.size());
  const auto rest = in.subspan(kBhsLength);
  const auto ahs = rest.first(frame->ahs_length);
  const auto header_digest = rest.subspan(frame->ahs_length, frame->header_digest_length);
  ASSERT_TRUE(CheckHeaderDigest(in.first(frame->HeaderLength()), header_digest).ok());
  const size_t data_at = frame->ahs_length + frame->header_digest_length;
  const auto data = rest.subspan(data_at, frame->data_segment_length);
  const auto data_and_padding =
      rest.subspan(data_at, frame->data_segment_length + frame->padding_length);
  const auto data_digest = rest.subspan(data_at + data_and_padding.size());
  ASSERT_TRUE(DataDigestMatches(data_and_padding, data_digest));
  const ParseResult<ScsiCommand> parsed = ParseScsiCommand(in.first(kBhsLength), ahs, data);
  ASSERT_TRUE(parsed.ok()) << Describe(parsed);
  cmd.data = immediate;
  EXPECT_EQ(parsed.value(), cmd);
}

// ---------------------------------------------------------------------------------------
// Robustness: framing and every parser return cleanly on arbitrary header bytes.

enum class Outcome { kOk, kReject, kFatal };

template <typename T>
Outcome Classify(const ParseResult<T>& result) {
  if (result.ok()) return Outcome::kOk;
  if (result.rejected()) return Outcome::kReject;
  EXPECT_TRUE(result.fatal());
  return Outcome::kFatal;
}

Outcome ParseAsTarget(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> ahs,
                      absl::Span<const uint8_t> data, uint8_t erl) {
  switch (static_cast<Opcode>(bhs[0] & kOpcodeMask)) {
    case Opcode::kLoginRequest:
      return Classify(ParseLoginRequest(bhs, data));
    case Opcode::kTextRequest:
      return Classify(ParseTextRequest(bhs, data));
    case Opcode::kScsiCommand: {
      const ParseResult<ScsiCommand> cmd = ParseScsiCommand(bhs, ahs, data);
      if (cmd.ok()) {
        EXPECT_LE(cmd->cdb_length, kMaxCdbLength);
        EXPECT_EQ(cmd->Cdb().size(), cmd->cdb_length);
        EXPECT_EQ(cmd->data.size(), cmd->data_segment_length);
      }
      return Classify(cmd);
    }
    case Opcode::kDataOut:
      return Classify(ParseDataOut(bhs, data));
    case Opcode::kNopOut:
      return Classify(ParseNopOut(bhs, data));
    case Opcode::kLogoutRequest:
      return Classify(ParseLogoutRequest(bhs, data));
    case Opcode::kTaskMgmtRequest:
      return Classify(ParseTaskMgmtRequest(bhs, data));
    case Opcode::kSnack:
      return Classify(ParseSnack(bhs, data, erl));
    default:
      return Outcome::kReject;
  }
}

// Every parser on the same bytes: all but (at most) one must say "fatal: wrong opcode".
void ParseWithEveryParser(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> ahs,
                          absl::Span<const uint8_t> data) {
  Classify(ParseLoginRequest(bhs, data));
  Classify(ParseTextRequest(bhs, data));
  Classify(ParseScsiCommand(bhs, ahs, data));
  Classify(ParseDataOut(bhs, data));
  Classify(ParseNopOut(bhs, data));
  Classify(ParseLogoutRequest(bhs, data));
  Classify(ParseTaskMgmtRequest(bhs, data));
  Classify(ParseSnack(bhs, data, 1));
  (void)ParseLoginResponse(bhs);
  (void)ParseTextResponse(bhs);
  (void)ParseScsiResponse(bhs);
  (void)ParseDataIn(bhs);
  (void)ParseR2t(bhs);
  (void)ParseNopIn(bhs);
  (void)ParseLogoutResponse(bhs);
  (void)ParseTaskMgmtResponse(bhs);
  (void)ParseReject(bhs);
  (void)ParseAsyncMessage(bhs);
}

std::vector<std::vector<uint8_t>> SeedHeaders() {
  std::vector<std::vector<uint8_t>> seeds;
  auto add = [&seeds](const Bhs& bhs) { seeds.emplace_back(bhs.begin(), bhs.end()); };
  add(EncodeLoginRequest(
      LoginRequest{.transit_bit = true, .nsg = 1, .itt = 1, .data_segment_length = 20}));
  add(EncodeTextRequest(TextRequest{.final_bit = true, .itt = 2, .data_segment_length = 9}));
  add(EncodeDataOut(DataOut{.final_bit = true, .itt = 3, .data_segment_length = 16}));
  add(EncodeNopOut(NopOut{.immediate_bit = true}));
  add(EncodeLogoutRequest(LogoutRequest{.itt = 4}));
  add(EncodeTaskMgmtRequest(TaskMgmtRequest{.itt = 5}));
  add(EncodeSnack(Snack{}));
  add(EncodeLoginResponse(LoginResponse{}));
  add(EncodeScsiResponse(ScsiResponse{}));
  add(EncodeDataIn(DataIn{.final_bit = true, .status_bit = true}));
  add(EncodeR2t(R2t{}));
  add(EncodeReject(Reject{}));
  ScsiCommand write{.final_bit = true,
                    .write_bit = true,
                    .itt = 6,
                    .expected_data_transfer_length = 64,
                    .data_segment_length = 32};
  const std::vector<uint8_t> write_header = EncodeScsiCommand(write);
  seeds.emplace_back(write_header.begin(), write_header.begin() + kBhsLength);
  seeds.push_back(Hex(kRfcReadPdu));
  return seeds;
}

TEST(PduRobustnessTest, RandomAndMutatedHeadersNeverCrashFramingOrParsers) {
  std::mt19937_64 rng(0x15c5'7143'2026ull);  // fixed seed: failures reproduce
  const std::vector<std::vector<uint8_t>> seeds = SeedHeaders();
  std::vector<uint8_t> pool(1 << 16);
  for (uint8_t& b : pool) b = static_cast<uint8_t>(rng());

  constexpr int kIterations = 300000;
  int frames = 0, fatal_frames = 0, parsed_ok = 0, parsed_reject = 0, parsed_fatal = 0;
  for (int i = 0; i < kIterations; ++i) {
    std::vector<uint8_t> bhs;
    if (rng() % 10 == 0) {
      bhs.resize(rng() % 64);  // arbitrary bytes, often too short
      for (uint8_t& b : bhs) b = static_cast<uint8_t>(rng());
    } else {
      bhs = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations; ++m) {
        const size_t at = rng() % bhs.size();
        if (rng() % 2) {
          bhs[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        } else {
          bhs[at] = static_cast<uint8_t>(rng());
        }
      }
      if (rng() % 2) {  // keep lengths small so parsing gets past the size checks
        bhs[4] = static_cast<uint8_t>(rng() % 4);
        StoreBe24(absl::MakeSpan(bhs), 5, static_cast<uint32_t>(rng() % 96));
      }
      if (rng() % 64 == 0) bhs.resize(rng() % kBhsLength);
    }

    FramingParams params;
    params.digests = {.header_digest = (rng() & 1) != 0, .data_digest = (rng() & 2) != 0};
    params.max_recv_data_segment_length = (rng() % 2) ? 8192 : 16 + rng() % 64;
    const PduSender sender = (rng() % 8 == 0) ? PduSender::kTarget : PduSender::kInitiator;
    const absl::StatusOr<PduFrame> frame = FramePdu(bhs, params, sender);
    if (!frame.ok()) {
      ASSERT_LT(bhs.size(), kBhsLength);
      ++fatal_frames;
      continue;
    }
    ++frames;
    ASSERT_LT(frame->padding_length, 4u);
    ASSERT_EQ((frame->data_segment_length + frame->padding_length) % 4, 0u);
    ASSERT_EQ(frame->ahs_length % 4, 0u);
    ASSERT_LE(frame->ahs_length, kMaxTotalAhsLength);
    ASSERT_LE(frame->data_segment_length, kMaxDataSegmentLength);
    if (frame->data_segment_length == 0) {
      ASSERT_EQ(frame->data_digest_length, 0u);
    }
    ASSERT_EQ(frame->RemainingLength(), size_t{frame->ahs_length} + frame->header_digest_length +
                                            frame->data_segment_length + frame->padding_length +
                                            frame->data_digest_length);

    if (frame->ahs_length + frame->data_segment_length > pool.size()) continue;
    // AHS bytes: random, or a plausible chain whose lengths are random.
    std::vector<uint8_t> ahs(frame->ahs_length);
    for (uint8_t& b : ahs) b = static_cast<uint8_t>(rng());
    if (frame->ahs_length >= 4 && rng() % 2) {
      ahs[0] = 0;
      ahs[1] = static_cast<uint8_t>(rng() % (frame->ahs_length + 2));
      ahs[2] = static_cast<uint8_t>(1 + rng() % 2);
    }
    const size_t data_at = rng() % (pool.size() - frame->data_segment_length + 1);
    const auto data = absl::MakeConstSpan(pool).subspan(data_at, frame->data_segment_length);
    const auto header = absl::MakeConstSpan(bhs).first(kBhsLength);

    switch (ParseAsTarget(header, ahs, data, static_cast<uint8_t>(rng() % 3))) {
      case Outcome::kOk:
        ++parsed_ok;
        break;
      case Outcome::kReject:
        ++parsed_reject;
        break;
      case Outcome::kFatal:
        ++parsed_fatal;
        break;
    }
    if (i % 8 == 0) {
      ParseWithEveryParser(header, ahs, data);
      // Spans that disagree with the header must be reported, not trusted.
      if (!data.empty()) ParseWithEveryParser(header, ahs, data.first(data.size() - 1));
      ParseWithEveryParser(header, absl::MakeConstSpan(ahs).subspan(ahs.empty() ? 0 : 1), data);
    }
  }
  EXPECT_GT(frames, kIterations / 2);
  EXPECT_GT(fatal_frames, 0);
  EXPECT_GT(parsed_ok, 1000);
  EXPECT_GT(parsed_reject, 1000);
  EXPECT_EQ(parsed_fatal, 0);  // framed spans always match the header
}

}  // namespace
}  // namespace iscsi_csi::target
