// The metrics as an operator sees them: the built `iscsi-csi controller` and `iscsi-csi node`
// with --metrics-address, a real Prometheus server scraping both every second, and a workload
// whose effects are known: N CreateVolume calls, a snapshot, a publication, bytes written and
// read through libiscsi with the publication's CHAP credentials, a READ past the end, a login
// with a wrong CHAP secret, a stray pool file the controller removes at start, and node calls
// with known outcomes. Prometheus's HTTP API must then answer exactly those numbers, each raw
// scrape must pass `promtool check metrics`, and every name of tests/metrics/metric_names.txt
// (the list the chart's alerts and dashboard are checked against) must be in the scrape of the
// process that owns it, with its type. Only 127.0.0.1; skipped without Prometheus.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/volume_context.h"
#include "csi.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/loopback.h"
#include "tests/testutil/process.h"

namespace iscsi_csi {
namespace {

using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;
using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::FreeLoopbackPort;
using ::iscsi_csi::testing::HaveTool;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::ProcessResult;
using ::iscsi_csi::testing::RunProcess;
using ::iscsi_csi::testing::SessionOptions;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kNodeId[] = "metrics-node";
constexpr int kVolumes = 3;
constexpr int64_t kVolumeBytes = 8 << 20;
constexpr int kWrites = 16;
constexpr size_t kWriteBytes = 64 * 1024;
constexpr uint32_t kReadBlocks = 128;  // of 512 bytes

// HttpGet fetches http://127.0.0.1:port<path> (HTTP/1.0: the server closes after the body) and
// returns the body of a 200 answer.
absl::StatusOr<std::string> HttpGet(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1:", port, "\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send");
  }
  std::string response;
  char buffer[16384];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::UnavailableError("no HTTP header");
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (!absl::StrContains(status_line, " 200 ")) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": ", status_line));
  }
  return response.substr(body + 4);
}

std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Query runs an instant query through Prometheus's HTTP API (/api/v1/query).
absl::StatusOr<std::vector<Sample>> Query(uint16_t port, const std::string& promql) {
  absl::StatusOr<std::string> body = HttpGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  if (!body.ok()) return body.status();
  google::protobuf::Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(*body, &answer).ok()) {
    return absl::InternalError(absl::StrCat("not JSON: ", *body));
  }
  const auto& fields = answer.fields();
  if (!fields.contains("status") || fields.at("status").string_value() != "success") {
    return absl::InternalError(absl::StrCat(promql, ": ", *body));
  }
  std::vector<Sample> samples;
  for (const auto& item :
       fields.at("data").struct_value().fields().at("result").list_value().values()) {
    Sample sample;
    for (const auto& [name, value] :
         item.struct_value().fields().at("metric").struct_value().fields()) {
      sample.labels[name] = value.string_value();
    }
    const auto& pair = item.struct_value().fields().at("value").list_value().values();
    if (pair.size() != 2 || !absl::SimpleAtod(pair[1].string_value(), &sample.value)) {
      return absl::InternalError(absl::StrCat(promql, ": bad value in ", *body));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// MetricName is one line of metric_names.txt: NAME TYPE PROCESS [NEEDS].
struct MetricName {
  std::string name;
  std::string type;
  std::vector<std::string> processes;
  std::string needs;
};

std::vector<MetricName> ReadMetricNames() {
  std::ifstream in(METRIC_NAMES_FILE);
  std::vector<MetricName> names;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (fields.empty()) continue;
    EXPECT_GE(fields.size(), 3u) << "metric_names.txt: " << line;
    if (fields.size() < 3) continue;
    names.push_back(
        {fields[0], fields[1], absl::StrSplit(fields[2], ','), fields.size() > 3 ? fields[3] : ""});
  }
  return names;
}

// ScrapeValue: the value of the sample `name{...}` of a raw scrape whose labels contain every
// `label="value"` of `labels`; nullopt when there is none.
std::optional<double> ScrapeValue(absl::string_view scrape, absl::string_view name,
                                  const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(rest, label);
    if (!all) continue;
    double value;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
  }
  return std::nullopt;
}

// HasSamples: the scrape has a sample of `name` (histograms: NAME_bucket, _sum, _count) and
// declares it with `type`.
bool HasSamples(absl::string_view scrape, const MetricName& metric, std::string* why) {
  if (!absl::StrContains(scrape, absl::StrCat("# TYPE ", metric.name, " ", metric.type, "\n"))) {
    *why = absl::StrCat("no \"# TYPE ", metric.name, " ", metric.type, "\"");
    return false;
  }
  const std::string series = metric.type == "histogram" ? metric.name + "_count" : metric.name;
  if (!ScrapeValue(scrape, series, {}).has_value()) {
    *why = absl::StrCat("declared but no sample of ", series);
    return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class MetricsAcceptanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool(kPrometheus) || !HaveTool(kPromtool)) {
      GTEST_SKIP() << kPrometheus << " or " << kPromtool << " missing (Debian package prometheus)";
    }
    dir_ = absl::StrCat(::testing::TempDir(), "/metrics-", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/data/volumes");
    std::filesystem::create_directories(dir_ + "/node");
    std::filesystem::create_directories(dir_ + "/tsdb");
    controller_socket_ = absl::StrCat(::testing::TempDir(), "/metrics-c-", getpid(), ".sock");
    node_socket_ = absl::StrCat(::testing::TempDir(), "/metrics-n-", getpid(), ".sock");
    portal_port_ = FreeLoopbackPort();
    controller_metrics_port_ = FreeLoopbackPort();
    node_metrics_port_ = FreeLoopbackPort();
    prometheus_port_ = FreeLoopbackPort();
  }

  void TearDown() override {
    controller_stub_.reset();
    node_stub_.reset();
    // SIGTERM each process we started, then SIGKILL what is left (~ChildProcess).
    for (std::unique_ptr<ChildProcess>* child : {&prometheus_, &node_, &controller_}) {
      if (*child == nullptr) continue;
      (*child)->Signal(SIGTERM);
      if (!(*child)->Wait(absl::Seconds(20)).has_value()) ADD_FAILURE() << "did not stop";
      child->reset();
    }
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    std::filesystem::remove(controller_socket_);
    std::filesystem::remove(node_socket_);
  }

  // WaitForProbe waits until the plugin at `socket` answers Probe with ready.
  bool WaitForProbe(const std::string& socket, ChildProcess& child) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      auto channel = grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
      auto identity = csi::v1::Identity::NewStub(channel);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      csi::v1::ProbeResponse probe;
      if (identity->Probe(&context, {}, &probe).ok() && probe.ready().value()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << socket << " did not become ready: " << child.Stderr();
    return false;
  }

  void StartPlugins() {
    // A stray volume file without a catalogue row: start-up recovery removes it and counts it.
    std::ofstream(dir_ + "/data/volumes/vol-stray.img") << "stray";
    controller_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            BinaryPath(), "controller", "--endpoint=unix://" + controller_socket_,
            "--data-dir=" + dir_ + "/data", absl::StrCat("--portal=127.0.0.1:", portal_port_),
            absl::StrCat("--metrics-address=127.0.0.1:", controller_metrics_port_)},
        dir_ + "/controller.log");
    node_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath(), "node", std::string("--node-id=") + kNodeId,
                                 "--endpoint=unix://" + node_socket_,
                                 "--data-dir=" + dir_ + "/node", "--host-exec=direct",
                                 absl::StrCat("--metrics-address=127.0.0.1:", node_metrics_port_)},
        dir_ + "/node.log");
    ASSERT_TRUE(WaitForProbe(controller_socket_, *controller_));
    ASSERT_TRUE(WaitForProbe(node_socket_, *node_));
    auto controller_channel =
        grpc::CreateChannel("unix://" + controller_socket_, grpc::InsecureChannelCredentials());
    controller_stub_ = csi::v1::Controller::NewStub(controller_channel);
    node_stub_ = csi::v1::Node::NewStub(
        grpc::CreateChannel("unix://" + node_socket_, grpc::InsecureChannelCredentials()));
  }

  void StartPrometheus() {
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n"
        << "  scrape_interval: 1s\n"
        << "  scrape_timeout: 1s\n"
        << "scrape_configs:\n"
        << "  - job_name: controller\n"
        << "    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << controller_metrics_port_ << "']\n"
        << "  - job_name: node\n"
        << "    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << node_metrics_port_ << "']\n";
    prometheus_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir_ + "/tsdb",
                                 absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port_),
                                 "--log.level=warn"},
        dir_ + "/prometheus.log");
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (HttpGet(prometheus_port_, "/-/ready").ok()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "prometheus did not become ready: " << prometheus_->Stderr();
  }

  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return (stub->*method)(&context, request, response);
  }

  std::string dir_;
  std::string controller_socket_;
  std::string node_socket_;
  uint16_t portal_port_ = 0;
  uint16_t controller_metrics_port_ = 0;
  uint16_t node_metrics_port_ = 0;
  uint16_t prometheus_port_ = 0;
  std::unique_ptr<ChildProcess> controller_;
  std::unique_ptr<ChildProcess> node_;
  std::unique_ptr<ChildProcess> prometheus_;
  std::unique_ptr<csi::v1::Controller::Stub> controller_stub_;
  std::unique_ptr<csi::v1::Node::Stub> node_stub_;
};

csi::v1::VolumeCapability BlockCapability() {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(
      csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  capability.mutable_block();
  return capability;
}

TEST_F(MetricsAcceptanceTest, PrometheusSeesWhatTheWorkloadDid) {
  ASSERT_NO_FATAL_FAILURE(StartPlugins());
  ASSERT_NO_FATAL_FAILURE(StartPrometheus());

  // --- Controller: N volumes, one snapshot, one publication ---------------------------------
  std::vector<csi::v1::Volume> volumes;
  for (int i = 0; i < kVolumes; ++i) {
    csi::v1::CreateVolumeRequest request;
    request.set_name(absl::StrCat("metrics-", i));
    request.mutable_capacity_range()->set_required_bytes(kVolumeBytes);
    *request.add_volume_capabilities() = BlockCapability();
    csi::v1::CreateVolumeResponse response;
    grpc::Status status =
        Call(controller_stub_.get(), &csi::v1::Controller::Stub::CreateVolume, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    volumes.push_back(response.volume());
  }
  csi::v1::CreateSnapshotRequest snapshot;
  snapshot.set_name("metrics-snapshot");
  snapshot.set_source_volume_id(volumes[1].volume_id());
  csi::v1::CreateSnapshotResponse snapshotted;
  grpc::Status snapshot_status = Call(
      controller_stub_.get(), &csi::v1::Controller::Stub::CreateSnapshot, snapshot, &snapshotted);
  ASSERT_TRUE(snapshot_status.ok()) << snapshot_status.error_message();

  const csi::v1::Volume& volume = volumes[0];
  csi::v1::ControllerPublishVolumeRequest publish;
  publish.set_volume_id(volume.volume_id());
  publish.set_node_id(kNodeId);
  *publish.mutable_volume_capability() = BlockCapability();
  csi::v1::ControllerPublishVolumeResponse published;
  grpc::Status publish_status =
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerPublishVolume, publish,
           &published);
  ASSERT_TRUE(publish_status.ok()) << publish_status.error_message();

  // --- iSCSI: the node's login, writes, reads, a READ past the end; a wrong CHAP secret -----
  const std::string target = volume.volume_context().at(kCtxTargetIqn);
  SessionOptions login;
  login.portal = volume.volume_context().at(kCtxPortals);
  login.target_iqn = target;
  absl::StatusOr<std::string> initiator = InitiatorIqnForNode(kNodeId);
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  login.initiator_name = *initiator;
  const auto& context = published.publish_context();
  login.chap_user = context.at(kPubChapUser);
  login.chap_secret = context.at(kPubChapSecret);
  if (context.contains(kPubChapTargetUser)) {
    login.target_chap_user = context.at(kPubChapTargetUser);
    login.target_chap_secret = context.at(kPubChapTargetSecret);
  }
  SessionOptions wrong = login;
  wrong.chap_secret = std::string(login.chap_secret.size(), 'x');
  EXPECT_FALSE(IscsiSession::Login(wrong).ok()) << "a wrong CHAP secret was accepted";

  absl::StatusOr<std::unique_ptr<IscsiSession>> client = IscsiSession::Login(login);
  ASSERT_TRUE(client.ok()) << client.status() << "\n" << controller_->Stderr();
  const uint64_t written = uint64_t{kWrites} * kWriteBytes;
  for (int i = 0; i < kWrites; ++i) {
    std::string data(kWriteBytes, static_cast<char>('a' + i));
    ASSERT_TRUE((*client)->Write(i * kWriteBytes / 512, data).good());
  }
  const CommandResult read = (*client)->Read(0, kReadBlocks);
  ASSERT_TRUE(read.good()) << read.Describe();
  const uint64_t read_bytes = read.data.size();
  EXPECT_EQ(read_bytes, kReadBlocks * 512u);

  // The READ past the end is exactly one more SCSI error on this target (measured on the raw
  // scrape around it: a login's unit attention counts as an error too).
  const std::vector<std::string> this_target = {absl::StrCat("target=\"", target, "\"")};
  absl::StatusOr<std::string> before = HttpGet(controller_metrics_port_, "/metrics");
  ASSERT_TRUE(before.ok()) << before.status();
  const double errors_before =
      ScrapeValue(*before, "iscsi_csi_target_scsi_errors_total", this_target).value_or(-1);
  EXPECT_FALSE((*client)->Read(kVolumeBytes / 512, 8).good()) << "a READ past the end succeeded";
  std::optional<double> errors_after;
  for (int attempt = 0; attempt < 20; ++attempt) {  // the count may land just after the status
    absl::StatusOr<std::string> after = HttpGet(controller_metrics_port_, "/metrics");
    ASSERT_TRUE(after.ok()) << after.status();
    errors_after = ScrapeValue(*after, "iscsi_csi_target_scsi_errors_total", this_target);
    if (errors_after.has_value() && *errors_after > errors_before) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(errors_after.has_value()) << "no iscsi_csi_target_scsi_errors_total for " << target;
  EXPECT_EQ(*errors_after - errors_before, 1);

  // --- Node: one call of each kind with a known outcome -------------------------------------
  csi::v1::NodeGetInfoResponse info;
  ASSERT_TRUE(Call(node_stub_.get(), &csi::v1::Node::Stub::NodeGetInfo,
                   csi::v1::NodeGetInfoRequest(), &info)
                  .ok());
  EXPECT_EQ(info.node_id(), kNodeId);
  csi::v1::NodeStageVolumeRequest stage;  // no capability: InvalidArgument before any host step
  stage.set_volume_id(volume.volume_id());
  stage.set_staging_target_path(dir_ + "/node/staging");
  csi::v1::NodeStageVolumeResponse staged;
  EXPECT_EQ(
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodeStageVolume, stage, &staged).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  csi::v1::NodeUnstageVolumeRequest unstage;  // never staged here: nothing to do, OK
  unstage.set_volume_id(volume.volume_id());
  unstage.set_staging_target_path(dir_ + "/node/staging");
  csi::v1::NodeUnstageVolumeResponse unstaged;
  grpc::Status unstage_status =
      Call(node_stub_.get(), &csi::v1::Node::Stub::NodeUnstageVolume, unstage, &unstaged);
  EXPECT_TRUE(unstage_status.ok()) << unstage_status.error_message();

  // --- The raw scrapes, now (the idle libiscsi session answers no NOP-In and is dropped after
  // a while): promtool's lint, and every listed name with its type ---------------------------
  std::map<std::string, std::string> scrapes;
  for (const auto& [process, port] : std::map<std::string, uint16_t>{
           {"controller", controller_metrics_port_}, {"node", node_metrics_port_}}) {
    absl::StatusOr<std::string> scrape = HttpGet(port, "/metrics");
    ASSERT_TRUE(scrape.ok()) << process << ": " << scrape.status();
    scrapes[process] = *scrape;
    const std::string file = absl::StrCat(dir_, "/", process, ".prom");
    std::ofstream(file) << *scrape;
    ProcessResult lint =
        RunProcess({"/bin/sh", "-c", absl::StrCat(kPromtool, " check metrics < ", file)});
    EXPECT_EQ(lint.exit_code, 0) << process << ": promtool check metrics:\n"
                                 << lint.stdout_text << lint.stderr_text;
    EXPECT_EQ(lint.stdout_text + lint.stderr_text, "")
        << process << ": promtool check metrics has remarks";
  }
  const std::string binary = ReadFile(BinaryPath());
  std::vector<std::string> missing;
  std::vector<std::string> binary_only;
  for (const MetricName& metric : ReadMetricNames()) {
    if (!metric.needs.empty()) {
      // Not producible here (see metric_names.txt): the binary must still define the name.
      if (!absl::StrContains(binary, metric.name)) {
        missing.push_back(
            absl::StrCat(metric.name, " (", metric.needs, "): not in ", BinaryPath()));
      } else {
        binary_only.push_back(metric.name);
      }
      continue;
    }
    for (const std::string& process : metric.processes) {
      std::string why;
      if (!HasSamples(scrapes[process], metric, &why)) {
        missing.push_back(absl::StrCat(metric.name, " in the ", process, " scrape: ", why));
      }
    }
  }
  EXPECT_TRUE(missing.empty()) << "metric_names.txt and the scrapes disagree:\n  "
                               << absl::StrJoin(missing, "\n  ");
  if (!binary_only.empty()) {
    std::cout << "[ INFO     ] defined in the binary, not producible without a staged volume: "
              << absl::StrJoin(binary_only, ", ") << "\n";
  }

  // --- What Prometheus must answer (sessions and connections while the session lasts) -------
  struct Expectation {
    std::string promql;
    std::function<bool(double)> holds;
    std::string want;
  };
  auto equals = [](double want) {
    return std::function<bool(double)>([want](double v) { return std::fabs(v - want) < 0.5; });
  };
  auto at_least = [](double want) {
    return std::function<bool(double)>([want](double v) { return v >= want; });
  };
  const std::string t = absl::StrCat("target=\"", target, "\"");
  const std::string v = absl::StrCat("volume=\"", volume.volume_id(), "\"");
  const std::vector<Expectation> expectations = {
      {"up{job=\"controller\"}", equals(1), "1"},
      {"up{job=\"node\"}", equals(1), "1"},
      {"iscsi_csi_controller_volumes", equals(kVolumes), absl::StrCat(kVolumes)},
      {"iscsi_csi_controller_snapshots", equals(1), "1"},
      {"iscsi_csi_controller_publications", equals(1), "1"},
      {"iscsi_csi_controller_provisioned_bytes", equals((kVolumes + 1) * kVolumeBytes),
       absl::StrCat((kVolumes + 1) * kVolumeBytes, " (volumes plus the snapshot)")},
      {"count(iscsi_csi_controller_volume_provisioned_bytes == " + absl::StrCat(kVolumeBytes) + ")",
       equals(kVolumes), absl::StrCat(kVolumes, " volumes of ", kVolumeBytes, " bytes")},
      {"iscsi_csi_controller_volume_used_bytes{" + v + "}", at_least(written),
       absl::StrCat(">= ", written)},
      {"iscsi_csi_controller_pool_capacity_bytes > 0 and iscsi_csi_controller_pool_free_bytes "
       "<= iscsi_csi_controller_pool_capacity_bytes",
       at_least(1), "capacity > 0 and free <= capacity"},
      {"iscsi_csi_controller_abnormal_volumes", equals(0), "0"},
      {"sum(iscsi_csi_controller_copies_total)", equals(1), "1 (the snapshot)"},
      {"iscsi_csi_controller_recovery_actions_total{action=\"orphan_removed\"}", equals(1),
       "1 (the stray file)"},
      {"iscsi_csi_csi_operations_total{job=\"controller\",method=\"CreateVolume\","
       "grpc_code=\"OK\"}",
       equals(kVolumes), absl::StrCat(kVolumes)},
      {"iscsi_csi_csi_operation_duration_seconds_count{job=\"controller\","
       "method=\"CreateVolume\",grpc_code=\"OK\"}",
       equals(kVolumes), absl::StrCat(kVolumes)},
      {"iscsi_csi_csi_operations_total{job=\"controller\",method=\"ControllerPublishVolume\","
       "grpc_code=\"OK\"}",
       equals(1), "1"},
      {"iscsi_csi_csi_operations_in_flight{job=\"controller\",method=\"CreateVolume\"}", equals(0),
       "0"},
      {"iscsi_csi_target_logins_total{result=\"auth_failure\"}", equals(1), "1"},
      {"iscsi_csi_target_logins_total{result=\"success\"}", equals(1), "1"},
      {"iscsi_csi_target_sessions{" + t + ",initiator=\"" + *initiator + "\"}", equals(1), "1"},
      {"iscsi_csi_target_connections{" + t + "}", equals(1), "1"},
      {"iscsi_csi_target_written_bytes_total{" + t + "}", equals(written), absl::StrCat(written)},
      {"iscsi_csi_target_read_bytes_total{" + t + "}", at_least(read_bytes),
       absl::StrCat(">= ", read_bytes)},
      {"iscsi_csi_target_scsi_commands_total{" + t + "}", at_least(kWrites + 2),
       absl::StrCat(">= ", kWrites + 2)},
      {"iscsi_csi_target_scsi_errors_total{" + t + "}", equals(*errors_after),
       absl::StrCat(*errors_after, " (the raw scrape's)")},
      {"iscsi_csi_target_scsi_command_duration_seconds_count{" + t + ",op=\"write\"}",
       equals(kWrites), absl::StrCat(kWrites)},
      {"iscsi_csi_csi_operations_total{job=\"node\",method=\"NodeGetInfo\",grpc_code=\"OK\"}",
       equals(1), "1"},
      {"iscsi_csi_node_stage_total{result=\"invalid_argument\"}", equals(1), "1"},
      {"iscsi_csi_node_unstage_total{result=\"ok\"}", equals(1), "1"},
      {"iscsi_csi_node_staged_volumes", equals(0), "0"},
  };
  std::vector<std::string> last(expectations.size(), "not queried");
  std::vector<bool> met(expectations.size(), false);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  bool all = false;
  while (!all && absl::Now() < deadline) {
    all = true;
    for (size_t i = 0; i < expectations.size(); ++i) {
      if (met[i]) continue;
      absl::StatusOr<std::vector<Sample>> samples = Query(prometheus_port_, expectations[i].promql);
      if (!samples.ok()) {
        last[i] = samples.status().ToString();
      } else if (samples->size() != 1) {
        last[i] = absl::StrCat(samples->size(), " series");
      } else {
        last[i] = absl::StrCat((*samples)[0].value);
        met[i] = expectations[i].holds((*samples)[0].value);
      }
      all = all && met[i];
    }
    if (!all) absl::SleepFor(absl::Milliseconds(500));
  }
  for (size_t i = 0; i < expectations.size(); ++i) {
    EXPECT_TRUE(met[i]) << expectations[i].promql << ": want " << expectations[i].want
                        << ", Prometheus answers " << last[i];
  }

  client->reset();
}

}  // namespace
}  // namespace iscsi_csi
