// LogicalUnit: one SCSI logical unit (SAM-5 4.6) of the direct-access block
// device type (SBC-3) over a backend::BlockStore. It is the whole
// transport-neutral API the iSCSI layer uses: it parses and validates CDBs,
// keeps unit attentions per I_T nexus (SPC-4 5.14 / SAM-5 5.14), orders tasks
// by task attribute (SAM-5 8.6), runs backing I/O on a worker pool, and
// implements the task management functions that touch a logical unit.
//
// Threading contract
//  - Submit, AbortTaskSet, ClearTaskSet, Reset, RemoveNexus, Drain, Resize
//    and AddUnitAttention may be called from any thread, concurrently.
//  - Commands that touch the backing store or may wait (READ, WRITE, WRITE
//    AND VERIFY, VERIFY, COMPARE AND WRITE, SYNCHRONIZE CACHE, WRITE SAME,
//    UNMAP, GET LBA STATUS, MODE SELECT, PERSISTENT RESERVE OUT) run on a
//    WorkerPool thread and complete there, with one exception: a READ or
//    WRITE of at most LogicalUnitConfig::inline_io_max_bytes that the store
//    can serve without waiting (BlockStore::ReadNoWait/WriteNoWait) runs and
//    completes inside Submit, on the caller's thread. So a completion may run
//    inside Submit for any command: a caller must not hold, across Submit, a
//    lock its completion takes. Quick
//    commands (INQUIRY, MODE SENSE, LOG SENSE, READ CAPACITY, REPORT LUNS,
//    REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS, REQUEST
//    SENSE, TEST UNIT READY, PRE-FETCH, START STOP UNIT, RESERVE, RELEASE,
//    PERSISTENT RESERVE IN) and every command that ends before its I/O
//    (CHECK CONDITION, RESERVATION CONFLICT, TASK SET FULL, a pending unit
//    attention) may complete inline, inside Submit.
//  - The completion is called exactly once per Submit, without any lock of
//    the LogicalUnit held. It may Submit again; it must not call Drain,
//    AbortTaskSet, ClearTaskSet, Reset or RemoveNexus (they wait for
//    completions, possibly its own).
//  - Many tasks run at once; only LBA range locks (below) order I/O. SIMPLE tasks may
//    run in any order and concurrently (overlapping writes are the
//    initiator's business, QUEUE ALGORITHM MODIFIER=1), like LIO. An ORDERED
//    task starts after every earlier task has completed and holds back the
//    later ones until it completes; HEAD OF QUEUE tasks start at once.
//
// Abort contract
//  - ABORT TASK: the transport calls task.RequestAbort() and then waits for
//    the task's completion. A task whose I/O had not started completes with
//    TASK ABORTED (no sense, no data) and touched nothing; a task already
//    running completes with its real status. Whether TASK ABORTED is sent to
//    the initiator is the transport's choice (TAS in the Control mode page).
//  - AbortTaskSet(nexus) / ClearTaskSet() / Reset(nexus) / RemoveNexus(nexus)
//    do the same for every matching task and return only when all of them
//    have completed (their completion callbacks have returned).
//  - Drain() waits until no task is in flight (for shutdown and tests).
#ifndef ISCSI_CSI_TARGET_SCSI_LUN_H_
#define ISCSI_CSI_TARGET_SCSI_LUN_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "target/backend/block_store.h"
#include "target/backend/worker_pool.h"
#include "target/scsi/cdb.h"
#include "target/scsi/range_lock.h"
#include "target/scsi/reservations.h"
#include "target/scsi/sbc.h"
#include "target/scsi/sense.h"
#include "target/scsi/task.h"
#include "target/scsi/unit_info.h"

namespace iscsi_csi::target::scsi {

struct LogicalUnitConfig {
  uint32_t block_size = 512;  // 512 or 4096
  bool read_only = false;
  std::string serial;                  // VPD 0x80, printable ASCII
  std::array<uint8_t, 16> naa_wwn{};   // VPD 0x83; first nibble must be 6
  std::string vendor = "ISCSICSI";
  std::string product = "VIRTUAL-DISK";
  std::string revision = "0001";
  // Added to the standard INQUIRY version descriptors when non-zero; the
  // transport passes its own (iSCSI: 0x0960).
  uint16_t transport_version_descriptor = 0;
  uint32_t max_transfer_bytes = 8u << 20;     // Block Limits MAXIMUM TRANSFER LENGTH
  uint32_t max_write_same_bytes = 256u << 20; // Block Limits MAXIMUM WRITE SAME LENGTH
  uint32_t max_unmap_descriptors = 256;
  // Block Limits MAXIMUM COMPARE AND WRITE LENGTH (1..255 blocks).
  uint32_t max_compare_and_write_blocks = 64;
  uint32_t max_tasks = 256;  // tasks in flight before TASK SET FULL
  // READ and WRITE commands of at most this many bytes are first tried on the
  // submitting thread (the transport's event loop) through the store's
  // ReadNoWait/WriteNoWait: cached I/O then needs no hand-off to the worker
  // pool and back. 0 sends every block command to the pool.
  uint32_t inline_io_max_bytes = 128u << 10;
  bool descriptor_sense = false;      // Control mode page D_SENSE at start
  bool task_aborted_status = true;    // Control mode page TAS
  // Where persistent reservations live across restarts when an initiator
  // asked for APTPL (SPC-4 5.13.5), conventionally "<backing file>.pr".
  // Empty: nothing is persisted and REPORT CAPABILITIES still says PTPL_C
  // (the state then lasts as long as this object). Create loads the file
  // when it exists; a corrupt file fails Create (DataLoss) rather than
  // silently dropping reservations. Written atomically (tmp + fsync +
  // rename + directory fsync) on every change while APTPL is in force,
  // removed when an initiator registers with APTPL=0.
  std::string persistent_reservation_path;
};

// Called once per task with the response fields filled in.
using TaskCompletion = absl::AnyInvocable<void(ScsiTask&) &&>;

class LogicalUnit {
 public:
  // Create checks `config` and takes the capacity from store->Size() (whole
  // blocks). `pool` runs the backing I/O and must outlive nothing in
  // particular: the LogicalUnit keeps a reference.
  static absl::StatusOr<std::unique_ptr<LogicalUnit>> Create(
      LogicalUnitConfig config, std::shared_ptr<backend::BlockStore> store,
      std::shared_ptr<backend::WorkerPool> pool);

  // Waits for every task in flight (Drain) before destroying.
  ~LogicalUnit();
  LogicalUnit(const LogicalUnit&) = delete;
  LogicalUnit& operator=(const LogicalUnit&) = delete;

  // Submit executes `task` and calls `done` once with its outcome. See the
  // threading and abort contracts above.
  void Submit(ScsiTask& task, TaskCompletion done);

  // ABORT TASK SET: aborts the tasks of `nexus_id`; returns once they have
  // all completed.
  void AbortTaskSet(uint64_t nexus_id);
  // CLEAR TASK SET (one task set for all nexuses, TST=000b): aborts every
  // task; returns once they have all completed.
  void ClearTaskSet();
  // LOGICAL UNIT RESET: aborts every task, waits for them, and establishes
  // BUS DEVICE RESET FUNCTION OCCURRED (29h/03h) for every nexus, the one
  // that asked included (SAM-5 6.3.3: the reset is seen on every path).
  void Reset();
  // I_T nexus loss: aborts the nexus's tasks, waits, and forgets its unit
  // attentions (a new nexus with the same id starts with POWER ON/RESET).
  void RemoveNexus(uint64_t nexus_id);
  // Waits until no task is in flight.
  void Drain();

  // Resize grows the backing store to `new_bytes` (a multiple of the block
  // size) and, when the capacity changed, establishes CAPACITY DATA HAS
  // CHANGED for every nexus.
  absl::Status Resize(uint64_t new_bytes);

  // AddUnitAttention establishes `reason` (a unit attention reason) for one
  // nexus, or for every known nexus when `nexus_id` is nullopt (e.g. the
  // transport raising REPORTED LUNS DATA HAS CHANGED).
  void AddUnitAttention(std::optional<uint64_t> nexus_id, SenseReason reason);

  // Sets the Control mode page D_SENSE bit (MODE SELECT can too).
  void SetDescriptorSense(bool enabled);

  // Caching mode page WCE as MODE SELECT left it (true at start and after
  // a LOGICAL UNIT RESET). With WCE=0 every write is durable before GOOD.
  bool write_cache_enabled() const {
    return write_cache_enabled_.load(std::memory_order_relaxed);
  }

  uint32_t block_size() const { return config_.block_size; }
  uint64_t capacity_blocks() const {
    return capacity_blocks_.load(std::memory_order_acquire);
  }
  const LogicalUnitConfig& config() const { return config_; }

 private:
  struct TaskContext;
  // A task cleared to start: inline when `claimed` is null, else on the pool.
  struct StartOrder {
    TaskContext* ctx;
    std::shared_ptr<std::atomic<bool>> claimed;
  };
  struct NexusState {
    std::deque<SenseReason> unit_attentions;
    // Who this nexus is for reservations (set from ItNexus on first use).
    PrNexus identity;
  };

  LogicalUnit(LogicalUnitConfig config, std::shared_ptr<backend::BlockStore> store,
              std::shared_ptr<backend::WorkerPool> pool, Reservations reservations);

  UnitInfo Info() const;
  SenseFormat CurrentSenseFormat() const;
  NexusState& NexusFor(uint64_t nexus_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static PrNexus IdentityOf(const ScsiTask& task);
  // Unit attentions for every live nexus with this reservation identity.
  void AddUnitAttentionFor(const PrNexus& identity, SenseReason reason);
  static void PushUnitAttention(NexusState& nexus, SenseReason reason);

  // Validation before any I/O; false when `ctx` has already been finished.
  bool Prepare(TaskContext* ctx);
  // Ordering gate (SAM-5 8.6).
  bool CanStart(const TaskContext& ctx) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StartOrder PlanStart(TaskContext& ctx, bool allow_inline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectStartable(std::vector<StartOrder>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(const StartOrder& order);
  // Queues an already-gated task on the worker pool.
  void Schedule(TaskContext* ctx, std::shared_ptr<std::atomic<bool>> claimed);
  // Runs a READ or WRITE on the calling thread if the store can do it without waiting;
  // false (nothing observable done) otherwise.
  bool TryExecuteWithoutWaiting(TaskContext* ctx);
  bool InlineCandidate(const TaskContext& ctx) const;
  void RunOnWorker(TaskContext* ctx);
  void ExecuteQuick(TaskContext* ctx);
  void ExecuteBlock(TaskContext* ctx);
  // Completes `ctx` with RESERVATION CONFLICT and returns true when a
  // reservation forbids it (reservations.h).
  bool CompleteIfReservationConflict(TaskContext* ctx);
  // MODE SELECT, RESERVE/RELEASE(6/10), PERSISTENT RESERVE IN and OUT.
  std::optional<CheckCondition> ExecuteModeSelect(TaskContext* ctx);
  void ExecuteReserveRelease(TaskContext* ctx);
  void ExecutePersistentReserveOut(TaskContext* ctx);
  std::optional<CheckCondition> RunBlockCommand(TaskContext* ctx);

  void CompleteWithCheckCondition(TaskContext* ctx, const CheckCondition& condition);
  void CompleteWithStatus(TaskContext* ctx, ScsiStatus status);
  void Finish(TaskContext* ctx);

  // Aborts matching tasks (all when nullopt) and waits for them.
  void AbortAndWait(std::optional<uint64_t> nexus_id);
  // Aborts and waits for the tasks of every nexus with one of these
  // reservation identities except `except_nexus_id` (PREEMPT AND ABORT).
  void AbortIdentitiesAndWait(const std::vector<PrNexus>& identities,
                              uint64_t except_nexus_id);
  // NoTasksUpTo: no live task of `nexus_id` (every nexus when nullopt) arrived at or before
  // arrival number `last_seq`.
  bool NoTasksUpTo(std::optional<uint64_t> nexus_id, uint64_t last_seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NoTasksInFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; }

  const LogicalUnitConfig config_;
  const std::shared_ptr<backend::BlockStore> store_;
  const std::shared_ptr<backend::WorkerPool> pool_;
  std::atomic<uint64_t> capacity_blocks_;
  std::atomic<bool> descriptor_sense_;
  std::atomic<bool> write_cache_enabled_{true};
  absl::Mutex resize_mu_;
  RangeLock range_lock_;

  // Reservation state; taken before mu_ when both are needed.
  absl::Mutex pr_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  Reservations reservations_ ABSL_GUARDED_BY(pr_mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, NexusState> nexuses_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TaskContext*, std::unique_ptr<TaskContext>> live_ ABSL_GUARDED_BY(mu_);
  // Arrival number -> nexus of the tasks out of live_ whose completion is being delivered:
  // task management waits for these too, so it returns after their callbacks did.
  absl::flat_hash_map<uint64_t, uint64_t> finishing_ ABSL_GUARDED_BY(mu_);
  std::deque<TaskContext*> delayed_ ABSL_GUARDED_BY(mu_);
  uint32_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;  // arrival number of the newest task
  uint32_t running_simple_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t running_ordered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_LUN_H_
