// Registry: IQN -> target records (see registry.h).
#include "target/registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "target/scsi/lun_address.h"

namespace iscsi_csi::target {
namespace {

// SPC-4 table 362: iSCSI.
constexpr uint8_t kIscsiProtocolIdentifier = 5;

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::optional<ChapConfig>> ToChapConfig(const TargetChap& chap) {
  if (!chap.initiator.has_value()) {
    if (chap.target.has_value()) {
      return absl::InvalidArgumentError("chap: mutual credentials need one-way credentials");
    }
    return std::optional<ChapConfig>();
  }
  ChapConfig config;
  config.initiator.name = chap.initiator->user;
  config.initiator.secret = ChapSecret(chap.initiator->secret);
  if (chap.target.has_value()) {
    config.target = ChapCredentials{chap.target->user, ChapSecret(chap.target->secret)};
  }
  if (absl::Status status = ValidateChapConfig(config); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("chap: ", status.message()));
  }
  return std::optional<ChapConfig>(std::move(config));
}

bool Registry::AclAdmits(const InitiatorAcl& acl, absl::string_view initiator) {
  if (acl.allow_all) return true;
  return acl.initiators.count(Str(initiator)) > 0;
}

void Registry::RebuildReportedLuns(Entry& entry) {
  auto luns = std::make_shared<std::vector<uint64_t>>();
  for (const auto& [number, unit] : entry.luns) {
    if (std::optional<uint64_t> field = scsi::EncodeLun(static_cast<uint32_t>(number))) {
      luns->push_back(*field);
    }
  }
  entry.reported_luns = std::move(luns);
}

const Registry::Entry* Registry::FindLocked(absl::string_view iqn) const {
  auto it = targets_.find(iqn);
  return it == targets_.end() ? nullptr : &it->second;
}

Registry::Entry* Registry::FindLocked(absl::string_view iqn) {
  auto it = targets_.find(iqn);
  return it == targets_.end() ? nullptr : &it->second;
}

absl::Status Registry::AddTarget(const TargetConfig& config) {
  if (absl::Status status = ValidateIscsiName(config.iqn); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("add target: ", status.message()));
  }
  if (!config.alias.empty() && !IsLocalNameValue(config.alias)) {
    return absl::InvalidArgumentError("add target: alias is not a valid TargetAlias");
  }
  absl::MutexLock lock(&mu_);
  if (targets_.count(config.iqn) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("add target ", config.iqn, ": already exists"));
  }
  Entry entry;
  entry.config = config;
  auto port = std::make_shared<scsi::TargetPortIdentity>();
  port->protocol_identifier = kIscsiProtocolIdentifier;
  port->relative_target_port_id = 1;
  // The iSCSI target port name (RFC 7143 SCSI port names): "<name>,t,0x<TPGT>".
  port->target_port_name = absl::StrFormat("%s,t,0x%04x", config.iqn, portal_group_tag_);
  port->target_device_name = config.iqn;
  entry.port = std::move(port);
  RebuildReportedLuns(entry);
  targets_.emplace(config.iqn, std::move(entry));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::shared_ptr<scsi::LogicalUnit>>> Registry::RemoveTarget(
    absl::string_view iqn) {
  absl::MutexLock lock(&mu_);
  auto it = targets_.find(iqn);
  if (it == targets_.end()) {
    return absl::NotFoundError(absl::StrCat("remove target ", iqn, ": not found"));
  }
  std::vector<std::shared_ptr<scsi::LogicalUnit>> units;
  for (auto& [number, unit] : it->second.luns) units.push_back(std::move(unit));
  targets_.erase(it);
  return units;
}

absl::Status Registry::AddLun(absl::string_view iqn, uint64_t lun,
                              std::shared_ptr<scsi::LogicalUnit> unit) {
  absl::MutexLock lock(&mu_);
  Entry* entry = FindLocked(iqn);
  if (entry == nullptr)
    return absl::NotFoundError(absl::StrCat("add lun: target ", iqn, " not found"));
  if (entry->luns.count(lun) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("add lun ", lun, " to ", iqn, ": already exists"));
  }
  entry->luns.emplace(lun, std::move(unit));
  RebuildReportedLuns(*entry);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<scsi::LogicalUnit>> Registry::RemoveLun(absl::string_view iqn,
                                                                       uint64_t lun) {
  absl::MutexLock lock(&mu_);
  Entry* entry = FindLocked(iqn);
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("remove lun: target ", iqn, " not found"));
  }
  auto it = entry->luns.find(lun);
  if (it == entry->luns.end()) {
    return absl::NotFoundError(absl::StrCat("remove lun ", lun, " of ", iqn, ": not found"));
  }
  std::shared_ptr<scsi::LogicalUnit> unit = std::move(it->second);
  entry->luns.erase(it);
  RebuildReportedLuns(*entry);
  return unit;
}

std::shared_ptr<scsi::LogicalUnit> Registry::FindLun(absl::string_view iqn, uint64_t lun) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(iqn);
  if (entry == nullptr) return nullptr;
  auto it = entry->luns.find(lun);
  return it == entry->luns.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<scsi::LogicalUnit>> Registry::Luns(absl::string_view iqn) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<scsi::LogicalUnit>> units;
  if (const Entry* entry = FindLocked(iqn)) {
    for (const auto& [number, unit] : entry->luns) units.push_back(unit);
  }
  return units;
}

absl::StatusOr<bool> Registry::HasLun(absl::string_view iqn, uint64_t lun) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(iqn);
  if (entry == nullptr) return absl::NotFoundError(absl::StrCat("target ", iqn, " not found"));
  return entry->luns.count(lun) > 0;
}

std::shared_ptr<const std::vector<uint64_t>> Registry::ReportedLuns(absl::string_view iqn) const {
  absl::ReaderMutexLock lock(&mu_);
  if (const Entry* entry = FindLocked(iqn)) return entry->reported_luns;
  return std::make_shared<const std::vector<uint64_t>>();
}

std::shared_ptr<const scsi::TargetPortIdentity> Registry::PortIdentity(
    absl::string_view iqn) const {
  absl::ReaderMutexLock lock(&mu_);
  if (const Entry* entry = FindLocked(iqn)) return entry->port;
  return nullptr;
}

absl::Status Registry::SetAcl(absl::string_view iqn, const InitiatorAcl& acl) {
  absl::MutexLock lock(&mu_);
  Entry* entry = FindLocked(iqn);
  if (entry == nullptr)
    return absl::NotFoundError(absl::StrCat("set acl: target ", iqn, " not found"));
  entry->acl = acl;
  return absl::OkStatus();
}

absl::Status Registry::SetChap(absl::string_view iqn, const TargetChap& chap) {
  absl::StatusOr<std::optional<ChapConfig>> converted = ToChapConfig(chap);
  if (!converted.ok()) return converted.status();
  absl::MutexLock lock(&mu_);
  Entry* entry = FindLocked(iqn);
  if (entry == nullptr)
    return absl::NotFoundError(absl::StrCat("set chap: target ", iqn, " not found"));
  entry->chap = chap;
  return absl::OkStatus();
}

bool Registry::Exists(absl::string_view iqn) const {
  absl::ReaderMutexLock lock(&mu_);
  return FindLocked(iqn) != nullptr;
}

bool Registry::Admits(absl::string_view iqn, absl::string_view initiator) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(iqn);
  return entry != nullptr && AclAdmits(entry->acl, initiator);
}

TargetAccess Registry::ResolveNormalLogin(absl::string_view iqn,
                                          absl::string_view initiator) const {
  TargetChap chap;
  TargetAccess access;
  {
    absl::ReaderMutexLock lock(&mu_);
    const Entry* entry = FindLocked(iqn);
    if (entry == nullptr) {
      access.refusal = kLoginNotFound;
      return access;
    }
    if (!AclAdmits(entry->acl, initiator)) {
      access.refusal = kLoginAuthorizationFailure;
      return access;
    }
    chap = entry->chap;
    access.target_alias = entry->config.alias;
  }
  absl::StatusOr<std::optional<ChapConfig>> config = ToChapConfig(chap);
  if (!config.ok()) {
    // SetChap validated it; a failure here is our bug, answered as a target error.
    access.refusal = kLoginTargetError;
    return access;
  }
  access.chap = std::move(*config);
  return access;
}

std::vector<std::string> Registry::VisibleTargets(absl::string_view initiator) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : targets_) {
    if (AclAdmits(entry.acl, initiator)) names.push_back(name);
  }
  return names;
}

std::vector<std::string> Registry::TargetNames() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : targets_) names.push_back(name);
  return names;
}

}  // namespace iscsi_csi::target
