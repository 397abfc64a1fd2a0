// target_export_backend: ExportBackend over the embedded target::Target. Remembers what it
// applied per target so that Export changes only what differs (ACL, CHAP, read-only).
#ifndef ISCSI_CSI_CONTROLLER_TARGET_EXPORT_BACKEND_H_
#define ISCSI_CSI_CONTROLLER_TARGET_EXPORT_BACKEND_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/export_backend.h"
#include "target/target.h"

namespace iscsi_csi::controller {

class TargetExportBackend final : public ExportBackend {
 public:
  // `target` is not owned and must outlive the backend.
  explicit TargetExportBackend(target::Target* target) : target_(target) {}

  absl::Status Export(const ExportConfig& config) override;
  absl::Status Unexport(absl::string_view iqn) override;
  absl::Status SetInitiators(absl::string_view iqn,
                             const std::set<std::string>& initiators) override;
  absl::Status Resize(absl::string_view iqn, uint64_t size_bytes) override;
  int CloseSessions(absl::string_view iqn, absl::string_view initiator) override;
  bool IsExported(absl::string_view iqn) const override;

 private:
  absl::Status AddLun(const ExportConfig& config) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  target::Target* const target_;
  mutable absl::Mutex mu_;
  std::map<std::string, ExportConfig, std::less<>> applied_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_TARGET_EXPORT_BACKEND_H_
