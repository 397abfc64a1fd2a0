#include "node/host/vpd.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi::node {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    int v = HexValue(c);
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat("'", std::string(1, c), "' is not hex"));
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) return absl::InvalidArgumentError("odd number of hex digits");
  return out;
}

absl::StatusOr<std::vector<Designator>> ParseVpdPage83(absl::string_view page) {
  if (page.size() < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("VPD page is ", page.size(), " bytes, shorter than its 4-byte header"));
  }
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(page[i]); };
  if (byte(1) != 0x83) {
    return absl::InvalidArgumentError(
        absl::StrCat("VPD page code is 0x", absl::Hex(byte(1)), ", not 0x83"));
  }
  const size_t page_length = static_cast<size_t>(byte(2)) << 8 | byte(3);
  if (4 + page_length > page.size()) {
    return absl::InvalidArgumentError(absl::StrCat("VPD page 0x83 says ", page_length,
                                                   " bytes follow, only ", page.size() - 4,
                                                   " do"));
  }
  std::vector<Designator> designators;
  size_t offset = 4;
  const size_t end = 4 + page_length;
  while (offset < end) {
    if (offset + 4 > end) {
      return absl::InvalidArgumentError(
          absl::StrCat("VPD page 0x83: truncated descriptor header at byte ", offset));
    }
    Designator d;
    d.protocol_identifier = byte(offset) >> 4;
    d.code_set = byte(offset) & 0x0f;
    d.piv = (byte(offset + 1) & 0x80) != 0;
    d.association = (byte(offset + 1) >> 4) & 0x03;
    d.designator_type = byte(offset + 1) & 0x0f;
    const size_t length = byte(offset + 3);
    if (offset + 4 + length > end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "VPD page 0x83: descriptor at byte ", offset, " runs past the end of the page"));
    }
    d.value = std::string(page.substr(offset + 4, length));
    designators.push_back(std::move(d));
    offset += 4 + length;
  }
  return designators;
}

absl::StatusOr<std::string> LogicalUnitNaa(absl::string_view page) {
  absl::StatusOr<std::vector<Designator>> designators = ParseVpdPage83(page);
  if (!designators.ok()) return designators.status();
  for (const Designator& d : *designators) {
    if (d.association == kAssociationLogicalUnit && d.designator_type == kDesignatorNaa) {
      return HexEncode(d.value);
    }
  }
  return absl::NotFoundError("VPD page 0x83 has no NAA designator for the logical unit");
}

absl::StatusOr<std::string> NormalizeWwn(absl::string_view wwn) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(wwn));
  absl::string_view digits = lower;
  if (absl::StartsWith(digits, "naa.")) digits.remove_prefix(4);
  else if (absl::StartsWith(digits, "0x")) digits.remove_prefix(2);
  if (digits.size() != 16 && digits.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wwn '", wwn, "' must be 16 or 32 hex digits (an NAA designator)"));
  }
  for (char c : digits) {
    if (HexValue(c) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("wwn '", wwn, "' is not hexadecimal"));
    }
  }
  return std::string(digits);
}

}  // namespace iscsi_csi::node
