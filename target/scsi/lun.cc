// LogicalUnit: task intake, unit attentions, task-attribute ordering, I/O on
// the worker pool and task management (see lun.h for the contracts).
//
// Life of a task: Submit registers it (or answers TASK SET FULL), Prepare
// checks unit attentions (SPC-4 5.14), parses the CDB and checks the payload
// (nothing has been touched yet), the ordering gate starts it or parks it in
// delayed_, Launch runs it inline (quick commands) or on the pool (I/O),
// and Finish releases the gate, calls the completion, and only then counts
// the task out (so Drain and the TMFs return after the callbacks did).
#include "target/scsi/lun.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "target/backend/atomic_file.h"
#include "target/scsi/lun_address.h"
#include "target/scsi/opcodes.h"
#include "target/scsi/spc.h"

namespace iscsi_csi::target::scsi {

struct LogicalUnit::TaskContext {
  enum class Gate : uint8_t { kNotStarted, kSimple, kOrdered };

  ScsiTask* task = nullptr;
  TaskCompletion done;
  uint64_t nexus_id = 0;
  uint64_t seq = 0;  // arrival number (under mu_): task management waits by it
  PreparedCommand command;
  std::vector<UnmapExtent> unmap_extents;
  Gate gate = Gate::kNotStarted;  // guarded by mu_
  // Set (under mu_) once the task is queued on the worker pool. From then
  // on exactly one of the worker and an aborting TMF wins `claimed`; the
  // loser must not touch the context again.
  bool queued_on_pool = false;
  std::shared_ptr<std::atomic<bool>> claimed = std::make_shared<std::atomic<bool>>(false);
};

namespace {

constexpr size_t kMaxPendingUnitAttentions = 16;
constexpr size_t kMaxReservationFileBytes = 1 << 20;

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// The device never returns more than the allocation length or the expected
// transfer length (SPC-4 4.2.5.6); the transport computes the residual.
void SetDataIn(ScsiTask& task, std::vector<uint8_t> data, uint32_t allocation_length) {
  const size_t limit = std::min<size_t>(allocation_length, task.expected_transfer_length);
  if (data.size() > limit) data.resize(limit);
  task.data_in = std::move(data);
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogicalUnit>> LogicalUnit::Create(
    LogicalUnitConfig config, std::shared_ptr<backend::BlockStore> store,
    std::shared_ptr<backend::WorkerPool> pool) {
  if (store == nullptr || pool == nullptr) {
    return absl::InvalidArgumentError("create lun: store and pool are required");
  }
  if (config.block_size != 512 && config.block_size != 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("create lun: block size ", config.block_size, " is not 512 or 4096"));
  }
  if ((config.naa_wwn[0] >> 4) != 6) {
    return absl::InvalidArgumentError("create lun: wwn is not an NAA 6 designator");
  }
  if (config.serial.empty() || config.serial.size() > 252 ||
      !IsPrintableAscii(config.serial)) {
    return absl::InvalidArgumentError("create lun: serial must be 1..252 printable ascii");
  }
  if (config.vendor.size() > 8 || config.product.size() > 16 ||
      config.revision.size() > 4 || !IsPrintableAscii(config.vendor) ||
      !IsPrintableAscii(config.product) || !IsPrintableAscii(config.revision)) {
    return absl::InvalidArgumentError(
        "create lun: vendor/product/revision must be printable ascii of 8/16/4 chars");
  }
  if (config.max_transfer_bytes < config.block_size ||
      config.max_write_same_bytes < config.block_size || config.max_tasks == 0 ||
      config.max_unmap_descriptors == 0) {
    return absl::InvalidArgumentError("create lun: limits must allow one block and one task");
  }
  if (config.max_compare_and_write_blocks == 0 || config.max_compare_and_write_blocks > 255 ||
      uint64_t{config.max_compare_and_write_blocks} * config.block_size >
          config.max_transfer_bytes) {
    return absl::InvalidArgumentError(
        "create lun: max compare and write length must be 1..255 blocks within the transfer "
        "limit");
  }
  Reservations reservations;
  if (!config.persistent_reservation_path.empty()) {
    absl::StatusOr<std::optional<std::vector<uint8_t>>> saved = backend::ReadSmallFile(
        config.persistent_reservation_path, kMaxReservationFileBytes);
    if (!saved.ok()) return saved.status();
    if (saved->has_value()) {
      absl::StatusOr<Reservations> loaded = Reservations::DecodeFromPersistence(**saved);
      if (!loaded.ok()) {
        return absl::DataLossError(absl::StrCat("create lun: ", config.persistent_reservation_path,
                                                ": ", loaded.status().message()));
      }
      reservations = std::move(*loaded);
    }
  }
  return std::unique_ptr<LogicalUnit>(new LogicalUnit(std::move(config), std::move(store),
                                                      std::move(pool), std::move(reservations)));
}

LogicalUnit::LogicalUnit(LogicalUnitConfig config,
                         std::shared_ptr<backend::BlockStore> store,
                         std::shared_ptr<backend::WorkerPool> pool, Reservations reservations)
    : config_(std::move(config)),
      store_(std::move(store)),
      pool_(std::move(pool)),
      capacity_blocks_(store_->Size() / config_.block_size),
      descriptor_sense_(config_.descriptor_sense),
      reservations_(std::move(reservations)) {}

LogicalUnit::~LogicalUnit() { Drain(); }

UnitInfo LogicalUnit::Info() const {
  UnitInfo info;
  info.vendor = config_.vendor;
  info.product = config_.product;
  info.revision = config_.revision;
  info.serial = config_.serial;
  info.naa_wwn = config_.naa_wwn;
  info.transport_version_descriptor = config_.transport_version_descriptor;
  info.block_size = config_.block_size;
  info.capacity_blocks = capacity_blocks();
  info.read_only = config_.read_only;
  info.max_transfer_blocks = config_.max_transfer_bytes / config_.block_size;
  info.optimal_transfer_blocks = 0;
  // At most 0xFFFF blocks, the largest WRITE SAME(10) can ask for, so one
  // limit serves both CDB sizes (and hosts never split on a 4-byte length).
  info.max_write_same_blocks =
      std::min<uint32_t>(config_.max_write_same_bytes / config_.block_size, 0xFFFF);
  info.max_unmap_lba_count = 0xffffffffu;  // hole punching costs the same at any size
  info.max_unmap_descriptors = config_.max_unmap_descriptors;
  info.optimal_unmap_granularity = std::max<uint32_t>(1, 4096 / config_.block_size);
  info.max_compare_and_write_blocks = config_.max_compare_and_write_blocks;
  info.descriptor_sense = descriptor_sense_.load(std::memory_order_relaxed);
  info.task_aborted_status = config_.task_aborted_status;
  info.write_cache_enabled = write_cache_enabled_.load(std::memory_order_relaxed);
  info.default_descriptor_sense = config_.descriptor_sense;
  return info;
}

SenseFormat LogicalUnit::CurrentSenseFormat() const {
  return descriptor_sense_.load(std::memory_order_relaxed) ? SenseFormat::kDescriptor
                                                           : SenseFormat::kFixed;
}

void LogicalUnit::SetDescriptorSense(bool enabled) {
  descriptor_sense_.store(enabled, std::memory_order_relaxed);
}

LogicalUnit::NexusState& LogicalUnit::NexusFor(uint64_t nexus_id) {
  auto [it, inserted] = nexuses_.try_emplace(nexus_id);
  // A new I_T nexus starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
  // (SAM-5 6.3.x: the nexus sees the logical unit for the first time).
  if (inserted) it->second.unit_attentions.push_back(SenseReason::kPowerOnResetOccurred);
  return it->second;
}

PrNexus LogicalUnit::IdentityOf(const ScsiTask& task) {
  PrNexus identity;
  if (task.nexus == nullptr) return identity;
  identity.initiator_port = task.nexus->initiator_port_name;
  if (task.nexus->target_port != nullptr) {
    identity.target_port = task.nexus->target_port->target_port_name;
    identity.relative_target_port_id = task.nexus->target_port->relative_target_port_id;
    identity.protocol_identifier = task.nexus->target_port->protocol_identifier;
  }
  return identity;
}

void LogicalUnit::AddUnitAttentionFor(const PrNexus& identity, SenseReason reason) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, nexus] : nexuses_) {
    if (nexus.identity == identity) PushUnitAttention(nexus, reason);
  }
}

void LogicalUnit::PushUnitAttention(NexusState& nexus, SenseReason reason) {
  auto& queue = nexus.unit_attentions;
  if (reason == SenseReason::kPowerOnResetOccurred) {
    // A reset supersedes whatever was pending.
    queue.clear();
    queue.push_back(reason);
    return;
  }
  if (std::find(queue.begin(), queue.end(), reason) != queue.end()) return;
  if (queue.size() >= kMaxPendingUnitAttentions) return;
  queue.push_back(reason);
}

void LogicalUnit::AddUnitAttention(std::optional<uint64_t> nexus_id, SenseReason reason) {
  if (!IsUnitAttention(reason)) {
    LOG(ERROR) << "AddUnitAttention: " << SenseReasonName(reason)
               << " is not a unit attention; ignored";
    return;
  }
  absl::MutexLock lock(&mu_);
  if (nexus_id.has_value()) {
    PushUnitAttention(NexusFor(*nexus_id), reason);
    return;
  }
  for (auto& [id, nexus] : nexuses_) PushUnitAttention(nexus, reason);
}

absl::Status LogicalUnit::Resize(uint64_t new_bytes) {
  if (new_bytes % config_.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resize lun ", config_.serial, ": ", new_bytes, " bytes is not a multiple of ",
        config_.block_size));
  }
  absl::MutexLock resize_lock(&resize_mu_);
  const uint64_t old_blocks = capacity_blocks();
  if (absl::Status status = store_->Resize(new_bytes); !status.ok()) return status;
  const uint64_t new_blocks = new_bytes / config_.block_size;
  capacity_blocks_.store(new_blocks, std::memory_order_release);
  if (new_blocks != old_blocks) {
    AddUnitAttention(std::nullopt, SenseReason::kCapacityDataHasChanged);
  }
  return absl::OkStatus();
}

// --- intake -----------------------------------------------------------------

void LogicalUnit::Submit(ScsiTask& task, TaskCompletion done) {
  task.status = ScsiStatus::kGood;
  task.sense.clear();
  task.data_in.clear();

  auto owned = std::make_unique<TaskContext>();
  TaskContext* ctx = owned.get();
  ctx->task = &task;
  ctx->done = std::move(done);
  ctx->nexus_id = task.nexus != nullptr ? task.nexus->id : 0;
  {
    absl::MutexLock lock(&mu_);
    if (in_flight_ < config_.max_tasks) {
      ++in_flight_;
      ctx->seq = ++last_seq_;
      NexusState& nexus = NexusFor(ctx->nexus_id);
      if (task.nexus != nullptr && nexus.identity.initiator_port.empty()) {
        nexus.identity = IdentityOf(task);
      }
      live_.emplace(ctx, std::move(owned));
    }
  }
  if (owned != nullptr) {
    // Not registered: the task set is full (SAM-5 5.3.1).
    task.status = ScsiStatus::kTaskSetFull;
    std::move(owned->done)(task);
    return;
  }
  if (!Prepare(ctx)) return;

  std::optional<StartOrder> start;
  {
    absl::MutexLock lock(&mu_);
    const bool head = task.attribute == TaskAttribute::kHeadOfQueue;
    if (CanStart(*ctx) && (head || delayed_.empty())) {
      start = PlanStart(*ctx, /*allow_inline=*/true);
    } else {
      delayed_.push_back(ctx);
    }
  }
  if (start.has_value()) Launch(*start);
}

bool LogicalUnit::Prepare(TaskContext* ctx) {
  ScsiTask& task = *ctx->task;
  if (task.abort_requested()) {
    CompleteWithStatus(ctx, ScsiStatus::kTaskAborted);
    return false;
  }
  const absl::Span<const uint8_t> cdb = task.cdb();
  if (cdb.empty()) {
    CompleteWithCheckCondition(ctx, CheckCondition::Of(SenseReason::kInvalidCommandOperationCode));
    return false;
  }
  // SPC-4 5.14 (unit attention): INQUIRY, REPORT LUNS and REQUEST SENSE run
  // with a unit attention pending; anything else reports the oldest one.
  const auto op = static_cast<ScsiOp>(cdb[0]);
  if (op != ScsiOp::kInquiry && op != ScsiOp::kReportLuns && op != ScsiOp::kRequestSense) {
    std::optional<SenseReason> pending;
    {
      absl::MutexLock lock(&mu_);
      auto& queue = NexusFor(ctx->nexus_id).unit_attentions;
      if (!queue.empty()) {
        pending = queue.front();
        queue.pop_front();
      }
    }
    if (pending.has_value()) {
      CompleteWithCheckCondition(ctx, CheckCondition::Of(*pending));
      return false;
    }
  }

  const UnitInfo info = Info();
  const CdbLimits limits{info.capacity_blocks, info.max_transfer_blocks,
                         info.max_write_same_blocks, info.max_compare_and_write_blocks};
  CdbParseResult parsed = ParseCdb(cdb, limits);
  if (const auto* condition = std::get_if<CheckCondition>(&parsed)) {
    CompleteWithCheckCondition(ctx, *condition);
    return false;
  }
  ctx->command = std::get<PreparedCommand>(parsed);
  if (config_.read_only && ctx->command.ModifiesMedium()) {
    CompleteWithCheckCondition(ctx, CheckCondition::Of(SenseReason::kWriteProtected));
    return false;
  }
  // Payload checks, still before any I/O.
  if (ctx->command.kind == CommandKind::kUnmap) {
    UnmapParseResult extents = ParseUnmapParameters(ctx->command, task.data_out, info);
    if (const auto* condition = std::get_if<CheckCondition>(&extents)) {
      CompleteWithCheckCondition(ctx, *condition);
      return false;
    }
    ctx->unmap_extents = std::move(std::get<std::vector<UnmapExtent>>(extents));
  }
  if (auto condition = CheckDataOut(ctx->command, task.data_out.size(), config_.block_size)) {
    CompleteWithCheckCondition(ctx, *condition);
    return false;
  }
  return true;
}

// --- ordering gate (SAM-5 8.6) ----------------------------------------------

bool LogicalUnit::CanStart(const TaskContext& ctx) const {
  switch (ctx.task->attribute) {
    case TaskAttribute::kHeadOfQueue:
      return true;
    case TaskAttribute::kOrdered:
      return running_simple_ == 0 && running_ordered_ == 0;
    case TaskAttribute::kSimple:
    case TaskAttribute::kAca:
      return running_ordered_ == 0;
  }
  // Not a value the transports produce; treated as SIMPLE (as PlanStart does) so that it
  // can never wait for ever and hang Drain.
  return running_ordered_ == 0;
}

LogicalUnit::StartOrder LogicalUnit::PlanStart(TaskContext& ctx, bool allow_inline) {
  if (ctx.task->attribute == TaskAttribute::kOrdered) {
    ctx.gate = TaskContext::Gate::kOrdered;
    ++running_ordered_;
  } else {
    ctx.gate = TaskContext::Gate::kSimple;
    ++running_simple_;
  }
  if (allow_inline && (!ctx.command.UsesBackingStore() || InlineCandidate(ctx))) {
    return StartOrder{&ctx, nullptr};
  }
  ctx.queued_on_pool = true;
  return StartOrder{&ctx, ctx.claimed};
}

bool LogicalUnit::InlineCandidate(const TaskContext& ctx) const {
  const PreparedCommand& command = ctx.command;
  if (command.kind != CommandKind::kRead && command.kind != CommandKind::kWrite) return false;
  return uint64_t{command.blocks} * config_.block_size <= config_.inline_io_max_bytes;
}

void LogicalUnit::CollectStartable(std::vector<StartOrder>& out) {
  while (!delayed_.empty() && CanStart(*delayed_.front())) {
    TaskContext* next = delayed_.front();
    delayed_.pop_front();
    out.push_back(PlanStart(*next, /*allow_inline=*/false));
  }
}

// --- execution --------------------------------------------------------------

void LogicalUnit::Launch(const StartOrder& order) {
  TaskContext* ctx = order.ctx;
  if (order.claimed == nullptr) {  // inline; no TMF can complete it under us
    if (ctx->task->abort_requested()) {
      CompleteWithStatus(ctx, ScsiStatus::kTaskAborted);
    } else if (CompleteIfReservationConflict(ctx)) {
    } else if (!ctx->command.UsesBackingStore()) {
      ExecuteQuick(ctx);
    } else if (!TryExecuteWithoutWaiting(ctx)) {
      // The store would wait (not cached, FUA on a disk file, ...): hand it to the pool,
      // from where a TMF may complete it like any queued task.
      std::shared_ptr<std::atomic<bool>> claimed;
      {
        absl::MutexLock lock(&mu_);
        ctx->queued_on_pool = true;
        claimed = ctx->claimed;
      }
      Schedule(ctx, std::move(claimed));
    }
    return;
  }
  Schedule(ctx, order.claimed);
}

void LogicalUnit::Schedule(TaskContext* ctx, std::shared_ptr<std::atomic<bool>> claimed) {
  // `ctx` may already be completed by an aborting TMF: do not touch it here.
  pool_->Schedule([this, ctx, claimed = std::move(claimed)] {
    if (claimed->exchange(true)) return;  // a TMF completed it
    RunOnWorker(ctx);
  });
}

bool LogicalUnit::TryExecuteWithoutWaiting(TaskContext* ctx) {
  ScsiTask& task = *ctx->task;
  PreparedCommand command = ctx->command;
  if (!write_cache_enabled()) command.fua = true;  // WCE=0, as RunBlockCommand
  RangeLock::Guard guard;
  if (!range_lock_.TryLock(command.lba, command.blocks, /*exclusive=*/false, &guard)) {
    return false;
  }
  std::optional<BlockResult> result =
      command.kind == CommandKind::kRead
          ? TryExecuteRead(*store_, command, config_.block_size, task.expected_transfer_length,
                           task.data_in)
          : TryExecuteWrite(*store_, command, config_.block_size, task.data_out);
  if (!result.has_value()) return false;
  guard = RangeLock::Guard();  // released before the completion, as on the pool
  if (result->has_value()) {
    task.data_in.clear();
    CompleteWithCheckCondition(ctx, **result);
  } else {
    Finish(ctx);
  }
  return true;
}

void LogicalUnit::RunOnWorker(TaskContext* ctx) {
  // The cancellation point: nothing of this task has touched the store yet.
  if (ctx->task->abort_requested()) {
    CompleteWithStatus(ctx, ScsiStatus::kTaskAborted);
    return;
  }
  if (CompleteIfReservationConflict(ctx)) return;
  if (ctx->command.UsesBackingStore()) {
    ExecuteBlock(ctx);
  } else {
    ExecuteQuick(ctx);
  }
}

void LogicalUnit::ExecuteQuick(TaskContext* ctx) {
  ScsiTask& task = *ctx->task;
  const PreparedCommand& command = ctx->command;
  const UnitInfo info = Info();
  DataOrCheckCondition result = std::vector<uint8_t>{};
  switch (command.kind) {
    case CommandKind::kTestUnitReady:
      break;
    case CommandKind::kInquiry:
      if (!command.evpd) {
        result = EncodeStandardInquiry(info);
      } else {
        const TargetPortIdentity* port =
            task.nexus != nullptr ? task.nexus->target_port.get() : nullptr;
        result = EncodeVpdPage(command.page_code, info, port);
      }
      break;
    case CommandKind::kModeSense:
      result = EncodeModeSense(command, info);
      break;
    case CommandKind::kReadCapacity10:
      result = EncodeReadCapacity10(info);
      break;
    case CommandKind::kReadCapacity16:
      result = EncodeReadCapacity16(info);
      break;
    case CommandKind::kRequestSense: {
      // SPC-4 5.14 / 6.39: a pending unit attention is returned as the
      // parameter data (status GOOD) and cleared; otherwise NO SENSE.
      std::optional<SenseReason> pending;
      {
        absl::MutexLock lock(&mu_);
        auto& queue = NexusFor(ctx->nexus_id).unit_attentions;
        if (!queue.empty()) {
          pending = queue.front();
          queue.pop_front();
        }
      }
      result = EncodeSense(CheckCondition::Of(pending.value_or(SenseReason::kNoSense)),
                           command.desc ? SenseFormat::kDescriptor : SenseFormat::kFixed);
      break;
    }
    case CommandKind::kPrefetch:
      // SBC-3 5.10: there is no device cache to fill (reads go through the
      // host page cache), so the blocks are not promised to be cached: GOOD
      // rather than CONDITION MET, after the range check in ParseCdb.
      break;
    case CommandKind::kStartStopUnit:
      // Power conditions are accepted and change nothing: the medium is
      // always ready (SBC-3 5.25).
      break;
    case CommandKind::kReportSupportedOpcodes: {
      auto encoded = EncodeReportSupportedOpcodes(command);
      if (auto* data = std::get_if<std::vector<uint8_t>>(&encoded)) {
        result = std::move(*data);
      } else {
        result = std::get<CheckCondition>(encoded);
      }
      break;
    }
    case CommandKind::kReportSupportedTmfs:
      result = EncodeReportSupportedTmfs(command);
      break;
    case CommandKind::kLogSense:
      result = EncodeLogSense(command);
      break;
    case CommandKind::kModeSelect:
      if (auto condition = ExecuteModeSelect(ctx)) result = *condition;
      break;
    case CommandKind::kReserve6:
    case CommandKind::kRelease6:
      ExecuteReserveRelease(ctx);
      return;
    case CommandKind::kPersistentReserveIn: {
      PrInResult in;
      {
        absl::MutexLock lock(&pr_mu_);
        in = reservations_.PersistentReserveIn(command);
      }
      if (in.check.has_value()) {
        result = *in.check;
      } else {
        result = std::move(in.data);
      }
      break;
    }
    case CommandKind::kReportLuns: {
      std::vector<uint64_t> luns;
      if (command.select_report != 0x01) {  // 01h: well-known LUs only; we have none
        if (task.nexus != nullptr && task.nexus->reported_luns != nullptr) {
          luns = *task.nexus->reported_luns;
        } else {
          luns.push_back(*EncodeLun(0));
        }
      }
      {
        // SPC-4 5.14: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED.
        absl::MutexLock lock(&mu_);
        auto& queue = NexusFor(ctx->nexus_id).unit_attentions;
        queue.erase(std::remove(queue.begin(), queue.end(),
                                SenseReason::kReportedLunsDataHasChanged),
                    queue.end());
      }
      result = EncodeReportLunsData(luns);
      break;
    }
    default:
      // Block commands never get here (UsesBackingStore); keep the invariant
      // visible without trusting the network.
      result = CheckCondition::Of(SenseReason::kInternalTargetFailure);
      break;
  }
  if (const auto* condition = std::get_if<CheckCondition>(&result)) {
    CompleteWithCheckCondition(ctx, *condition);
    return;
  }
  SetDataIn(task, std::move(std::get<std::vector<uint8_t>>(result)),
            command.allocation_length);
  Finish(ctx);
}

void LogicalUnit::ExecuteBlock(TaskContext* ctx) {
  if (ctx->command.kind == CommandKind::kPersistentReserveOut) {
    ExecutePersistentReserveOut(ctx);
    return;
  }
  if (ctx->command.kind == CommandKind::kModeSelect) {
    ExecuteQuick(ctx);  // on the pool: it may flush
    return;
  }
  if (std::optional<CheckCondition> condition = RunBlockCommand(ctx)) {
    CompleteWithCheckCondition(ctx, *condition);
    return;
  }
  Finish(ctx);
}

std::optional<CheckCondition> LogicalUnit::RunBlockCommand(TaskContext* ctx) {
  ScsiTask& task = *ctx->task;
  PreparedCommand command = ctx->command;
  const uint32_t block_size = config_.block_size;
  // WCE=0 (MODE SELECT): every write is durable before its status.
  const bool write_through = !write_cache_enabled();
  if (write_through) command.fua = true;

  // Range lock: exclusive for the read-modify-writes (COMPARE AND WRITE,
  // ORWRITE), shared for the rest.
  RangeLock::Guard guard;
  switch (command.kind) {
    case CommandKind::kCompareAndWrite:
    case CommandKind::kOrWrite:
      guard = range_lock_.Lock(command.lba, command.blocks, /*exclusive=*/true);
      break;
    case CommandKind::kRead:
    case CommandKind::kWrite:
    case CommandKind::kWriteAndVerify:
    case CommandKind::kVerify:
    case CommandKind::kWriteSame:
      guard = range_lock_.Lock(command.lba, command.blocks, /*exclusive=*/false);
      break;
    case CommandKind::kUnmap:
      if (!ctx->unmap_extents.empty()) {
        uint64_t first = UINT64_MAX, end = 0;
        for (const UnmapExtent& e : ctx->unmap_extents) {
          first = std::min(first, e.lba);
          end = std::max(end, e.lba + e.blocks);
        }
        guard = range_lock_.Lock(first, end - first, /*exclusive=*/false);
      }
      break;
    default:
      break;
  }

  BlockResult result;
  switch (command.kind) {
    case CommandKind::kRead:
      result = ExecuteRead(*store_, command, block_size, task.expected_transfer_length,
                           task.data_in);
      break;
    case CommandKind::kWrite:
      result = ExecuteWrite(*store_, command, block_size, task.data_out);
      break;
    case CommandKind::kWriteAndVerify:
      result = ExecuteWriteAndVerify(*store_, command, block_size, task.data_out);
      break;
    case CommandKind::kVerify:
      result = ExecuteVerify(*store_, command, block_size, task.data_out);
      break;
    case CommandKind::kSynchronizeCache:
      // IMMED is honoured by being fast, not early: status follows the flush.
      result = ExecuteSynchronizeCache(*store_);
      break;
    case CommandKind::kWriteSame:
      result = ExecuteWriteSame(*store_, command, block_size, task.data_out);
      if (!result.has_value() && write_through) result = ExecuteSynchronizeCache(*store_);
      break;
    case CommandKind::kUnmap:
      result = ExecuteUnmap(*store_, ctx->unmap_extents, block_size);
      if (!result.has_value() && write_through) result = ExecuteSynchronizeCache(*store_);
      break;
    case CommandKind::kCompareAndWrite:
      result = ExecuteCompareAndWrite(*store_, command, block_size, task.data_out);
      break;
    case CommandKind::kOrWrite:
      result = ExecuteOrWrite(*store_, command, block_size, task.data_out);
      break;
    case CommandKind::kGetLbaStatus:
      result = ExecuteGetLbaStatus(
          *store_, command, block_size, capacity_blocks(),
          std::min(command.allocation_length, task.expected_transfer_length), task.data_in);
      break;
    default:
      result = CheckCondition::Of(SenseReason::kInternalTargetFailure);
      break;
  }
  if (result.has_value()) task.data_in.clear();
  return result;
}

// --- reservations and mode parameters ---------------------------------------

bool LogicalUnit::CompleteIfReservationConflict(TaskContext* ctx) {
  const CommandKind kind = ctx->command.kind;
  // These decide conflicts themselves (SPC-4 5.13.3 and 5.13.1).
  if (kind == CommandKind::kPersistentReserveOut || kind == CommandKind::kReserve6 ||
      kind == CommandKind::kRelease6) {
    return false;
  }
  bool conflict;
  {
    absl::MutexLock lock(&pr_mu_);
    conflict = reservations_.Conflicts(ctx->command, ctx->nexus_id, IdentityOf(*ctx->task));
  }
  if (!conflict) return false;
  CompleteWithStatus(ctx, ScsiStatus::kReservationConflict);
  return true;
}

void LogicalUnit::ExecuteReserveRelease(TaskContext* ctx) {
  bool granted = true;
  {
    absl::MutexLock lock(&pr_mu_);
    if (ctx->command.kind == CommandKind::kReserve6) {
      granted = reservations_.Reserve6(ctx->nexus_id, IdentityOf(*ctx->task));
    } else {
      reservations_.Release6(ctx->nexus_id);
    }
  }
  if (!granted) {
    CompleteWithStatus(ctx, ScsiStatus::kReservationConflict);
    return;
  }
  Finish(ctx);
}

std::optional<CheckCondition> LogicalUnit::ExecuteModeSelect(TaskContext* ctx) {
  const ModeSelectResult parsed =
      ParseModeSelectParameters(ctx->command, ctx->task->data_out, Info());
  if (const auto* condition = std::get_if<CheckCondition>(&parsed)) return *condition;
  const ModeSelectChanges& changes = std::get<ModeSelectChanges>(parsed);
  bool changed = false;
  if (changes.descriptor_sense.has_value()) {
    changed |= descriptor_sense_.exchange(*changes.descriptor_sense) != *changes.descriptor_sense;
  }
  if (changes.write_cache_enabled.has_value()) {
    const bool enabling = *changes.write_cache_enabled;
    changed |= write_cache_enabled_.exchange(enabling) != enabling;
    // Turning the write cache off: what it held must be durable from now on.
    if (!enabling) {
      if (absl::Status status = store_->Flush(); !status.ok()) {
        return StoreErrorToCheckCondition(status, StoreOp::kFlush);
      }
    }
  }
  if (changed) {
    // SPC-4 7.5.1: the other I_T nexuses learn MODE PARAMETERS CHANGED.
    absl::MutexLock lock(&mu_);
    for (auto& [id, nexus] : nexuses_) {
      if (id != ctx->nexus_id) PushUnitAttention(nexus, SenseReason::kModeParametersChanged);
    }
  }
  return std::nullopt;
}

void LogicalUnit::ExecutePersistentReserveOut(TaskContext* ctx) {
  const PrNexus me = IdentityOf(*ctx->task);
  PrOutOutcome outcome;
  {
    absl::MutexLock lock(&pr_mu_);
    Reservations next = reservations_;
    outcome = next.PersistentReserveOut(ctx->command, ctx->task->data_out, me, ctx->nexus_id);
    const bool ok = !outcome.conflict && !outcome.check.has_value();
    if (ok && outcome.state_changed && !config_.persistent_reservation_path.empty()) {
      absl::Status status = absl::OkStatus();
      if (next.aptpl()) {
        status = backend::WriteFileAtomically(config_.persistent_reservation_path,
                                              next.EncodeForPersistence());
      } else if (reservations_.aptpl()) {
        status = backend::RemoveFileDurably(config_.persistent_reservation_path);
      }
      if (!status.ok()) {
        LOG(ERROR) << "lun " << config_.serial << ": persisting reservations failed: " << status;
        outcome = PrOutOutcome{};
        outcome.check = CheckCondition::Of(SenseReason::kInternalTargetFailure);
      }
    }
    if (!outcome.conflict && !outcome.check.has_value()) reservations_ = std::move(next);
  }
  if (outcome.conflict) {
    CompleteWithStatus(ctx, ScsiStatus::kReservationConflict);
    return;
  }
  if (outcome.check.has_value()) {
    CompleteWithCheckCondition(ctx, *outcome.check);
    return;
  }
  for (const auto& [identity, reason] : outcome.unit_attentions) {
    AddUnitAttentionFor(identity, reason);
  }
  if (!outcome.abort_nexuses.empty()) {
    AbortIdentitiesAndWait(outcome.abort_nexuses, ctx->nexus_id);
    if (!config_.task_aborted_status) {
      // TAS=0: the aborted tasks vanish silently, so their initiators are
      // told (SPC-4 7.5.8, 5.13.11.2.4.3).
      for (const PrNexus& identity : outcome.abort_nexuses) {
        AddUnitAttentionFor(identity, SenseReason::kCommandsClearedByAnotherInitiator);
      }
    }
  }
  Finish(ctx);
}

// --- completion -------------------------------------------------------------

void LogicalUnit::CompleteWithCheckCondition(TaskContext* ctx,
                                             const CheckCondition& condition) {
  ScsiTask& task = *ctx->task;
  VLOG(3) << "lun " << config_.serial << " tag=" << task.tag << " nexus=" << ctx->nexus_id
          << " check condition " << SenseReasonName(condition.reason);
  task.status = ScsiStatus::kCheckCondition;
  task.sense = EncodeSense(condition, CurrentSenseFormat());
  task.data_in.clear();
  Finish(ctx);
}

void LogicalUnit::CompleteWithStatus(TaskContext* ctx, ScsiStatus status) {
  ScsiTask& task = *ctx->task;
  task.status = status;
  task.sense.clear();
  task.data_in.clear();
  Finish(ctx);
}

void LogicalUnit::Finish(TaskContext* ctx) {
  std::unique_ptr<TaskContext> owned;
  std::vector<StartOrder> startable;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(ctx);
    CHECK(it != live_.end()) << "LogicalUnit::Finish of an unknown task";
    owned = std::move(it->second);
    live_.erase(it);
    finishing_.emplace(ctx->seq, ctx->nexus_id);
    if (ctx->gate == TaskContext::Gate::kOrdered) --running_ordered_;
    if (ctx->gate == TaskContext::Gate::kSimple) --running_simple_;
    if (ctx->gate != TaskContext::Gate::kNotStarted) CollectStartable(startable);
  }
  ScsiTask& task = *owned->task;
  const uint64_t seq = owned->seq;
  TaskCompletion done = std::move(owned->done);
  owned.reset();
  std::move(done)(task);  // `task` may be gone after this
  {
    // Counted out before the tasks below start, which may be task management waiting.
    absl::MutexLock lock(&mu_);
    finishing_.erase(seq);
    --in_flight_;
  }

  // Tasks released by this one start after its completion was delivered, so
  // an ORDERED task's status never overtakes the ones before it.
  for (const StartOrder& next : startable) Launch(next);
}

// --- task management --------------------------------------------------------

bool LogicalUnit::NoTasksUpTo(std::optional<uint64_t> nexus_id, uint64_t last_seq) const {
  for (const auto& [ctx, owned] : live_) {
    if (ctx->seq <= last_seq && (!nexus_id.has_value() || ctx->nexus_id == *nexus_id)) {
      return false;
    }
  }
  for (const auto& [seq, task_nexus_id] : finishing_) {
    if (seq <= last_seq && (!nexus_id.has_value() || task_nexus_id == *nexus_id)) return false;
  }
  return true;
}

void LogicalUnit::AbortAndWait(std::optional<uint64_t> nexus_id) {
  auto matches = [&](const TaskContext* ctx) {
    return !nexus_id.has_value() || ctx->nexus_id == *nexus_id;
  };
  std::vector<TaskContext*> cancelled;
  std::vector<StartOrder> startable;
  uint64_t last_seq = 0;
  {
    absl::MutexLock lock(&mu_);
    // Only the tasks that exist now are this abort's: a task arriving while it waits (say an
    // ORDERED one, which cannot start while the PERSISTENT RESERVE OUT that called us is
    // running) must not be waited for, or the two would wait for each other.
    last_seq = last_seq_;
    for (auto& [ctx, owned] : live_) {
      if (!matches(ctx)) continue;
      ctx->task->RequestAbort();
      // Queued on the pool but not picked up: complete it now rather than
      // after the work ahead of it.
      if (ctx->queued_on_pool && !ctx->claimed->exchange(true)) cancelled.push_back(ctx);
    }
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (matches(*it)) {
        cancelled.push_back(*it);
        it = delayed_.erase(it);
      } else {
        ++it;
      }
    }
    CollectStartable(startable);
  }
  for (TaskContext* ctx : cancelled) CompleteWithStatus(ctx, ScsiStatus::kTaskAborted);
  for (const StartOrder& order : startable) Launch(order);

  struct WaitFor {
    const LogicalUnit* lun;
    std::optional<uint64_t> nexus_id;
    uint64_t last_seq;
  };
  WaitFor wait_for{this, nexus_id, last_seq};
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](WaitFor* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return w->lun->NoTasksUpTo(w->nexus_id, w->last_seq);
      },
      &wait_for));
}

void LogicalUnit::AbortIdentitiesAndWait(const std::vector<PrNexus>& identities,
                                         uint64_t except_nexus_id) {
  std::vector<uint64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, nexus] : nexuses_) {
      if (id == except_nexus_id) continue;
      if (std::find(identities.begin(), identities.end(), nexus.identity) != identities.end()) {
        ids.push_back(id);
      }
    }
  }
  for (uint64_t id : ids) AbortAndWait(id);
}

void LogicalUnit::AbortTaskSet(uint64_t nexus_id) { AbortAndWait(nexus_id); }

void LogicalUnit::ClearTaskSet() { AbortAndWait(std::nullopt); }

void LogicalUnit::Reset() {
  AbortAndWait(std::nullopt);
  // Mode parameters go back to their defaults (SAM-5 6.3.3); an SPC-2
  // reservation is released; persistent reservations stay (SPC-4 5.13.1).
  descriptor_sense_.store(config_.descriptor_sense, std::memory_order_relaxed);
  write_cache_enabled_.store(true, std::memory_order_relaxed);
  {
    absl::MutexLock pr_lock(&pr_mu_);
    reservations_.ClearSpc2Reservation(std::nullopt);
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, nexus] : nexuses_) {
    PushUnitAttention(nexus, SenseReason::kBusDeviceResetOccurred);
  }
}

void LogicalUnit::RemoveNexus(uint64_t nexus_id) {
  AbortAndWait(nexus_id);
  {
    // I_T nexus loss releases its SPC-2 reservation (SPC-2 5.5.1);
    // registrations survive (SPC-4 5.13.1).
    absl::MutexLock pr_lock(&pr_mu_);
    reservations_.ClearSpc2Reservation(nexus_id);
  }
  absl::MutexLock lock(&mu_);
  nexuses_.erase(nexus_id);
}

void LogicalUnit::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &LogicalUnit::NoTasksInFlight));
}

}  // namespace iscsi_csi::target::scsi
