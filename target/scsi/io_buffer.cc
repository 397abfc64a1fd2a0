// IoBuffer and its process-wide block cache (see io_buffer.h).
#include "target/scsi/io_buffer.h"

#include <bit>
#include <new>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#if defined(__SANITIZE_ADDRESS__)
#define ISCSI_CSI_IO_BUFFER_NO_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ISCSI_CSI_IO_BUFFER_NO_CACHE 1
#endif
#endif

namespace iscsi_csi::target::scsi {
namespace {

constexpr int kMinShift = std::countr_zero(IoBuffer::kCachedMinBytes);
constexpr int kMaxShift = std::countr_zero(IoBuffer::kCachedMaxBytes);
static_assert(std::has_single_bit(IoBuffer::kCachedMinBytes) &&
              std::has_single_bit(IoBuffer::kCachedMaxBytes));

#ifdef ISCSI_CSI_IO_BUFFER_NO_CACHE
constexpr bool kCacheEnabled = false;
#else
constexpr bool kCacheEnabled = true;
#endif

// Cached capacities are the powers of two from kCachedMinBytes to kCachedMaxBytes.
bool Cacheable(size_t capacity) {
  return capacity >= IoBuffer::kCachedMinBytes && capacity <= IoBuffer::kCachedMaxBytes;
}

// The capacity allocated for a request of `n` bytes.
size_t CapacityFor(size_t n) { return Cacheable(n) ? std::bit_ceil(n) : n; }

class BlockCache {
 public:
  uint8_t* Take(size_t capacity) {
    if (kCacheEnabled && Cacheable(capacity)) {
      absl::MutexLock lock(&mu_);
      std::vector<uint8_t*>& list = free_[ClassOf(capacity)];
      if (!list.empty()) {
        uint8_t* block = list.back();
        list.pop_back();
        bytes_ -= capacity;
        return block;
      }
    }
    return static_cast<uint8_t*>(::operator new(capacity));
  }

  void Give(uint8_t* block, size_t capacity) {
    if (kCacheEnabled && Cacheable(capacity)) {
      absl::MutexLock lock(&mu_);
      if (bytes_ + capacity <= IoBuffer::kCacheLimitBytes) {
        free_[ClassOf(capacity)].push_back(block);
        bytes_ += capacity;
        return;
      }
    }
    ::operator delete(block);
  }

  size_t bytes() {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }

 private:
  static int ClassOf(size_t capacity) { return std::countr_zero(capacity) - kMinShift; }

  absl::Mutex mu_;
  std::vector<uint8_t*> free_[kMaxShift - kMinShift + 1] ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// Never destroyed: buffers may be released by threads still running at exit.
BlockCache& Cache() {
  static BlockCache* const cache = new BlockCache;
  return *cache;
}

}  // namespace

IoBuffer& IoBuffer::operator=(IoBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void IoBuffer::Grow(size_t n) {
  const size_t capacity = CapacityFor(std::max(n, 2 * capacity_));
  uint8_t* block = Cache().Take(capacity);
  if (size_ > 0) std::memcpy(block, data_, size_);
  Release();
  data_ = block;
  capacity_ = capacity;
}

void IoBuffer::Release() {
  if (data_ != nullptr) Cache().Give(data_, capacity_);
  data_ = nullptr;
  capacity_ = 0;
}

size_t IoBuffer::CachedBytes() { return Cache().bytes(); }

bool IoBuffer::CacheEnabled() { return kCacheEnabled; }

}  // namespace iscsi_csi::target::scsi
