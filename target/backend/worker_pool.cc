// WorkerPool: fixed threads draining one FIFO (see worker_pool.h).
#include "target/backend/worker_pool.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"

namespace iscsi_csi::target::backend {

WorkerPool::WorkerPool(int threads) {
  const int n = std::max(1, threads);
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Schedule(absl::AnyInvocable<void() &&> work) {
  absl::MutexLock lock(&mu_);
  CHECK(!stopping_) << "WorkerPool::Schedule after shutdown";
  queue_.push_back(std::move(work));
}

void WorkerPool::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkerPool::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping and drained
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(work)();
  }
}

}  // namespace iscsi_csi::target::backend
