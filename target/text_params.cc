// text_params: parsing and encoding of Login/Text key=value data (RFC 7143 §6.1, §6.2,
// §4.2.7). See text_params.h for the contracts.
#include "target/text_params.h"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi::target {
namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool IsLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
         c == '+' || c == '@' || c == '_';
}

// KeyForMessage returns the key when it is safe to print (a valid label), else a marker.
std::string KeyForMessage(std::string_view key) {
  return IsValidKeyName(key) ? std::string(key) : std::string("<invalid key>");
}

absl::Status Fail(TextError code, TextError* out, std::string message) {
  if (out != nullptr) *out = code;
  return absl::InvalidArgumentError(std::move(message));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool HasPrefixIgnoringCase(std::string_view value, char second) {
  return value.size() >= 2 && value[0] == '0' &&
         absl::ascii_tolower(static_cast<unsigned char>(value[1])) == second;
}

std::optional<std::vector<uint8_t>> DecodeHex(std::string_view digits, size_t max_bytes) {
  if (digits.empty()) return std::nullopt;
  // Bound before decoding: n digits make (n + 1) / 2 bytes (§6.1).
  if ((digits.size() + 1) / 2 > max_bytes) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve((digits.size() + 1) / 2);
  size_t i = 0;
  if (digits.size() % 2 == 1) {
    int v = HexValue(digits[0]);
    if (v < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(v));
    i = 1;
  }
  for (; i < digits.size(); i += 2) {
    int hi = HexValue(digits[i]);
    int lo = HexValue(digits[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>((hi << 4) | lo));
  }
  return out;
}

std::optional<std::vector<uint8_t>> DecodeBase64(std::string_view text, size_t max_bytes) {
  size_t data_chars = text.size();
  while (data_chars > 0 && text[data_chars - 1] == '=') --data_chars;
  const size_t padding = text.size() - data_chars;
  if (data_chars == 0 || padding > 2) return std::nullopt;
  // k*4+1 characters cannot encode whole bytes (§6.1); padding, when present, must
  // complete the last quantum.
  if (data_chars % 4 == 1) return std::nullopt;
  if (padding != 0 && (data_chars + padding) % 4 != 0) return std::nullopt;
  if (data_chars * 3 / 4 > max_bytes) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(data_chars * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_chars; ++i) {
    int v = Base64Value(text[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// Utf8SequenceLength validates one UTF-8 sequence at `s[i]` and returns its length, or 0.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return len;
}

bool IsHexString(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return HexValue(c) >= 0; });
}

// Characters allowed in a normalized iqn name (RFC 3722 stringprep output): lower-case
// ASCII letters, digits, '-', '.', ':' and non-ASCII code points (checked as UTF-8).
absl::Status CheckIqnCharacters(std::string_view name) {
  for (size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x80) {
      size_t len = Utf8SequenceLength(name, i);
      if (len == 0) return absl::InvalidArgumentError("iscsi name: invalid UTF-8");
      i += len;
      continue;
    }
    if (absl::ascii_isupper(c)) {
      return absl::InvalidArgumentError(
          "iscsi name: upper-case letters are not in normalized form (RFC 3722)");
    }
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.' ||
          c == ':')) {
      return absl::InvalidArgumentError("iscsi name: character not allowed (RFC 3722)");
    }
    ++i;
  }
  return absl::OkStatus();
}

absl::Status ValidateIqn(std::string_view name) {
  // iqn.yyyy-mm.naming-authority[:unique-name] (RFC 7143 §4.2.7.3).
  std::string_view rest = name.substr(4);
  if (rest.size() < 8 || !absl::ascii_isdigit(rest[0]) || !absl::ascii_isdigit(rest[1]) ||
      !absl::ascii_isdigit(rest[2]) || !absl::ascii_isdigit(rest[3]) || rest[4] != '-' ||
      !absl::ascii_isdigit(rest[5]) || !absl::ascii_isdigit(rest[6]) || rest[7] != '.') {
    return absl::InvalidArgumentError("iscsi name: iqn needs a yyyy-mm. date");
  }
  const int month = (rest[5] - '0') * 10 + (rest[6] - '0');
  if (month < 1 || month > 12) {
    return absl::InvalidArgumentError("iscsi name: iqn date has an invalid month");
  }
  rest.remove_prefix(8);
  const size_t colon = rest.find(':');
  std::string_view authority = rest.substr(0, colon);
  if (authority.empty() || authority.front() == '.' || authority.back() == '.' ||
      authority.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError("iscsi name: iqn naming authority is not a domain name");
  }
  for (char c : authority) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return absl::InvalidArgumentError(
          "iscsi name: iqn naming authority has a character not allowed in a domain name");
    }
  }
  if (colon != std::string_view::npos && colon + 1 == rest.size()) {
    return absl::InvalidArgumentError("iscsi name: empty string after ':'");
  }
  return CheckIqnCharacters(name);
}

}  // namespace

bool IsValidKeyName(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyNameLength) return false;
  // RFC 7144 §2.1 registered "iSCSIProtocolLevel", the one key that breaks the
  // capital-letter rule of §6.1.
  if (key == keys::kIscsiProtocolLevel) return true;
  if (!absl::ascii_isupper(static_cast<unsigned char>(key[0]))) return false;
  size_t start = 1;
  // Public extension keys are "X#" followed by an IANA-registered name (§13.22).
  if (key.size() >= 2 && key[0] == 'X' && key[1] == '#') {
    if (key.size() == 2) return false;
    start = 2;
  }
  for (size_t i = start; i < key.size(); ++i) {
    if (!IsLabelChar(key[i])) return false;
  }
  return true;
}

size_t MaxValueLengthForKey(std::string_view key) {
  // List-valued keys: each item is a simple-value (checked by the negotiation), the list
  // as a whole may be longer.
  static constexpr std::array<std::string_view, 5> kListKeys = {
      keys::kAuthMethod, keys::kChapA, keys::kHeaderDigest, keys::kDataDigest,
      keys::kTaskReporting};
  if (std::find(kListKeys.begin(), kListKeys.end(), key) != kListKeys.end()) {
    return kMaxLargeValueLength;
  }
  // Binary authentication values (§12.1.2 SRP, §12.1.1 Kerberos, §12.1.3 CHAP).
  if (key == keys::kChapC || key == keys::kChapR || key.starts_with("SRP_") ||
      key.starts_with("KRB_")) {
    return kMaxLargeValueLength;
  }
  return kMaxSimpleValueLength;
}

absl::StatusOr<TextPairs> ParseTextPairs(std::string_view text, const TextParseOptions& options,
                                         TextError* error) {
  if (error != nullptr) *error = TextError::kNone;
  if (text.size() > options.max_total_length) {
    return Fail(TextError::kTextTooLong, error,
                absl::StrCat("text data of ", text.size(), " bytes exceeds the limit of ",
                             options.max_total_length));
  }
  if (!text.empty() && text.back() != '\0') {
    // §6.1: every key=value pair, including the last, is followed by a null.
    return Fail(TextError::kMissingTerminator, error,
                "text data does not end with a null delimiter");
  }
  TextPairs pairs;
  std::set<std::string_view> seen;
  size_t pos = 0;
  size_t index = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\0', pos);  // present: the text ends with '\0'
    std::string_view pair = text.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) continue;  // tolerate doubled delimiters
    ++index;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Fail(TextError::kMissingEquals, error,
                  absl::StrCat("text pair ", index, " has no '='"));
    }
    std::string_view key = pair.substr(0, eq);
    std::string_view value = pair.substr(eq + 1);
    if (key.empty()) {
      return Fail(TextError::kEmptyKey, error, absl::StrCat("text pair ", index, " has no key"));
    }
    if (key.size() > kMaxKeyNameLength) {
      return Fail(TextError::kKeyTooLong, error,
                  absl::StrCat("text pair ", index, ": key of ", key.size(),
                               " bytes exceeds 63 (RFC 7143 6.1)"));
    }
    if (!IsValidKeyName(key)) {
      return Fail(TextError::kInvalidKeyName, error,
                  absl::StrCat("text pair ", index, ": key is not a standard-label"));
    }
    const size_t max_value = MaxValueLengthForKey(key);
    if (value.size() > max_value) {
      return Fail(TextError::kValueTooLong, error,
                  absl::StrCat("text pair ", index, ": value of ", KeyForMessage(key), " has ",
                               value.size(), " bytes, limit ", max_value));
    }
    if (!options.allow_duplicate_keys && !seen.insert(key).second) {
      return Fail(TextError::kDuplicateKey, error,
                  absl::StrCat("key ", KeyForMessage(key), " appears twice"));
    }
    pairs.push_back(TextPair{std::string(key), std::string(value)});
  }
  return pairs;
}

std::string EncodeTextPairs(const TextPairs& pairs) {
  size_t size = 0;
  for (const TextPair& p : pairs) size += p.key.size() + p.value.size() + 2;
  std::string out;
  out.reserve(size);
  for (const TextPair& p : pairs) {
    out.append(p.key);
    out.push_back('=');
    out.append(p.value);
    out.push_back('\0');
  }
  return out;
}

absl::Status TextAccumulator::Append(std::string_view segment, bool continues) {
  if (complete_) {
    return absl::FailedPreconditionError("text accumulator: final segment already received");
  }
  if (segment.size() > max_total_length_ - text_.size()) {
    const size_t total = text_.size() + segment.size();
    Reset();
    return absl::ResourceExhaustedError(absl::StrCat(
        "text data of at least ", total, " bytes exceeds the limit of ", max_total_length_));
  }
  text_.append(segment);
  complete_ = !continues;
  return absl::OkStatus();
}

absl::Status TextAccumulator::Append(absl::Span<const uint8_t> segment, bool continues) {
  return Append(std::string_view(reinterpret_cast<const char*>(segment.data()), segment.size()),
                continues);
}

absl::StatusOr<std::string> TextAccumulator::Take() {
  if (!complete_) {
    return absl::FailedPreconditionError("text accumulator: more segments expected (C bit)");
  }
  std::string out = std::move(text_);
  Reset();
  return out;
}

void TextAccumulator::Reset() {
  text_.clear();
  complete_ = false;
}

absl::StatusOr<std::vector<std::string>> SplitTextIntoSegments(std::string_view text,
                                                              size_t max_segment_length) {
  if (max_segment_length == 0) {
    return absl::InvalidArgumentError("segment length must be positive");
  }
  std::vector<std::string> segments;
  if (text.empty()) {
    segments.emplace_back();
    return segments;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = std::min(max_segment_length, text.size() - pos);
    if (pos + len < text.size()) {
      // Prefer to end the segment right after a null so that pairs stay whole.
      const size_t last_null = text.substr(pos, len).rfind('\0');
      if (last_null != std::string_view::npos) len = last_null + 1;
    }
    segments.emplace_back(text.substr(pos, len));
    pos += len;
  }
  return segments;
}

std::optional<uint64_t> ParseNumericalValue(std::string_view value) {
  if (HasPrefixIgnoringCase(value, 'x')) {
    std::string_view digits = value.substr(2);
    if (digits.empty()) return std::nullopt;
    uint64_t v = 0;
    for (char c : digits) {
      int d = HexValue(c);
      if (d < 0) return std::nullopt;
      if (v >> 60 != 0) return std::nullopt;  // the next shift would overflow 64 bits
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    return v;
  }
  if (value.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<bool> ParseBooleanValue(std::string_view value) {
  if (value == kValueYes) return true;
  if (value == kValueNo) return false;
  return std::nullopt;
}

std::optional<std::vector<uint8_t>> ParseBinaryValue(std::string_view value, size_t max_bytes) {
  if (HasPrefixIgnoringCase(value, 'x')) return DecodeHex(value.substr(2), max_bytes);
  if (HasPrefixIgnoringCase(value, 'b')) {
    std::string_view body = value.substr(2);
    // Bound before decoding: 4 characters per 3 bytes, plus at most 2 padding characters.
    if (body.size() > (max_bytes + 2) / 3 * 4 + 2) return std::nullopt;
    return DecodeBase64(body, max_bytes);
  }
  return std::nullopt;
}

std::string EncodeHexConstant(absl::Span<const uint8_t> bytes) {
  std::string out = "0x";
  out.reserve(2 + bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
  return out;
}

std::string EncodeBase64Constant(absl::Span<const uint8_t> bytes) {
  std::string out = "0b";
  out.reserve(2 + (bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t n = uint32_t{bytes[i]} << 16;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    const uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::vector<std::string_view> SplitListValue(std::string_view value) {
  std::vector<std::string_view> items;
  size_t pos = 0;
  while (true) {
    const size_t comma = value.find(',', pos);
    items.push_back(value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return items;
}

bool IsTextValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    return IsLabelChar(c) || c == '/' || c == '[' || c == ']' || c == ':';
  });
}

bool IsLocalNameValue(std::string_view value) {
  if (value.size() > kMaxSimpleValueLength) return false;
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) return false;
    const size_t len = Utf8SequenceLength(value, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool IsReservedAnswer(std::string_view value) {
  return value == kValueReject || value == kValueIrrelevant || value == kValueNotUnderstood;
}

absl::Status ValidateIscsiName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("iscsi name: empty");
  if (name.size() > kMaxIscsiNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("iscsi name: ", name.size(), " bytes exceeds 223"));
  }
  if (name.starts_with("iqn.")) return ValidateIqn(name);
  if (name.starts_with("eui.")) {
    // eui. + EUI-64 in 16 hex digits (§4.2.7.4).
    std::string_view hex = name.substr(4);
    if (hex.size() != 16 || !IsHexString(hex)) {
      return absl::InvalidArgumentError("iscsi name: eui needs 16 hex digits");
    }
    return absl::OkStatus();
  }
  if (name.starts_with("naa.")) {
    // naa. + a 64-bit or 128-bit NAA identifier (§4.2.7.5, from RFC 3980).
    std::string_view hex = name.substr(4);
    if ((hex.size() != 16 && hex.size() != 32) || !IsHexString(hex)) {
      return absl::InvalidArgumentError("iscsi name: naa needs 16 or 32 hex digits");
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("iscsi name: type must be iqn., eui. or naa.");
}

}  // namespace iscsi_csi::target
