// WorkerPool: a small fixed pool of threads that runs backing-store I/O off
// the transport's threads (pread/pwrite/fdatasync/fallocate all block).
//
// Shared by every logical unit of a target; FIFO; no priorities. Work items
// must not block on other work items of the same pool.
#ifndef ISCSI_CSI_TARGET_BACKEND_WORKER_POOL_H_
#define ISCSI_CSI_TARGET_BACKEND_WORKER_POOL_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::target::backend {

class WorkerPool {
 public:
  // Starts `threads` (at least 1) worker threads.
  explicit WorkerPool(int threads);
  // Runs every item already scheduled, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Schedule queues `work` to run on a worker thread. Never runs it inline.
  void Schedule(absl::AnyInvocable<void() &&> work);

  int thread_count() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace iscsi_csi::target::backend

#endif  // ISCSI_CSI_TARGET_BACKEND_WORKER_POOL_H_
