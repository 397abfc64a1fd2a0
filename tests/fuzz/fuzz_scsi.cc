// fuzz_scsi: libFuzzer harness for the SCSI logical unit (target/scsi): the CDB dispatcher
// (cdb.h), SPC and SBC commands with their parameter lists (UNMAP block descriptors,
// PERSISTENT RESERVE OUT lists, MODE SELECT headers, block descriptors and pages, COMPARE
// AND WRITE, WRITE SAME, ...) and task management, on a LogicalUnit over a tiny sparse file.
// Every input gets a fresh file and LogicalUnit, so an input always replays the same way;
// commands run one at a time (the concurrent mix is lun_fuzz_test's job).
//
// Input: one configuration byte (bit 0 4096-byte blocks, bit 1 read-only, bit 2 descriptor
// sense, bit 3 TAS), then records until the input ends:
//   flags  bits 0-1 nexus 1..4, bits 2-3 task attribute, bit 4 unused, bit 5 abort requested
//          before submission, bit 6 data-out direction, bit 7: a management operation
//          instead of a command (one more byte selects it and its argument)
//   cdb    one length byte (1 + n % 32, or 260 for 255), then the CDB
//   data   big-endian 16-bit data-out length (at most 8192), then the data-out bytes
//   length big-endian 16-bit expected data transfer length
// Checked for every command: one completion, sense present exactly with CHECK CONDITION and
// in fixed or descriptor format, no more data-in than expected.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "target/backend/sparse_file.h"
#include "target/backend/worker_pool.h"
#include "target/scsi/lun.h"
#include "tests/fuzz/fuzz_input.h"

namespace iscsi_csi::target::scsi {
namespace {

constexpr uint64_t kBlocks = 64;
constexpr uint64_t kMaxBlocks = 256;
constexpr size_t kMaxDataOut = 8192;

std::shared_ptr<backend::WorkerPool> Pool() {
  static auto* pool =
      new std::shared_ptr<backend::WorkerPool>(std::make_shared<backend::WorkerPool>(1));
  return *pool;
}

const std::string& BackingPath() {
  static const std::string* path = [] {
    const char* dir = std::getenv("TMPDIR");
    return new std::string(
        absl::StrCat(dir != nullptr ? dir : "/tmp", "/fuzz_scsi-", ::getpid(), ".img"));
  }();
  return *path;
}

std::shared_ptr<const ItNexus> MakeNexus(uint64_t id) {
  auto nexus = std::make_shared<ItNexus>();
  nexus->id = id;
  nexus->initiator_port_name = absl::StrCat("iqn.2026-01.example:init", id, ",i,0x1");
  auto target_port = std::make_shared<TargetPortIdentity>();
  target_port->protocol_identifier = 5;
  target_port->target_port_name = "iqn.2026-01.example:target,t,0x1";
  target_port->target_device_name = "iqn.2026-01.example:target";
  nexus->target_port = std::move(target_port);
  auto luns = std::make_shared<std::vector<uint64_t>>();
  luns->push_back(0);
  if (id % 2 == 0) luns->push_back(uint64_t{1} << 48);
  nexus->reported_luns = std::move(luns);
  return nexus;
}

void Manage(LogicalUnit& lun, uint8_t op) {
  const uint64_t nexus_id = 1 + (op >> 3) % 4;
  switch (op & 0x07) {
    case 0:
      lun.AbortTaskSet(nexus_id);
      break;
    case 1:
      lun.ClearTaskSet();
      break;
    case 2:
      lun.Reset();
      break;
    case 3:
      lun.RemoveNexus(nexus_id);
      break;
    case 4:
      lun.AddUnitAttention(std::nullopt, SenseReason::kReportedLunsDataHasChanged);
      break;
    case 5:
      lun.AddUnitAttention(nexus_id, SenseReason::kCapacityDataHasChanged);
      break;
    case 6:
      lun.SetDescriptorSense((op & 0x80) != 0);
      break;
    default:
      if (lun.capacity_blocks() + 8 <= kMaxBlocks) {
        (void)lun.Resize((lun.capacity_blocks() + 8) * lun.block_size());
      }
      break;
  }
}

void RunCommand(LogicalUnit& lun, uint8_t flags, iscsi_csi::fuzz::FuzzInput& in,
                const std::shared_ptr<const ItNexus> nexuses[4]) {
  const uint8_t length_byte = in.Byte();
  const size_t cdb_length = length_byte == 255 ? kMaxCdbLength : 1 + length_byte % 32;
  const absl::Span<const uint8_t> cdb = in.Bytes(cdb_length);
  const size_t data_length = std::min<size_t>(in.Be16(), kMaxDataOut);
  const absl::Span<const uint8_t> data = in.Bytes(data_length);
  const uint32_t expected = in.Be16();

  ScsiTask task;
  if (!task.SetCdb(cdb)) return;  // empty at the end of the input
  task.nexus = nexuses[flags & 0x03];
  task.attribute = static_cast<TaskAttribute>((flags >> 2) & 0x03);  // the four SAM values
  task.direction = (flags & 0x40) != 0 ? DataDirection::kWrite : DataDirection::kRead;
  task.expected_transfer_length = expected;
  task.data_out.assign(data.begin(), data.end());
  if ((flags & 0x20) != 0) task.RequestAbort();

  absl::Notification done;
  int completions = 0;
  lun.Submit(task, [&](ScsiTask&) {
    ++completions;
    done.Notify();
  });
  done.WaitForNotification();
  lun.Drain();
  if (completions != 1) std::abort();
  const bool check = task.status == ScsiStatus::kCheckCondition;
  if (check) {
    if (task.sense.size() < 8) std::abort();
    const uint8_t code = task.sense[0] & 0x7f;
    if (code != 0x70 && code != 0x72) std::abort();
  } else if (!task.sense.empty()) {
    std::abort();
  }
  if (task.data_in.size() > expected) std::abort();
  if (iscsi_csi::fuzz::Verbose()) {
    const bool fixed = check && (task.sense[0] & 0x7f) == 0x70;
    std::fprintf(stderr, "cdb %02x: status %02x sense %02x/%02x/%02x data-in %zu\n", cdb[0],
                 static_cast<unsigned>(task.status),
                 check ? (fixed ? task.sense[2] & 0x0f : task.sense[1] & 0x0f) : 0,
                 check ? (fixed ? task.sense[12] : task.sense[2]) : 0,
                 check ? (fixed ? task.sense[13] : task.sense[3]) : 0, task.data_in.size());
  }
}

}  // namespace
}  // namespace iscsi_csi::target::scsi

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace iscsi_csi::target;        // NOLINT: harness
  using namespace iscsi_csi::target::scsi;  // NOLINT: harness
  iscsi_csi::fuzz::FuzzInput in(bytes, size);
  const uint8_t config_bits = in.Byte();

  LogicalUnitConfig config;
  config.block_size = (config_bits & 0x01) != 0 ? 4096 : 512;
  config.read_only = (config_bits & 0x02) != 0;
  config.descriptor_sense = (config_bits & 0x04) != 0;
  config.task_aborted_status = (config_bits & 0x08) != 0;
  config.serial = "FUZZ0001";
  config.naa_wwn = {0x60, 0x01, 0x40, 0x50, 0x11, 0x22, 0x33, 0x44,
                    0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc};
  config.transport_version_descriptor = 0x0960;
  config.max_transfer_bytes = 64 << 10;
  config.max_write_same_bytes = 64 << 10;
  config.max_unmap_descriptors = 8;
  config.max_compare_and_write_blocks = 4;
  config.max_tasks = 4;

  const std::string& path = BackingPath();
  ::unlink(path.c_str());
  absl::StatusOr<std::unique_ptr<backend::SparseFile>> file =
      backend::SparseFile::Open(path, kBlocks * config.block_size);
  if (!file.ok()) std::abort();
  absl::StatusOr<std::unique_ptr<LogicalUnit>> lun =
      LogicalUnit::Create(config, std::shared_ptr<backend::BlockStore>(std::move(*file)), Pool());
  if (!lun.ok()) std::abort();

  const std::shared_ptr<const ItNexus> nexuses[4] = {MakeNexus(1), MakeNexus(2), MakeNexus(3),
                                                     MakeNexus(4)};
  while (!in.empty()) {
    const uint8_t flags = in.Byte();
    if ((flags & 0x80) != 0) {
      Manage(**lun, in.Byte());
    } else {
      RunCommand(**lun, flags, in, nexuses);
    }
  }
  lun->reset();
  ::unlink(path.c_str());
  return 0;
}
