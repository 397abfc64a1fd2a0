// WriteFileAtomically / ReadSmallFile / RemoveFileDurably on a real
// directory under the test temp dir.
#include "target/backend/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "target/backend/block_store.h"

namespace iscsi_csi::target::backend {
namespace {

std::string TempPath(const std::string& stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/", stem, "-", ::getpid(), "-", counter++);
}

TEST(AtomicFileTest, WrittenBytesReadBackAndNoTemporaryIsLeft) {
  const std::string path = TempPath("state");
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5};
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  auto read = ReadSmallFile(path, 100);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(**read, data);
  EXPECT_NE(::access(absl::StrCat(path, ".tmp").c_str(), F_OK), 0);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ::unlink(path.c_str());
}

TEST(AtomicFileTest, RewriteReplacesTheWholeFile) {
  const std::string path = TempPath("state");
  ASSERT_TRUE(WriteFileAtomically(path, std::vector<uint8_t>(1000, 7)).ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::vector<uint8_t>{9}).ok());
  auto read = ReadSmallFile(path, 2000);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(**read, std::vector<uint8_t>{9});
  ::unlink(path.c_str());
}

TEST(AtomicFileTest, MissingFileReadsAsNothing) {
  auto read = ReadSmallFile(TempPath("absent"), 10);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
}

TEST(AtomicFileTest, OversizedFileIsDataLoss) {
  const std::string path = TempPath("big");
  ASSERT_TRUE(WriteFileAtomically(path, std::vector<uint8_t>(5000, 1)).ok());
  EXPECT_EQ(ReadSmallFile(path, 100).status().code(), absl::StatusCode::kDataLoss);
  ::unlink(path.c_str());
}

TEST(AtomicFileTest, RemoveIsIdempotent) {
  const std::string path = TempPath("gone");
  ASSERT_TRUE(WriteFileAtomically(path, std::vector<uint8_t>{1}).ok());
  EXPECT_TRUE(RemoveFileDurably(path).ok());
  EXPECT_TRUE(RemoveFileDurably(path).ok());
  EXPECT_FALSE(ReadSmallFile(path, 10)->has_value());
}

TEST(AtomicFileTest, WriteIntoMissingDirectoryFailsWithErrno) {
  const absl::Status status =
      WriteFileAtomically(absl::StrCat(TempPath("nodir"), "/x"), std::vector<uint8_t>{1});
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(ErrnoFromStatus(status), ENOENT);
}

}  // namespace
}  // namespace iscsi_csi::target::backend
