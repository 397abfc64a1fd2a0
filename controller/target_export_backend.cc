#include "controller/target_export_backend.h"

#include "absl/strings/str_cat.h"
#include "common/status_convert.h"
#include "glog/logging.h"

namespace iscsi_csi::controller {
namespace {

target::InitiatorAcl Acl(const std::set<std::string>& initiators) {
  target::InitiatorAcl acl;
  acl.allow_all = false;
  acl.initiators = initiators;
  return acl;
}

}  // namespace

absl::Status TargetExportBackend::AddLun(const ExportConfig& config) {
  target::LunConfig lun;
  lun.lun = 0;
  lun.backing_file = config.backing_file;
  lun.size_bytes = 0;  // the file exists; its size is the volume's
  lun.block_size = config.block_size;
  lun.read_only = config.read_only;
  lun.serial = config.serial;
  lun.naa_wwn = config.naa_wwn;
  return WithContext(target_->AddLun(config.iqn, lun), absl::StrCat("export ", config.iqn));
}

absl::Status TargetExportBackend::Export(const ExportConfig& config) {
  absl::MutexLock lock(&mu_);
  auto it = applied_.find(config.iqn);
  if (it == applied_.end()) {
    // A new export: the ACL and CHAP go on before the LUN, so nobody sees it unprotected.
    absl::Status st = target_->AddTarget(target::TargetConfig{config.iqn, ""});
    if (!st.ok() && st.code() != absl::StatusCode::kAlreadyExists) {
      return WithContext(st, absl::StrCat("export ", config.iqn));
    }
    auto undo = [&](absl::Status status) {
      (void)target_->RemoveTarget(config.iqn);
      return status;
    };
    if (st = target_->SetInitiatorAcl(config.iqn, Acl(config.initiators)); !st.ok()) {
      return undo(WithContext(st, absl::StrCat("set acl of ", config.iqn)));
    }
    if (st = target_->SetChap(config.iqn, ToTargetChap(config.chap)); !st.ok()) {
      return undo(WithContext(st, absl::StrCat("set chap of ", config.iqn)));
    }
    if (st = AddLun(config); !st.ok()) return undo(st);
    applied_.emplace(config.iqn, config);
    return absl::OkStatus();
  }
  ExportConfig& applied = it->second;
  if (applied.initiators != config.initiators) {
    if (absl::Status st = target_->SetInitiatorAcl(config.iqn, Acl(config.initiators)); !st.ok()) {
      return WithContext(st, absl::StrCat("set acl of ", config.iqn));
    }
    applied.initiators = config.initiators;
  }
  if (!applied.chap.SameSecretsAs(config.chap)) {
    if (absl::Status st = target_->SetChap(config.iqn, ToTargetChap(config.chap)); !st.ok()) {
      return WithContext(st, absl::StrCat("set chap of ", config.iqn));
    }
    applied.chap = config.chap;
  }
  if (applied.read_only != config.read_only || applied.backing_file != config.backing_file ||
      applied.block_size != config.block_size) {
    if (absl::Status st = target_->RemoveLun(config.iqn, 0);
        !st.ok() && st.code() != absl::StatusCode::kNotFound) {
      return WithContext(st, absl::StrCat("re-export ", config.iqn));
    }
    if (absl::Status st = AddLun(config); !st.ok()) {
      // Without LUN 0 the target is useless: drop it so a retry starts from scratch.
      (void)target_->RemoveTarget(config.iqn);
      applied_.erase(it);
      return st;
    }
    applied.read_only = config.read_only;
    applied.backing_file = config.backing_file;
    applied.block_size = config.block_size;
    LOG(INFO) << "re-exported " << config.iqn << (config.read_only ? " read-only" : " read-write");
  }
  return absl::OkStatus();
}

absl::Status TargetExportBackend::Unexport(absl::string_view iqn) {
  absl::MutexLock lock(&mu_);
  absl::Status st = target_->RemoveTarget(iqn);
  if (!st.ok() && st.code() != absl::StatusCode::kNotFound) {
    return WithContext(st, absl::StrCat("unexport ", iqn));
  }
  if (auto it = applied_.find(iqn); it != applied_.end()) applied_.erase(it);
  return absl::OkStatus();
}

absl::Status TargetExportBackend::SetInitiators(absl::string_view iqn,
                                                const std::set<std::string>& initiators) {
  absl::MutexLock lock(&mu_);
  auto it = applied_.find(iqn);
  if (it == applied_.end()) return absl::NotFoundError(absl::StrCat(iqn, " is not exported"));
  if (absl::Status st = target_->SetInitiatorAcl(iqn, Acl(initiators)); !st.ok()) {
    return WithContext(st, absl::StrCat("set acl of ", iqn));
  }
  it->second.initiators = initiators;
  return absl::OkStatus();
}

absl::Status TargetExportBackend::Resize(absl::string_view iqn, uint64_t size_bytes) {
  {
    absl::MutexLock lock(&mu_);
    if (!applied_.contains(iqn)) return absl::NotFoundError(absl::StrCat(iqn, " is not exported"));
  }
  return WithContext(target_->ResizeLun(iqn, 0, size_bytes), absl::StrCat("resize ", iqn));
}

int TargetExportBackend::CloseSessions(absl::string_view iqn, absl::string_view initiator) {
  return target_->CloseSessions(iqn, initiator);
}

bool TargetExportBackend::IsExported(absl::string_view iqn) const {
  absl::MutexLock lock(&mu_);
  return applied_.contains(iqn);
}

}  // namespace iscsi_csi::controller
