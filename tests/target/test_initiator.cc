// TestInitiator: see test_initiator.h.
#include "tests/target/test_initiator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "target/bytes.h"
#include "target/chap.h"
#include "target/scsi/lun_address.h"
#include "target/text_params.h"

namespace iscsi_csi::target::testing {
namespace {

constexpr uint8_t kMutualChapIdentifier = 0x4d;

std::string Text(const std::vector<std::pair<std::string, std::string>>& pairs) {
  TextPairs text_pairs;
  for (const auto& [key, value] : pairs) text_pairs.push_back({key, value});
  return EncodeTextPairs(text_pairs);
}

absl::Span<const uint8_t> Bytes(const std::string& text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

void ParseKeys(const std::vector<uint8_t>& data, std::map<std::string, std::string>* keys) {
  std::string text(data.begin(), data.end());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\0', pos);
    if (end == std::string::npos) end = text.size();
    const std::string pair = text.substr(pos, end - pos);
    const size_t eq = pair.find('=');
    if (eq != std::string::npos) (*keys)[pair.substr(0, eq)] = pair.substr(eq + 1);
    pos = end + 1;
  }
}

uint64_t TestInitiator::LunField(uint64_t lun) {
  return scsi::EncodeLun(static_cast<uint32_t>(lun)).value_or(0);
}

absl::StatusOr<std::unique_ptr<TestInitiator>> TestInitiator::Connect(const PortalAddress& portal) {
  const bool v6 = portal.host.find(':') != std::string::npos;
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  int rc;
  if (v6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(portal.port);
    inet_pton(AF_INET6, portal.host.c_str(), &address.sin6_addr);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(portal.port);
    inet_pton(AF_INET, portal.host.empty() ? "127.0.0.1" : portal.host.c_str(), &address.sin_addr);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  }
  if (rc != 0) {
    const int error_number = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect ", portal.ToString(), ": ", std::strerror(error_number)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<TestInitiator>(new TestInitiator(fd));
}

TestInitiator::~TestInitiator() {
  if (fd_ >= 0) close(fd_);
}

absl::Status TestInitiator::SendRaw(absl::Span<const uint8_t> bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status TestInitiator::SendPdu(absl::Span<const uint8_t> header,
                                    absl::Span<const uint8_t> data,
                                    std::optional<DigestSettings> digests) {
  const DigestSettings settings = digests.value_or(digests_);
  std::vector<uint8_t> out(PduWireLength(header.size(), data.size(), settings));
  absl::StatusOr<size_t> n = BuildPdu(header, data, settings, absl::MakeSpan(out));
  if (!n.ok()) return n.status();
  out.resize(*n);
  return SendRaw(out);
}

absl::Status TestInitiator::ReadExact(uint8_t* out, size_t length, absl::Time deadline) {
  size_t got = 0;
  while (got < length) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("read timed out");
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = recv(fd_, out + got, length - got, 0);
    if (n == 0) return absl::UnavailableError("connection closed by the target");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

void TestInitiator::NoteSn(const TargetPdu& pdu) {
  const Opcode opcode = pdu.opcode();
  const absl::Span<const uint8_t> bhs(pdu.bhs);
  bool status_bearing = true;
  if (opcode == Opcode::kR2t) status_bearing = false;
  if (opcode == Opcode::kDataIn && (bhs[1] & kStatusBit) == 0) status_bearing = false;
  if (opcode == Opcode::kNopIn && LoadBe32(bhs, 16) == kReservedTag) status_bearing = false;
  if (status_bearing) exp_stat_sn_ = LoadBe32(bhs, 24) + 1;
  if (opcode != Opcode::kLoginResponse || bhs[36] == 0) {
    exp_cmd_sn_ = LoadBe32(bhs, 28);
    max_cmd_sn_ = LoadBe32(bhs, 32);
  }
}

absl::StatusOr<TargetPdu> TestInitiator::ReadPdu(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  TargetPdu pdu;
  if (absl::Status s = ReadExact(pdu.bhs.data(), kBhsLength, deadline); !s.ok()) return s;
  const size_t ahs = size_t{pdu.bhs[4]} * 4;
  const uint32_t length = LoadBe24(pdu.bhs, 5);
  std::vector<uint8_t> skip(ahs + (digests_.header_digest ? kDigestLength : 0));
  if (!skip.empty()) {
    if (absl::Status s = ReadExact(skip.data(), skip.size(), deadline); !s.ok()) return s;
  }
  if (length > 0) {
    std::vector<uint8_t> data(length + PaddingLength(length) +
                              (digests_.data_digest ? kDigestLength : 0));
    if (absl::Status s = ReadExact(data.data(), data.size(), deadline); !s.ok()) return s;
    if (digests_.data_digest &&
        !DataDigestMatches(
            absl::MakeConstSpan(data.data(), length + PaddingLength(length)),
            absl::MakeConstSpan(data.data() + length + PaddingLength(length), kDigestLength))) {
      return absl::DataLossError("data digest mismatch in a target PDU");
    }
    data.resize(length);
    pdu.data = std::move(data);
  }
  NoteSn(pdu);
  return pdu;
}

bool TestInitiator::WaitForClose(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  uint8_t buffer[4096];
  while (absl::Now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1);
    if (ready <= 0) continue;
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;
  }
  return false;
}

bool TestInitiator::ExpectSilence(absl::Duration timeout) {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 0;
}

// --- login ----------------------------------------------------------------------------------

absl::StatusOr<TargetPdu> TestInitiator::LoginStep(const LoginOptions& options, uint8_t csg,
                                                   uint8_t nsg, bool transit,
                                                   const std::string& text,
                                                   std::map<std::string, std::string>* keys,
                                                   LoginResult* result) {
  LoginRequest request;
  request.transit_bit = transit;
  request.csg = csg;
  request.nsg = transit ? nsg : 0;
  request.isid = options.isid;
  request.tsih = options.tsih;
  request.itt = NextItt();
  request.cmd_sn = options.cmd_sn;
  request.exp_stat_sn = exp_stat_sn_;
  request.data_segment_length = static_cast<uint32_t>(text.size());
  if (absl::Status s = SendPdu(EncodeLoginRequest(request), Bytes(text), DigestSettings{});
      !s.ok()) {
    return s;
  }
  std::vector<uint8_t> all;
  while (true) {
    absl::StatusOr<TargetPdu> pdu = ReadPdu();
    if (!pdu.ok()) return pdu.status();
    if (pdu->opcode() != Opcode::kLoginResponse) {
      return absl::InternalError("expected a login response");
    }
    absl::StatusOr<LoginResponse> response = ParseLoginResponse(pdu->bhs);
    if (!response.ok()) return response.status();
    all.insert(all.end(), pdu->data.begin(), pdu->data.end());
    result->status_class = response->status_class;
    result->status_detail = response->status_detail;
    result->tsih = response->tsih;
    if (response->status_class != 0 || !response->continue_bit) {
      pdu->data = all;
      ParseKeys(all, keys);
      for (const auto& [key, value] : *keys) result->keys[key] = value;
      return pdu;
    }
    // §6.2: ask for the rest of a continued response with an empty request.
    LoginRequest more = request;
    more.transit_bit = false;
    more.nsg = 0;
    more.itt = NextItt();
    more.exp_stat_sn = exp_stat_sn_;
    more.data_segment_length = 0;
    if (absl::Status s = SendPdu(EncodeLoginRequest(more), {}, DigestSettings{}); !s.ok()) {
      return s;
    }
  }
}

absl::StatusOr<LoginResult> TestInitiator::Login(const LoginOptions& options) {
  LoginResult result;
  const bool discovery = options.target_name.empty();
  std::vector<std::pair<std::string, std::string>> identity = {
      {"InitiatorName", options.initiator_name},
      {"SessionType", discovery ? "Discovery" : "Normal"}};
  if (!discovery) identity.push_back({"TargetName", options.target_name});

  std::vector<std::pair<std::string, std::string>> operational = {
      {"HeaderDigest", options.header_digest ? "CRC32C" : "None"},
      {"DataDigest", options.data_digest ? "CRC32C" : "None"},
      {"MaxRecvDataSegmentLength", std::to_string(options.max_recv_data_segment_length)}};
  if (!discovery) {
    operational.insert(operational.end(),
                       {{"InitialR2T", options.initial_r2t ? "Yes" : "No"},
                        {"ImmediateData", options.immediate_data ? "Yes" : "No"},
                        {"FirstBurstLength", std::to_string(options.first_burst_length)},
                        {"MaxBurstLength", std::to_string(options.max_burst_length)},
                        {"MaxOutstandingR2T", "1"},
                        {"MaxConnections", "1"},
                        {"ErrorRecoveryLevel", "0"},
                        {"DataPDUInOrder", "Yes"},
                        {"DataSequenceInOrder", "Yes"},
                        {"DefaultTime2Wait", "2"},
                        {"DefaultTime2Retain", "20"}});
  }
  std::map<std::string, std::string> keys;
  absl::StatusOr<TargetPdu> pdu;
  if (options.chap.has_value()) {
    auto step1 = identity;
    step1.push_back({"AuthMethod", "CHAP,None"});
    pdu = LoginStep(options, 0, 1, false, Text(step1), &keys, &result);
    if (!pdu.ok() || !result.ok())
      return pdu.ok() ? absl::StatusOr<LoginResult>(result) : pdu.status();
    pdu = LoginStep(options, 0, 1, false, Text({{"CHAP_A", "5"}}), &keys, &result);
    if (!pdu.ok() || !result.ok())
      return pdu.ok() ? absl::StatusOr<LoginResult>(result) : pdu.status();
    uint32_t identifier = 0;
    if (!absl::SimpleAtoi(keys["CHAP_I"], &identifier)) {
      return absl::InternalError("target sent no CHAP_I");
    }
    std::optional<std::vector<uint8_t>> challenge =
        ParseBinaryValue(keys["CHAP_C"], kMaxChapBinaryLength);
    if (!challenge.has_value()) return absl::InternalError("target sent no CHAP_C");
    absl::StatusOr<std::vector<uint8_t>> answer = ComputeChapResponse(
        ChapAlgorithm::kMd5, static_cast<uint8_t>(identifier), options.chap->secret, *challenge);
    if (!answer.ok()) return answer.status();
    std::vector<std::pair<std::string, std::string>> step3 = {
        {"CHAP_N", options.chap->user}, {"CHAP_R", EncodeHexConstant(*answer)}};
    std::vector<uint8_t> our_challenge(16);
    for (size_t i = 0; i < our_challenge.size(); ++i) {
      our_challenge[i] = static_cast<uint8_t>(0xa5 ^ (i * 37));
    }
    if (options.mutual_chap.has_value()) {
      step3.push_back({"CHAP_I", std::to_string(kMutualChapIdentifier)});
      step3.push_back({"CHAP_C", EncodeHexConstant(our_challenge)});
    }
    keys.clear();
    pdu = LoginStep(options, 0, 1, true, Text(step3), &keys, &result);
    if (!pdu.ok() || !result.ok())
      return pdu.ok() ? absl::StatusOr<LoginResult>(result) : pdu.status();
    if (options.mutual_chap.has_value()) {
      absl::StatusOr<std::vector<uint8_t>> expected = ComputeChapResponse(
          ChapAlgorithm::kMd5, kMutualChapIdentifier, options.mutual_chap->secret, our_challenge);
      if (!expected.ok()) return expected.status();
      if (keys["CHAP_N"] != options.mutual_chap->user ||
          keys["CHAP_R"] != EncodeHexConstant(*expected)) {
        return absl::UnauthenticatedError("the target failed mutual CHAP");
      }
    }
    pdu = LoginStep(options, 1, 3, true, Text(operational), &keys, &result);
  } else {
    auto all = identity;
    all.insert(all.end(), operational.begin(), operational.end());
    pdu = LoginStep(options, 1, 3, true, Text(all), &keys, &result);
  }
  for (int i = 0; i < 4 && pdu.ok() && result.ok() && (pdu->bhs[1] & kTransitBit) == 0; ++i) {
    pdu = LoginStep(options, 1, 3, true, "", &keys, &result);
  }
  if (!pdu.ok()) return pdu.status();
  if (!result.ok()) return result;
  cmd_sn_ = options.cmd_sn;
  auto number = [&](const char* key, uint32_t fallback) {
    uint32_t value = fallback;
    if (keys.count(key) > 0) absl::SimpleAtoi(keys[key], &value);
    return value;
  };
  target_mrdsl_ = number("MaxRecvDataSegmentLength", 8192);
  digests_.header_digest = keys["HeaderDigest"] == "CRC32C";
  digests_.data_digest = keys["DataDigest"] == "CRC32C";
  immediate_data_ = keys.count("ImmediateData") ? keys["ImmediateData"] == "Yes" : true;
  initial_r2t_ = keys.count("InitialR2T") ? keys["InitialR2T"] == "Yes" : true;
  first_burst_ = number("FirstBurstLength", 65536);
  max_burst_ = number("MaxBurstLength", 262144);
  return result;
}

// --- full feature phase --------------------------------------------------------------------

absl::StatusOr<TargetPdu> TestInitiator::ReadFor(uint32_t itt, absl::Duration timeout) {
  for (auto it = stray_.begin(); it != stray_.end(); ++it) {
    if (LoadBe32(it->bhs, 16) == itt) {
      TargetPdu pdu = std::move(*it);
      stray_.erase(it);
      return pdu;
    }
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<TargetPdu> pdu = ReadPdu(deadline - absl::Now());
    if (!pdu.ok()) return pdu;
    const Opcode opcode = pdu->opcode();
    if (opcode == Opcode::kAsyncMessage) {
      async_messages_.push_back(*pdu);
      continue;
    }
    if (opcode == Opcode::kReject) return pdu;
    const uint32_t pdu_itt = LoadBe32(pdu->bhs, 16);
    if (opcode == Opcode::kNopIn && pdu_itt == kReservedTag) {
      NopOut answer;
      answer.immediate_bit = true;
      answer.itt = kReservedTag;
      answer.ttt = LoadBe32(pdu->bhs, 20);
      answer.cmd_sn = cmd_sn_;
      answer.exp_stat_sn = exp_stat_sn_;
      if (absl::Status s = SendPdu(EncodeNopOut(answer)); !s.ok()) return s;
      continue;
    }
    if (pdu_itt == itt) return pdu;
    stray_.push_back(*std::move(pdu));
  }
}

absl::Status TestInitiator::SendDataOut(uint32_t itt, uint64_t lun_field, uint32_t ttt,
                                        absl::Span<const uint8_t> data, uint32_t offset,
                                        uint32_t length) {
  uint32_t data_sn = 0;
  uint32_t done = 0;
  while (done < length) {
    const uint32_t piece = std::min(length - done, target_mrdsl_);
    std::vector<uint8_t> bytes(piece, 0);
    for (uint32_t i = 0; i < piece; ++i) {
      const size_t at = size_t{offset} + done + i;
      if (at < data.size()) bytes[i] = data[at];
    }
    DataOut pdu;
    pdu.final_bit = done + piece == length;
    pdu.lun = lun_field;
    pdu.itt = itt;
    pdu.ttt = ttt;
    pdu.exp_stat_sn = exp_stat_sn_;
    pdu.data_sn = data_sn++;
    pdu.buffer_offset = offset + done;
    pdu.data_segment_length = piece;
    if (absl::Status s = SendPdu(EncodeDataOut(pdu), bytes); !s.ok()) return s;
    done += piece;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> TestInitiator::StartCommand(const CommandOptions& options) {
  const uint32_t itt = NextItt();
  ScsiCommand command;
  command.immediate_bit = options.immediate;
  command.read_bit = options.read;
  command.write_bit = options.write;
  command.attr = static_cast<uint8_t>(TaskAttribute::kSimple);
  command.lun = LunField(options.lun);
  command.itt = itt;
  command.expected_data_transfer_length = options.expected_length;
  command.cmd_sn = options.immediate ? cmd_sn_ : cmd_sn_++;
  command.exp_stat_sn = exp_stat_sn_;
  std::copy(options.cdb.begin(), options.cdb.end(), command.cdb.begin());
  command.cdb_length = static_cast<uint16_t>(std::max<size_t>(kBhsCdbLength, options.cdb.size()));
  const size_t total = std::min<size_t>(options.data_out.size(), options.expected_length);
  size_t immediate = 0;
  if (options.write && immediate_data_) {
    immediate = std::min<size_t>({total, first_burst_, target_mrdsl_});
  }
  size_t unsolicited = 0;
  if (options.write && !initial_r2t_) {
    unsolicited = std::min<size_t>(total, first_burst_) - immediate;
  }
  command.final_bit = unsolicited == 0;
  command.data_segment_length = static_cast<uint32_t>(immediate);
  if (absl::Status s = SendPdu(EncodeScsiCommand(command),
                               absl::MakeConstSpan(options.data_out.data(), immediate));
      !s.ok()) {
    return s;
  }
  if (unsolicited > 0) {
    if (absl::Status s =
            SendDataOut(itt, command.lun, kReservedTag, options.data_out,
                        static_cast<uint32_t>(immediate), static_cast<uint32_t>(unsolicited));
        !s.ok()) {
      return s;
    }
  }
  return itt;
}

absl::StatusOr<ScsiResult> TestInitiator::FinishCommand(uint32_t itt,
                                                        const CommandOptions& options) {
  ScsiResult result;
  while (true) {
    absl::StatusOr<TargetPdu> pdu = ReadFor(itt);
    if (!pdu.ok()) return pdu.status();
    switch (pdu->opcode()) {
      case Opcode::kR2t: {
        absl::StatusOr<R2t> r2t = ParseR2t(pdu->bhs);
        if (!r2t.ok()) return r2t.status();
        ++result.r2ts;
        if (absl::Status s = SendDataOut(itt, LunField(options.lun), r2t->ttt, options.data_out,
                                         r2t->buffer_offset, r2t->desired_data_transfer_length);
            !s.ok()) {
          return s;
        }
        break;
      }
      case Opcode::kDataIn: {
        absl::StatusOr<DataIn> data_in = ParseDataIn(pdu->bhs);
        if (!data_in.ok()) return data_in.status();
        ++result.data_in_pdus;
        const size_t end = size_t{data_in->buffer_offset} + pdu->data.size();
        if (result.data.size() < end) result.data.resize(end);
        std::copy(pdu->data.begin(), pdu->data.end(), result.data.begin() + data_in->buffer_offset);
        if (data_in->status_bit) {
          result.status = data_in->status;
          result.overflow = data_in->residual_overflow_bit;
          result.underflow = data_in->residual_underflow_bit;
          result.residual = data_in->residual_count;
          result.collapsed_status = true;
          return result;
        }
        break;
      }
      case Opcode::kScsiResponse: {
        absl::StatusOr<ScsiResponse> response = ParseScsiResponse(pdu->bhs);
        if (!response.ok()) return response.status();
        result.status = response->status;
        result.overflow = response->residual_overflow_bit;
        result.underflow = response->residual_underflow_bit;
        result.residual = response->residual_count;
        if (pdu->data.size() >= 2) {
          const uint16_t length = LoadBe16(pdu->data, 0);
          result.sense.assign(pdu->data.begin() + 2,
                              pdu->data.begin() + std::min<size_t>(pdu->data.size(), 2u + length));
        }
        return result;
      }
      case Opcode::kReject:
        return absl::AbortedError(absl::StrCat("reject reason ", static_cast<int>(pdu->bhs[2])));
      default:
        return absl::InternalError(
            absl::StrCat("unexpected opcode ", static_cast<int>(pdu->opcode())));
    }
  }
}

absl::Status TestInitiator::AnswerR2t(const TargetPdu& pdu, const CommandOptions& options) {
  absl::StatusOr<R2t> r2t = ParseR2t(pdu.bhs);
  if (!r2t.ok()) return r2t.status();
  return SendDataOut(r2t->itt, LunField(options.lun), r2t->ttt, options.data_out,
                     r2t->buffer_offset, r2t->desired_data_transfer_length);
}

absl::StatusOr<ScsiResult> TestInitiator::Command(const CommandOptions& options) {
  absl::StatusOr<uint32_t> itt = StartCommand(options);
  if (!itt.ok()) return itt.status();
  return FinishCommand(*itt, options);
}

absl::Status TestInitiator::ClearUnitAttentions(uint64_t lun) {
  for (int i = 0; i < 8; ++i) {
    CommandOptions tur;
    tur.lun = lun;
    tur.cdb = {0x00, 0, 0, 0, 0, 0};
    absl::StatusOr<ScsiResult> result = Command(tur);
    if (!result.ok()) return result.status();
    if (result->status == 0) return absl::OkStatus();
  }
  return absl::InternalError("TEST UNIT READY never returned GOOD");
}

absl::StatusOr<std::string> TestInitiator::SendTargets(const std::string& value) {
  const std::string text = EncodeTextPairs({{"SendTargets", value}});
  TextRequest request;
  request.final_bit = true;
  request.itt = NextItt();
  request.ttt = kReservedTag;
  request.cmd_sn = cmd_sn_++;
  request.exp_stat_sn = exp_stat_sn_;
  request.data_segment_length = static_cast<uint32_t>(text.size());
  if (absl::Status s = SendPdu(EncodeTextRequest(request), Bytes(text)); !s.ok()) return s;
  std::string all;
  for (int pieces = 0; pieces < 10000; ++pieces) {
    absl::StatusOr<TargetPdu> pdu = ReadFor(request.itt);
    if (!pdu.ok()) return pdu.status();
    if (pdu->opcode() != Opcode::kTextResponse) return absl::InternalError("not a text response");
    absl::StatusOr<TextResponse> response = ParseTextResponse(pdu->bhs);
    if (!response.ok()) return response.status();
    if (pdu->data.size() > target_mrdsl_) {
      return absl::InternalError("text response longer than our MaxRecvDataSegmentLength");
    }
    all.append(pdu->data.begin(), pdu->data.end());
    if (response->final_bit) return all;
    TextRequest more;
    more.final_bit = true;
    more.itt = request.itt;
    more.ttt = response->ttt;
    more.cmd_sn = cmd_sn_++;
    more.exp_stat_sn = exp_stat_sn_;
    if (absl::Status s = SendPdu(EncodeTextRequest(more)); !s.ok()) return s;
  }
  return absl::InternalError("text response never ended");
}

absl::StatusOr<TargetPdu> TestInitiator::Ping(const std::vector<uint8_t>& data) {
  NopOut request;
  request.immediate_bit = true;
  request.itt = NextItt();
  request.ttt = kReservedTag;
  request.cmd_sn = cmd_sn_;
  request.exp_stat_sn = exp_stat_sn_;
  request.data_segment_length = static_cast<uint32_t>(data.size());
  if (absl::Status s = SendPdu(EncodeNopOut(request), data); !s.ok()) return s;
  return ReadFor(request.itt);
}

absl::StatusOr<TaskMgmtResponse> TestInitiator::TaskManagement(TmfFunction function, uint64_t lun,
                                                               uint32_t referenced_itt,
                                                               uint32_t ref_cmd_sn) {
  TaskMgmtRequest request;
  request.immediate_bit = true;
  request.function = function;
  request.lun = LunField(lun);
  request.itt = NextItt();
  request.referenced_task_tag = referenced_itt;
  request.cmd_sn = cmd_sn_;
  request.exp_stat_sn = exp_stat_sn_;
  request.ref_cmd_sn = ref_cmd_sn;
  if (absl::Status s = SendPdu(EncodeTaskMgmtRequest(request)); !s.ok()) return s;
  absl::StatusOr<TargetPdu> pdu = ReadFor(request.itt, absl::Seconds(10));
  if (!pdu.ok()) return pdu.status();
  if (pdu->opcode() != Opcode::kTaskMgmtResponse) {
    return absl::InternalError(
        absl::StrCat("expected a TMF response, got opcode ", static_cast<int>(pdu->opcode())));
  }
  return ParseTaskMgmtResponse(pdu->bhs);
}

absl::StatusOr<LogoutResponse> TestInitiator::Logout(LogoutReason reason) {
  LogoutRequest request;
  request.immediate_bit = true;
  request.reason_code = reason;
  request.itt = NextItt();
  request.cmd_sn = cmd_sn_;
  request.exp_stat_sn = exp_stat_sn_;
  if (absl::Status s = SendPdu(EncodeLogoutRequest(request)); !s.ok()) return s;
  absl::StatusOr<TargetPdu> pdu = ReadFor(request.itt);
  if (!pdu.ok()) return pdu.status();
  if (pdu->opcode() != Opcode::kLogoutResponse) {
    return absl::InternalError("expected a logout response");
  }
  return ParseLogoutResponse(pdu->bhs);
}

}  // namespace iscsi_csi::target::testing
