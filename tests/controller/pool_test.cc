// The pool's file operations: atomic creation, copies that keep holes, growth, removal.
#include "controller/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::StatusIs;
using ::testing::ElementsAre;

constexpr uint64_t kMiB = 1 << 20;

void WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(data.size()));
  close(fd);
}

std::string ReadAll(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  std::string out;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  close(fd);
  return out;
}

uint64_t Allocated(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    pool_ = std::make_unique<Pool>(dir_);
    ASSERT_THAT(pool_->Init(), IsOk());
  }
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

TEST_F(PoolTest, CreatesSparseFilesAtomically) {
  const std::string path = pool_->VolumePath("vol-1");
  EXPECT_EQ(path, dir_ + "/volumes/vol-1.img");
  ASSERT_THAT(pool_->CreateSparse(path, 64 * kMiB), IsOk());
  EXPECT_EQ(**pool_->FileSize(path), 64 * kMiB);
  EXPECT_LT(Allocated(path), kMiB) << "no data blocks for an empty volume";
  EXPECT_FALSE(pool_->FileSize(Pool::TempPath(path))->has_value()) << "no .tmp left behind";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PoolTest, CopyKeepsDataAndHolesAndGrowsToTheRequestedSize) {
  const std::string from = pool_->VolumePath("vol-1");
  ASSERT_THAT(pool_->CreateSparse(from, 32 * kMiB), IsOk());
  WriteAt(from, 0, "head");
  WriteAt(from, 16 * kMiB + 7, std::string(10000, 'x'));
  WriteAt(from, 32 * kMiB - 3, "end");
  WriteAt(from, 8 * kMiB, std::string(kMiB, '\0'));  // allocated zeros: stay a hole in the copy
  const std::string to = pool_->VolumePath("vol-2");
  absl::StatusOr<CopyMethod> method = pool_->Copy(from, to, 48 * kMiB);
  ASSERT_THAT(method, IsOk());
  EXPECT_EQ(**pool_->FileSize(to), 48 * kMiB);
  std::string source = ReadAll(from);
  std::string copy = ReadAll(to);
  ASSERT_EQ(copy.size(), 48 * kMiB);
  EXPECT_EQ(copy.substr(0, source.size()), source);
  EXPECT_EQ(copy.substr(source.size()), std::string(16 * kMiB, '\0'));
  if (*method == CopyMethod::kSparseCopy) {
    EXPECT_LT(Allocated(to), 2 * kMiB) << "holes and zero blocks stay unallocated";
  }
}

TEST_F(PoolTest, SparseCopyIsUsedWhenReflinkIsOff) {
  pool_->DisableReflinkForTest();
  const std::string from = pool_->SnapshotPath("snap-1");
  ASSERT_THAT(pool_->CreateSparse(from, 4 * kMiB), IsOk());
  WriteAt(from, kMiB, "data");
  absl::StatusOr<CopyMethod> method = pool_->Copy(from, pool_->VolumePath("vol-3"), 0);
  ASSERT_THAT(method, IsOk());
  EXPECT_EQ(*method, CopyMethod::kSparseCopy);
  EXPECT_EQ(ReadAll(pool_->VolumePath("vol-3")), ReadAll(from));
}

TEST_F(PoolTest, CopyOfAMissingFileIsNotFoundAndLeavesNothing) {
  EXPECT_THAT(pool_->Copy(dir_ + "/nope", pool_->VolumePath("vol-4"), 0),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(*pool_->ListFiles(pool_->volumes_dir()), ElementsAre());
}

TEST_F(PoolTest, GrowOnlyGrows) {
  const std::string path = pool_->VolumePath("vol-1");
  ASSERT_THAT(pool_->CreateSparse(path, 8 * kMiB), IsOk());
  ASSERT_THAT(pool_->Grow(path, 16 * kMiB), IsOk());
  EXPECT_EQ(**pool_->FileSize(path), 16 * kMiB);
  ASSERT_THAT(pool_->Grow(path, 4 * kMiB), IsOk());
  EXPECT_EQ(**pool_->FileSize(path), 16 * kMiB);
  EXPECT_THAT(pool_->Grow(dir_ + "/missing", 1), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(PoolTest, RemoveIsIdempotentAndListFilesSeesOnlyRegularFiles) {
  ASSERT_THAT(pool_->CreateSparse(pool_->VolumePath("vol-b"), 4096), IsOk());
  ASSERT_THAT(pool_->CreateSparse(pool_->VolumePath("vol-a"), 4096), IsOk());
  mkdir((pool_->volumes_dir() + "/subdir").c_str(), 0700);
  EXPECT_THAT(*pool_->ListFiles(pool_->volumes_dir()), ElementsAre("vol-a.img", "vol-b.img"));
  ASSERT_THAT(pool_->Remove(pool_->VolumePath("vol-a")), IsOk());
  ASSERT_THAT(pool_->Remove(pool_->VolumePath("vol-a")), IsOk());
  EXPECT_THAT(*pool_->ListFiles(pool_->volumes_dir()), ElementsAre("vol-b.img"));
}

TEST_F(PoolTest, ReportsFreeSpace) {
  absl::StatusOr<uint64_t> free_bytes = pool_->FreeBytes();
  ASSERT_THAT(free_bytes, IsOk());
  EXPECT_GT(*free_bytes, 0u);
}

}  // namespace
}  // namespace iscsi_csi::controller
