#include "target/standalone/standalone.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace iscsi_csi::target {
namespace {

// Splits "IQN=REST" at the first '=' (iSCSI names never contain '=').
absl::StatusOr<std::pair<std::string, std::string>> SplitIqn(absl::string_view text,
                                                             absl::string_view what) {
  size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 >= text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not of the form IQN=", what));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

std::array<uint8_t, SHA256_DIGEST_LENGTH> Hash(absl::string_view seed) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), digest.data());
  return digest;
}

}  // namespace

absl::StatusOr<uint64_t> ParseSize(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  for (absl::string_view suffix : {"ib", "b"}) {
    if (lower.size() > suffix.size() + 1 && absl::EndsWith(lower, suffix) &&
        std::isalpha(static_cast<unsigned char>(lower[lower.size() - suffix.size() - 1]))) {
      lower.resize(lower.size() - suffix.size());
      break;
    }
  }
  uint64_t multiplier = 1;
  if (!lower.empty()) {
    switch (lower.back()) {
      case 'k': multiplier = 1ull << 10; break;
      case 'm': multiplier = 1ull << 20; break;
      case 'g': multiplier = 1ull << 30; break;
      case 't': multiplier = 1ull << 40; break;
      default: break;
    }
    if (multiplier != 1) lower.pop_back();
  }
  uint64_t value = 0;
  if (lower.empty() || !absl::SimpleAtoi(lower, &value) || value == 0 ||
      value > UINT64_MAX / multiplier) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size (bytes, or a number with K, M, G or T)"));
  }
  return value * multiplier;
}

absl::StatusOr<ExportSpec> ParseExportSpec(absl::string_view text) {
  auto split = SplitIqn(text, "FILE[:SIZE]");
  if (!split.ok()) return split.status();
  ExportSpec spec;
  spec.iqn = split->first;
  std::string rest = split->second;
  // FILE may itself contain ':'; a trailing ":SIZE" counts only when it parses as a size.
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    absl::StatusOr<uint64_t> size = ParseSize(absl::string_view(rest).substr(colon + 1));
    if (size.ok()) {
      spec.size_bytes = *size;
      rest.resize(colon);
    }
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' names no backing file"));
  }
  spec.file = rest;
  return spec;
}

absl::StatusOr<AllowSpec> ParseAllowSpec(absl::string_view text) {
  auto split = SplitIqn(text, "INITIATOR-IQN");
  if (!split.ok()) return split.status();
  return AllowSpec{split->first, split->second};
}

absl::StatusOr<ChapSpec> ParseChapSpec(absl::string_view text) {
  auto split = SplitIqn(text, "USER:SECRET");
  if (!split.ok()) return split.status();
  size_t colon = split->second.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= split->second.size()) {
    // Never echo the text: it carries the secret.
    return absl::InvalidArgumentError(
        absl::StrCat("CHAP setting for ", split->first, " is not of the form USER:SECRET"));
  }
  ChapSpec spec;
  spec.iqn = split->first;
  spec.credentials.user = split->second.substr(0, colon);
  spec.credentials.secret = split->second.substr(colon + 1);
  return spec;
}

std::array<uint8_t, 16> DeriveNaaWwn(absl::string_view seed) {
  auto digest = Hash(seed);
  std::array<uint8_t, 16> wwn{};
  // NAA 6 (4 bits) | OUI (24 bits) | vendor specific (36 bits) | extension (64 bits).
  wwn[0] = static_cast<uint8_t>(0x60 | ((kIscsiCsiOui >> 20) & 0x0f));
  wwn[1] = static_cast<uint8_t>(kIscsiCsiOui >> 12);
  wwn[2] = static_cast<uint8_t>(kIscsiCsiOui >> 4);
  wwn[3] = static_cast<uint8_t>(((kIscsiCsiOui & 0x0f) << 4) | (digest[0] & 0x0f));
  for (size_t i = 4; i < wwn.size(); ++i) wwn[i] = digest[i - 3];
  return wwn;
}

std::string DeriveSerial(absl::string_view seed) {
  auto digest = Hash(seed);
  std::string serial;
  for (size_t i = 16; i < 24; ++i) absl::StrAppend(&serial, absl::Hex(digest[i], absl::kZeroPad2));
  return serial;
}

absl::Status CheckStandaloneOptions(const StandaloneOptions& options) {
  if (options.exports.empty()) {
    return absl::InvalidArgumentError("no --export given: nothing to serve");
  }
  std::set<std::string> iqns;
  for (const ExportSpec& e : options.exports) {
    if (!iqns.insert(e.iqn).second) {
      return absl::InvalidArgumentError(absl::StrCat("--export: ", e.iqn, " is exported twice"));
    }
  }
  for (const AllowSpec& a : options.allows) {
    if (!iqns.contains(a.iqn)) {
      return absl::InvalidArgumentError(absl::StrCat("--allow: ", a.iqn, " is not exported"));
    }
  }
  for (const std::string& iqn : options.read_only) {
    if (!iqns.contains(iqn)) {
      return absl::InvalidArgumentError(absl::StrCat("--read-only: ", iqn, " is not exported"));
    }
  }
  std::set<std::string> with_chap;
  for (const ChapSpec& c : options.chaps) {
    if (!iqns.contains(c.iqn)) {
      return absl::InvalidArgumentError(absl::StrCat("--chap: ", c.iqn, " is not exported"));
    }
    if (!with_chap.insert(c.iqn).second) {
      return absl::InvalidArgumentError(absl::StrCat("--chap: ", c.iqn, " is given twice"));
    }
  }
  std::set<std::string> with_mutual;
  for (const ChapSpec& c : options.mutual_chaps) {
    if (!with_chap.contains(c.iqn)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mutual-chap: ", c.iqn, " needs --chap for the same target"));
    }
    if (!with_mutual.insert(c.iqn).second) {
      return absl::InvalidArgumentError(absl::StrCat("--mutual-chap: ", c.iqn, " is given twice"));
    }
  }
  if (options.block_size != 512 && options.block_size != 4096) {
    return absl::InvalidArgumentError("block size must be 512 or 4096");
  }
  return absl::OkStatus();
}

int RunStandaloneTarget(const StandaloneOptions& options,
                        const std::function<int(Target& target)>& serve) {
  if (absl::Status st = CheckStandaloneOptions(options); !st.ok()) {
    LOG(ERROR) << "target: " << st.message();
    return 2;
  }
  auto started = Target::Start(options.target);
  if (!started.ok()) {
    LOG(ERROR) << "target: " << started.status().message();
    return 1;
  }
  std::unique_ptr<Target> target = *std::move(started);

  std::map<std::string, InitiatorAcl> acls;
  for (const AllowSpec& a : options.allows) {
    InitiatorAcl& acl = acls[a.iqn];
    acl.allow_all = false;
    acl.initiators.insert(a.initiator);
  }
  std::map<std::string, TargetChap> chaps;
  for (const ChapSpec& c : options.chaps) chaps[c.iqn].initiator = c.credentials;
  for (const ChapSpec& c : options.mutual_chaps) chaps[c.iqn].target = c.credentials;

  for (const ExportSpec& e : options.exports) {
    absl::Status st = target->AddTarget(TargetConfig{e.iqn, ""});
    LunConfig lun;
    lun.lun = 0;
    lun.backing_file = e.file;
    lun.size_bytes = e.size_bytes;
    lun.block_size = options.block_size;
    lun.serial = DeriveSerial(e.iqn);
    lun.naa_wwn = DeriveNaaWwn(e.iqn);
    lun.read_only = std::find(options.read_only.begin(), options.read_only.end(), e.iqn) !=
                    options.read_only.end();
    if (st.ok()) st = target->AddLun(e.iqn, lun);
    if (st.ok() && acls.contains(e.iqn)) st = target->SetInitiatorAcl(e.iqn, acls[e.iqn]);
    if (st.ok() && chaps.contains(e.iqn)) st = target->SetChap(e.iqn, chaps[e.iqn]);
    if (!st.ok()) {
      LOG(ERROR) << "target: export " << e.iqn << ": " << st.message();
      target->Stop();
      return 1;
    }
    LOG(INFO) << "exporting " << e.iqn << " LUN 0 from " << e.file
              << (lun.read_only ? " read-only" : "")
              << (acls.contains(e.iqn)
                      ? absl::StrCat(" to ", absl::StrJoin(acls[e.iqn].initiators, ","))
                      : " to every initiator")
              << (chaps.contains(e.iqn)
                      ? (chaps[e.iqn].target ? " with mutual CHAP" : " with CHAP")
                      : "");
  }
  std::vector<std::string> portals;
  for (const PortalAddress& p : target->portals()) portals.push_back(p.ToString());
  LOG(INFO) << "iSCSI target listening on " << absl::StrJoin(portals, ", ");

  const int exit_code = serve(*target);
  LOG(INFO) << "stopping the iSCSI target";
  target->Stop();
  LOG(INFO) << "iSCSI target stopped";
  return exit_code;
}

}  // namespace iscsi_csi::target
