// The controller SIGKILLed in the middle of its operations (issue #12). `iscsi-csi controller`
// runs with its pool in a temp dir; each round fires, from one thread each, CreateVolume (an
// empty 1 GiB volume, a clone of a volume holding 192 MiB of data, a restore from a snapshot
// of it), CreateSnapshot of another volume (96 MiB of data), and DeleteVolume / DeleteSnapshot
// of what the round before made, then SIGKILLs the process after a delay that varies from
// round to round (0 to 0.7 s, so kills land before, inside and after the copies). Between the
// kill and the restart the test reads the dead process's catalogue and pool and works out what
// VolumeManager::Recover must do (catalog.cc's crash-ordering table); in one round it also
// leaves stray files in the pool. After the restart:
//   - iscsi_csi_controller_recovery_actions_total{action} equals that prediction;
//   - every catalogue row is ready, every row has its file (size = recorded capacity), every
//     file in the pool has its row, no .tmp is left, and ListVolumes / ListSnapshots name
//     exactly the rows;
//   - each interrupted call, retried with the same name or id, succeeds (twice), returning the
//     id the catalogue holds when the operation had survived, and a clone, restore or snapshot
//     holds exactly its source's bytes.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "csi.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/controller/csi_requests.h"
#include "tests/reliability/reliability_util.h"
#include "tests/testutil/loopback.h"
#include "tests/testutil/process.h"

namespace iscsi_csi::reliability {
namespace {

using ::iscsi_csi::controller::testing::BlockCap;
using ::iscsi_csi::controller::testing::CreateRequest;
using ::iscsi_csi::controller::testing::DeleteRequest;
using ::iscsi_csi::controller::testing::kMiB;
using ::iscsi_csi::controller::testing::SnapshotRequest;
using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;
using ::iscsi_csi::testing::FreeLoopbackPort;

constexpr int kRounds = 8;
constexpr int64_t kSourceBytes = 256 * kMiB;      // the clone source: 192 MiB of data
constexpr int64_t kSnapSourceBytes = 128 * kMiB;  // the snapshot source: 96 MiB of data

// HttpGet fetches http://127.0.0.1:port/path (HTTP/1.0, the whole answer); empty on failure.
std::string HttpGet(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof buffer)) > 0) answer.append(buffer, n);
    }
  }
  close(fd);
  return answer;
}

// One catalogue row and the pool as the dead (or live) process left them.
struct Row {
  std::string name;
  std::string state;
  uint64_t bytes = 0;
};
struct PoolState {
  std::map<std::string, Row> volumes;    // by id
  std::map<std::string, Row> snapshots;  // by id
  std::set<std::string> volume_files;    // file names in volumes/
  std::set<std::string> snapshot_files;  // file names in snapshots/
};

std::map<std::string, Row> QueryRows(sqlite3* db, const char* sql) {
  std::map<std::string, Row> rows;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "catalogue query failed: " << sqlite3_errmsg(db);
    return rows;
  }
  while (sqlite3_step(statement) == SQLITE_ROW) {
    Row row;
    row.name = reinterpret_cast<const char*>(sqlite3_column_text(statement, 1));
    row.state = reinterpret_cast<const char*>(sqlite3_column_text(statement, 2));
    row.bytes = static_cast<uint64_t>(sqlite3_column_int64(statement, 3));
    rows[reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))] = row;
  }
  sqlite3_finalize(statement);
  return rows;
}

std::set<std::string> FileNames(const std::string& dir) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

PoolState ReadPool(const std::string& data_dir) {
  PoolState state;
  sqlite3* db = nullptr;
  // Read-only; the WAL of a killed writer is read as committed transactions.
  if (sqlite3_open_v2((data_dir + "/catalog.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    ADD_FAILURE() << "cannot open the catalogue: " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return state;
  }
  sqlite3_busy_timeout(db, 5000);
  state.volumes = QueryRows(db, "SELECT id, name, state, capacity_bytes FROM volumes");
  state.snapshots = QueryRows(db, "SELECT id, name, state, size_bytes FROM snapshots");
  sqlite3_close(db);
  state.volume_files = FileNames(data_dir + "/volumes");
  state.snapshot_files = FileNames(data_dir + "/snapshots");
  return state;
}

// What VolumeManager::Recover does to `state` (catalog.cc), as counts per metric action.
struct Recovery {
  int finished = 0;
  int undone = 0;
  int orphan_removed = 0;
  std::string story;
};

Recovery PredictRecovery(const PoolState& state, const std::string& data_dir) {
  Recovery r;
  std::set<std::string> kept;     // files a surviving row names
  std::set<std::string> handled;  // files Undo* removes
  auto rows = [&](const std::map<std::string, Row>& table, const std::set<std::string>& files,
                  const std::string& dir, bool volumes) {
    for (const auto& [id, row] : table) {
      const std::string file = id + ".img";
      const bool present = files.contains(file);
      if (row.state == "ready") {
        kept.insert(file);
        struct stat st {};
        if (volumes && present && stat((dir + "/" + file).c_str(), &st) == 0 &&
            static_cast<uint64_t>(st.st_size) < row.bytes) {
          ++r.finished;  // an interrupted expansion
        }
      } else if (row.state == "creating" && present) {
        kept.insert(file);
        ++r.finished;
        absl::StrAppend(&r.story, " finish:", row.name);
      } else {
        handled.insert(file);
        handled.insert(file + ".tmp");
        ++(row.state == "creating" ? r.undone : r.finished);
        absl::StrAppend(&r.story, row.state == "creating" ? " undo:" : " finish-delete:", row.name);
      }
    }
  };
  rows(state.snapshots, state.snapshot_files, data_dir + "/snapshots", false);
  rows(state.volumes, state.volume_files, data_dir + "/volumes", true);
  for (const std::set<std::string>* files : {&state.volume_files, &state.snapshot_files}) {
    for (const std::string& name : *files) {
      if (kept.contains(name) || handled.contains(name)) continue;
      if ((absl::StartsWith(name, "vol-") || absl::StartsWith(name, "snap-")) &&
          (absl::EndsWith(name, ".img") || absl::EndsWith(name, ".img.tmp"))) {
        ++r.orphan_removed;
        absl::StrAppend(&r.story, " orphan:", name);
      }
    }
  }
  return r;
}

// SameBytes compares two files' first `bytes` bytes.
bool SameBytes(const std::string& a, const std::string& b, uint64_t bytes) {
  const int fa = open(a.c_str(), O_RDONLY);
  const int fb = open(b.c_str(), O_RDONLY);
  bool same = fa >= 0 && fb >= 0;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  for (uint64_t at = 0; same && at < bytes; at += ba.size()) {
    const ssize_t na = pread(fa, ba.data(), ba.size(), static_cast<off_t>(at));
    const ssize_t nb = pread(fb, bb.data(), bb.size(), static_cast<off_t>(at));
    same = na == nb && na > 0 && std::equal(ba.begin(), ba.begin() + na, bb.begin());
  }
  if (fa >= 0) close(fa);
  if (fb >= 0) close(fb);
  return same;
}

// FillFile writes `data_bytes` of non-zero bytes at the start of `path` (a volume's file).
void FillFile(const std::string& path, uint64_t data_bytes, uint8_t seed) {
  const int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  std::vector<char> chunk(1 << 20);
  for (uint64_t at = 0; at < data_bytes; at += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); i += 512) chunk[i] = static_cast<char>(seed + at / 512);
    std::fill(chunk.begin() + 1, chunk.begin() + 64, static_cast<char>(seed));
    ASSERT_EQ(pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(at)),
              static_cast<ssize_t>(chunk.size()));
  }
  fsync(fd);
  close(fd);
}

// The outcome of one call fired before the kill.
struct Call {
  std::string what;
  grpc::Status status;
  std::string id;  // the volume or snapshot id an OK answer named
};

class ControllerKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    data_ = dir_ + "/data";
    socket_ = absl::StrCat(::testing::TempDir(), "/rel-kill-", getpid(), ".sock");
  }

  void Start(const std::string& log_name) {
    metrics_port_ = FreeLoopbackPort();
    controller_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath(), "controller", "--endpoint=unix://" + socket_,
                                 "--data-dir=" + data_,
                                 absl::StrCat("--portal=127.0.0.1:", FreeLoopbackPort()),
                                 absl::StrCat("--metrics-address=127.0.0.1:", metrics_port_)},
        dir_ + "/" + log_name);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      channel_ = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
      auto identity = csi::v1::Identity::NewStub(channel_);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      csi::v1::ProbeResponse probe;
      if (identity->Probe(&context, {}, &probe).ok() && probe.ready().value()) {
        stub_ = csi::v1::Controller::NewStub(channel_);
        return;
      }
      if (controller_->Wait(absl::ZeroDuration()).has_value()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "controller did not become ready:\n" << controller_->Stderr();
  }

  void Kill() {
    controller_->Signal(SIGKILL);
    ASSERT_TRUE(controller_->Wait(absl::Seconds(30)).has_value());
    stub_.reset();
    channel_.reset();
  }

  std::map<std::string, double> RecoveryMetrics() {
    std::map<std::string, double> values;
    const std::string page = HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(absl::StrContains(page, "iscsi_csi_controller_volumes")) << page.substr(0, 300);
    for (absl::string_view line : absl::StrSplit(page, '\n')) {
      constexpr absl::string_view kPrefix = "iscsi_csi_controller_recovery_actions_total{action=\"";
      if (!absl::StartsWith(line, kPrefix)) continue;
      line.remove_prefix(kPrefix.size());
      const size_t quote = line.find('"');
      const size_t space = line.rfind(' ');
      double value = 0;
      if (quote == absl::string_view::npos || space == absl::string_view::npos ||
          !absl::SimpleAtod(line.substr(space + 1), &value)) {
        continue;
      }
      values[std::string(line.substr(0, quote))] = value;
    }
    return values;
  }

  template <typename Request, typename Response>
  grpc::Status Rpc(grpc::Status (csi::v1::Controller::Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                   const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return (stub_.get()->*method)(&context, request, response);
  }

  csi::v1::CreateVolumeRequest Create(const std::string& name, int64_t bytes,
                                      const std::string& volume_source,
                                      const std::string& snapshot_source) {
    csi::v1::CreateVolumeRequest request = CreateRequest(name, bytes, BlockCap());
    if (!volume_source.empty()) {
      request.mutable_volume_content_source()->mutable_volume()->set_volume_id(volume_source);
    }
    if (!snapshot_source.empty()) {
      request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snapshot_source);
    }
    return request;
  }

  // Checks that catalogue, pool and listings agree and every row is ready.
  void CheckConsistent(const std::string& when) {
    SCOPED_TRACE(when);
    const PoolState state = ReadPool(data_);
    std::set<std::string> want_volume_files, want_snapshot_files;
    for (const auto& [id, row] : state.volumes) {
      EXPECT_EQ(row.state, "ready") << "volume " << id << " (" << row.name << ")";
      want_volume_files.insert(id + ".img");
      struct stat st {};
      const std::string path = data_ + "/volumes/" + id + ".img";
      ASSERT_EQ(stat(path.c_str(), &st), 0)
          << "volume " << id << " (" << row.name << ") has a row but no file";
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), row.bytes) << "volume " << row.name;
    }
    for (const auto& [id, row] : state.snapshots) {
      EXPECT_EQ(row.state, "ready") << "snapshot " << id << " (" << row.name << ")";
      want_snapshot_files.insert(id + ".img");
      struct stat st {};
      const std::string path = data_ + "/snapshots/" + id + ".img";
      ASSERT_EQ(stat(path.c_str(), &st), 0)
          << "snapshot " << id << " (" << row.name << ") has a row but no file";
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), row.bytes) << "snapshot " << row.name;
    }
    EXPECT_EQ(state.volume_files, want_volume_files) << "volume files and rows differ";
    EXPECT_EQ(state.snapshot_files, want_snapshot_files) << "snapshot files and rows differ";

    std::set<std::string> listed_volumes, listed_snapshots, rows_volumes, rows_snapshots;
    csi::v1::ListVolumesResponse volumes;
    ASSERT_TRUE(
        Rpc(&csi::v1::Controller::Stub::ListVolumes, csi::v1::ListVolumesRequest(), &volumes).ok());
    for (const auto& entry : volumes.entries()) {
      listed_volumes.insert(entry.volume().volume_id());
      EXPECT_FALSE(entry.status().volume_condition().abnormal())
          << entry.volume().volume_id() << ": " << entry.status().volume_condition().message();
    }
    csi::v1::ListSnapshotsResponse snapshots;
    ASSERT_TRUE(
        Rpc(&csi::v1::Controller::Stub::ListSnapshots, csi::v1::ListSnapshotsRequest(), &snapshots)
            .ok());
    for (const auto& entry : snapshots.entries()) {
      listed_snapshots.insert(entry.snapshot().snapshot_id());
      EXPECT_TRUE(entry.snapshot().ready_to_use());
    }
    for (const auto& [id, row] : state.volumes) rows_volumes.insert(id);
    for (const auto& [id, row] : state.snapshots) rows_snapshots.insert(id);
    EXPECT_EQ(listed_volumes, rows_volumes) << "ListVolumes differs from the catalogue";
    EXPECT_EQ(listed_snapshots, rows_snapshots) << "ListSnapshots differs from the catalogue";
  }

  std::string dir_;
  std::string data_;
  std::string socket_;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<ChildProcess> controller_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<csi::v1::Controller::Stub> stub_;
};

TEST_F(ControllerKillTest, SigkillMidOperationIsRecoveredAndRetriesAreIdempotent) {
  ASSERT_NO_FATAL_FAILURE(Start("start.log"));
  // Sources: volumes with data written straight into their files (nobody is logged in), and
  // a snapshot of the first.
  csi::v1::CreateVolumeResponse source, snap_source;
  ASSERT_TRUE(
      Rpc(&csi::v1::Controller::Stub::CreateVolume, Create("source", kSourceBytes, "", ""), &source)
          .ok());
  ASSERT_TRUE(Rpc(&csi::v1::Controller::Stub::CreateVolume,
                  Create("snap-source", kSnapSourceBytes, "", ""), &snap_source)
                  .ok());
  const std::string source_id = source.volume().volume_id();
  const std::string snap_source_id = snap_source.volume().volume_id();
  ASSERT_NO_FATAL_FAILURE(FillFile(data_ + "/volumes/" + source_id + ".img", 192 * kMiB, 1));
  ASSERT_NO_FATAL_FAILURE(FillFile(data_ + "/volumes/" + snap_source_id + ".img", 96 * kMiB, 2));
  csi::v1::CreateSnapshotResponse base_snapshot;
  ASSERT_TRUE(Rpc(&csi::v1::Controller::Stub::CreateSnapshot,
                  SnapshotRequest("source-snap", source_id), &base_snapshot)
                  .ok());
  const std::string base_snapshot_id = base_snapshot.snapshot().snapshot_id();
  // Victims for the first round's deletions.
  std::vector<std::string> delete_volumes, delete_snapshots;
  {
    csi::v1::CreateVolumeResponse victim;
    ASSERT_TRUE(Rpc(&csi::v1::Controller::Stub::CreateVolume,
                    Create("victim", kSourceBytes, source_id, ""), &victim)
                    .ok());
    delete_volumes.push_back(victim.volume().volume_id());
    csi::v1::CreateSnapshotResponse snap;
    ASSERT_TRUE(Rpc(&csi::v1::Controller::Stub::CreateSnapshot,
                    SnapshotRequest("victim-snap", snap_source_id), &snap)
                    .ok());
    delete_snapshots.push_back(snap.snapshot().snapshot_id());
  }

  std::mt19937 random(20261126);
  const std::vector<int> delays_ms = {0, 30, 70, 120, 180, 250, 350, 700};
  int interrupted_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string prefix = absl::StrCat("r", round, "-");
    struct Op {
      std::string what;
      std::function<Call()> run;
    };
    // The calls of this round; each is run once before the kill and twice after it.
    std::vector<Op> ops;
    auto create = [&](const std::string& name, int64_t bytes, const std::string& volume_source,
                      const std::string& snapshot_source) {
      ops.push_back({name, [this, name, bytes, volume_source, snapshot_source] {
                       csi::v1::CreateVolumeResponse response;
                       Call call{
                           name,
                           Rpc(&csi::v1::Controller::Stub::CreateVolume,
                               Create(name, bytes, volume_source, snapshot_source), &response),
                           response.volume().volume_id()};
                       return call;
                     }});
    };
    create(prefix + "empty", 1024 * kMiB, "", "");
    create(prefix + "clone", kSourceBytes, source_id, "");
    create(prefix + "restore", kSourceBytes, "", base_snapshot_id);
    ops.push_back({prefix + "snap", [this, prefix, snap_source_id] {
                     csi::v1::CreateSnapshotResponse response;
                     return Call{prefix + "snap",
                                 Rpc(&csi::v1::Controller::Stub::CreateSnapshot,
                                     SnapshotRequest(prefix + "snap", snap_source_id), &response),
                                 response.snapshot().snapshot_id()};
                   }});
    for (const std::string& id : delete_volumes) {
      ops.push_back({"delete " + id, [this, id] {
                       csi::v1::DeleteVolumeResponse response;
                       return Call{"delete " + id,
                                   Rpc(&csi::v1::Controller::Stub::DeleteVolume, DeleteRequest(id),
                                       &response),
                                   id};
                     }});
    }
    for (const std::string& id : delete_snapshots) {
      ops.push_back({"delete " + id, [this, id] {
                       csi::v1::DeleteSnapshotRequest request;
                       request.set_snapshot_id(id);
                       csi::v1::DeleteSnapshotResponse response;
                       return Call{
                           "delete " + id,
                           Rpc(&csi::v1::Controller::Stub::DeleteSnapshot, request, &response), id};
                     }});
    }

    // Fire everything at once, kill after this round's delay (plus up to 50 ms of jitter).
    std::vector<Call> before(ops.size());
    std::vector<std::thread> threads;
    const absl::Time fired = absl::Now();
    for (size_t i = 0; i < ops.size(); ++i) {
      threads.emplace_back([&ops, &before, i] { before[i] = ops[i].run(); });
    }
    const int delay =
        delays_ms[static_cast<size_t>(round) % delays_ms.size()] + static_cast<int>(random() % 50);
    absl::SleepFor(absl::Milliseconds(delay) - (absl::Now() - fired));
    ASSERT_NO_FATAL_FAILURE(Kill());
    for (std::thread& t : threads) t.join();
    int completed = 0;
    std::string outcomes;
    for (const Call& call : before) {
      if (call.status.ok()) ++completed;
      absl::StrAppend(&outcomes, " ", call.what, "=", call.status.ok() ? "ok" : "cut");
    }

    // Strays as a crash between an unlink and a row delete, or a lost rename, leaves them:
    // ours are removed at start, a file that is not ours is left alone.
    const bool strays = round == 3;
    if (strays) {
      for (const char* name : {"/volumes/vol-00000000000000aa.img",
                               "/snapshots/snap-00000000000000bb.img.tmp", "/volumes/notes.txt"}) {
        std::FILE* file = std::fopen((data_ + name).c_str(), "w");
        ASSERT_NE(file, nullptr) << name;
        std::fclose(file);
      }
    }

    // What the dead process left, and what recovery must make of it.
    const PoolState dead = ReadPool(data_);
    const Recovery predicted = PredictRecovery(dead, data_);
    interrupted_total += predicted.finished + predicted.undone + predicted.orphan_removed;
    std::cout << "round " << round << ": killed after " << delay << " ms, " << completed << "/"
              << ops.size() << " calls done (" << outcomes
              << " ); recovery:" << (predicted.story.empty() ? " nothing" : predicted.story)
              << "\n";

    ASSERT_NO_FATAL_FAILURE(Start(absl::StrCat("round-", round, ".log")));
    std::map<std::string, double> metrics = RecoveryMetrics();
    EXPECT_EQ(metrics["finished"], predicted.finished) << predicted.story;
    EXPECT_EQ(metrics["undone"], predicted.undone) << predicted.story;
    EXPECT_EQ(metrics["orphan_removed"], predicted.orphan_removed) << predicted.story;
    if (strays) {
      EXPECT_GE(predicted.orphan_removed, 2);
      EXPECT_TRUE(std::filesystem::exists(data_ + "/volumes/notes.txt"));
      std::filesystem::remove(data_ + "/volumes/notes.txt");
    }
    CheckConsistent("after recovery");

    // Retry every call of the round (twice): same answers, and the same ids for what the
    // catalogue kept.
    const PoolState recovered = ReadPool(data_);
    std::map<std::string, std::string> id_by_name;
    for (const auto& [id, row] : recovered.volumes) id_by_name[row.name] = id;
    for (const auto& [id, row] : recovered.snapshots) id_by_name[row.name] = id;
    delete_volumes.clear();
    delete_snapshots.clear();
    for (size_t i = 0; i < ops.size(); ++i) {
      const Call first = ops[i].run();
      const Call second = ops[i].run();
      ASSERT_TRUE(first.status.ok()) << ops[i].what << ": " << first.status.error_message();
      ASSERT_TRUE(second.status.ok()) << ops[i].what << ": " << second.status.error_message();
      EXPECT_EQ(first.id, second.id) << ops[i].what;
      if (absl::StartsWith(ops[i].what, "delete ")) continue;
      if (before[i].status.ok()) {
        EXPECT_EQ(first.id, before[i].id) << ops[i].what << " answered OK before the kill";
      }
      if (auto it = id_by_name.find(ops[i].what); it != id_by_name.end()) {
        EXPECT_EQ(first.id, it->second) << ops[i].what << " survived the kill";
      }
      if (absl::EndsWith(ops[i].what, "-snap")) {
        delete_snapshots.push_back(first.id);
        EXPECT_TRUE(SameBytes(data_ + "/snapshots/" + first.id + ".img",
                              data_ + "/volumes/" + snap_source_id + ".img", kSnapSourceBytes))
            << ops[i].what << " differs from its source";
      } else if (!absl::EndsWith(ops[i].what, "-empty")) {
        delete_volumes.push_back(first.id);
        EXPECT_TRUE(SameBytes(data_ + "/volumes/" + first.id + ".img",
                              data_ + "/volumes/" + source_id + ".img", kSourceBytes))
            << ops[i].what << " differs from its source";
      }
    }
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!absl::StartsWith(ops[i].what, "delete ")) continue;
      const std::string id = ops[i].what.substr(7);
      EXPECT_FALSE(std::filesystem::exists(data_ + "/volumes/" + id + ".img")) << id;
      EXPECT_FALSE(std::filesystem::exists(data_ + "/snapshots/" + id + ".img")) << id;
    }
    CheckConsistent("after the retries");
    if (HasFatalFailure()) return;
  }
  std::cout << interrupted_total << " recovery actions over " << kRounds << " kills\n";
  EXPECT_GT(interrupted_total, 0) << "no kill landed inside an operation: the test proved nothing";
  ASSERT_NO_FATAL_FAILURE(Kill());
  std::filesystem::remove(socket_);
  RemoveScratchDir(dir_);
}

}  // namespace
}  // namespace iscsi_csi::reliability
