// IoBuffer: vector-like semantics where it promises them, no zero-fill where it does not,
// and the block cache's reuse and limit.
#include "target/scsi/io_buffer.h"

#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace iscsi_csi::target::scsi {
namespace {

TEST(IoBufferTest, BehavesAsAByteVector) {
  IoBuffer buffer{1, 2, 3};
  EXPECT_EQ(buffer.size(), 3u);
  EXPECT_EQ(buffer, (std::vector<uint8_t>{1, 2, 3}));
  buffer.resize(5);
  EXPECT_EQ(buffer, (std::vector<uint8_t>{1, 2, 3, 0, 0}));
  buffer.resize(7, 0xee);
  EXPECT_EQ(buffer, (std::vector<uint8_t>{1, 2, 3, 0, 0, 0xee, 0xee}));
  buffer.resize(2);
  EXPECT_EQ(buffer, (std::vector<uint8_t>{1, 2}));
  buffer.assign(3, 9);
  EXPECT_EQ(buffer, (std::vector<uint8_t>{9, 9, 9}));
  const std::vector<uint8_t> source = {4, 5, 6, 7};
  buffer.assign(source.begin() + 1, source.end());
  EXPECT_EQ(buffer.ToVector(), (std::vector<uint8_t>{5, 6, 7}));
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
  EXPECT_GE(buffer.capacity(), 3u);  // clear keeps the memory
}

TEST(IoBufferTest, CopiesAreDeepAndMovesEmptyTheSource) {
  IoBuffer original = std::vector<uint8_t>{1, 2, 3};
  IoBuffer copy = original;
  copy[0] = 42;
  EXPECT_EQ(original[0], 1);
  IoBuffer moved = std::move(original);
  EXPECT_EQ(moved, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(original.data(), nullptr);
  copy = moved;
  EXPECT_EQ(copy, moved);
  moved = std::move(copy);
  EXPECT_EQ(moved, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(IoBufferTest, ResizeUninitializedKeepsWhatWasThere) {
  IoBuffer buffer;
  buffer.ResizeUninitialized(100);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i);
  // Growing through several size classes moves the bytes along.
  buffer.ResizeUninitialized(300 << 10);
  ASSERT_EQ(buffer.size(), size_t{300} << 10);
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(buffer[i], static_cast<uint8_t>(i)) << i;
  buffer.ResizeUninitialized(50);
  EXPECT_EQ(buffer.size(), 50u);
  EXPECT_EQ(buffer[49], 49);
}

TEST(IoBufferTest, AReleasedLargeBlockIsReused) {
  if (!IoBuffer::CacheEnabled()) GTEST_SKIP() << "the cache is off under AddressSanitizer";
  const uint8_t* first = nullptr;
  {
    IoBuffer buffer;
    buffer.ResizeUninitialized(1 << 20);
    first = buffer.data();
  }
  EXPECT_GE(IoBuffer::CachedBytes(), size_t{1} << 20);
  IoBuffer again;
  again.ResizeUninitialized((1 << 20) - 4096);  // same size class
  EXPECT_EQ(again.data(), first);
}

TEST(IoBufferTest, SmallBuffersAreNotCached) {
  const size_t before = IoBuffer::CachedBytes();
  { IoBuffer small(std::vector<uint8_t>(4096, 1)); }
  EXPECT_EQ(IoBuffer::CachedBytes(), before);
}

TEST(IoBufferTest, TheCacheKeepsNoMoreThanItsLimit) {
  std::vector<IoBuffer> buffers(100);
  for (IoBuffer& buffer : buffers) buffer.ResizeUninitialized(1 << 20);
  buffers.clear();
  EXPECT_LE(IoBuffer::CachedBytes(), IoBuffer::kCacheLimitBytes);
  if (IoBuffer::CacheEnabled()) {
    EXPECT_GT(IoBuffer::CachedBytes(), 0u);
  }
  // Larger than the largest class: freed, never cached.
  const size_t before = IoBuffer::CachedBytes();
  {
    IoBuffer huge;
    huge.ResizeUninitialized(IoBuffer::kCachedMaxBytes + 1);
  }
  EXPECT_EQ(IoBuffer::CachedBytes(), before);
}

TEST(IoBufferTest, ThreadsShareTheCacheSafely) {
  // Buffers made on one thread and released on another, as the data path does (a worker
  // reads, the event loop sends and frees); ThreadSanitizer checks the hand-offs.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        IoBuffer buffer;
        buffer.assign(size_t{64 << 10} << (i % 4), static_cast<uint8_t>(t));
        IoBuffer handed_over = std::move(buffer);
        std::thread([&handed_over, t] {
          ASSERT_EQ(handed_over[handed_over.size() - 1], static_cast<uint8_t>(t));
          handed_over = IoBuffer();
        }).join();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_LE(IoBuffer::CachedBytes(), IoBuffer::kCacheLimitBytes);
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
