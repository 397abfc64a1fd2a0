// export_backend: how the controller puts volumes on the iSCSI target, as a small interface
// so that the provisioning logic can be tested without sockets (tests/controller has a fake).
// The real implementation (target_export_backend) drives the embedded target::Target.
//
// Shape: one target per volume (TargetIqnForVolume), the volume as LUN 0, an ACL listing the
// initiator names of the nodes the volume is published to (InitiatorIqnForNode), and mutual
// CHAP. Every call is idempotent: Export makes the target look like `config`, whatever it
// looked like before.
#ifndef ISCSI_CSI_CONTROLLER_EXPORT_BACKEND_H_
#define ISCSI_CSI_CONTROLLER_EXPORT_BACKEND_H_

#include <array>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "controller/chap_credentials.h"

namespace iscsi_csi::controller {

struct ExportConfig {
  std::string iqn;
  std::string backing_file;  // must exist; its size is the LUN's size
  uint32_t block_size = 512;
  bool read_only = false;
  std::string serial;
  std::array<uint8_t, 16> naa_wwn{};
  std::set<std::string> initiators;  // admitted initiator names; empty admits nobody
  ChapCredentials chap;
};

class ExportBackend {
 public:
  virtual ~ExportBackend() = default;

  // Export creates the target and LUN 0 when missing and brings ACL, CHAP and the LUN's
  // read-only mode to `config` (a read-only flip re-exports LUN 0, which only happens while
  // no node is published, hence with no sessions). Sessions of initiators no longer admitted
  // are closed.
  virtual absl::Status Export(const ExportConfig& config) = 0;
  // Unexport removes the target (closing its sessions); OK when not exported.
  virtual absl::Status Unexport(absl::string_view iqn) = 0;
  // SetInitiators replaces the ACL of an exported target. NotFound when not exported.
  virtual absl::Status SetInitiators(absl::string_view iqn,
                                     const std::set<std::string>& initiators) = 0;
  // Resize grows LUN 0 to `size_bytes` (the target raises CAPACITY DATA HAS CHANGED).
  // NotFound when not exported.
  virtual absl::Status Resize(absl::string_view iqn, uint64_t size_bytes) = 0;
  // CloseSessions closes the sessions of `initiator` to `iqn`; returns how many.
  virtual int CloseSessions(absl::string_view iqn, absl::string_view initiator) = 0;
  // IsExported: the target exists with LUN 0.
  virtual bool IsExported(absl::string_view iqn) const = 0;
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_EXPORT_BACKEND_H_
