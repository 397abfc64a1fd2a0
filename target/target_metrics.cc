#include "target/target_metrics.h"

#include <limits>
#include <map>
#include <string>
#include <utility>

namespace iscsi_csi::target {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Counter(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  return metric;
}

ClientMetric Gauge(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

ClientMetric Histogram(std::vector<ClientMetric::Label> labels,
                       const LatencyCounts::Snapshot& counts) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.histogram.sample_count = counts.count;
  metric.histogram.sample_sum = counts.sum_seconds;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.buckets.size(); ++i) {
    cumulative += counts.buckets[i];
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = i < kLatencyBoundsSeconds.size() ? kLatencyBoundsSeconds[i]
                                                          : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  return metric;
}

}  // namespace

std::vector<MetricFamily> BuildTargetFamilies(const TargetStats::Snapshot& stats,
                                              const std::vector<SessionInfo>& sessions) {
  std::vector<MetricFamily> out;

  // Sessions (and their connections: one per session, MaxConnections=1) per target and
  // initiator. Discovery sessions are not sessions to a target and are left out.
  std::map<std::pair<std::string, std::string>, int> per_pair;
  for (const SessionInfo& session : sessions) {
    if (session.discovery) continue;
    ++per_pair[{session.target_iqn, session.initiator_name}];
  }
  MetricFamily session_family =
      Family("iscsi_csi_target_sessions", "Logged-in iSCSI sessions, by target and initiator.",
             MetricType::Gauge);
  MetricFamily connection_family =
      Family("iscsi_csi_target_connections",
             "Full-feature iSCSI connections, by target and initiator.", MetricType::Gauge);
  for (const auto& [key, count] : per_pair) {
    session_family.metric.push_back(
        Gauge({{"initiator", key.second}, {"target", key.first}}, count));
    connection_family.metric.push_back(
        Gauge({{"initiator", key.second}, {"target", key.first}}, count));
  }
  out.push_back(std::move(session_family));
  out.push_back(std::move(connection_family));

  MetricFamily logins = Family("iscsi_csi_target_logins_total",
                               "Login attempts that ended, by result.", MetricType::Counter);
  for (size_t i = 0; i < stats.logins.size(); ++i) {
    logins.metric.push_back(
        Counter({{"result", kLoginResultNames[i]}}, static_cast<double>(stats.logins[i])));
  }
  out.push_back(std::move(logins));

  MetricFamily commands = Family("iscsi_csi_target_scsi_commands_total",
                                 "SCSI commands answered, by target.", MetricType::Counter);
  MetricFamily errors = Family("iscsi_csi_target_scsi_errors_total",
                               "SCSI commands answered with a status other than GOOD, by target.",
                               MetricType::Counter);
  MetricFamily read_bytes = Family("iscsi_csi_target_read_bytes_total",
                                   "Bytes read by initiators, by target.", MetricType::Counter);
  MetricFamily written_bytes =
      Family("iscsi_csi_target_written_bytes_total", "Bytes written by initiators, by target.",
             MetricType::Counter);
  MetricFamily latency = Family(
      "iscsi_csi_target_scsi_command_duration_seconds",
      "Time from a SCSI command's arrival to its status, by target and operation (read, write, "
      "other).",
      MetricType::Histogram);
  for (const auto& [iqn, t] : stats.targets) {
    commands.metric.push_back(Counter({{"target", iqn}}, static_cast<double>(t.commands)));
    errors.metric.push_back(Counter({{"target", iqn}}, static_cast<double>(t.errors)));
    read_bytes.metric.push_back(Counter({{"target", iqn}}, static_cast<double>(t.read_bytes)));
    written_bytes.metric.push_back(
        Counter({{"target", iqn}}, static_cast<double>(t.written_bytes)));
    for (size_t op = 0; op < t.latency.size(); ++op) {
      latency.metric.push_back(Histogram({{"op", kIoOpNames[op]}, {"target", iqn}}, t.latency[op]));
    }
  }
  out.push_back(std::move(commands));
  out.push_back(std::move(errors));
  out.push_back(std::move(read_bytes));
  out.push_back(std::move(written_bytes));
  out.push_back(std::move(latency));

  MetricFamily tmf = Family("iscsi_csi_target_task_management_total",
                            "Task management function requests, by function.", MetricType::Counter);
  for (size_t i = 0; i < stats.task_management.size(); ++i) {
    tmf.metric.push_back(
        Counter({{"function", kTmfNames[i]}}, static_cast<double>(stats.task_management[i])));
  }
  out.push_back(std::move(tmf));

  MetricFamily digests = Family(
      "iscsi_csi_target_digest_errors_total",
      "PDUs received with a wrong CRC32C digest, by kind (header or data).", MetricType::Counter);
  digests.metric.push_back(
      Counter({{"kind", "header"}}, static_cast<double>(stats.header_digest_errors)));
  digests.metric.push_back(
      Counter({{"kind", "data"}}, static_cast<double>(stats.data_digest_errors)));
  out.push_back(std::move(digests));

  MetricFamily dropped =
      Family("iscsi_csi_target_dropped_connections_total",
             "Full-feature connections that ended without a Logout or TARGET COLD RESET (errors, "
             "timeouts, peers gone, sessions closed by the target).",
             MetricType::Counter);
  dropped.metric.push_back(Counter({}, static_cast<double>(stats.dropped_connections)));
  out.push_back(std::move(dropped));
  return out;
}

std::vector<MetricFamily> TargetCollector::Collect() const {
  return BuildTargetFamilies(target_.Stats(), target_.ListSessions());
}

}  // namespace iscsi_csi::target
