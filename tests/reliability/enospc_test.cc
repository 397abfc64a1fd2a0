// A thin LUN whose pool fills up (issue #12): `iscsi-csi target` serves a 256 MiB sparse file
// from a 16 MiB tmpfs (root only: mounting needs CAP_SYS_ADMIN), a libiscsi session writes
// until the filesystem is full. Expected (SBC-4 §4.7.3.6, target/scsi/sbc.cc): the failing
// WRITE ends in CHECK CONDITION, DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT
// (27h/07h); the target keeps running; a second session reads back every block acknowledged
// before the failure; once space is freed (a filler file deleted, then UNMAP of written
// blocks) the same writes succeed again.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/bench/verify_pattern.h"
#include "tests/reliability/reliability_util.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/target_process.h"

namespace iscsi_csi::reliability {
namespace {

using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::SessionOptions;
using ::iscsi_csi::testing::TargetProcess;
using ::iscsi_csi::testing::UnmapRange;

constexpr char kIqn[] = "iqn.2026-11.io.iscsi-csi.test:enospc";
constexpr uint64_t kChunk = 64 * 1024;  // one WRITE
constexpr uint64_t kFillerBytes = 4 << 20;
constexpr int kDataProtect = 0x07;

// Unmounts (lazily, so a straggler cannot make it fail) when the test ends.
class TmpfsMount {
 public:
  explicit TmpfsMount(std::string path) : path_(std::move(path)) {}
  ~TmpfsMount() { Unmount(); }
  void Unmount() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    mounted_ = false;
  }
  // Mount returns errno, 0 on success.
  int Mount(const char* options) {
    mkdir(path_.c_str(), 0700);
    if (mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) return errno;
    mounted_ = true;
    return 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

std::string Chunk(uint64_t index, uint64_t generation) {
  std::string data(kChunk, '\0');
  bench::FillPattern(index * kChunk, generation, reinterpret_cast<uint8_t*>(data.data()), kChunk);
  return data;
}

bool WriteFile(const std::string& path, uint64_t bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  const std::string block(1 << 20, 'f');
  bool ok = true;
  for (uint64_t done = 0; done < bytes && ok; done += block.size()) {
    ok = write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size());
  }
  close(fd);
  return ok;
}

class EnospcTest : public ::testing::Test {
 protected:
  // Writes chunks from `next_` on until one fails; returns that failure (nullopt when the
  // whole LUN was written without one).
  std::optional<CommandResult> WriteUntilFailure(IscsiSession& session, uint64_t generation) {
    const uint64_t blocks_per_chunk = kChunk / session.block_size();
    const uint64_t chunks = session.blocks() / blocks_per_chunk;
    for (; next_ < chunks; ++next_) {
      CommandResult written =
          session.Write(next_ * blocks_per_chunk, Chunk(next_, generation), false);
      if (!written.good()) return written;
      generation_.resize(next_ + 1, 0);
      generation_[next_] = generation;
    }
    return std::nullopt;
  }

  // Reads every chunk written so far and compares it with what was acknowledged (0: zeros).
  int VerifyAcknowledged(IscsiSession& session) {
    const uint32_t blocks_per_chunk = static_cast<uint32_t>(kChunk / session.block_size());
    int bad = 0;
    for (uint64_t i = 0; i < generation_.size(); ++i) {
      CommandResult read = session.Read(i * blocks_per_chunk, blocks_per_chunk);
      const std::string want =
          generation_[i] == 0 ? std::string(kChunk, '\0') : Chunk(i, generation_[i]);
      if (!read.good() || read.data != want) {
        if (++bad <= 5) {
          ADD_FAILURE() << "chunk " << i << " (generation " << generation_[i]
                        << "): " << (read.good() ? "holds other data" : read.Describe());
        }
      }
    }
    return bad;
  }

  uint64_t next_ = 0;                 // the next chunk to write
  std::vector<uint64_t> generation_;  // per chunk: the acknowledged generation, 0 = unmapped
};

TEST_F(EnospcTest, FullPoolFailsWritesWithSpaceAllocationFailedAndRecovers) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a 16 MiB tmpfs";
  const std::string dir = ScratchDir();
  TmpfsMount tmpfs(dir + "/pool");
  if (int error = tmpfs.Mount("size=16m,mode=0700"); error != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << dir << "/pool: " << strerror(error);
  }
  const std::string filler = dir + "/pool/filler";
  ASSERT_TRUE(WriteFile(filler, kFillerBytes));

  TargetProcess target({absl::StrCat("--export=", kIqn, "=", dir, "/pool/lun.img:256M")},
                       dir + "/target.log");
  ASSERT_FALSE(target.portal().empty()) << "target did not start:\n" << target.log();
  SessionOptions options;
  options.portal = target.portal();
  options.target_iqn = kIqn;
  options.isid_qualifier = 1;
  auto writer = IscsiSession::Login(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_EQ((*writer)->blocks() * (*writer)->block_size(), 256u << 20);
  const uint32_t blocks_per_chunk = static_cast<uint32_t>(kChunk / (*writer)->block_size());

  // 1. Fill the pool: about 12 MiB fit.
  std::optional<CommandResult> failure = WriteUntilFailure(**writer, 1);
  ASSERT_TRUE(failure.has_value()) << "256 MiB written to a 16 MiB tmpfs without an error";
  const uint64_t first_failed = next_;
  std::cout << "pool full after " << first_failed << " chunks of 64 KiB: " << failure->Describe()
            << "\n";
  EXPECT_TRUE(failure->Sense(kDataProtect, 0x27, 0x07))
      << "want DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT; got " << failure->Describe();
  EXPECT_GT(first_failed, 100u);  // about 12 MiB of 16 went in
  EXPECT_LE(first_failed, 16u * 16);

  // The target runs on, and answers every further write into new space the same way, FUA or
  // not, while reads still work.
  ASSERT_TRUE(target.Alive()) << target.log();
  for (bool fua : {false, true}) {
    CommandResult again =
        (*writer)->Write((first_failed + 8) * blocks_per_chunk, Chunk(first_failed + 8, 1), fua);
    EXPECT_TRUE(again.Sense(kDataProtect, 0x27, 0x07)) << "fua=" << fua << ": " << again.Describe();
  }
  CommandResult head = (*writer)->Read(0, blocks_per_chunk);
  ASSERT_TRUE(head.good()) << head.Describe();
  EXPECT_EQ(head.data, Chunk(0, 1));

  // 2. A second session reads back every acknowledged block; the failed write's blocks hold
  // either its data or zeros, 4 KiB at a time (part of it may have been allocated).
  options.isid_qualifier = 2;
  auto reader = IscsiSession::Login(options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(VerifyAcknowledged(**reader), 0);
  {
    CommandResult partial = (*reader)->Read(first_failed * blocks_per_chunk, blocks_per_chunk);
    ASSERT_TRUE(partial.good()) << partial.Describe();
    const std::string wanted = Chunk(first_failed, 1);
    for (uint64_t at = 0; at < kChunk; at += 4096) {
      const std::string block = partial.data.substr(at, 4096);
      EXPECT_TRUE(block == wanted.substr(at, 4096) || block == std::string(4096, '\0'))
          << "the failed write left a torn 4 KiB block at +" << at;
    }
    CommandResult beyond = (*reader)->Read((first_failed + 8) * blocks_per_chunk, 8);
    ASSERT_TRUE(beyond.good()) << beyond.Describe();
    EXPECT_EQ(beyond.data, std::string(8 * (*reader)->block_size(), '\0'));
  }

  // 3. Free space outside the LUN (the filler file): the failed write now succeeds, and
  // writing goes on until the pool is full again.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  failure = WriteUntilFailure(**writer, 2);
  ASSERT_TRUE(failure.has_value());
  const uint64_t second_failed = next_;
  EXPECT_TRUE(failure->Sense(kDataProtect, 0x27, 0x07)) << failure->Describe();
  EXPECT_GE(second_failed, first_failed + 4 * kFillerBytes / kChunk / 5)
      << "deleting 4 MiB let only " << second_failed - first_failed << " chunks in";
  std::cout << "after deleting the filler: " << second_failed - first_failed
            << " more chunks, then " << failure->Describe() << "\n";

  // 4. Free space inside the LUN: UNMAP (punches holes) of the first 4 MiB, from the second
  // session. Writes succeed again and the unmapped range reads as zeros.
  const uint64_t unmapped_chunks = 64;
  CommandResult unmap =
      (*reader)->Unmap({UnmapRange{0, static_cast<uint32_t>(unmapped_chunks * blocks_per_chunk)}});
  ASSERT_TRUE(unmap.good()) << unmap.Describe();
  for (uint64_t i = 0; i < unmapped_chunks; ++i) generation_[i] = 0;
  const uint64_t resume = next_;
  for (int i = 0; i < 32; ++i, ++next_) {
    CommandResult written = (*writer)->Write(next_ * blocks_per_chunk, Chunk(next_, 3), i % 2 == 1);
    ASSERT_TRUE(written.good()) << "chunk " << next_ << " after UNMAP: " << written.Describe();
    generation_.resize(next_ + 1, 0);
    generation_[next_] = 3;
  }
  std::cout << "after UNMAP of " << unmapped_chunks << " chunks: chunks " << resume << ".."
            << next_ - 1 << " written\n";
  EXPECT_EQ(VerifyAcknowledged(**reader), 0);
  EXPECT_TRUE((*reader)->SynchronizeCache().good());

  writer->reset();
  reader->reset();
  ASSERT_TRUE(target.Alive()) << target.log();
  EXPECT_EQ(target.Stop(), std::optional<int>(0)) << target.log();
  tmpfs.Unmount();
  RemoveScratchDir(dir);
}

}  // namespace
}  // namespace iscsi_csi::reliability
