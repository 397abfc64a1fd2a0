// Tests for SparseFile: creation without preallocation, holes, I/O, hole
// punching, resizing, errno-preserving errors, and the no-wait calls
// (memory-backed files on tmpfs; RWF_NOWAIT on disk filesystems).
#include "target/backend/sparse_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target::backend {
namespace {

using ::testing::Each;

std::string TempPath() {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/sparse-", ::getpid(), "-", counter++);
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st;
}

class SparseFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath();
    auto file = SparseFile::Open(path_, kSize);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
  }
  void TearDown() override {
    file_.reset();
    ::unlink(path_.c_str());
  }

  static constexpr uint64_t kSize = 4 << 20;
  std::string path_;
  std::unique_ptr<SparseFile> file_;
};

TEST_F(SparseFileTest, CreatesFileAtSizeWithoutAllocatingBlocks) {
  const struct stat st = StatOf(path_);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_EQ(st.st_blocks, 0);
  EXPECT_EQ(file_->Size(), kSize);
}

TEST_F(SparseFileTest, FileIsOpenedCloseOnExec) {
  // Find our descriptor by inode; it must carry FD_CLOEXEC.
  const struct stat want = StatOf(path_);
  bool found = false;
  for (int fd = 3; fd < 1024; ++fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) continue;
    if (st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
      found = true;
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(SparseFileTest, HolesReadAsZeros) {
  std::vector<uint8_t> buffer(8192, 0xaa);
  ASSERT_TRUE(file_->Read(1 << 20, absl::MakeSpan(buffer)).ok());
  EXPECT_THAT(buffer, Each(0));
}

TEST_F(SparseFileTest, WriteThenReadBackReturnsTheSameBytes) {
  std::vector<uint8_t> data(12288);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  ASSERT_TRUE(file_->Write(4096, data, /*fua=*/false).ok());
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(file_->Read(4096, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
}

TEST_F(SparseFileTest, FuaWriteIsReadBack) {
  std::vector<uint8_t> data(512, 0x5a);
  ASSERT_TRUE(file_->Write(0, data, /*fua=*/true).ok());
  std::vector<uint8_t> back(512);
  ASSERT_TRUE(file_->Read(0, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
  EXPECT_TRUE(file_->Flush().ok());
}

TEST_F(SparseFileTest, UnmapPunchesAHoleThatReadsAsZeros) {
  std::vector<uint8_t> data(1 << 20, 0x77);
  ASSERT_TRUE(file_->Write(0, data, false).ok());
  ASSERT_TRUE(file_->Flush().ok());
  const blkcnt_t before = StatOf(path_).st_blocks;
  ASSERT_TRUE(file_->Unmap(0, 1 << 19).ok());
  EXPECT_LT(StatOf(path_).st_blocks, before);
  EXPECT_EQ(StatOf(path_).st_size, static_cast<off_t>(kSize));  // KEEP_SIZE

  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_HOLE), 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), 1 << 19);
  ::close(fd);

  std::vector<uint8_t> back(1 << 19, 0xff);
  ASSERT_TRUE(file_->Read(0, absl::MakeSpan(back)).ok());
  EXPECT_THAT(back, Each(0));
}

TEST_F(SparseFileTest, UnmapOfPartialBlockZeroesJustThatRange) {
  std::vector<uint8_t> data(4096, 0x11);
  ASSERT_TRUE(file_->Write(0, data, false).ok());
  ASSERT_TRUE(file_->Unmap(512, 512).ok());
  std::vector<uint8_t> back(4096);
  ASSERT_TRUE(file_->Read(0, absl::MakeSpan(back)).ok());
  for (size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i], (i >= 512 && i < 1024) ? 0 : 0x11) << i;
  }
}

TEST_F(SparseFileTest, GetMappingReportsDataAndHoleRuns) {
  std::vector<uint8_t> data(1 << 16, 1);
  ASSERT_TRUE(file_->Write(1 << 20, data, false).ok());
  auto hole = file_->GetMapping(0);
  ASSERT_TRUE(hole.ok());
  EXPECT_FALSE(hole->mapped);
  EXPECT_EQ(hole->length, 1u << 20);
  auto mapped = file_->GetMapping(1 << 20);
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped->mapped);
  EXPECT_GE(mapped->length, 1u << 16);
}

TEST_F(SparseFileTest, AccessPastTheEndIsOutOfRange) {
  std::vector<uint8_t> buffer(1024);
  EXPECT_EQ(file_->Read(kSize - 512, absl::MakeSpan(buffer)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file_->Write(kSize, buffer, false).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file_->Unmap(kSize - 512, 1024).code(), absl::StatusCode::kOutOfRange);
}

TEST_F(SparseFileTest, ResizeGrowsSparselyAndNewBytesReadAsZeros) {
  ASSERT_TRUE(file_->Resize(kSize * 2).ok());
  EXPECT_EQ(file_->Size(), kSize * 2);
  EXPECT_EQ(StatOf(path_).st_size, static_cast<off_t>(kSize * 2));
  std::vector<uint8_t> buffer(4096, 0xee);
  ASSERT_TRUE(file_->Read(kSize * 2 - 4096, absl::MakeSpan(buffer)).ok());
  EXPECT_THAT(buffer, Each(0));
}

TEST_F(SparseFileTest, ResizeRefusesToShrink) {
  EXPECT_EQ(file_->Resize(kSize / 2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(file_->Size(), kSize);
}

TEST_F(SparseFileTest, ReopenKeepsExistingSizeAndData) {
  std::vector<uint8_t> data(512, 0x42);
  ASSERT_TRUE(file_->Write(512, data, false).ok());
  file_.reset();
  auto reopened = SparseFile::Open(path_, 1 << 20);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Size(), kSize);
  std::vector<uint8_t> back(512);
  ASSERT_TRUE((*reopened)->Read(512, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
}

TEST(SparseFileOpenTest, MissingFileWithoutCreateFailsWithErrno) {
  SparseFileOptions options;
  options.create_if_missing = false;
  auto file = SparseFile::Open(TempPath(), 4096, options);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoFromStatus(file.status()), ENOENT);
}

TEST(SparseFileOpenTest, DirectoryIsRefused) {
  EXPECT_FALSE(SparseFile::Open(::testing::TempDir(), 4096).ok());
}

TEST(ErrnoStatusTest, KeepsErrnoAndMapsCode) {
  const absl::Status nospc = ErrnoStatus(ENOSPC, "pwrite x");
  EXPECT_EQ(nospc.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoFromStatus(nospc), ENOSPC);
  EXPECT_EQ(ErrnoFromStatus(ErrnoStatus(EIO, "pread x")), EIO);
  EXPECT_EQ(ErrnoFromStatus(absl::InternalError("no errno")), std::nullopt);
}

// --- ReadNoWait / WriteNoWait -----------------------------------------------------

bool OnMemoryFilesystem(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

// A sparse file in `dir`, removed on destruction.
class ScopedSparseFile {
 public:
  ScopedSparseFile(const std::string& dir, uint64_t size) {
    static std::atomic<int> counter{0};
    path_ = absl::StrCat(dir, "/sparse-nowait-", ::getpid(), "-", counter++);
    auto file = SparseFile::Open(path_, size);
    EXPECT_TRUE(file.ok()) << file.status();
    if (file.ok()) file_ = std::move(*file);
  }
  ~ScopedSparseFile() {
    file_.reset();
    ::unlink(path_.c_str());
  }
  SparseFile* get() { return file_.get(); }
  SparseFile* operator->() { return file_.get(); }

 private:
  std::string path_;
  std::unique_ptr<SparseFile> file_;
};

constexpr char kShm[] = "/dev/shm";
constexpr uint64_t kNoWaitSize = 1 << 20;

std::vector<uint8_t> Bytes(size_t size, uint8_t seed) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return out;
}

TEST(SparseFileNoWaitTest, FileOnTmpfsIsMemoryBacked) {
  if (!OnMemoryFilesystem(kShm)) GTEST_SKIP() << kShm << " is not tmpfs";
  ScopedSparseFile file(kShm, kNoWaitSize);
  ASSERT_NE(file.get(), nullptr);
  EXPECT_TRUE(file->memory_backed());
}

TEST(SparseFileNoWaitTest, FileOnDiskFilesystemIsNotMemoryBacked) {
  if (OnMemoryFilesystem(::testing::TempDir())) GTEST_SKIP() << "TempDir is on tmpfs";
  ScopedSparseFile file(::testing::TempDir(), kNoWaitSize);
  ASSERT_NE(file.get(), nullptr);
  EXPECT_FALSE(file->memory_backed());
}

TEST(SparseFileNoWaitTest, OnTmpfsNoWaitCallsDoTheIo) {
  if (!OnMemoryFilesystem(kShm)) GTEST_SKIP() << kShm << " is not tmpfs";
  ScopedSparseFile file(kShm, kNoWaitSize);
  ASSERT_NE(file.get(), nullptr);
  const std::vector<uint8_t> data = Bytes(8192, 1);
  ASSERT_TRUE(file->WriteNoWait(4096, data, /*fua=*/false).ok());
  std::vector<uint8_t> back(data.size(), 0xee);
  ASSERT_TRUE(file->ReadNoWait(4096, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
  std::vector<uint8_t> blocking(data.size(), 0xee);
  ASSERT_TRUE(file->Read(4096, absl::MakeSpan(blocking)).ok());
  EXPECT_EQ(blocking, data);

  // FUA costs nothing on memory: it is done, not refused.
  const std::vector<uint8_t> durable = Bytes(512, 2);
  ASSERT_TRUE(file->WriteNoWait(0, durable, /*fua=*/true).ok());
  std::vector<uint8_t> durable_back(512, 0xee);
  ASSERT_TRUE(file->Read(0, absl::MakeSpan(durable_back)).ok());
  EXPECT_EQ(durable_back, durable);

  // Holes read as zeros here too.
  std::vector<uint8_t> hole(4096, 0xee);
  ASSERT_TRUE(file->ReadNoWait(kNoWaitSize - 4096, absl::MakeSpan(hole)).ok());
  EXPECT_THAT(hole, Each(0));
}

TEST(SparseFileNoWaitTest, OnTmpfsNoWaitCallsPastTheEndAreOutOfRange) {
  if (!OnMemoryFilesystem(kShm)) GTEST_SKIP() << kShm << " is not tmpfs";
  ScopedSparseFile file(kShm, kNoWaitSize);
  ASSERT_NE(file.get(), nullptr);
  std::vector<uint8_t> buffer(1024, 0xee);
  EXPECT_EQ(file->ReadNoWait(kNoWaitSize - 512, absl::MakeSpan(buffer)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file->WriteNoWait(kNoWaitSize - 512, buffer, /*fua=*/false).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file->WriteNoWait(kNoWaitSize, buffer, /*fua=*/true).code(),
            absl::StatusCode::kOutOfRange);
  // Nothing was written, and the file did not grow.
  EXPECT_EQ(file->Size(), kNoWaitSize);
  std::vector<uint8_t> tail(512, 0xee);
  ASSERT_TRUE(file->Read(kNoWaitSize - 512, absl::MakeSpan(tail)).ok());
  EXPECT_THAT(tail, Each(0));
}

class SparseFileOnDiskNoWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (OnMemoryFilesystem(::testing::TempDir())) GTEST_SKIP() << "TempDir is on tmpfs";
    file_ = std::make_unique<ScopedSparseFile>(::testing::TempDir(), kNoWaitSize);
    ASSERT_NE(file_->get(), nullptr);
    ASSERT_FALSE((*file_)->memory_backed());
  }
  SparseFile& file() { return *file_->get(); }

  std::unique_ptr<ScopedSparseFile> file_;
};

TEST_F(SparseFileOnDiskNoWaitTest, FuaWriteNoWaitIsUnavailableAndWritesNothing) {
  const std::vector<uint8_t> before = Bytes(4096, 3);
  ASSERT_TRUE(file().Write(8192, before, /*fua=*/false).ok());
  const absl::Status status = file().WriteNoWait(8192, Bytes(4096, 4), /*fua=*/true);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  std::vector<uint8_t> back(4096, 0xee);
  ASSERT_TRUE(file().Read(8192, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, before);
  // Nor does it write into a hole.
  EXPECT_EQ(file().WriteNoWait(0, Bytes(512, 5), /*fua=*/true).code(),
            absl::StatusCode::kUnavailable);
  std::vector<uint8_t> hole(512, 0xee);
  ASSERT_TRUE(file().Read(0, absl::MakeSpan(hole)).ok());
  EXPECT_THAT(hole, Each(0));
}

TEST_F(SparseFileOnDiskNoWaitTest, ReadNoWaitReturnsTheExactBytesOrUnavailable) {
  const std::vector<uint8_t> data = Bytes(16384, 6);
  ASSERT_TRUE(file().Write(4096, data, /*fua=*/false).ok());
  // Just written: normally in the page cache.
  std::vector<uint8_t> warm(data.size(), 0xee);
  const absl::Status warm_status = file().ReadNoWait(4096, absl::MakeSpan(warm));
  if (warm_status.ok()) {
    EXPECT_EQ(warm, data);
  } else {
    EXPECT_EQ(warm_status.code(), absl::StatusCode::kUnavailable) << warm_status;
  }
  // Evicted from the page cache: most likely would wait; never wrong bytes.
  ASSERT_TRUE(file().Flush().ok());
  const int fd = ::open(file().path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  std::vector<uint8_t> cold(data.size(), 0xee);
  const absl::Status cold_status = file().ReadNoWait(4096, absl::MakeSpan(cold));
  if (cold_status.ok()) {
    EXPECT_EQ(cold, data);
  } else {
    EXPECT_EQ(cold_status.code(), absl::StatusCode::kUnavailable) << cold_status;
  }
  // Whatever it said, the blocking read still returns the data.
  std::vector<uint8_t> back(data.size(), 0xee);
  ASSERT_TRUE(file().Read(4096, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
}

TEST_F(SparseFileOnDiskNoWaitTest, WriteNoWaitStoresTheBytesOrIsUnavailable) {
  const std::vector<uint8_t> data = Bytes(8192, 7);
  const absl::Status status = file().WriteNoWait(65536, data, /*fua=*/false);
  if (status.ok()) {
    std::vector<uint8_t> back(data.size(), 0xee);
    ASSERT_TRUE(file().Read(65536, absl::MakeSpan(back)).ok());
    EXPECT_EQ(back, data);
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  }
}

TEST_F(SparseFileOnDiskNoWaitTest, NoWaitCallsPastTheEndAreOutOfRange) {
  // The first no-wait calls on this file, so no earlier refusal of RWF_NOWAIT can have
  // turned them into "would wait".
  std::vector<uint8_t> buffer(1024, 0xee);
  EXPECT_EQ(file().ReadNoWait(kNoWaitSize - 512, absl::MakeSpan(buffer)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file().WriteNoWait(kNoWaitSize, buffer, /*fua=*/false).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(file().Size(), kNoWaitSize);
  EXPECT_EQ(StatOf(file().path()).st_size, static_cast<off_t>(kNoWaitSize));
}

}  // namespace
}  // namespace iscsi_csi::target::backend
