// fuzz_pdu: libFuzzer harness for target/pdu.h, the bytes the target reads first.
//
// Input: one settings byte, then a stream of PDUs as they arrive on a connection. Settings:
// bit 0 HeaderDigest=CRC32C, bit 1 DataDigest=CRC32C, bits 2-3 ErrorRecoveryLevel (SNACK),
// bits 4-6 MaxRecvDataSegmentLength = 512 << n, bit 7 frame as a test initiator would
// (target opcodes). Each PDU is framed from its BHS (FramePdu), its AHS, digests, data and
// padding are cut from the stream as framed (truncated at the end of the input), and the
// BHS goes through every Parse* of pdu.h, the initiator-side ones included. A frame that is
// fatal ends the stream, as it ends the connection. Digest mismatches do not stop the
// stream (the fuzzer cannot compute CRC32C; the parsers behind the digests matter more).
// Parsed commands are re-encoded and re-parsed, and whole PDUs are rebuilt with BuildPdu
// and BuildPduIovecs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/types/span.h"
#include "target/protocol.h"

namespace iscsi_csi::target {
namespace {

// Checks the invariants every ParseResult must keep: exactly one of value / reject / fatal.
template <typename T>
void CheckOutcome(const ParseResult<T>& result) {
  const int outcomes = int{result.ok()} + int{result.rejected()} + int{result.fatal()};
  if (outcomes != 1) std::abort();
  if (result.rejected()) (void)result.reject_reason();
}

void ParseEverything(absl::Span<const uint8_t> bhs, absl::Span<const uint8_t> ahs,
                     absl::Span<const uint8_t> data, uint8_t erl) {
  {
    const ParseResult<LoginRequest> login = ParseLoginRequest(bhs, data);
    CheckOutcome(login);
    if (login.ok()) {
      const Bhs again = EncodeLoginRequest(*login);
      CheckOutcome(ParseLoginRequest(again, data));
    }
  }
  {
    const ParseResult<TextRequest> text = ParseTextRequest(bhs, data);
    CheckOutcome(text);
    if (text.ok()) CheckOutcome(ParseTextRequest(EncodeTextRequest(*text), data));
  }
  {
    const ParseResult<ScsiCommand> cmd = ParseScsiCommand(bhs, ahs, data);
    CheckOutcome(cmd);
    if (cmd.ok()) {
      if (cmd->cdb_length > kMaxCdbLength || cmd->Cdb().size() != cmd->cdb_length ||
          cmd->data.size() != cmd->data_segment_length) {
        std::abort();
      }
      const std::vector<uint8_t> header = EncodeScsiCommand(*cmd);
      if (header.size() >= kBhsLength) {
        const auto h = absl::MakeConstSpan(header);
        CheckOutcome(ParseScsiCommand(h.first(kBhsLength), h.subspan(kBhsLength), data));
      }
    }
  }
  {
    const ParseResult<DataOut> data_out = ParseDataOut(bhs, data);
    CheckOutcome(data_out);
    if (data_out.ok()) CheckOutcome(ParseDataOut(EncodeDataOut(*data_out), data));
  }
  {
    const ParseResult<NopOut> nop = ParseNopOut(bhs, data);
    CheckOutcome(nop);
    if (nop.ok()) CheckOutcome(ParseNopOut(EncodeNopOut(*nop), data));
  }
  {
    const ParseResult<LogoutRequest> logout = ParseLogoutRequest(bhs, data);
    CheckOutcome(logout);
    if (logout.ok()) CheckOutcome(ParseLogoutRequest(EncodeLogoutRequest(*logout), data));
  }
  {
    const ParseResult<TaskMgmtRequest> tmf = ParseTaskMgmtRequest(bhs, data);
    CheckOutcome(tmf);
    if (tmf.ok()) CheckOutcome(ParseTaskMgmtRequest(EncodeTaskMgmtRequest(*tmf), data));
  }
  {
    const ParseResult<Snack> snack = ParseSnack(bhs, data, erl);
    CheckOutcome(snack);
    if (snack.ok()) CheckOutcome(ParseSnack(EncodeSnack(*snack), data, erl));
  }
  // What test initiators parse (fatal on anything unexpected, never a crash).
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

// Rebuilds a whole PDU from the received pieces (when the header is self-consistent).
void Rebuild(absl::Span<const uint8_t> header, absl::Span<const uint8_t> data,
             const DigestSettings& digests) {
  std::vector<uint8_t> out(PduWireLength(header.size(), data.size(), digests));
  (void)BuildPdu(header, data, digests, absl::MakeSpan(out));
  const size_t half = data.size() / 2;
  const absl::Span<const uint8_t> pieces[] = {data.first(half), data.subspan(half)};
  PduIovecs iovecs;
  (void)BuildPduIovecs(header, pieces, digests, &iovecs);
}

}  // namespace
}  // namespace iscsi_csi::target

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace iscsi_csi::target;  // NOLINT: harness
  if (size < 1) return 0;
  const uint8_t settings = bytes[0];
  FramingParams params;
  params.digests.header_digest = (settings & 0x01) != 0;
  params.digests.data_digest = (settings & 0x02) != 0;
  const uint8_t erl = (settings >> 2) & 0x03;
  params.max_recv_data_segment_length = 512u << ((settings >> 4) & 0x07);
  const PduSender sender = (settings & 0x80) != 0 ? PduSender::kTarget : PduSender::kInitiator;

  absl::Span<const uint8_t> stream(bytes + 1, size - 1);
  while (!stream.empty()) {
    const absl::StatusOr<PduFrame> frame = FramePdu(stream, params, sender);
    if (!frame.ok() || stream.size() < kBhsLength) break;
    const absl::Span<const uint8_t> bhs = stream.first(kBhsLength);
    stream.remove_prefix(kBhsLength);
    // Cuts the next `length` bytes (fewer at the end of the input).
    auto take = [&stream](size_t length) {
      const absl::Span<const uint8_t> piece = stream.first(std::min(length, stream.size()));
      stream.remove_prefix(piece.size());
      return piece;
    };
    const absl::Span<const uint8_t> ahs = take(frame->ahs_length);
    const absl::Span<const uint8_t> header_digest = take(frame->header_digest_length);
    const absl::Span<const uint8_t> data = take(frame->data_segment_length);
    const absl::Span<const uint8_t> padding = take(frame->padding_length);
    const absl::Span<const uint8_t> data_digest = take(frame->data_digest_length);
    const bool truncated =
        ahs.size() != frame->ahs_length || header_digest.size() != frame->header_digest_length ||
        data.size() != frame->data_segment_length || padding.size() != frame->padding_length ||
        data_digest.size() != frame->data_digest_length;

    std::vector<uint8_t> header(bhs.begin(), bhs.end());
    header.insert(header.end(), ahs.begin(), ahs.end());
    if (header_digest.size() >= kDigestLength) (void)CheckHeaderDigest(header, header_digest);
    if (data_digest.size() >= kDigestLength) {
      std::vector<uint8_t> covered(data.begin(), data.end());
      covered.insert(covered.end(), padding.begin(), padding.end());
      (void)DataDigestMatches(covered, data_digest);
    }
    ParseEverything(bhs, ahs, data, erl);
    if (!truncated) Rebuild(header, data, params.digests);
  }
  return 0;
}
