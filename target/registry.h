// Registry: the targets the embedded iSCSI target exports, by IQN: alias, LUNs (logical
// units over their backing stores), initiator ACL and CHAP settings. It answers the
// questions logins (RFC 7143 §6, §12) and discovery (§13.3, SendTargets) ask: does this
// target exist, may this initiator see it, which CHAP applies, which LUNs does it report.
//
// Thread safety: every method may be called from any thread. Logical units are handed out
// as shared_ptr, so a session keeps using a LUN object until its last task completes even
// after RemoveLun.
#ifndef ISCSI_CSI_TARGET_REGISTRY_H_
#define ISCSI_CSI_TARGET_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "target/negotiation.h"
#include "target/scsi/lun.h"
#include "target/scsi/task.h"
#include "target/target.h"

namespace iscsi_csi::target {

class Registry {
 public:
  // `portal_group_tag` goes into each target's SCSI port name (VPD 0x83).
  explicit Registry(uint16_t portal_group_tag) : portal_group_tag_(portal_group_tag) {}

  absl::Status AddTarget(const TargetConfig& config);
  // RemoveTarget forgets the target and returns its logical units for the caller to drain.
  absl::StatusOr<std::vector<std::shared_ptr<scsi::LogicalUnit>>> RemoveTarget(
      absl::string_view iqn);

  absl::Status AddLun(absl::string_view iqn, uint64_t lun, std::shared_ptr<scsi::LogicalUnit> unit);
  absl::StatusOr<std::shared_ptr<scsi::LogicalUnit>> RemoveLun(absl::string_view iqn, uint64_t lun);
  // FindLun returns nullptr when the target or the LUN does not exist.
  std::shared_ptr<scsi::LogicalUnit> FindLun(absl::string_view iqn, uint64_t lun) const;
  std::vector<std::shared_ptr<scsi::LogicalUnit>> Luns(absl::string_view iqn) const;
  // True when `iqn` exports LUN `lun` (NotFound when the target does not exist).
  absl::StatusOr<bool> HasLun(absl::string_view iqn, uint64_t lun) const;

  // ReportedLuns is the REPORT LUNS inventory (8-byte LUN fields, ascending); the pointer
  // changes whenever the inventory does. Empty list for an unknown target.
  std::shared_ptr<const std::vector<uint64_t>> ReportedLuns(absl::string_view iqn) const;
  std::shared_ptr<const scsi::TargetPortIdentity> PortIdentity(absl::string_view iqn) const;

  absl::Status SetAcl(absl::string_view iqn, const InitiatorAcl& acl);
  absl::Status SetChap(absl::string_view iqn, const TargetChap& chap);

  bool Exists(absl::string_view iqn) const;
  // Admits: the target exists and its ACL lets `initiator` in.
  bool Admits(absl::string_view iqn, absl::string_view initiator) const;

  // ResolveNormalLogin: NotFound (0x0203), authorization failure (0x0202), or the CHAP
  // configuration and alias of the target.
  TargetAccess ResolveNormalLogin(absl::string_view iqn, absl::string_view initiator) const;
  // VisibleTargets: the IQNs `initiator` may discover, sorted.
  std::vector<std::string> VisibleTargets(absl::string_view initiator) const;

  std::vector<std::string> TargetNames() const;

 private:
  struct Entry {
    TargetConfig config;
    InitiatorAcl acl;
    TargetChap chap;
    std::map<uint64_t, std::shared_ptr<scsi::LogicalUnit>> luns;
    std::shared_ptr<const std::vector<uint64_t>> reported_luns;
    std::shared_ptr<const scsi::TargetPortIdentity> port;
  };

  static bool AclAdmits(const InitiatorAcl& acl, absl::string_view initiator);
  static void RebuildReportedLuns(Entry& entry);
  const Entry* FindLocked(absl::string_view iqn) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Entry* FindLocked(absl::string_view iqn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint16_t portal_group_tag_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> targets_ ABSL_GUARDED_BY(mu_);
};

// ValidateTargetChap checks the facade's CHAP settings the way a login will use them
// (secret lengths, distinct secrets, mutual only with one-way) and converts them.
absl::StatusOr<std::optional<ChapConfig>> ToChapConfig(const TargetChap& chap);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_REGISTRY_H_
