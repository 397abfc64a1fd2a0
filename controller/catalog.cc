// catalog: SQLite catalogue of volumes, snapshots, publications and CHAP secrets.
//
// Crash ordering. Every change the controller makes to the world (a file in the pool, an
// export on the target) is bracketed by catalogue transactions so that a crash at any point
// leaves a record that says what to finish or undo when the controller starts again
// (VolumeManager::Recover):
//
//   CreateVolume    1. row state=creating (with its CHAP secrets)   [transaction]
//                   2. backing file written as <id>.img.tmp, fsynced, renamed to <id>.img,
//                      directory fsynced (so <id>.img exists only when complete)
//                   3. exported on the target (target, LUN 0, empty ACL, CHAP)
//                   4. row state=ready                                [transaction]
//     on start: creating + <id>.img present -> finish (mark ready, export);
//               creating + no <id>.img      -> undo (remove <id>.img.tmp, delete the row).
//   DeleteVolume    1. row state=deleting  2. target removed  3. file removed  4. row deleted
//     on start: deleting -> finish (remove the file, delete the row).
//   CreateSnapshot  the same as CreateVolume in snapshots/ (creating -> file -> ready).
//   DeleteSnapshot  the same as DeleteVolume (deleting -> file removed -> row deleted).
//   ExpandVolume    1. new capacity recorded  2. file grown  3. LUN resized
//     on start: file smaller than the recorded capacity -> grow it (finish).
//   Publish         1. publication row  2. ACL (+ CHAP, read-only) on the target
//   Unpublish       1. ACL without the node, its sessions closed  2. publication row deleted
//     on start: nothing to do: exports, ACLs and CHAP are rebuilt from the rows before Probe
//     reports ready, so the target always ends up as the catalogue says.
//   Files in the pool without a row (a crash between an unlink and a row delete, or a stray
//   .tmp) are removed on start.
//
// SQLite settings: WAL journal and synchronous=FULL, so a committed transaction survives a
// power cut; foreign keys on, so deleting a volume deletes its publications, parameters and
// CHAP secrets with it. Snapshots do not reference their source volume: they are independent
// copies and outlive it.
#include "controller/catalog.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace iscsi_csi::controller {
namespace {

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE volumes (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL UNIQUE,
  capacity_bytes INTEGER NOT NULL CHECK (capacity_bytes > 0),
  block_size INTEGER NOT NULL CHECK (block_size IN (512, 4096)),
  fs_type TEXT NOT NULL,
  access_types INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),
  source_kind TEXT NOT NULL CHECK (source_kind IN ('', 'snapshot', 'volume')),
  source_id TEXT NOT NULL,
  created_unix_nanos INTEGER NOT NULL
);
CREATE TABLE volume_parameters (
  volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (volume_id, key)
);
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL UNIQUE,
  source_volume_id TEXT NOT NULL,
  size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
  block_size INTEGER NOT NULL CHECK (block_size IN (512, 4096)),
  fs_type TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),
  created_unix_nanos INTEGER NOT NULL
);
CREATE INDEX snapshots_by_source ON snapshots (source_volume_id, id);
CREATE TABLE publications (
  volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
  node_id TEXT NOT NULL,
  readonly INTEGER NOT NULL,
  access_mode INTEGER NOT NULL,
  access_type INTEGER NOT NULL,
  PRIMARY KEY (volume_id, node_id)
);
CREATE TABLE chap_secrets (
  volume_id TEXT PRIMARY KEY NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
  user TEXT NOT NULL,
  secret TEXT NOT NULL,
  target_user TEXT NOT NULL,
  target_secret TEXT NOT NULL,
  origin TEXT NOT NULL CHECK (origin IN ('generated', 'publish-secrets'))
);
INSERT INTO schema_version (version) VALUES (1);
)sql";

constexpr char kVolumeColumns[] =
    "id, name, capacity_bytes, block_size, fs_type, access_types, state, source_kind, "
    "source_id, created_unix_nanos";
constexpr char kSnapshotColumns[] =
    "id, name, source_volume_id, size_bytes, block_size, fs_type, state, created_unix_nanos";

absl::string_view SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kNone:
      return "";
    case SourceKind::kSnapshot:
      return "snapshot";
    case SourceKind::kVolume:
      return "volume";
  }
  return "";
}

SourceKind ParseSourceKind(absl::string_view text) {
  if (text == "snapshot") return SourceKind::kSnapshot;
  if (text == "volume") return SourceKind::kVolume;
  return SourceKind::kNone;
}

RecordState ParseState(absl::string_view text) {
  if (text == "ready") return RecordState::kReady;
  if (text == "deleting") return RecordState::kDeleting;
  return RecordState::kCreating;
}

int64_t ToNanos(absl::Time time) { return absl::ToUnixNanos(time); }

}  // namespace

absl::string_view RecordStateName(RecordState state) {
  switch (state) {
    case RecordState::kCreating:
      return "creating";
    case RecordState::kReady:
      return "ready";
    case RecordState::kDeleting:
      return "deleting";
  }
  return "creating";
}

// Statement: one prepared statement; binds by 1-based index, steps, reads columns.
class Catalog::Statement {
 public:
  Statement(sqlite3* db, absl::string_view sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, absl::string_view text) {
    if (rc_ == SQLITE_OK) {
      rc_ = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                              SQLITE_TRANSIENT);
    }
    return *this;
  }
  Statement& BindInt(int index, int64_t value) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  // Step: true for a row, false when done; errors land in status().
  bool Step() {
    if (rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) return false;
    rc_ = sqlite3_step(stmt_);
    return rc_ == SQLITE_ROW;
  }
  // Run steps to completion of a statement without rows.
  absl::Status Run(absl::string_view step) {
    Step();
    return status(step);
  }
  absl::Status status(absl::string_view step) const {
    if (rc_ == SQLITE_OK || rc_ == SQLITE_ROW || rc_ == SQLITE_DONE) return absl::OkStatus();
    std::string message = absl::StrCat("catalogue ", step, ": ", sqlite3_errmsg(db_));
    const int primary = rc_ & 0xff;
    if (primary == SQLITE_CONSTRAINT &&
        (rc_ == SQLITE_CONSTRAINT_UNIQUE || rc_ == SQLITE_CONSTRAINT_PRIMARYKEY)) {
      return absl::AlreadyExistsError(message);
    }
    if (primary == SQLITE_CONSTRAINT && rc_ == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return absl::NotFoundError(message);
    }
    if (primary == SQLITE_FULL) return absl::ResourceExhaustedError(message);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return absl::UnavailableError(message);
    return absl::InternalError(message);
  }
  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    return text == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(text),
                                         static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

// Transaction: BEGIN IMMEDIATE on construction, ROLLBACK unless Commit() succeeded.
class Catalog::Transaction {
 public:
  explicit Transaction(Catalog* catalog) ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog->mu_)
      : catalog_(catalog) {
    status_ = catalog_->Exec("BEGIN IMMEDIATE");
  }
  ~Transaction() {
    if (status_.ok() && !committed_) {
      catalog_->mu_.AssertHeld();
      (void)catalog_->Exec("ROLLBACK");
    }
  }
  const absl::Status& status() const { return status_; }
  absl::Status Commit() {
    catalog_->mu_.AssertHeld();
    if (!status_.ok()) return status_;
    absl::Status st = catalog_->Exec("COMMIT");
    committed_ = st.ok();
    return st;
  }

 private:
  Catalog* catalog_;
  absl::Status status_;
  bool committed_ = false;
};

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  // The file holds CHAP secrets: create it 0600 before SQLite does (SQLite gives its -wal and
  // -shm files the database file's mode), and tighten an existing one.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("open catalogue ", path, ": ", strerror(errno)));
  }
  struct stat info {};
  if (fstat(fd, &info) == 0 && (info.st_mode & 0077) != 0) {
    LOG(WARNING) << "catalogue " << path << " was readable by others; setting mode 0600";
    if (fchmod(fd, 0600) != 0) {
      const int error = errno;
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("chmod 0600 catalogue ", path, ": ", strerror(error)));
    }
  }
  ::close(fd);

  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::FailedPreconditionError(absl::StrCat("open catalogue ", path, ": ", message));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Catalog> catalog(new Catalog(db, path));
  absl::MutexLock lock(&catalog->mu_);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (absl::Status st = catalog->Exec(pragma); !st.ok()) return st;
  }
  {
    Statement check(catalog->db_, "PRAGMA journal_mode");
    if (!check.Step() || check.Text(0) != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("catalogue ", path, ": the filesystem does not support WAL journaling"));
    }
  }
  if (absl::Status st = catalog->InitSchema(); !st.ok()) return st;
  return catalog;
}

Catalog::~Catalog() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
  db_ = nullptr;
}

absl::Status Catalog::Exec(absl::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("catalogue: ", text.substr(0, 40), ": ", message));
  }
  return absl::OkStatus();
}

absl::Status Catalog::InitSchema() {
  Transaction tx(this);
  if (!tx.status().ok()) return tx.status();
  bool exists = false;
  {
    Statement query(db_,
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                    "name = 'schema_version'");
    if (!query.Step()) return query.status("read schema");
    exists = query.Int(0) > 0;
  }
  if (!exists) {
    if (absl::Status st = Exec(kSchemaV1); !st.ok()) return st;
    LOG(INFO) << "created catalogue " << path_ << " (schema " << kCatalogSchemaVersion << ")";
    return tx.Commit();
  }
  Statement version(db_, "SELECT MAX(version) FROM schema_version");
  if (!version.Step()) return version.status("read schema version");
  const int64_t found = version.Int(0);
  if (found > kCatalogSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("catalogue ", path_, " has schema ", found, ", newer than this controller's ",
                     kCatalogSchemaVersion, "; run a newer iscsi-csi"));
  }
  if (found < kCatalogSchemaVersion) {
    // Future migrations run here, one transaction per step.
    return absl::FailedPreconditionError(
        absl::StrCat("catalogue ", path_, " has unknown schema ", found));
  }
  return tx.Commit();
}

absl::Status Catalog::Ping() {
  absl::MutexLock lock(&mu_);
  Statement query(db_, "SELECT COUNT(*) FROM schema_version");
  query.Step();
  return query.status("ping");
}

absl::StatusOr<uint64_t> Catalog::ProvisionedBytesLocked() {
  Statement query(db_,
                  "SELECT (SELECT COALESCE(SUM(capacity_bytes), 0) FROM volumes) + "
                  "(SELECT COALESCE(SUM(size_bytes), 0) FROM snapshots)");
  if (!query.Step()) return query.status("sum provisioned bytes");
  return static_cast<uint64_t>(query.Int(0));
}

absl::StatusOr<uint64_t> Catalog::ProvisionedBytes() {
  absl::MutexLock lock(&mu_);
  return ProvisionedBytesLocked();
}

absl::StatusOr<CatalogInventory> Catalog::Inventory() {
  absl::MutexLock lock(&mu_);
  Statement query(db_,
                  "SELECT (SELECT COUNT(*) FROM volumes WHERE state = 'ready'), "
                  "(SELECT COUNT(*) FROM snapshots WHERE state = 'ready'), "
                  "(SELECT COUNT(*) FROM publications)");
  if (!query.Step()) return query.status("count records");
  CatalogInventory inventory;
  inventory.volumes = static_cast<uint64_t>(query.Int(0));
  inventory.snapshots = static_cast<uint64_t>(query.Int(1));
  inventory.publications = static_cast<uint64_t>(query.Int(2));
  absl::StatusOr<uint64_t> provisioned = ProvisionedBytesLocked();
  if (!provisioned.ok()) return provisioned.status();
  inventory.provisioned_bytes = *provisioned;
  return inventory;
}

absl::Status Catalog::CheckLimit(uint64_t extra, std::optional<uint64_t> capacity_limit) {
  if (!capacity_limit.has_value()) return absl::OkStatus();
  absl::StatusOr<uint64_t> provisioned = ProvisionedBytesLocked();
  if (!provisioned.ok()) return provisioned.status();
  if (*provisioned + extra > *capacity_limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pool capacity: ", extra, " more bytes would exceed --capacity ",
                     *capacity_limit, " (", *provisioned, " provisioned)"));
  }
  return absl::OkStatus();
}

absl::Status Catalog::InsertVolume(const VolumeRecord& volume, const ChapCredentials& chap,
                                   std::optional<uint64_t> capacity_limit) {
  absl::MutexLock lock(&mu_);
  Transaction tx(this);
  if (!tx.status().ok()) return tx.status();
  if (absl::Status st = CheckLimit(volume.capacity_bytes, capacity_limit); !st.ok()) return st;
  {
    Statement insert(db_, absl::StrCat("INSERT INTO volumes (", kVolumeColumns,
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    insert.Bind(1, volume.id)
        .Bind(2, volume.name)
        .BindInt(3, static_cast<int64_t>(volume.capacity_bytes))
        .BindInt(4, volume.block_size)
        .Bind(5, volume.fs_type)
        .BindInt(6, volume.access_types)
        .Bind(7, RecordStateName(volume.state))
        .Bind(8, SourceKindName(volume.source_kind))
        .Bind(9, volume.source_id)
        .BindInt(10, ToNanos(volume.created));
    if (absl::Status st = insert.Run("insert volume"); !st.ok()) return st;
  }
  for (const auto& [key, value] : volume.parameters) {
    Statement insert(db_, "INSERT INTO volume_parameters (volume_id, key, value) VALUES (?, ?, ?)");
    insert.Bind(1, volume.id).Bind(2, key).Bind(3, value);
    if (absl::Status st = insert.Run("insert volume parameter"); !st.ok()) return st;
  }
  {
    Statement insert(db_,
                     "INSERT INTO chap_secrets (volume_id, user, secret, target_user, "
                     "target_secret, origin) VALUES (?, ?, ?, ?, ?, ?)");
    insert.Bind(1, volume.id)
        .Bind(2, chap.user)
        .Bind(3, chap.secret)
        .Bind(4, chap.target_user)
        .Bind(5, chap.target_secret)
        .Bind(6, chap.origin == ChapOrigin::kGenerated ? "generated" : "publish-secrets");
    if (absl::Status st = insert.Run("insert chap secrets"); !st.ok()) return st;
  }
  return tx.Commit();
}

absl::StatusOr<std::vector<VolumeRecord>> Catalog::QueryVolumes(
    absl::string_view where, const std::vector<std::string>& args, int limit) {
  std::string sql =
      absl::StrCat("SELECT ", kVolumeColumns, " FROM volumes ", where, " ORDER BY id");
  if (limit > 0) absl::StrAppend(&sql, " LIMIT ", limit);
  std::vector<VolumeRecord> out;
  {
    Statement query(db_, sql);
    for (size_t i = 0; i < args.size(); ++i) query.Bind(static_cast<int>(i + 1), args[i]);
    while (query.Step()) {
      VolumeRecord record;
      record.id = query.Text(0);
      record.name = query.Text(1);
      record.capacity_bytes = static_cast<uint64_t>(query.Int(2));
      record.block_size = static_cast<uint32_t>(query.Int(3));
      record.fs_type = query.Text(4);
      record.access_types = static_cast<uint32_t>(query.Int(5));
      record.state = ParseState(query.Text(6));
      record.source_kind = ParseSourceKind(query.Text(7));
      record.source_id = query.Text(8);
      record.created = absl::FromUnixNanos(query.Int(9));
      out.push_back(std::move(record));
    }
    if (absl::Status st = query.status("list volumes"); !st.ok()) return st;
  }
  for (VolumeRecord& record : out) {
    Statement query(db_, "SELECT key, value FROM volume_parameters WHERE volume_id = ?");
    query.Bind(1, record.id);
    while (query.Step()) record.parameters.emplace(query.Text(0), query.Text(1));
    if (absl::Status st = query.status("read volume parameters"); !st.ok()) return st;
  }
  return out;
}

absl::StatusOr<std::optional<VolumeRecord>> Catalog::GetVolume(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<VolumeRecord>> rows =
      QueryVolumes("WHERE id = ?", {std::string(id)}, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

absl::StatusOr<std::optional<VolumeRecord>> Catalog::FindVolumeByName(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<VolumeRecord>> rows =
      QueryVolumes("WHERE name = ?", {std::string(name)}, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

absl::StatusOr<std::vector<VolumeRecord>> Catalog::ListVolumes(absl::string_view after_id,
                                                               int limit, bool ready_only) {
  absl::MutexLock lock(&mu_);
  std::string where = "WHERE id > ?";
  if (ready_only) absl::StrAppend(&where, " AND state = 'ready'");
  return QueryVolumes(where, {std::string(after_id)}, limit);
}

absl::Status Catalog::UpdateState(absl::string_view table, absl::string_view id,
                                  RecordState state) {
  absl::MutexLock lock(&mu_);
  Statement update(db_, absl::StrCat("UPDATE ", table, " SET state = ? WHERE id = ?"));
  update.Bind(1, RecordStateName(state)).Bind(2, id);
  if (absl::Status st = update.Run(absl::StrCat("set ", table, " state")); !st.ok()) return st;
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("catalogue: ", id, " is not in ", table));
  }
  return absl::OkStatus();
}

absl::Status Catalog::SetVolumeState(absl::string_view id, RecordState state) {
  return UpdateState("volumes", id, state);
}

absl::Status Catalog::SetVolumeCapacity(absl::string_view id, uint64_t capacity_bytes,
                                        std::optional<uint64_t> capacity_limit) {
  absl::MutexLock lock(&mu_);
  Transaction tx(this);
  if (!tx.status().ok()) return tx.status();
  uint64_t current = 0;
  {
    Statement query(db_, "SELECT capacity_bytes FROM volumes WHERE id = ?");
    query.Bind(1, id);
    if (!query.Step()) {
      if (absl::Status st = query.status("read capacity"); !st.ok()) return st;
      return absl::NotFoundError(absl::StrCat("catalogue: volume ", id, " is unknown"));
    }
    current = static_cast<uint64_t>(query.Int(0));
  }
  if (capacity_bytes > current) {
    if (absl::Status st = CheckLimit(capacity_bytes - current, capacity_limit); !st.ok()) {
      return st;
    }
  }
  Statement update(db_, "UPDATE volumes SET capacity_bytes = ? WHERE id = ?");
  update.BindInt(1, static_cast<int64_t>(capacity_bytes)).Bind(2, id);
  if (absl::Status st = update.Run("set capacity"); !st.ok()) return st;
  return tx.Commit();
}

absl::Status Catalog::DeleteVolume(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  Statement remove(db_, "DELETE FROM volumes WHERE id = ?");
  remove.Bind(1, id);
  return remove.Run("delete volume");
}

absl::Status Catalog::InsertSnapshot(const SnapshotRecord& snapshot,
                                     std::optional<uint64_t> capacity_limit) {
  absl::MutexLock lock(&mu_);
  Transaction tx(this);
  if (!tx.status().ok()) return tx.status();
  if (absl::Status st = CheckLimit(snapshot.size_bytes, capacity_limit); !st.ok()) return st;
  Statement insert(db_, absl::StrCat("INSERT INTO snapshots (", kSnapshotColumns,
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, snapshot.id)
      .Bind(2, snapshot.name)
      .Bind(3, snapshot.source_volume_id)
      .BindInt(4, static_cast<int64_t>(snapshot.size_bytes))
      .BindInt(5, snapshot.block_size)
      .Bind(6, snapshot.fs_type)
      .Bind(7, RecordStateName(snapshot.state))
      .BindInt(8, ToNanos(snapshot.created));
  if (absl::Status st = insert.Run("insert snapshot"); !st.ok()) return st;
  return tx.Commit();
}

absl::StatusOr<std::vector<SnapshotRecord>> Catalog::QuerySnapshots(
    absl::string_view where, const std::vector<std::string>& args, int limit) {
  std::string sql =
      absl::StrCat("SELECT ", kSnapshotColumns, " FROM snapshots ", where, " ORDER BY id");
  if (limit > 0) absl::StrAppend(&sql, " LIMIT ", limit);
  Statement query(db_, sql);
  for (size_t i = 0; i < args.size(); ++i) query.Bind(static_cast<int>(i + 1), args[i]);
  std::vector<SnapshotRecord> out;
  while (query.Step()) {
    SnapshotRecord record;
    record.id = query.Text(0);
    record.name = query.Text(1);
    record.source_volume_id = query.Text(2);
    record.size_bytes = static_cast<uint64_t>(query.Int(3));
    record.block_size = static_cast<uint32_t>(query.Int(4));
    record.fs_type = query.Text(5);
    record.state = ParseState(query.Text(6));
    record.created = absl::FromUnixNanos(query.Int(7));
    out.push_back(std::move(record));
  }
  if (absl::Status st = query.status("list snapshots"); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<SnapshotRecord>> Catalog::GetSnapshot(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<SnapshotRecord>> rows =
      QuerySnapshots("WHERE id = ?", {std::string(id)}, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

absl::StatusOr<std::optional<SnapshotRecord>> Catalog::FindSnapshotByName(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<SnapshotRecord>> rows =
      QuerySnapshots("WHERE name = ?", {std::string(name)}, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

absl::StatusOr<std::vector<SnapshotRecord>> Catalog::ListSnapshots(
    absl::string_view after_id, int limit, absl::string_view source_volume_id, bool ready_only) {
  absl::MutexLock lock(&mu_);
  std::string where = "WHERE id > ?";
  std::vector<std::string> args = {std::string(after_id)};
  if (!source_volume_id.empty()) {
    absl::StrAppend(&where, " AND source_volume_id = ?");
    args.emplace_back(source_volume_id);
  }
  if (ready_only) absl::StrAppend(&where, " AND state = 'ready'");
  return QuerySnapshots(where, args, limit);
}

absl::Status Catalog::SetSnapshotState(absl::string_view id, RecordState state) {
  return UpdateState("snapshots", id, state);
}

absl::Status Catalog::MarkSnapshotReady(absl::string_view id, absl::Time cut) {
  absl::MutexLock lock(&mu_);
  Statement update(db_,
                   "UPDATE snapshots SET state = 'ready', created_unix_nanos = ? WHERE id = ?");
  update.BindInt(1, ToNanos(cut)).Bind(2, id);
  if (absl::Status st = update.Run("mark snapshot ready"); !st.ok()) return st;
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("catalogue: snapshot ", id, " is unknown"));
  }
  return absl::OkStatus();
}

absl::Status Catalog::DeleteSnapshot(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  Statement remove(db_, "DELETE FROM snapshots WHERE id = ?");
  remove.Bind(1, id);
  return remove.Run("delete snapshot");
}

absl::Status Catalog::AddPublication(const PublicationRecord& publication) {
  absl::MutexLock lock(&mu_);
  Statement insert(db_,
                   "INSERT OR REPLACE INTO publications (volume_id, node_id, readonly, "
                   "access_mode, access_type) VALUES (?, ?, ?, ?, ?)");
  insert.Bind(1, publication.volume_id)
      .Bind(2, publication.node_id)
      .BindInt(3, publication.readonly ? 1 : 0)
      .BindInt(4, publication.access_mode)
      .BindInt(5, publication.access_type);
  return insert.Run("add publication");
}

absl::Status Catalog::RemovePublication(absl::string_view volume_id, absl::string_view node_id) {
  absl::MutexLock lock(&mu_);
  Statement remove(db_, "DELETE FROM publications WHERE volume_id = ? AND node_id = ?");
  remove.Bind(1, volume_id).Bind(2, node_id);
  return remove.Run("remove publication");
}

absl::StatusOr<std::vector<PublicationRecord>> Catalog::Publications(absl::string_view volume_id) {
  absl::MutexLock lock(&mu_);
  Statement query(db_,
                  "SELECT node_id, readonly, access_mode, access_type FROM publications "
                  "WHERE volume_id = ? ORDER BY node_id");
  query.Bind(1, volume_id);
  std::vector<PublicationRecord> out;
  while (query.Step()) {
    PublicationRecord record;
    record.volume_id = std::string(volume_id);
    record.node_id = query.Text(0);
    record.readonly = query.Int(1) != 0;
    record.access_mode = static_cast<int>(query.Int(2));
    record.access_type = static_cast<uint32_t>(query.Int(3));
    out.push_back(std::move(record));
  }
  if (absl::Status st = query.status("list publications"); !st.ok()) return st;
  return out;
}

absl::StatusOr<ChapCredentials> Catalog::GetChap(absl::string_view volume_id) {
  absl::MutexLock lock(&mu_);
  Statement query(db_,
                  "SELECT user, secret, target_user, target_secret, origin FROM chap_secrets "
                  "WHERE volume_id = ?");
  query.Bind(1, volume_id);
  if (!query.Step()) {
    if (absl::Status st = query.status("read chap secrets"); !st.ok()) return st;
    return absl::NotFoundError(absl::StrCat("catalogue: no CHAP secrets for ", volume_id));
  }
  ChapCredentials chap;
  chap.user = query.Text(0);
  chap.secret = query.Text(1);
  chap.target_user = query.Text(2);
  chap.target_secret = query.Text(3);
  chap.origin = query.Text(4) == "generated" ? ChapOrigin::kGenerated : ChapOrigin::kPublishSecrets;
  return chap;
}

absl::Status Catalog::SetChap(absl::string_view volume_id, const ChapCredentials& chap) {
  absl::MutexLock lock(&mu_);
  Statement insert(db_,
                   "INSERT OR REPLACE INTO chap_secrets (volume_id, user, secret, target_user, "
                   "target_secret, origin) VALUES (?, ?, ?, ?, ?, ?)");
  insert.Bind(1, volume_id)
      .Bind(2, chap.user)
      .Bind(3, chap.secret)
      .Bind(4, chap.target_user)
      .Bind(5, chap.target_secret)
      .Bind(6, chap.origin == ChapOrigin::kGenerated ? "generated" : "publish-secrets");
  return insert.Run("set chap secrets");
}

}  // namespace iscsi_csi::controller
