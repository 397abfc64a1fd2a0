#include "controller/op_locks.h"

#include <utility>

namespace iscsi_csi::controller {

OpLocks::Guard& OpLocks::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    if (locks_ != nullptr) locks_->Release(key_);
    locks_ = other.locks_;
    key_ = std::move(other.key_);
    other.locks_ = nullptr;
  }
  return *this;
}

OpLocks::Guard::~Guard() {
  if (locks_ != nullptr) locks_->Release(key_);
}

std::optional<OpLocks::Guard> OpLocks::TryAcquire(absl::string_view key) {
  std::string owned(key);
  absl::MutexLock lock(&mu_);
  if (!held_.insert(owned).second) return std::nullopt;
  return Guard(this, std::move(owned));
}

bool OpLocks::Held(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  return held_.contains(key);
}

void OpLocks::Release(const std::string& key) {
  absl::MutexLock lock(&mu_);
  held_.erase(key);
}

}  // namespace iscsi_csi::controller
