#include "tests/bench/control_plane.h"

#include <iscsi/iscsi.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/volume_context.h"
#include "csi.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/testutil/process.h"

namespace iscsi_csi::bench {
namespace {

using ::iscsi_csi::testing::ChildProcess;

constexpr char kNode[] = "bench-node";
constexpr size_t kMaxErrorSamples = 5;
constexpr absl::Duration kReadyTimeout = absl::Seconds(120);
// Goals from issue #11.
constexpr double kRestartGoalSeconds = 2.0;
constexpr double kCreateP99GoalMs = 50.0;
constexpr double kSessionGoalKib = 256.0;

double Since(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

csi::v1::VolumeCapability BlockCapability() {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(
      csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  capability.mutable_block();
  return capability;
}

struct Volume {
  std::string id;
  std::string iqn;
  std::string portal;
  google::protobuf::Map<std::string, std::string> publish_context;
};

class Bench {
 public:
  Bench(const ControlPlaneOptions& options, ControlPlaneResult& result)
      : options_(options), result_(result) {}
  ~Bench() {
    Hangup();
    if (controller_ != nullptr) {
      controller_->Signal(SIGTERM);
      controller_->Wait(absl::Seconds(30));
    }
    if (created_dir_) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  absl::Status Run() {
    if (absl::Status s = MakeDir(); !s.ok()) return s;
    RaiseFileLimit();
    absl::StatusOr<double> first = Start("controller-1.log");
    if (!first.ok()) return first.status();
    result_.first_start_seconds = *first;
    result_.rss_empty_kib = VmRssKib(controller_->pid());

    std::vector<Volume> volumes;
    MethodFigures& create = Method("CreateVolume");
    absl::Time phase = absl::Now();
    for (int i = 0; i < options_.volumes; ++i) {
      csi::v1::CreateVolumeRequest request;
      request.set_name(absl::StrFormat("bench-%06d", i));
      request.mutable_capacity_range()->set_required_bytes(
          static_cast<int64_t>(options_.volume_bytes));
      *request.add_volume_capabilities() = BlockCapability();
      csi::v1::CreateVolumeResponse response;
      if (Timed(create, [&](grpc::ClientContext* c) {
            return controller_stub_->CreateVolume(c, request, &response);
          })) {
        Volume v;
        v.id = response.volume().volume_id();
        const auto& context = response.volume().volume_context();
        v.iqn = context.count(kCtxTargetIqn) ? context.at(kCtxTargetIqn) : "";
        std::string portals = context.count(kCtxPortals) ? context.at(kCtxPortals) : "";
        v.portal = std::string(portals.substr(0, portals.find(',')));
        volumes.push_back(std::move(v));
      }
    }
    create.seconds = Since(phase);
    if (volumes.empty()) return absl::InternalError("no volume could be created");

    MethodFigures& publish = Method("ControllerPublishVolume");
    phase = absl::Now();
    for (Volume& v : volumes) {
      csi::v1::ControllerPublishVolumeRequest request;
      request.set_volume_id(v.id);
      request.set_node_id(kNode);
      *request.mutable_volume_capability() = BlockCapability();
      csi::v1::ControllerPublishVolumeResponse response;
      if (Timed(publish, [&](grpc::ClientContext* c) {
            return controller_stub_->ControllerPublishVolume(c, request, &response);
          })) {
        v.publish_context = response.publish_context();
      }
    }
    publish.seconds = Since(phase);

    MeasureSessions(volumes);

    // Restart with every volume in the catalogue, exported and published.
    Hangup();
    const absl::Time stop = absl::Now();
    controller_->Signal(SIGTERM);
    if (!controller_->Wait(absl::Seconds(60)).has_value()) {
      return absl::DeadlineExceededError("the controller did not exit within 60 s of SIGTERM");
    }
    result_.stop_seconds = Since(stop);
    controller_.reset();
    absl::StatusOr<double> restart = Start("controller-2.log");
    if (!restart.ok()) return restart.status();
    result_.restart_seconds = *restart;

    MethodFigures& unpublish = Method("ControllerUnpublishVolume");
    phase = absl::Now();
    for (const Volume& v : volumes) {
      csi::v1::ControllerUnpublishVolumeRequest request;
      request.set_volume_id(v.id);
      request.set_node_id(kNode);
      csi::v1::ControllerUnpublishVolumeResponse response;
      Timed(unpublish, [&](grpc::ClientContext* c) {
        return controller_stub_->ControllerUnpublishVolume(c, request, &response);
      });
    }
    unpublish.seconds = Since(phase);

    MethodFigures& remove = Method("DeleteVolume");
    phase = absl::Now();
    for (const Volume& v : volumes) {
      csi::v1::DeleteVolumeRequest request;
      request.set_volume_id(v.id);
      csi::v1::DeleteVolumeResponse response;
      Timed(remove, [&](grpc::ClientContext* c) {
        return controller_stub_->DeleteVolume(c, request, &response);
      });
    }
    remove.seconds = Since(phase);
    return absl::OkStatus();
  }

 private:
  absl::Status MakeDir() {
    dir_ = options_.work_dir;
    if (dir_.empty()) {
      std::string base = "/dev/shm";
      if (access(base.c_str(), W_OK) != 0) {
        const char* tmp = getenv("TMPDIR");
        base = tmp != nullptr ? tmp : "/tmp";
      }
      std::string pattern = base + "/iscsi-bench-XXXXXX";
      if (mkdtemp(pattern.data()) == nullptr) {
        return absl::InternalError(absl::StrCat("cannot create a directory under ", base));
      }
      dir_ = pattern;
      created_dir_ = true;
    } else {
      std::error_code error;
      std::filesystem::create_directories(dir_, error);
      if (error)
        return absl::InternalError(absl::StrCat("--work-dir ", dir_, ": ", error.message()));
    }
    socket_ = dir_ + "/csi.sock";
    return absl::OkStatus();
  }

  // Every idle session is a socket here and in the controller.
  static void RaiseFileLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  // Start execs the controller and returns the seconds until Probe answers ready.
  absl::StatusOr<double> Start(const std::string& log_name) {
    const absl::Time start = absl::Now();
    controller_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{options_.binary, "controller", "--endpoint=unix://" + socket_,
                                 "--data-dir=" + dir_ + "/data", "--portal=" + options_.portal},
        dir_ + "/" + log_name);
    const absl::Time deadline = start + kReadyTimeout;
    while (absl::Now() < deadline) {
      // A fresh channel per attempt: one that saw the socket refuse waits out its backoff.
      channel_ = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
      auto identity = csi::v1::Identity::NewStub(channel_);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      csi::v1::ProbeResponse probe;
      if (identity->Probe(&context, {}, &probe).ok() && probe.ready().value()) {
        const double seconds = Since(start);
        controller_stub_ = csi::v1::Controller::NewStub(channel_);
        return seconds;
      }
      if (controller_->Wait(absl::ZeroDuration()).has_value()) {
        return absl::InternalError(
            absl::StrCat("the controller exited while starting:\n", controller_->Stderr()));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::DeadlineExceededError(absl::StrCat("the controller was not ready after ",
                                                    absl::FormatDuration(kReadyTimeout), ":\n",
                                                    controller_->Stderr()));
  }

  // Hangup drops the gRPC channel: the server's drain waits for connected clients.
  void Hangup() {
    controller_stub_.reset();
    channel_.reset();
  }

  MethodFigures& Method(const std::string& name) {
    result_.methods.push_back(MethodFigures{.method = name});
    return result_.methods.back();
  }

  template <typename Call>
  bool Timed(MethodFigures& figures, Call call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const absl::Time start = absl::Now();
    grpc::Status status = call(&context);
    figures.latency.Record(static_cast<uint64_t>(absl::ToInt64Nanoseconds(absl::Now() - start)));
    ++figures.calls;
    if (status.ok()) return true;
    ++figures.failures;
    Error(absl::StrCat(figures.method, ": ", static_cast<int>(status.error_code()), " ",
                       status.error_message()));
    return false;
  }

  void Error(std::string what) {
    ++result_.errors;
    if (result_.error_samples.size() < kMaxErrorSamples) {
      result_.error_samples.push_back(std::move(what));
    }
  }

  // MeasureSessions logs in one idle session per volume (as nodes would) and attributes the
  // controller's RSS growth to them.
  void MeasureSessions(const std::vector<Volume>& volumes) {
    absl::StatusOr<std::string> initiator = InitiatorIqnForNode(kNode);
    if (!initiator.ok()) {
      Error(std::string(initiator.status().message()));
      return;
    }
    // Let the allocator settle after the publish burst.
    absl::SleepFor(absl::Milliseconds(500));
    result_.rss_volumes_kib = VmRssKib(controller_->pid());
    std::vector<iscsi_context*> sessions;
    const int wanted = std::min<int>(options_.idle_sessions, static_cast<int>(volumes.size()));
    for (int i = 0; i < wanted; ++i) {
      const Volume& v = volumes[static_cast<size_t>(i)];
      auto get = [&](const char* key) {
        auto it = v.publish_context.find(key);
        return it == v.publish_context.end() ? std::string() : it->second;
      };
      iscsi_context* context = iscsi_create_context(initiator->c_str());
      if (context == nullptr) break;
      iscsi_set_targetname(context, v.iqn.c_str());
      iscsi_set_session_type(context, ISCSI_SESSION_NORMAL);
      iscsi_set_header_digest(context, ISCSI_HEADER_DIGEST_NONE);
      iscsi_set_noautoreconnect(context, 1);
      iscsi_set_timeout(context, 10);
      const std::string user = get(kPubChapUser);
      const std::string secret = get(kPubChapSecret);
      const std::string target_user = get(kPubChapTargetUser);
      const std::string target_secret = get(kPubChapTargetSecret);
      if (!user.empty()) iscsi_set_initiator_username_pwd(context, user.c_str(), secret.c_str());
      if (!target_user.empty()) {
        iscsi_set_target_username_pwd(context, target_user.c_str(), target_secret.c_str());
      }
      if (iscsi_full_connect_sync(context, v.portal.c_str(), 0) != 0) {
        Error(absl::StrCat("login to ", v.iqn, ": ", iscsi_get_error(context)));
        iscsi_destroy_context(context);
        continue;
      }
      sessions.push_back(context);
    }
    result_.sessions = static_cast<int>(sessions.size());
    absl::SleepFor(absl::Milliseconds(500));
    result_.rss_sessions_kib = VmRssKib(controller_->pid());
    if (!sessions.empty()) {
      result_.kib_per_session =
          static_cast<double>(result_.rss_sessions_kib - result_.rss_volumes_kib) /
          static_cast<double>(sessions.size());
    }
    for (iscsi_context* context : sessions) {
      iscsi_logout_sync(context);
      iscsi_destroy_context(context);
    }
  }

  const ControlPlaneOptions& options_;
  ControlPlaneResult& result_;
  std::string dir_;
  bool created_dir_ = false;
  std::string socket_;
  std::unique_ptr<ChildProcess> controller_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<csi::v1::Controller::Stub> controller_stub_;
};

double Millis(uint64_t nanos) { return static_cast<double>(nanos) / 1e6; }

const MethodFigures* Find(const ControlPlaneResult& result, const std::string& method) {
  for (const MethodFigures& m : result.methods) {
    if (m.method == method) return &m;
  }
  return nullptr;
}

}  // namespace

int64_t VmRssKib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) return kib;
  }
  return -1;
}

absl::StatusOr<ControlPlaneResult> RunControlPlane(const ControlPlaneOptions& options) {
  ControlPlaneResult result;
  // The methods vector must not reallocate while a phase holds a reference into it.
  result.methods.reserve(8);
  {
    Bench bench(options, result);
    if (absl::Status s = bench.Run(); !s.ok()) return s;
  }
  return result;
}

std::vector<Goal> ControlPlaneGoals(const ControlPlaneResult& result) {
  std::vector<Goal> goals;
  goals.push_back({"controller restart to Probe ready < 2 s",
                   absl::StrFormat("%.3f s", result.restart_seconds),
                   result.restart_seconds > 0 && result.restart_seconds < kRestartGoalSeconds});
  const MethodFigures* create = Find(result, "CreateVolume");
  const double create_p99 = create != nullptr ? Millis(create->latency.Quantile(0.99)) : -1;
  goals.push_back({"CreateVolume p99 < 50 ms", absl::StrFormat("%.2f ms", create_p99),
                   create != nullptr && create->failures == 0 && create_p99 < kCreateP99GoalMs});
  goals.push_back({"memory per idle session < 256 KiB",
                   absl::StrFormat("%.1f KiB", result.kib_per_session),
                   result.sessions > 0 && result.kib_per_session < kSessionGoalKib});
  return goals;
}

std::string ControlPlaneJson(const ControlPlaneOptions& options, const ControlPlaneResult& r) {
  std::string json = absl::StrFormat(
      "{\"volumes\":%d,\"volume_bytes\":%d,\"first_start_s\":%.3f,\"stop_s\":%.3f,"
      "\"restart_s\":%.3f,\"rss_empty_kib\":%d,\"rss_volumes_kib\":%d,\"rss_sessions_kib\":%d,"
      "\"sessions\":%d,\"kib_per_session\":%.1f,\"errors\":%d",
      options.volumes, options.volume_bytes, r.first_start_seconds, r.stop_seconds,
      r.restart_seconds, r.rss_empty_kib, r.rss_volumes_kib, r.rss_sessions_kib, r.sessions,
      r.kib_per_session, r.errors);
  for (const MethodFigures& m : r.methods) {
    absl::StrAppendFormat(&json,
                          ",\"%s\":{\"calls\":%d,\"failures\":%d,\"per_s\":%.1f,\"p50_ms\":%.2f,"
                          "\"p99_ms\":%.2f,\"max_ms\":%.2f}",
                          m.method, m.calls, m.failures, m.PerSecond(),
                          Millis(m.latency.Quantile(0.5)), Millis(m.latency.Quantile(0.99)),
                          Millis(m.latency.max()));
  }
  json += ",\"goals\":[";
  bool first = true;
  for (const Goal& g : ControlPlaneGoals(r)) {
    absl::StrAppendFormat(&json, "%s{\"goal\":\"%s\",\"measured\":\"%s\",\"met\":%s}",
                          first ? "" : ",", g.name, g.measured, g.met ? "true" : "false");
    first = false;
  }
  return json + "]}";
}

std::string ControlPlaneText(const ControlPlaneOptions& options, const ControlPlaneResult& r) {
  std::string text = absl::StrFormat(
      "control plane: %d volumes of %d bytes, one call at a time\n"
      "  %-26s %8s %10s %10s %10s %8s\n",
      options.volumes, options.volume_bytes, "method", "calls/s", "p50 ms", "p99 ms", "max ms",
      "failed");
  for (const MethodFigures& m : r.methods) {
    absl::StrAppendFormat(&text, "  %-26s %8.1f %10.2f %10.2f %10.2f %8d\n", m.method,
                          m.PerSecond(), Millis(m.latency.Quantile(0.5)),
                          Millis(m.latency.Quantile(0.99)), Millis(m.latency.max()), m.failures);
  }
  absl::StrAppendFormat(
      &text,
      "  start to ready (empty pool) %.3f s; SIGTERM to exit %.3f s; restart to ready with %d "
      "exported volumes %.3f s\n"
      "  controller RSS: %d KiB empty, %d KiB with the volumes, %d KiB with %d idle sessions "
      "(%.1f KiB per session)\n",
      r.first_start_seconds, r.stop_seconds, options.volumes, r.restart_seconds, r.rss_empty_kib,
      r.rss_volumes_kib, r.rss_sessions_kib, r.sessions, r.kib_per_session);
  absl::StrAppend(&text, "  goals:\n");
  for (const Goal& g : ControlPlaneGoals(r)) {
    absl::StrAppendFormat(&text, "    [%s] %-40s measured %s\n", g.met ? "met" : "MISSED", g.name,
                          g.measured);
  }
  for (const std::string& sample : r.error_samples) absl::StrAppend(&text, "  ! ", sample, "\n");
  return text;
}

}  // namespace iscsi_csi::bench
