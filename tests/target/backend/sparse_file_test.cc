// Tests for SparseFile: creation without preallocation, holes, I/O, hole
// punching, resizing and errno-preserving errors.
#include "target/backend/sparse_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

}  // namespace
}  // namespace iscsi_csi::target::backend
