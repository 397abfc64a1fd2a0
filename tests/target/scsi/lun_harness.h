// Test harness for LogicalUnit: a sparse file under TempDir wrapped in the
// fault-injecting store, a worker pool, a LogicalUnit, a synchronous Run(),
// CDB builders and sense accessors. Test-only.
#ifndef ISCSI_CSI_TESTS_TARGET_SCSI_LUN_HARNESS_H_
#define ISCSI_CSI_TESTS_TARGET_SCSI_LUN_HARNESS_H_

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "target/backend/sparse_file.h"
#include "target/backend/worker_pool.h"
#include "target/scsi/byte_order.h"
#include "target/scsi/lun.h"
#include "tests/target/backend/fault_injecting_store.h"

namespace iscsi_csi::target::scsi::testing {

using Bytes = std::vector<uint8_t>;
using backend::FaultInjectingBlockStoreForTest;
using StoreOp = FaultInjectingBlockStoreForTest::Op;

// A unique path under the test temp dir.
inline std::string TempPath(const std::string& stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/", stem, "-", ::getpid(), "-", counter++);
}

struct Outcome {
  ScsiStatus status = ScsiStatus::kGood;
  Bytes sense;
  Bytes data_in;
};

struct HarnessOptions {
  uint32_t block_size = 512;
  uint64_t blocks = 4096;
  bool read_only = false;
  int threads = 2;
  std::shared_ptr<backend::WorkerPool> pool;  // made when null
  LogicalUnitConfig config;                   // block_size/read_only overridden
};

inline std::array<uint8_t, 16> TestWwn() {
  return {0x60, 0x01, 0x40, 0x50, 0x11, 0x22, 0x33, 0x44,
          0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc};
}

class LunHarness {
 public:
  explicit LunHarness(HarnessOptions options = {}) {
    path_ = TempPath("lun");
    auto file = backend::SparseFile::Open(path_, options.blocks * options.block_size);
    EXPECT_TRUE(file.ok()) << file.status();
    file_ = std::shared_ptr<backend::SparseFile>(std::move(*file));
    store_ = std::make_shared<FaultInjectingBlockStoreForTest>(file_);
    pool_ = options.pool != nullptr ? options.pool
                                    : std::make_shared<backend::WorkerPool>(options.threads);
    LogicalUnitConfig config = options.config;
    config.block_size = options.block_size;
    config.read_only = options.read_only;
    if (config.serial.empty()) config.serial = "SN0001";
    if (config.naa_wwn[0] == 0) config.naa_wwn = TestWwn();
    auto lun = LogicalUnit::Create(config, store_, pool_);
    EXPECT_TRUE(lun.ok()) << lun.status();
    lun_ = std::move(*lun);
  }
  ~LunHarness() {
    lun_.reset();
    ::unlink(path_.c_str());
  }

  LogicalUnit& lun() { return *lun_; }
  FaultInjectingBlockStoreForTest& store() { return *store_; }
  backend::SparseFile& file() { return *file_; }
  backend::WorkerPool& pool() { return *pool_; }
  const std::string& path() const { return path_; }
  uint32_t block_size() const { return lun_->block_size(); }

  std::shared_ptr<const ItNexus> Nexus(uint64_t id) {
    auto nexus = std::make_shared<ItNexus>();
    nexus->id = id;
    nexus->initiator_port_name = absl::StrCat("iqn.2026-01.test:init", id, ",i,0x1");
    return nexus;
  }

  // Runs one command synchronously.
  Outcome Run(Bytes cdb, Bytes data_out = {}, uint32_t expected_length = 1u << 24,
              uint64_t nexus_id = 1, TaskAttribute attribute = TaskAttribute::kSimple) {
    return RunOn(Nexus(nexus_id), std::move(cdb), std::move(data_out), expected_length,
                 attribute);
  }
  Outcome RunOn(std::shared_ptr<const ItNexus> nexus, Bytes cdb, Bytes data_out = {},
                uint32_t expected_length = 1u << 24,
                TaskAttribute attribute = TaskAttribute::kSimple) {
    ScsiTask task;
    task.nexus = std::move(nexus);
    EXPECT_TRUE(task.SetCdb(cdb));
    task.attribute = attribute;
    task.direction = data_out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    task.expected_transfer_length =
        data_out.empty() ? expected_length : static_cast<uint32_t>(data_out.size());
    task.data_out = std::move(data_out);
    absl::Notification done;
    int calls = 0;
    lun_->Submit(task, [&](ScsiTask&) {
      ++calls;
      done.Notify();
    });
    done.WaitForNotification();
    lun_->Drain();
    EXPECT_EQ(calls, 1);
    return Outcome{task.status, task.sense, task.data_in.ToVector()};
  }

  // Consumes the POWER ON/RESET unit attention of a fresh nexus.
  void ClearUnitAttention(uint64_t nexus_id = 1) {
    for (int i = 0; i < 8; ++i) {
      if (Run({0x00, 0, 0, 0, 0, 0}, {}, 0, nexus_id).status == ScsiStatus::kGood) return;
    }
    ADD_FAILURE() << "unit attention did not clear";
  }

 private:
  std::string path_;
  std::shared_ptr<backend::SparseFile> file_;
  std::shared_ptr<FaultInjectingBlockStoreForTest> store_;
  std::shared_ptr<backend::WorkerPool> pool_;
  std::unique_ptr<LogicalUnit> lun_;
};

// --- CDB builders -------------------------------------------------------------

inline Bytes Cdb6(uint8_t op, uint32_t lba, uint8_t length, uint8_t byte1_high = 0) {
  return {op, static_cast<uint8_t>(byte1_high | ((lba >> 16) & 0x1f)),
          static_cast<uint8_t>(lba >> 8), static_cast<uint8_t>(lba), length, 0};
}
inline Bytes Cdb10(uint8_t op, uint32_t lba, uint16_t length, uint8_t byte1 = 0) {
  Bytes cdb(10, 0);
  cdb[0] = op;
  cdb[1] = byte1;
  StoreBe32(&cdb[2], lba);
  StoreBe16(&cdb[7], length);
  return cdb;
}
inline Bytes Cdb12(uint8_t op, uint32_t lba, uint32_t length, uint8_t byte1 = 0) {
  Bytes cdb(12, 0);
  cdb[0] = op;
  cdb[1] = byte1;
  StoreBe32(&cdb[2], lba);
  StoreBe32(&cdb[6], length);
  return cdb;
}
inline Bytes Cdb16(uint8_t op, uint64_t lba, uint32_t length, uint8_t byte1 = 0) {
  Bytes cdb(16, 0);
  cdb[0] = op;
  cdb[1] = byte1;
  StoreBe64(&cdb[2], lba);
  StoreBe32(&cdb[10], length);
  return cdb;
}
inline Bytes Read10(uint32_t lba, uint16_t blocks, uint8_t byte1 = 0) {
  return Cdb10(0x28, lba, blocks, byte1);
}
inline Bytes Write10(uint32_t lba, uint16_t blocks, uint8_t byte1 = 0) {
  return Cdb10(0x2a, lba, blocks, byte1);
}
inline Bytes Read16(uint64_t lba, uint32_t blocks, uint8_t byte1 = 0) {
  return Cdb16(0x88, lba, blocks, byte1);
}
inline Bytes Write16(uint64_t lba, uint32_t blocks, uint8_t byte1 = 0) {
  return Cdb16(0x8a, lba, blocks, byte1);
}
inline Bytes Inquiry(bool evpd, uint8_t page, uint16_t allocation_length) {
  Bytes cdb = {0x12, static_cast<uint8_t>(evpd ? 1 : 0), page, 0, 0, 0};
  StoreBe16(&cdb[3], allocation_length);
  return cdb;
}
inline Bytes ModeSense6(uint8_t page, uint8_t subpage = 0, uint8_t allocation_length = 255,
                        bool dbd = false, uint8_t pc = 0) {
  return {0x1a, static_cast<uint8_t>(dbd ? 0x08 : 0), static_cast<uint8_t>((pc << 6) | page),
          subpage, allocation_length, 0};
}
inline Bytes ModeSense10(uint8_t page, uint8_t subpage = 0, uint16_t allocation_length = 1024,
                         bool dbd = false, bool llbaa = false, uint8_t pc = 0) {
  Bytes cdb(10, 0);
  cdb[0] = 0x5a;
  cdb[1] = static_cast<uint8_t>((dbd ? 0x08 : 0) | (llbaa ? 0x10 : 0));
  cdb[2] = static_cast<uint8_t>((pc << 6) | page);
  cdb[3] = subpage;
  StoreBe16(&cdb[7], allocation_length);
  return cdb;
}
inline Bytes ReadCapacity10() { return Bytes{0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}; }
inline Bytes ReadCapacity16(uint32_t allocation_length = 32) {
  Bytes cdb(16, 0);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  StoreBe32(&cdb[10], allocation_length);
  return cdb;
}
inline Bytes RequestSense(bool desc = false, uint8_t allocation_length = 252) {
  return {0x03, static_cast<uint8_t>(desc ? 1 : 0), 0, 0, allocation_length, 0};
}
inline Bytes ReportLuns(uint8_t select = 0, uint32_t allocation_length = 4096) {
  Bytes cdb(12, 0);
  cdb[0] = 0xa0;
  cdb[2] = select;
  StoreBe32(&cdb[6], allocation_length);
  return cdb;
}
inline Bytes Unmap(uint16_t parameter_list_length) {
  Bytes cdb(10, 0);
  cdb[0] = 0x42;
  StoreBe16(&cdb[7], parameter_list_length);
  return cdb;
}
inline Bytes UnmapList(std::initializer_list<std::pair<uint64_t, uint32_t>> extents) {
  Bytes list(8 + 16 * extents.size(), 0);
  StoreBe16(&list[0], static_cast<uint16_t>(list.size() - 2));
  StoreBe16(&list[2], static_cast<uint16_t>(16 * extents.size()));
  size_t at = 8;
  for (const auto& [lba, blocks] : extents) {
    StoreBe64(&list[at], lba);
    StoreBe32(&list[at + 8], blocks);
    at += 16;
  }
  return list;
}

// PERSISTENT RESERVE OUT with a 24-byte parameter list (SPC-4 6.14).
inline Bytes PrOutCdb(uint8_t service_action, uint8_t type = 0, uint32_t length = 24) {
  Bytes cdb(10, 0);
  cdb[0] = 0x5f;
  cdb[1] = service_action;
  cdb[2] = type;
  StoreBe32(&cdb[5], length);
  return cdb;
}
inline Bytes PrOutParameters(uint64_t key, uint64_t sa_key, bool aptpl = false,
                             uint8_t flags = 0) {
  Bytes list(24, 0);
  StoreBe64(&list[0], key);
  StoreBe64(&list[8], sa_key);
  list[20] = static_cast<uint8_t>(flags | (aptpl ? 0x01 : 0));
  return list;
}
inline Bytes PrInCdb(uint8_t service_action, uint16_t allocation_length = 1024) {
  Bytes cdb(10, 0);
  cdb[0] = 0x5e;
  cdb[1] = service_action;
  StoreBe16(&cdb[7], allocation_length);
  return cdb;
}
inline Bytes CompareAndWriteCdb(uint64_t lba, uint8_t blocks, uint8_t byte1 = 0) {
  Bytes cdb(16, 0);
  cdb[0] = 0x89;
  cdb[1] = byte1;
  StoreBe64(&cdb[2], lba);
  cdb[13] = blocks;
  return cdb;
}
inline Bytes ModeSelect6(uint8_t parameter_list_length, uint8_t byte1 = 0x10) {
  return {0x15, byte1, 0, 0, parameter_list_length, 0};
}
inline Bytes ModeSelect10(uint16_t parameter_list_length, uint8_t byte1 = 0x10) {
  Bytes cdb(10, 0);
  cdb[0] = 0x55;
  cdb[1] = byte1;
  StoreBe16(&cdb[7], parameter_list_length);
  return cdb;
}

inline Bytes Pattern(size_t size, uint8_t seed) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return out;
}

// --- sense accessors (fixed or descriptor format) -------------------------------

inline uint8_t SenseKeyOf(const Bytes& s) {
  if (s.empty()) return 0xff;
  return (s[0] & 0x7f) == 0x72 ? (s[1] & 0x0f) : (s.size() > 2 ? (s[2] & 0x0f) : 0xff);
}
inline uint8_t AscOf(const Bytes& s) {
  if (s.empty()) return 0xff;
  return (s[0] & 0x7f) == 0x72 ? s[2] : (s.size() > 12 ? s[12] : 0xff);
}
inline uint8_t AscqOf(const Bytes& s) {
  if (s.empty()) return 0xff;
  return (s[0] & 0x7f) == 0x72 ? s[3] : (s.size() > 13 ? s[13] : 0xff);
}

// EXPECT_CHECK_CONDITION(outcome, key, asc, ascq)
#define EXPECT_CHECK_CONDITION(outcome, key, asc, ascq)                        \
  do {                                                                         \
    const auto& o_ = (outcome);                                                \
    EXPECT_EQ(o_.status, ::iscsi_csi::target::scsi::ScsiStatus::kCheckCondition); \
    EXPECT_EQ(::iscsi_csi::target::scsi::testing::SenseKeyOf(o_.sense), (key)); \
    EXPECT_EQ(::iscsi_csi::target::scsi::testing::AscOf(o_.sense), (asc));      \
    EXPECT_EQ(::iscsi_csi::target::scsi::testing::AscqOf(o_.sense), (ascq));    \
  } while (0)

}  // namespace iscsi_csi::target::scsi::testing

#endif  // ISCSI_CSI_TESTS_TARGET_SCSI_LUN_HARNESS_H_
