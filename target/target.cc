// Target: the facade of the embedded iSCSI target (see target.h). Target::Impl owns the
// registry, the backing-store worker pool, a small management pool for blocking task
// management work, the event loops, the portals and the session table (TSIH assignment,
// session reinstatement per RFC 7143 §6.3.5, ListSessions/CloseSessions).
#include "target/target.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "target/backend/sparse_file.h"
#include "target/backend/worker_pool.h"
#include "target/connection.h"
#include "target/event_loop.h"
#include "target/portal.h"
#include "target/protocol.h"
#include "target/registry.h"
#include "target/scsi/lun.h"
#include "target/scsi/lun_address.h"
#include "target/scsi/sense.h"
#include "target/session.h"

namespace iscsi_csi::target {
namespace {

// SPC-4 table 30: iSCSI (no version claimed).
constexpr uint16_t kIscsiVersionDescriptor = 0x0960;
constexpr int kManagementThreads = 2;

bool IsIpv4(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool IsIpv6(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

uint64_t Fnv1a(absl::string_view text, uint64_t seed) {
  uint64_t hash = 1469598103934665603ull ^ seed;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

// --- PortalAddress --------------------------------------------------------------------------

std::string PortalAddress::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<PortalAddress> ParsePortalAddress(absl::string_view text) {
  PortalAddress address;
  std::string host;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("portal \"", text, "\": missing ']'"));
    }
    host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("portal \"", text, "\": junk after ']'"));
      }
      port_text = rest.substr(1);
    }
    if (!IsIpv6(host)) {
      return absl::InvalidArgumentError(absl::StrCat("portal \"", text, "\": not an IPv6 address"));
    }
  } else {
    const size_t colons = std::count(text.begin(), text.end(), ':');
    if (colons > 1) {
      host = std::string(text);  // a bare IPv6 address, default port
      if (!IsIpv6(host)) {
        return absl::InvalidArgumentError(absl::StrCat("portal \"", text, "\": bad address"));
      }
    } else {
      const size_t colon = text.find(':');
      host = std::string(text.substr(0, colon));
      if (colon != absl::string_view::npos) port_text = text.substr(colon + 1);
      if (!host.empty() && !IsIpv4(host)) {
        return absl::InvalidArgumentError(
            absl::StrCat("portal \"", text, "\": not an IPv4 address"));
      }
    }
  }
  address.host = std::move(host);
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("portal \"", text, "\": bad port"));
    }
    address.port = static_cast<uint16_t>(port);
  }
  return address;
}

// --- Target::Impl ---------------------------------------------------------------------------

class Target::Impl final : public ConnectionHost {
 public:
  explicit Impl(TargetOptions options)
      : options_(std::move(options)), registry_(options_.portal_group_tag) {}
  ~Impl() override { Stop(); }

  absl::Status Init();
  void Stop();

  std::vector<PortalAddress> portals() const { return bound_; }
  absl::Status AddTarget(const TargetConfig& config) {
    absl::Status status = registry_.AddTarget(config);
    if (status.ok()) stats_.ForTarget(config.iqn);  // its series exist from the start, at 0
    return status;
  }
  absl::Status RemoveTarget(absl::string_view iqn);
  absl::Status AddLun(absl::string_view iqn, const LunConfig& config);
  absl::Status RemoveLun(absl::string_view iqn, uint64_t lun);
  absl::Status ResizeLun(absl::string_view iqn, uint64_t lun, uint64_t new_size_bytes);
  absl::Status SetInitiatorAcl(absl::string_view iqn, const InitiatorAcl& acl);
  absl::Status SetChap(absl::string_view iqn, const TargetChap& chap) {
    return registry_.SetChap(iqn, chap);
  }
  std::vector<SessionInfo> ListSessions() const;
  int CloseSessions(absl::string_view iqn, absl::string_view initiator_name);

  // ConnectionHost.
  Registry& registry() override { return registry_; }
  TargetStats& stats() override { return stats_; }
  ChapThrottle& chap_throttle() override { return chap_throttle_; }
  const TargetOptions& options() const override { return options_; }
  std::vector<PortalAddress> portal_addresses() const override { return bound_; }
  backend::WorkerPool& management_pool() override { return *management_pool_; }
  uint64_t NextNexusId() override { return next_nexus_id_.fetch_add(1); }
  LoginStatus CheckAddConnection(const SessionKey& key, uint16_t tsih) override;
  uint16_t RegisterSession(const SessionKey& key, SessionInfo info,
                           std::weak_ptr<Connection> connection, EventLoop* loop,
                           absl::AnyInvocable<void(uint16_t) &&> ready) override;
  void SessionClosing(uint16_t tsih) override;
  void SessionGone(uint16_t tsih) override;
  void ConnectionClosed(uint64_t id) override;

 private:
  struct SessionRecord {
    SessionKey key;
    SessionInfo info;
    std::weak_ptr<Connection> connection;
    EventLoop* loop = nullptr;
    bool closing = false;
    // A reinstating login waits for these older sessions to be gone.
    absl::flat_hash_set<uint16_t> waiting_for;
    absl::AnyInvocable<void(uint16_t) &&> ready;
  };
  struct Handle {
    std::weak_ptr<Connection> connection;
    EventLoop* loop = nullptr;
  };

  void OnAccept(int fd, std::string peer, std::string local_host);
  // CloseConnections closes the given connections on their loops and waits for that.
  static void CloseConnections(const std::vector<Handle>& handles, absl::string_view why);
  std::vector<Handle> SessionsOf(absl::string_view iqn,
                                 bool (*keep)(const SessionRecord&, const Registry&),
                                 absl::string_view initiator) ABSL_LOCKS_EXCLUDED(mu_);
  uint16_t AllocateTsih() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TargetOptions options_;
  TargetStats stats_;
  ChapThrottle chap_throttle_;
  // Destruction runs bottom-up: the management pool (whose work posts to the loops) goes
  // before the loops, the loops before the logical units and their I/O pool.
  Registry registry_;
  std::shared_ptr<backend::WorkerPool> io_pool_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::unique_ptr<backend::WorkerPool> management_pool_;
  std::vector<std::shared_ptr<Portal>> portals_;
  std::vector<PortalAddress> bound_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint64_t> next_nexus_id_{1};
  std::atomic<size_t> next_loop_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint16_t, SessionRecord> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Handle> connections_ ABSL_GUARDED_BY(mu_);
  // Accepted sockets on their way to a loop (counted against max_connections).
  size_t accepted_not_started_ ABSL_GUARDED_BY(mu_) = 0;
  uint16_t next_tsih_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

absl::Status Target::Impl::Init() {
  if (absl::Status status = ValidateTargetPolicy(options_.policy); !status.ok()) return status;
  if (options_.portals.empty()) return absl::InvalidArgumentError("target: no portals");
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int io_threads = options_.io_threads > 0 ? options_.io_threads : std::min(cores, 4);
  const int backing_threads =
      options_.backing_threads > 0 ? options_.backing_threads : std::max(4, 2 * cores);
  io_pool_ = std::make_shared<backend::WorkerPool>(backing_threads);
  management_pool_ = std::make_unique<backend::WorkerPool>(kManagementThreads);
  for (int i = 0; i < io_threads; ++i) {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop =
        EventLoop::Create(absl::StrCat("iscsi-io-", i));
    if (!loop.ok()) return loop.status();
    loops_.push_back(std::move(*loop));
  }
  for (const PortalAddress& address : options_.portals) {
    absl::StatusOr<std::shared_ptr<Portal>> portal =
        Portal::Listen(address, [this](int fd, std::string peer, std::string local_host) {
          OnAccept(fd, std::move(peer), std::move(local_host));
        });
    if (!portal.ok()) return portal.status();
    if (absl::Status status = loops_[0]->Add((*portal)->fd(), EPOLLIN, *portal); !status.ok()) {
      return status;
    }
    (*portal)->AttachTo(loops_[0].get());
    bound_.push_back((*portal)->bound());
    portals_.push_back(std::move(*portal));
  }
  for (auto& loop : loops_) loop->Start();
  for (const PortalAddress& address : bound_) {
    LOG(INFO) << "iSCSI portal bound to " << address.ToString();
  }
  return absl::OkStatus();
}

void Target::Impl::OnAccept(int fd, std::string peer, std::string local_host) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    const size_t open = connections_.size() + accepted_not_started_;
    if (options_.max_connections > 0 && open >= static_cast<size_t>(options_.max_connections)) {
      LOG_EVERY_T(WARNING, 10) << "refusing connection from " << peer << ": "
                               << options_.max_connections
                               << " connections are open (TargetOptions::max_connections)";
      close(fd);
      return;
    }
    ++accepted_not_started_;
  }
  // Spread connections: the least loaded loop, ties broken round robin.
  const size_t start = next_loop_.fetch_add(1);
  EventLoop* chosen = loops_[start % loops_.size()].get();
  for (size_t i = 0; i < loops_.size(); ++i) {
    EventLoop* candidate = loops_[(start + i) % loops_.size()].get();
    if (candidate->load() < chosen->load()) chosen = candidate;
  }
  const uint64_t id = next_connection_id_.fetch_add(1);
  chosen->Post([this, chosen, fd, id, peer = std::move(peer),
                local_host = std::move(local_host)]() mutable {
    auto connection =
        std::make_shared<Connection>(this, chosen, fd, id, std::move(peer), std::move(local_host));
    {
      absl::MutexLock lock(&mu_);
      --accepted_not_started_;
      if (stopping_) return;  // the connection's destructor closes the socket
      connections_[id] = Handle{connection, chosen};
    }
    if (absl::Status status = connection->Start(); !status.ok()) {
      LOG(WARNING) << "conn=" << id << ": " << status;
      absl::MutexLock lock(&mu_);
      connections_.erase(id);
    }
  });
}

void Target::Impl::ConnectionClosed(uint64_t id) {
  absl::MutexLock lock(&mu_);
  connections_.erase(id);
}

void Target::Impl::CloseConnections(const std::vector<Handle>& handles, absl::string_view why) {
  const std::string reason(why);
  for (const Handle& handle : handles) {
    handle.loop->RunSync([weak = handle.connection, reason] {
      if (std::shared_ptr<Connection> connection = weak.lock()) connection->Close(reason);
    });
  }
}

void Target::Impl::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  std::vector<Handle> handles;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& [id, handle] : connections_) handles.push_back(handle);
  }
  if (!loops_.empty()) {
    for (const std::shared_ptr<Portal>& portal : portals_) {
      loops_[0]->RunSync([&] {
        loops_[0]->Remove(portal->fd());
        portal->Close();
      });
    }
  }
  CloseConnections(handles, "target stopping");
  // Nexus teardown (RemoveNexus on the management pool) finishes before the loops stop.
  {
    absl::MutexLock lock(&mu_);
    auto all_gone = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sessions_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_gone), absl::Seconds(30))) {
      LOG(WARNING) << "iscsi target stopping with " << sessions_.size()
                   << " session(s) still finishing";
    }
  }
  for (const std::string& name : registry_.TargetNames()) {
    for (const auto& unit : registry_.Luns(name)) unit->Drain();
  }
  for (auto& loop : loops_) loop->Stop();
  LOG(INFO) << "iscsi target stopped";
}

absl::Status Target::Impl::RemoveTarget(absl::string_view iqn) {
  if (!registry_.Exists(iqn)) {
    return absl::NotFoundError(absl::StrCat("remove target ", iqn, ": not found"));
  }
  CloseConnections(SessionsOf(iqn, nullptr, ""), "target removed");
  absl::StatusOr<std::vector<std::shared_ptr<scsi::LogicalUnit>>> units =
      registry_.RemoveTarget(iqn);
  if (!units.ok()) return units.status();
  for (const auto& unit : *units) unit->ClearTaskSet();
  stats_.Forget(iqn);
  LOG(INFO) << "removed target " << iqn;
  return absl::OkStatus();
}

absl::Status Target::Impl::AddLun(absl::string_view iqn, const LunConfig& config) {
  const std::string name(iqn);
  absl::StatusOr<bool> exists = registry_.HasLun(name, config.lun);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    return absl::AlreadyExistsError(
        absl::StrCat("add lun ", config.lun, " to ", name, ": already exists"));
  }
  if (config.lun > scsi::kMaxFlatLun) {
    return absl::InvalidArgumentError(
        absl::StrCat("add lun ", config.lun, ": above ", scsi::kMaxFlatLun));
  }
  if (config.block_size != 512 && config.block_size != 4096) {
    return absl::InvalidArgumentError("add lun: block size must be 512 or 4096");
  }
  if (config.size_bytes % config.block_size != 0) {
    return absl::InvalidArgumentError("add lun: size is not a multiple of the block size");
  }
  if (config.backing_file.empty()) return absl::InvalidArgumentError("add lun: no backing file");
  backend::SparseFileOptions file_options;
  file_options.create_if_missing = config.size_bytes > 0;
  absl::StatusOr<std::unique_ptr<backend::SparseFile>> file =
      backend::SparseFile::Open(config.backing_file, config.size_bytes, file_options);
  if (!file.ok()) return file.status();
  if (config.size_bytes > 0 && (*file)->Size() < config.size_bytes) {
    if (absl::Status status = (*file)->Resize(config.size_bytes); !status.ok()) return status;
  }
  if ((*file)->Size() < config.block_size) {
    return absl::InvalidArgumentError("add lun: backing file is smaller than one block");
  }

  scsi::LogicalUnitConfig unit_config;
  unit_config.block_size = config.block_size;
  unit_config.read_only = config.read_only;
  unit_config.transport_version_descriptor = kIscsiVersionDescriptor;
  const std::string seed = absl::StrCat(name, "/", config.lun);
  unit_config.serial = config.serial;
  if (unit_config.serial.empty()) {
    unit_config.serial = absl::StrCat(absl::Hex(Fnv1a(seed, 0), absl::kZeroPad16));
  }
  unit_config.naa_wwn = config.naa_wwn;
  if (std::all_of(unit_config.naa_wwn.begin(), unit_config.naa_wwn.end(),
                  [](uint8_t b) { return b == 0; })) {
    // A stable NAA 6 designator derived from the target and LUN.
    const uint64_t high = Fnv1a(seed, 1);
    const uint64_t low = Fnv1a(seed, 2);
    for (int i = 0; i < 8; ++i) {
      unit_config.naa_wwn[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
      unit_config.naa_wwn[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
    }
    unit_config.naa_wwn[0] = static_cast<uint8_t>(0x60 | (unit_config.naa_wwn[0] & 0x0f));
  }
  std::shared_ptr<backend::BlockStore> store(std::move(*file));
  if (options_.wrap_store_for_test) store = options_.wrap_store_for_test(name, config, store);
  absl::StatusOr<std::unique_ptr<scsi::LogicalUnit>> unit =
      scsi::LogicalUnit::Create(std::move(unit_config), std::move(store), io_pool_);
  if (!unit.ok()) return unit.status();
  std::shared_ptr<scsi::LogicalUnit> shared(std::move(*unit));
  if (absl::Status status = registry_.AddLun(name, config.lun, shared); !status.ok()) {
    return status;
  }
  // SPC-4 §5.14: the other logical units report the inventory change.
  for (const auto& other : registry_.Luns(name)) {
    if (other != shared) {
      other->AddUnitAttention(std::nullopt, scsi::SenseReason::kReportedLunsDataHasChanged);
    }
  }
  LOG(INFO) << "exported lun " << config.lun << " of " << name << " (" << shared->capacity_blocks()
            << " blocks of " << shared->block_size() << ")";
  return absl::OkStatus();
}

absl::Status Target::Impl::RemoveLun(absl::string_view iqn, uint64_t lun) {
  absl::StatusOr<std::shared_ptr<scsi::LogicalUnit>> unit = registry_.RemoveLun(iqn, lun);
  if (!unit.ok()) return unit.status();
  // Commands already queued end with TASK ABORTED for their sessions.
  (*unit)->ClearTaskSet();
  (*unit)->Drain();
  for (const auto& other : registry_.Luns(iqn)) {
    other->AddUnitAttention(std::nullopt, scsi::SenseReason::kReportedLunsDataHasChanged);
  }
  LOG(INFO) << "removed lun " << lun << " of " << iqn;
  return absl::OkStatus();
}

absl::Status Target::Impl::ResizeLun(absl::string_view iqn, uint64_t lun, uint64_t new_size_bytes) {
  std::shared_ptr<scsi::LogicalUnit> unit = registry_.FindLun(iqn, lun);
  if (unit == nullptr) {
    return absl::NotFoundError(absl::StrCat("resize lun ", lun, " of ", iqn, ": not found"));
  }
  const uint64_t current = unit->capacity_blocks() * unit->block_size();
  if (new_size_bytes < current) {
    return absl::OutOfRangeError(
        absl::StrCat("resize lun ", lun, " of ", iqn, ": shrinking is not supported"));
  }
  if (new_size_bytes == current) return absl::OkStatus();
  if (absl::Status status = unit->Resize(new_size_bytes); !status.ok()) return status;
  // The unit attention is in place; logged-in sessions also get an Async Message (§11.9.1).
  const std::vector<uint8_t> sense =
      scsi::EncodeSense(scsi::CheckCondition::Of(scsi::SenseReason::kCapacityDataHasChanged),
                        scsi::SenseFormat::kFixed);
  for (const Handle& handle : SessionsOf(iqn, nullptr, "")) {
    handle.loop->Post([weak = handle.connection, lun, sense] {
      if (std::shared_ptr<Connection> connection = weak.lock()) {
        connection->SendScsiAsyncEvent(lun, sense);
      }
    });
  }
  LOG(INFO) << "resized lun " << lun << " of " << iqn << " to " << new_size_bytes << " bytes";
  return absl::OkStatus();
}

std::vector<Target::Impl::Handle> Target::Impl::SessionsOf(absl::string_view iqn,
                                                           bool (*keep)(const SessionRecord&,
                                                                        const Registry&),
                                                           absl::string_view initiator) {
  std::vector<Handle> handles;
  absl::MutexLock lock(&mu_);
  for (auto& [tsih, record] : sessions_) {
    if (record.closing || record.info.discovery) continue;
    if (!iqn.empty() && record.info.target_iqn != iqn) continue;
    if (!initiator.empty() && record.info.initiator_name != initiator) continue;
    if (keep != nullptr && !keep(record, registry_)) continue;
    handles.push_back(Handle{record.connection, record.loop});
  }
  return handles;
}

absl::Status Target::Impl::SetInitiatorAcl(absl::string_view iqn, const InitiatorAcl& acl) {
  if (absl::Status status = registry_.SetAcl(iqn, acl); !status.ok()) return status;
  // Sessions of initiators the new ACL no longer admits end now.
  std::vector<Handle> revoked = SessionsOf(
      iqn,
      [](const SessionRecord& record, const Registry& registry) {
        return !registry.Admits(record.info.target_iqn, record.info.initiator_name);
      },
      "");
  if (!revoked.empty()) {
    LOG(INFO) << "acl of " << iqn << " changed: closing " << revoked.size() << " session(s)";
  }
  CloseConnections(revoked, "initiator no longer in the acl");
  return absl::OkStatus();
}

std::vector<SessionInfo> Target::Impl::ListSessions() const {
  std::vector<SessionInfo> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [tsih, record] : sessions_) {
    if (record.closing || !record.waiting_for.empty() || record.ready != nullptr) continue;
    out.push_back(record.info);
  }
  std::sort(out.begin(), out.end(),
            [](const SessionInfo& a, const SessionInfo& b) { return a.tsih < b.tsih; });
  return out;
}

int Target::Impl::CloseSessions(absl::string_view iqn, absl::string_view initiator_name) {
  if (initiator_name.empty()) return 0;
  std::vector<Handle> handles = SessionsOf(iqn, nullptr, initiator_name);
  CloseConnections(handles, "closed by the target");
  return static_cast<int>(handles.size());
}

// --- Session table ----------------------------------------------------------------------------

uint16_t Target::Impl::AllocateTsih() {
  // RFC 7143 §11.13 (TSIH): non-zero and unique among this target's sessions.
  for (int attempts = 0; attempts < 65536; ++attempts) {
    const uint16_t tsih = next_tsih_++;
    if (next_tsih_ == 0) next_tsih_ = 1;
    if (tsih != 0 && !sessions_.contains(tsih)) return tsih;
  }
  return 0;
}

LoginStatus Target::Impl::CheckAddConnection(const SessionKey& key, uint16_t tsih) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(tsih);
  if (it != sessions_.end() && !it->second.closing && it->second.key == key) {
    return kLoginTooManyConnections;
  }
  return kLoginSessionDoesNotExist;
}

uint16_t Target::Impl::RegisterSession(const SessionKey& key, SessionInfo info,
                                       std::weak_ptr<Connection> connection, EventLoop* loop,
                                       absl::AnyInvocable<void(uint16_t) &&> ready) {
  std::vector<Handle> to_close;
  uint16_t tsih = 0;
  bool ready_now = false;
  {
    absl::MutexLock lock(&mu_);
    tsih = AllocateTsih();
    SessionRecord record;
    record.key = key;
    record.info = std::move(info);
    record.info.tsih = tsih;
    record.connection = std::move(connection);
    record.loop = loop;
    for (auto& [other_tsih, other] : sessions_) {
      if (!(other.key == key)) continue;
      // §6.3.5: a login with TSIH 0 and the ISID of an existing session reinstates it.
      record.waiting_for.insert(other_tsih);
      if (!other.closing) {
        other.closing = true;
        to_close.push_back(Handle{other.connection, other.loop});
      }
    }
    if (record.waiting_for.empty()) {
      ready_now = true;
    } else {
      record.ready = std::move(ready);
      LOG(INFO) << "session reinstatement: initiator=" << key.initiator_name
                << " target=" << (key.target_name.empty() ? "-" : key.target_name)
                << " new tsih=" << tsih;
    }
    sessions_.emplace(tsih, std::move(record));
  }
  for (const Handle& handle : to_close) {
    handle.loop->Post([weak = handle.connection] {
      if (std::shared_ptr<Connection> old = weak.lock()) old->Close("session reinstated");
    });
  }
  if (ready_now) {
    loop->Post([ready = std::move(ready), tsih]() mutable { std::move(ready)(tsih); });
  }
  return tsih;
}

void Target::Impl::SessionClosing(uint16_t tsih) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(tsih);
  if (it != sessions_.end()) it->second.closing = true;
}

void Target::Impl::SessionGone(uint16_t tsih) {
  std::vector<std::pair<EventLoop*, absl::AnyInvocable<void(uint16_t) &&>>> wake;
  std::vector<uint16_t> wake_tsih;
  {
    absl::MutexLock lock(&mu_);
    sessions_.erase(tsih);
    for (auto& [other_tsih, other] : sessions_) {
      if (other.waiting_for.erase(tsih) > 0 && other.waiting_for.empty() &&
          other.ready != nullptr) {
        wake.emplace_back(other.loop, std::move(other.ready));
        other.ready = nullptr;
        wake_tsih.push_back(other_tsih);
      }
    }
  }
  for (size_t i = 0; i < wake.size(); ++i) {
    wake[i].first->Post([ready = std::move(wake[i].second), tsih = wake_tsih[i]]() mutable {
      std::move(ready)(tsih);
    });
  }
}

// --- Target -----------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Target>> Target::Start(TargetOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status status = impl->Init(); !status.ok()) return status;
  return std::unique_ptr<Target>(new Target(std::move(impl)));
}

Target::Target(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Target::~Target() { Stop(); }
void Target::Stop() { impl_->Stop(); }
std::vector<PortalAddress> Target::portals() const { return impl_->portals(); }
absl::Status Target::AddTarget(const TargetConfig& config) { return impl_->AddTarget(config); }
TargetStats::Snapshot Target::Stats() const { return impl_->stats().Read(); }
absl::Status Target::RemoveTarget(absl::string_view iqn) { return impl_->RemoveTarget(iqn); }
absl::Status Target::AddLun(absl::string_view iqn, const LunConfig& config) {
  return impl_->AddLun(iqn, config);
}
absl::Status Target::RemoveLun(absl::string_view iqn, uint64_t lun) {
  return impl_->RemoveLun(iqn, lun);
}
absl::Status Target::ResizeLun(absl::string_view iqn, uint64_t lun, uint64_t new_size_bytes) {
  return impl_->ResizeLun(iqn, lun, new_size_bytes);
}
absl::Status Target::SetInitiatorAcl(absl::string_view iqn, const InitiatorAcl& acl) {
  return impl_->SetInitiatorAcl(iqn, acl);
}
absl::Status Target::SetChap(absl::string_view iqn, const TargetChap& chap) {
  return impl_->SetChap(iqn, chap);
}
std::vector<SessionInfo> Target::ListSessions() const { return impl_->ListSessions(); }
int Target::CloseSessions(absl::string_view iqn, absl::string_view initiator_name) {
  return impl_->CloseSessions(iqn, initiator_name);
}

}  // namespace iscsi_csi::target
