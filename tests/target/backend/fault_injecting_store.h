// FaultInjectingBlockStoreForTest: a BlockStore decorator for tests. It
// counts calls (flushes, FUA writes, ...), fails chosen operations with a
// chosen errno (through backend::ErrnoStatus, as a real store would), and
// can hold every operation at its start until released, so tests can keep
// I/O "in progress" or the worker pool busy.
#ifndef ISCSI_CSI_TESTS_TARGET_BACKEND_FAULT_INJECTING_STORE_H_
#define ISCSI_CSI_TESTS_TARGET_BACKEND_FAULT_INJECTING_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "target/backend/block_store.h"

namespace iscsi_csi::target::backend {

class FaultInjectingBlockStoreForTest final : public BlockStore {
 public:
  enum class Op : uint8_t { kRead, kWrite, kFlush, kUnmap, kResize, kCount };

  explicit FaultInjectingBlockStoreForTest(std::shared_ptr<BlockStore> inner)
      : inner_(std::move(inner)) {}

  // Every later call of `op` fails with `error_number` until ClearFaults.
  void FailWith(Op op, int error_number) {
    absl::MutexLock lock(&mu_);
    faults_[Index(op)] = error_number;
  }
  void ClearFaults() {
    absl::MutexLock lock(&mu_);
    faults_.fill(0);
  }

  // Operations started after HoldIo wait until ReleaseIo.
  void HoldIo() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void ReleaseIo() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  // Waits until `n` operations are waiting in HoldIo.
  void WaitForHeld(int n) {
    std::pair<FaultInjectingBlockStoreForTest*, int> arg{this, n};
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::pair<FaultInjectingBlockStoreForTest*, int>* a) {
          return a->first->waiting_ >= a->second;
        },
        &arg));
  }

  int count(Op op) const { return counts_[Index(op)].load(); }
  int fua_writes() const { return fua_writes_.load(); }
  // Calls that reach stable storage: Flush() and FUA writes.
  int durable_calls() const { return count(Op::kFlush) + fua_writes(); }

  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) override {
    if (absl::Status s = Enter(Op::kRead); !s.ok()) return s;
    return inner_->Read(offset, out);
  }
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> data, bool fua) override {
    if (absl::Status s = Enter(Op::kWrite); !s.ok()) return s;
    if (fua) ++fua_writes_;
    return inner_->Write(offset, data, fua);
  }
  absl::Status Flush() override {
    if (absl::Status s = Enter(Op::kFlush); !s.ok()) return s;
    return inner_->Flush();
  }
  absl::Status Unmap(uint64_t offset, uint64_t length) override {
    if (absl::Status s = Enter(Op::kUnmap); !s.ok()) return s;
    return inner_->Unmap(offset, length);
  }
  uint64_t Size() const override { return inner_->Size(); }
  absl::Status Resize(uint64_t new_size) override {
    if (absl::Status s = Enter(Op::kResize); !s.ok()) return s;
    return inner_->Resize(new_size);
  }
  absl::StatusOr<MappingRun> GetMapping(uint64_t offset) override {
    return inner_->GetMapping(offset);
  }

 private:
  static size_t Index(Op op) { return static_cast<size_t>(op); }

  absl::Status Enter(Op op) {
    ++counts_[Index(op)];
    int error_number;
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(
          +[](FaultInjectingBlockStoreForTest* self) { return !self->held_; }, this));
      --waiting_;
      error_number = faults_[Index(op)];
    }
    if (error_number != 0) return ErrnoStatus(error_number, "injected fault");
    return absl::OkStatus();
  }

  const std::shared_ptr<BlockStore> inner_;
  absl::Mutex mu_;
  std::array<int, static_cast<size_t>(Op::kCount)> faults_{};
  bool held_ = false;
  int waiting_ = 0;
  std::array<std::atomic<int>, static_cast<size_t>(Op::kCount)> counts_{};
  std::atomic<int> fua_writes_{0};
};

}  // namespace iscsi_csi::target::backend

#endif  // ISCSI_CSI_TESTS_TARGET_BACKEND_FAULT_INJECTING_STORE_H_
