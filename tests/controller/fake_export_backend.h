// FakeExportBackend: an ExportBackend that keeps the exports it was asked for in memory (what
// the target would hold: ACL, CHAP, read-only, size), logs calls, and fails chosen operations.
#ifndef ISCSI_CSI_TESTS_CONTROLLER_FAKE_EXPORT_BACKEND_H_
#define ISCSI_CSI_TESTS_CONTROLLER_FAKE_EXPORT_BACKEND_H_

#include <sys/stat.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controller/export_backend.h"

namespace iscsi_csi::controller::testing {

class FakeExportBackend final : public ExportBackend {
 public:
  struct Exported {
    ExportConfig config;
    uint64_t size_bytes = 0;
    int lun_exports = 0;  // how many times LUN 0 was (re-)added
  };

  absl::Status Export(const ExportConfig& config) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("export ", config.iqn));
    if (absl::Status st = TakeFailure("export"); !st.ok()) return st;
    struct stat st {};
    if (stat(config.backing_file.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("export ", config.iqn, ": no backing file"));
    }
    auto [it, added] = exports_.try_emplace(config.iqn);
    if (added || it->second.config.read_only != config.read_only) ++it->second.lun_exports;
    it->second.config = config;
    it->second.size_bytes = static_cast<uint64_t>(st.st_size);
    return absl::OkStatus();
  }
  absl::Status Unexport(absl::string_view iqn) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("unexport ", iqn));
    if (absl::Status st = TakeFailure("unexport"); !st.ok()) return st;
    exports_.erase(std::string(iqn));
    return absl::OkStatus();
  }
  absl::Status SetInitiators(absl::string_view iqn,
                             const std::set<std::string>& initiators) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("set-initiators ", iqn));
    if (absl::Status st = TakeFailure("set-initiators"); !st.ok()) return st;
    auto it = exports_.find(std::string(iqn));
    if (it == exports_.end()) return absl::NotFoundError("not exported");
    it->second.config.initiators = initiators;
    return absl::OkStatus();
  }
  absl::Status Resize(absl::string_view iqn, uint64_t size_bytes) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("resize ", iqn, " ", size_bytes));
    if (absl::Status st = TakeFailure("resize"); !st.ok()) return st;
    auto it = exports_.find(std::string(iqn));
    if (it == exports_.end()) return absl::NotFoundError("not exported");
    if (size_bytes < it->second.size_bytes) return absl::OutOfRangeError("shrink");
    it->second.size_bytes = size_bytes;
    return absl::OkStatus();
  }
  int CloseSessions(absl::string_view iqn, absl::string_view initiator) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("close-sessions ", iqn, " ", initiator));
    return 0;
  }
  bool IsExported(absl::string_view iqn) const override {
    absl::MutexLock lock(&mu_);
    return exports_.contains(std::string(iqn));
  }

  // FailNext makes the next call of `operation` ("export", "unexport", "set-initiators",
  // "resize") return `status`.
  void FailNext(const std::string& operation, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_[operation] = std::move(status);
  }
  std::optional<Exported> Get(const std::string& iqn) const {
    absl::MutexLock lock(&mu_);
    auto it = exports_.find(iqn);
    if (it == exports_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  size_t exported_count() const {
    absl::MutexLock lock(&mu_);
    return exports_.size();
  }

 private:
  absl::Status TakeFailure(const std::string& operation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = failures_.find(operation);
    if (it == failures_.end()) return absl::OkStatus();
    absl::Status status = std::move(it->second);
    failures_.erase(it);
    return status;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, Exported> exports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_FAKE_EXPORT_BACKEND_H_
