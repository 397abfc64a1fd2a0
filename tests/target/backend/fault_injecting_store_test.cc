// Tests for the test-only FaultInjectingBlockStoreForTest decorator.
#include "tests/target/backend/fault_injecting_store.h"

#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "target/backend/sparse_file.h"

namespace iscsi_csi::target::backend {
namespace {

using Op = FaultInjectingBlockStoreForTest::Op;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/fault-", ::getpid());
    auto file = SparseFile::Open(path_, 1 << 20);
    ASSERT_TRUE(file.ok());
    store_ = std::make_unique<FaultInjectingBlockStoreForTest>(
        std::shared_ptr<BlockStore>(std::move(*file)));
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  std::string path_;
  std::unique_ptr<FaultInjectingBlockStoreForTest> store_;
};

TEST_F(FaultInjectingStoreTest, CountsFlushesAndFuaWrites) {
  std::vector<uint8_t> data(512, 1);
  ASSERT_TRUE(store_->Write(0, data, true).ok());
  ASSERT_TRUE(store_->Write(0, data, false).ok());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->count(Op::kWrite), 2);
  EXPECT_EQ(store_->fua_writes(), 1);
  EXPECT_EQ(store_->durable_calls(), 2);
}

TEST_F(FaultInjectingStoreTest, InjectedFaultCarriesErrnoUntilCleared) {
  store_->FailWith(Op::kWrite, ENOSPC);
  std::vector<uint8_t> data(512, 1);
  const absl::Status status = store_->Write(0, data, false);
  EXPECT_EQ(ErrnoFromStatus(status), ENOSPC);
  store_->ClearFaults();
  EXPECT_TRUE(store_->Write(0, data, false).ok());
}

TEST_F(FaultInjectingStoreTest, HeldOperationsWaitForRelease) {
  store_->HoldIo();
  std::thread flusher([&] { EXPECT_TRUE(store_->Flush().ok()); });
  store_->WaitForHeld(1);
  store_->ReleaseIo();
  flusher.join();
  EXPECT_EQ(store_->count(Op::kFlush), 1);
}

}  // namespace
}  // namespace iscsi_csi::target::backend
