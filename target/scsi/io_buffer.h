// IoBuffer: the bytes of one command's data transfer (ScsiTask::data_in and
// data_out).
//
// Two differences from std::vector<uint8_t>, both for the data path:
// - ResizeUninitialized grows without writing the new bytes, for callers that
//   are about to fill every one of them (a READ from the backing store, a
//   Data-Out copied from the network). resize() still zero-fills, as a vector.
// - Buffers of kCachedMinBytes and more come from, and go back to, a
//   process-wide cache of blocks by power-of-two size class, so a 1 MiB READ
//   neither zero-fills nor page-faults a fresh allocation. The cache keeps at
//   most kCacheLimitBytes; what does not fit is freed. Under AddressSanitizer
//   the cache is bypassed so that use-after-free stays detectable.
//
// Recycled blocks hold earlier commands' data: never expose bytes that were
// not written for this command (ResizeUninitialized's contract).
//
// Copyable (a deep copy) and movable; not thread-safe, like a vector.
#ifndef ISCSI_CSI_TARGET_SCSI_IO_BUFFER_H_
#define ISCSI_CSI_TARGET_SCSI_IO_BUFFER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <vector>

#include "absl/types/span.h"

namespace iscsi_csi::target::scsi {

class IoBuffer {
 public:
  static constexpr size_t kCachedMinBytes = size_t{64} << 10;
  static constexpr size_t kCachedMaxBytes = size_t{16} << 20;
  static constexpr size_t kCacheLimitBytes = size_t{64} << 20;

  IoBuffer() = default;
  IoBuffer(std::initializer_list<uint8_t> bytes) { assign(bytes.begin(), bytes.end()); }
  // Implicit so that encoders that build a std::vector can hand it over as is.
  IoBuffer(const std::vector<uint8_t>& bytes) {  // NOLINT(google-explicit-constructor)
    assign(bytes.begin(), bytes.end());
  }
  IoBuffer(const IoBuffer& other) { assign(other.begin(), other.end()); }
  IoBuffer& operator=(const IoBuffer& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  IoBuffer(IoBuffer&& other) noexcept
      : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
  }
  IoBuffer& operator=(IoBuffer&& other) noexcept;
  ~IoBuffer() { Release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  uint8_t* begin() { return data_; }
  uint8_t* end() { return data_ + size_; }
  const uint8_t* begin() const { return data_; }
  const uint8_t* end() const { return data_ + size_; }
  uint8_t& operator[](size_t i) { return data_[i]; }
  const uint8_t& operator[](size_t i) const { return data_[i]; }

  // clear empties the buffer and keeps its memory.
  void clear() { size_ = 0; }
  // reserve makes room for `n` bytes without changing size().
  void reserve(size_t n) {
    if (n > capacity_) Grow(n);
  }
  // ResizeUninitialized sets the size; bytes past the old size are unspecified
  // (possibly another command's data) until the caller writes them.
  void ResizeUninitialized(size_t n) {
    reserve(n);
    size_ = n;
  }
  // resize sets the size; bytes past the old size become `value`.
  void resize(size_t n, uint8_t value = 0) {
    const size_t old = size_;
    ResizeUninitialized(n);
    if (n > old) std::memset(data_ + old, value, n - old);
  }
  void assign(size_t n, uint8_t value) {
    clear();
    resize(n, value);
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    const size_t n = static_cast<size_t>(std::distance(first, last));
    clear();
    ResizeUninitialized(n);
    std::copy(first, last, data_);
  }

  std::vector<uint8_t> ToVector() const { return std::vector<uint8_t>(begin(), end()); }

  friend bool operator==(const IoBuffer& a, const IoBuffer& b) {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }
  friend bool operator==(const IoBuffer& a, const std::vector<uint8_t>& b) {
    return a.size_ == b.size() && (a.size_ == 0 || std::memcmp(a.data_, b.data(), a.size_) == 0);
  }

  // Bytes held by the process-wide cache (for tests and metrics).
  static size_t CachedBytes();
  // False in AddressSanitizer builds, where every block is freed at once.
  static bool CacheEnabled();

 private:
  void Grow(size_t n);
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_IO_BUFFER_H_
