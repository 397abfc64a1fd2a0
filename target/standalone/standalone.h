// standalone: `iscsi-csi target`, the embedded iSCSI target served alone (tests, benchmarks,
// users who want only a target). Each export is LUN 0 of its own target, the same shape the
// controller uses (one target per volume). Parsing of the command-line specs lives here as pure
// functions; flags themselves are defined by the binary (common/target_command.cc).
#ifndef ISCSI_CSI_TARGET_STANDALONE_STANDALONE_H_
#define ISCSI_CSI_TARGET_STANDALONE_STANDALONE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "target/target.h"

namespace iscsi_csi::target {

// --export=IQN=FILE[:SIZE]: FILE is created sparse at SIZE when missing. SIZE is bytes or a
// number with K, M, G, T (binary: KiB, MiB, GiB, TiB; the "iB"/"B" suffixes are accepted too).
struct ExportSpec {
  std::string iqn;
  std::string file;
  uint64_t size_bytes = 0;  // 0: the file must exist and its size is used
};
absl::StatusOr<ExportSpec> ParseExportSpec(absl::string_view text);

// --allow=IQN=INITIATOR-IQN
struct AllowSpec {
  std::string iqn;
  std::string initiator;
};
absl::StatusOr<AllowSpec> ParseAllowSpec(absl::string_view text);

// --chap=IQN=USER:SECRET and --mutual-chap=IQN=USER:SECRET
struct ChapSpec {
  std::string iqn;
  ChapSecretPair credentials;
};
absl::StatusOr<ChapSpec> ParseChapSpec(absl::string_view text);

// ParseSize parses "1048576", "64M", "1GiB", "2T".
absl::StatusOr<uint64_t> ParseSize(absl::string_view text);

// DeriveNaaWwn returns a stable NAA type 6 (IEEE Registered Extended) identifier for `seed`
// (a volume id or target IQN): the NAA nibble, the 24-bit company id kIscsiCsiOui, and 100 bits
// taken from SHA-256(seed). DeriveSerial returns 16 hex digits from the same hash.
inline constexpr uint32_t kIscsiCsiOui = 0x0A5C51;  // see README: not an IEEE-registered OUI
std::array<uint8_t, 16> DeriveNaaWwn(absl::string_view seed);
std::string DeriveSerial(absl::string_view seed);

struct StandaloneOptions {
  TargetOptions target;
  std::vector<ExportSpec> exports;
  std::vector<AllowSpec> allows;
  std::vector<std::string> read_only;  // IQNs served write-protected
  std::vector<ChapSpec> chaps;
  std::vector<ChapSpec> mutual_chaps;
  uint32_t block_size = 512;
};

// CheckStandaloneOptions refuses exports of the same IQN twice, --allow, --read-only or --chap
// naming an IQN that is not exported, --mutual-chap without --chap, and a target without
// exports.
absl::Status CheckStandaloneOptions(const StandaloneOptions& options);

// RunStandaloneTarget starts the target with every export, ACL and CHAP setting, calls
// `serve` while it runs (it may publish the target's metrics, then waits until the process
// should stop) and stops the target after `serve` returned. Returns the process exit code:
// `serve`'s, or non-zero when the target could not be set up.
int RunStandaloneTarget(const StandaloneOptions& options,
                        const std::function<int(Target& target)>& serve);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_STANDALONE_STANDALONE_H_
