// catalog: the controller's durable record of volumes, snapshots, publications and CHAP
// secrets, in SQLite (WAL, synchronous=FULL, one transaction per state change, foreign keys,
// a schema_version table). The database file is created mode 0600: it holds CHAP secrets.
// See catalog.cc for the crash-ordering rules the rest of the controller follows.
//
// Thread safety: every method may be called from any thread; calls are serialized on one
// connection (each is a single short transaction).
#ifndef ISCSI_CSI_CONTROLLER_CATALOG_H_
#define ISCSI_CSI_CONTROLLER_CATALOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/chap_credentials.h"
#include "controller/params.h"

struct sqlite3;

namespace iscsi_csi::controller {

inline constexpr int kCatalogSchemaVersion = 1;

enum class RecordState { kCreating, kReady, kDeleting };
absl::string_view RecordStateName(RecordState state);

enum class SourceKind { kNone, kSnapshot, kVolume };

struct VolumeRecord {
  std::string id;
  std::string name;
  uint64_t capacity_bytes = 0;
  uint32_t block_size = kDefaultBlockSize;
  std::string fs_type;        // "" when neither the parameters nor a capability named one
  uint32_t access_types = 0;  // kAccessBlock | kAccessMount, as created
  RecordState state = RecordState::kCreating;
  SourceKind source_kind = SourceKind::kNone;
  std::string source_id;
  ParameterMap parameters;  // as given, metadata keys included
  absl::Time created = absl::UnixEpoch();
};

struct SnapshotRecord {
  std::string id;
  std::string name;
  std::string source_volume_id;
  uint64_t size_bytes = 0;
  uint32_t block_size = kDefaultBlockSize;
  std::string fs_type;
  RecordState state = RecordState::kCreating;
  absl::Time created = absl::UnixEpoch();  // when the copy was cut
};

struct PublicationRecord {
  std::string volume_id;
  std::string node_id;
  bool readonly = false;
  int access_mode = 0;       // csi::v1::VolumeCapability::AccessMode::Mode
  uint32_t access_type = 0;  // kAccessBlock or kAccessMount
};

// What the catalogue holds, for metrics.
struct CatalogInventory {
  uint64_t volumes = 0;    // ready
  uint64_t snapshots = 0;  // ready
  uint64_t publications = 0;
  uint64_t provisioned_bytes = 0;
};

class Catalog {
 public:
  // Open opens (creating when missing) the catalogue at `path`, applies the pragmas and
  // creates or checks the schema. FailedPrecondition for a schema newer than ours.
  static absl::StatusOr<std::unique_ptr<Catalog>> Open(const std::string& path);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Ping runs a trivial query (Probe's health check).
  absl::Status Ping();

  // --- volumes ---
  // InsertVolume records a new volume and its CHAP credentials in one transaction.
  // AlreadyExists when the id or name is taken; ResourceExhausted when `capacity_limit` is set
  // and the provisioned bytes (volumes and snapshots, any state) would exceed it.
  absl::Status InsertVolume(const VolumeRecord& volume, const ChapCredentials& chap,
                            std::optional<uint64_t> capacity_limit);
  absl::StatusOr<std::optional<VolumeRecord>> GetVolume(absl::string_view id);
  absl::StatusOr<std::optional<VolumeRecord>> FindVolumeByName(absl::string_view name);
  // ListVolumes returns volumes with id > `after_id` in id order, at most `limit` (0: all);
  // only ready ones when `ready_only`.
  absl::StatusOr<std::vector<VolumeRecord>> ListVolumes(absl::string_view after_id, int limit,
                                                        bool ready_only);
  // NotFound when the volume is unknown.
  absl::Status SetVolumeState(absl::string_view id, RecordState state);
  // SetVolumeCapacity records a new size; growth is checked against `capacity_limit`.
  absl::Status SetVolumeCapacity(absl::string_view id, uint64_t capacity_bytes,
                                 std::optional<uint64_t> capacity_limit);
  // DeleteVolume removes the volume with its publications, parameters and CHAP credentials.
  // OK when already gone.
  absl::Status DeleteVolume(absl::string_view id);
  // ProvisionedBytes: the sum of volume capacities and snapshot sizes, any state.
  absl::StatusOr<uint64_t> ProvisionedBytes();
  absl::StatusOr<CatalogInventory> Inventory();

  // --- snapshots ---
  absl::Status InsertSnapshot(const SnapshotRecord& snapshot,
                              std::optional<uint64_t> capacity_limit);
  absl::StatusOr<std::optional<SnapshotRecord>> GetSnapshot(absl::string_view id);
  absl::StatusOr<std::optional<SnapshotRecord>> FindSnapshotByName(absl::string_view name);
  // ListSnapshots: id > `after_id`, optionally only of `source_volume_id`, at most `limit`.
  absl::StatusOr<std::vector<SnapshotRecord>> ListSnapshots(absl::string_view after_id, int limit,
                                                            absl::string_view source_volume_id,
                                                            bool ready_only);
  absl::Status SetSnapshotState(absl::string_view id, RecordState state);
  // MarkSnapshotReady: state ready and the time the copy was cut.
  absl::Status MarkSnapshotReady(absl::string_view id, absl::Time cut);
  absl::Status DeleteSnapshot(absl::string_view id);

  // --- publications ---
  // AddPublication inserts or replaces the (volume, node) publication. NotFound when the
  // volume is unknown.
  absl::Status AddPublication(const PublicationRecord& publication);
  absl::Status RemovePublication(absl::string_view volume_id, absl::string_view node_id);
  absl::StatusOr<std::vector<PublicationRecord>> Publications(absl::string_view volume_id);

  // --- CHAP ---
  // GetChap: NotFound when the volume has none.
  absl::StatusOr<ChapCredentials> GetChap(absl::string_view volume_id);
  absl::Status SetChap(absl::string_view volume_id, const ChapCredentials& chap);

 private:
  class Statement;
  class Transaction;
  explicit Catalog(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  absl::Status Exec(absl::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InitSchema() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> ProvisionedBytesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckLimit(uint64_t extra, std::optional<uint64_t> capacity_limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<VolumeRecord>> QueryVolumes(absl::string_view where,
                                                         const std::vector<std::string>& args,
                                                         int limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<SnapshotRecord>> QuerySnapshots(absl::string_view where,
                                                             const std::vector<std::string>& args,
                                                             int limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpdateState(absl::string_view table, absl::string_view id, RecordState state);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  const std::string path_;
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CATALOG_H_
