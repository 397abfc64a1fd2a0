#include "tests/bench/load_generator.h"

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/bench/verify_pattern.h"

namespace iscsi_csi::bench {
namespace {

constexpr size_t kMaxErrorSamples = 5;
constexpr int kCapacityAttempts = 5;
// A region whose last write failed: its content is unknown, reads of it are not checked.
constexpr uint64_t kUnknownGeneration = ~uint64_t{0};
// How long in-flight I/O may take to finish after the window closes.
constexpr uint64_t kDrainTimeoutNs = 60ULL * 1000 * 1000 * 1000;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ToNs(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)); }

void SleepUntilNs(uint64_t when) {
  const uint64_t now = NowNs();
  if (when > now) absl::SleepFor(absl::Nanoseconds(when - now));
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// xorshift64*: fast, good enough to pick offsets and read/write.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed == 0 ? 0x9e3779b97f4a7c15ULL : seed) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

struct Stats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  LatencyHistogram latency;
  LatencyHistogram read_latency;
  LatencyHistogram write_latency;
  uint64_t errors = 0;
  uint64_t unit_attentions = 0;
  uint64_t verified_reads = 0;
  uint64_t unverified_reads = 0;
  uint64_t mismatches = 0;
  std::vector<std::string> error_samples;

  void Error(std::string what) {
    ++errors;
    if (error_samples.size() < kMaxErrorSamples) error_samples.push_back(std::move(what));
  }
};

class Session;

// One outstanding I/O: its buffer and what it was issued for.
struct Slot {
  Session* session = nullptr;
  uint8_t* buffer = nullptr;
  uint64_t unit = 0;  // region index (io_size units from LBA 0)
  bool is_read = true;
  uint64_t generation = 0;  // verify writes: what the data carries
  uint64_t submit_ns = 0;
  bool busy = false;
};

// Session is one iscsi_context logged in to the LUN, keeping queue_depth I/Os outstanding
// inside its slice of the span until the window closes. Not thread-safe: one thread services it.
class Session {
 public:
  Session(const LoadOptions& options, int index) : options_(options), index_(index) {
    rng_ = Rng(NowNs() ^ (static_cast<uint64_t>(index + 1) * 0x9e3779b97f4a7c15ULL));
  }
  ~Session() {
    if (context_ != nullptr) {
      if (iscsi_is_logged_in(context_) && !failed_) iscsi_logout_sync(context_);
      iscsi_destroy_context(context_);
    }
    for (Slot& slot : slots_) std::free(slot.buffer);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connect logs in and reads the capacity; returns the LUN's block size and byte count.
  absl::Status Connect() {
    context_ = iscsi_create_context(options_.initiator.c_str());
    if (context_ == nullptr) return absl::InternalError("iscsi_create_context failed");
    // A distinct ISID per session (RFC 7143 11.12.5): the same initiator name, N sessions.
    iscsi_set_isid_random(context_, static_cast<uint32_t>(getpid()) & 0xffffff,
                          static_cast<uint32_t>(index_));
    iscsi_set_targetname(context_, options_.target_iqn.c_str());
    iscsi_set_session_type(context_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(context_, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_noautoreconnect(context_, 1);
    iscsi_set_timeout(context_, 30);
    if (iscsi_full_connect_sync(context_, options_.portal.c_str(), options_.lun) != 0) {
      return absl::UnavailableError(absl::StrCat("session ", index_, ": login to ",
                                                 options_.target_iqn, " at ", options_.portal, ": ",
                                                 iscsi_get_error(context_)));
    }
    // The first command of a new nexus may meet a unit attention: retry it.
    for (int attempt = 0; attempt < kCapacityAttempts; ++attempt) {
      scsi_task* task = iscsi_readcapacity16_sync(context_, options_.lun);
      if (task == nullptr) {
        return absl::UnavailableError(
            absl::StrCat("session ", index_, ": read capacity: ", iscsi_get_error(context_)));
      }
      const bool good = task->status == SCSI_STATUS_GOOD;
      const bool unit_attention = task->status == SCSI_STATUS_CHECK_CONDITION &&
                                  task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
      if (good) {
        auto* data = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(task));
        if (data != nullptr) {
          block_size_ = data->block_length;
          lun_bytes_ = (data->returned_lba + 1) * data->block_length;
        }
      }
      scsi_free_scsi_task(task);
      if (good && block_size_ != 0) return absl::OkStatus();
      if (!unit_attention) break;
    }
    return absl::InternalError(absl::StrCat("session ", index_, ": read capacity failed"));
  }

  uint32_t block_size() const { return block_size_; }
  uint64_t lun_bytes() const { return lun_bytes_; }

  // Prepare sets the slice of regions this session uses and allocates its buffers.
  absl::Status Prepare(uint64_t first_unit, uint64_t units) {
    first_unit_ = first_unit;
    units_ = units;
    if (units_ == 0) return absl::InvalidArgumentError("--span leaves a session no region");
    if (options_.verify) {
      if (units_ < 2 * static_cast<uint64_t>(options_.queue_depth)) {
        return absl::InvalidArgumentError(
            "--verify needs at least 2 x --qd regions of --bs per session inside --span");
      }
      generation_.assign(units_, 0);
      region_busy_.assign(units_, false);
    }
    cursor_ = 0;
    slots_.resize(static_cast<size_t>(options_.queue_depth));
    for (Slot& slot : slots_) {
      slot.session = this;
      slot.buffer = static_cast<uint8_t*>(std::aligned_alloc(4096, RoundUp(options_.io_size)));
      if (slot.buffer == nullptr) return absl::ResourceExhaustedError("buffer allocation failed");
      // Not zeros: a target must not be able to shortcut zero blocks.
      for (uint64_t i = 0; i < options_.io_size; ++i) {
        slot.buffer[i] = static_cast<uint8_t>(rng_.Next());
      }
    }
    return absl::OkStatus();
  }

  // Start issues queue_depth I/Os; they keep themselves going until `stop_ns`.
  void Start(uint64_t measure_start_ns, uint64_t stop_ns) {
    measure_start_ns_ = measure_start_ns;
    stop_ns_ = stop_ns;
    readback_ = false;
    for (Slot& slot : slots_) {
      if (Pick(slot)) Issue(slot);
    }
  }

  // StartReadback reads every region written in this run once and checks it (--verify).
  void StartReadback() {
    readback_ = true;
    cursor_ = 0;
    stop_ns_ = ~uint64_t{0};
    for (Slot& slot : slots_) {
      if (Pick(slot)) Issue(slot);
    }
  }

  bool failed() const { return failed_; }
  bool Drained() const { return failed_ || in_flight_ == 0; }
  Stats& stats() { return stats_; }

  // Service runs libiscsi for this context: what to poll for, and what poll returned.
  int fd() const { return iscsi_get_fd(context_); }
  short Events() const { return static_cast<short>(iscsi_which_events(context_)); }
  void Service(short revents) {
    if (failed_) return;
    if (iscsi_service(context_, revents) < 0) Fail(iscsi_get_error(context_));
  }
  void Fail(absl::string_view why) {
    if (failed_) return;
    failed_ = true;
    stats_.Error(absl::StrCat("session ", index_, ": ", why));
    in_flight_ = 0;
  }

 private:
  static uint64_t RoundUp(uint64_t n) { return (n + 4095) / 4096 * 4096; }

  // Pick chooses the next region and direction for `slot`; false when nothing is left to do.
  bool Pick(Slot& slot) {
    if (readback_) {
      while (cursor_ < units_ &&
             (generation_[cursor_] == 0 || generation_[cursor_] == kUnknownGeneration)) {
        ++cursor_;
      }
      if (cursor_ >= units_) return false;
      slot.unit = cursor_++;
      slot.is_read = true;
      region_busy_[slot.unit] = true;
      return true;
    }
    uint64_t unit = 0;
    if (options_.pattern == Pattern::kSequential) {
      unit = cursor_;
      cursor_ = (cursor_ + 1) % units_;
    } else {
      unit = rng_.Below(units_);
    }
    if (options_.verify) {
      // Never two I/Os on one region at once: the expected content must be known.
      while (region_busy_[unit]) unit = (unit + 1) % units_;
      region_busy_[unit] = true;
      if (options_.pattern == Pattern::kSequential) cursor_ = (unit + 1) % units_;
    }
    slot.unit = unit;
    switch (options_.mode) {
      case Mode::kRead:
        slot.is_read = true;
        break;
      case Mode::kWrite:
        slot.is_read = false;
        break;
      case Mode::kMixed:
        slot.is_read = static_cast<int>(rng_.Below(100)) < options_.read_percent;
        break;
    }
    if (!slot.is_read && options_.verify) {
      slot.generation = ++next_generation_;
      FillPattern(ByteOffset(slot), slot.generation, slot.buffer, options_.io_size);
    }
    return true;
  }

  uint64_t ByteOffset(const Slot& slot) const {
    return (first_unit_ + slot.unit) * options_.io_size;
  }

  void Issue(Slot& slot) {
    const uint64_t lba = ByteOffset(slot) / block_size_;
    const auto length = static_cast<uint32_t>(options_.io_size);
    const int block = static_cast<int>(block_size_);
    slot.submit_ns = NowNs();
    scsi_task* task = nullptr;
    if (slot.is_read) {
      task = iscsi_read16_task(context_, options_.lun, lba, length, block, 0, 0, 0, 0, 0,
                               &Session::OnDone, &slot);
      // Data-In lands in our buffer, not in a libiscsi allocation (no copy, no malloc).
      if (task != nullptr)
        scsi_task_add_data_in_buffer(task, static_cast<int>(length), slot.buffer);
    } else {
      task = iscsi_write16_task(context_, options_.lun, lba, slot.buffer, length, block, 0, 0, 0, 0,
                                0, &Session::OnDone, &slot);
    }
    if (task == nullptr) {
      if (options_.verify) region_busy_[slot.unit] = false;
      Fail(absl::StrCat("queueing a command: ", iscsi_get_error(context_)));
      return;
    }
    slot.busy = true;
    ++in_flight_;
  }

  static void OnDone(iscsi_context* /*context*/, int status, void* command_data,
                     void* private_data) {
    auto* slot = static_cast<Slot*>(private_data);
    auto* task = static_cast<scsi_task*>(command_data);
    slot->session->Complete(*slot, status, task);
  }

  void Complete(Slot& slot, int status, scsi_task* task) {
    const uint64_t now = NowNs();
    slot.busy = false;
    if (in_flight_ > 0) --in_flight_;
    const bool unit_attention = status == SCSI_STATUS_CHECK_CONDITION && task != nullptr &&
                                task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
    std::string failure;
    if (status != SCSI_STATUS_GOOD && !unit_attention) {
      failure = absl::StrCat(slot.is_read ? "read" : "write", " at byte ", ByteOffset(slot),
                             ": status ", status);
      if (status == SCSI_STATUS_CHECK_CONDITION && task != nullptr) {
        absl::StrAppend(&failure, " sense ", scsi_sense_key_str(task->sense.key), " ",
                        scsi_sense_ascq_str(task->sense.ascq));
      } else if (status != SCSI_STATUS_CHECK_CONDITION) {
        absl::StrAppend(&failure, " (", iscsi_get_error(context_), ")");
      }
    }
    if (task != nullptr) scsi_free_scsi_task(task);
    if (failed_) return;
    if (unit_attention) {
      ++stats_.unit_attentions;
      Issue(slot);
      return;
    }
    if (!failure.empty()) {
      stats_.Error(std::move(failure));
      if (options_.verify && !slot.is_read) generation_[slot.unit] = kUnknownGeneration;
    } else {
      if (options_.verify) Check(slot);
      if (!readback_ && now >= measure_start_ns_ && now <= stop_ns_) Count(slot, now);
    }
    if (options_.verify) region_busy_[slot.unit] = false;
    if (now < stop_ns_ && Pick(slot)) Issue(slot);
  }

  void Check(Slot& slot) {
    if (!slot.is_read) {
      generation_[slot.unit] = slot.generation;
      return;
    }
    const uint64_t expected = generation_[slot.unit];
    if (expected == 0 || expected == kUnknownGeneration) {
      ++stats_.unverified_reads;
      return;
    }
    std::optional<std::string> mismatch =
        CheckPattern(ByteOffset(slot), expected, slot.buffer, options_.io_size);
    if (!mismatch.has_value()) {
      ++stats_.verified_reads;
      return;
    }
    ++stats_.mismatches;
    if (stats_.error_samples.size() < kMaxErrorSamples) {
      stats_.error_samples.push_back(
          absl::StrCat(readback_ ? "read-back" : "read", " mismatch: ", *mismatch));
    }
  }

  void Count(const Slot& slot, uint64_t now) {
    const uint64_t latency = now - slot.submit_ns;
    stats_.latency.Record(latency);
    if (slot.is_read) {
      ++stats_.reads;
      stats_.read_bytes += options_.io_size;
      stats_.read_latency.Record(latency);
    } else {
      ++stats_.writes;
      stats_.write_bytes += options_.io_size;
      stats_.write_latency.Record(latency);
    }
  }

  const LoadOptions& options_;
  const int index_;
  iscsi_context* context_ = nullptr;
  uint32_t block_size_ = 0;
  uint64_t lun_bytes_ = 0;
  uint64_t first_unit_ = 0;
  uint64_t units_ = 0;
  uint64_t cursor_ = 0;
  Rng rng_{1};
  std::vector<Slot> slots_;
  std::vector<uint64_t> generation_;  // --verify: per region, the last acknowledged write
  std::vector<bool> region_busy_;
  uint64_t next_generation_ = 0;
  uint64_t measure_start_ns_ = 0;
  uint64_t stop_ns_ = 0;
  bool readback_ = false;
  int in_flight_ = 0;
  bool failed_ = false;
  Stats stats_;
};

// Poll services `sessions` until every one has drained or `deadline_ns` passes.
void Poll(const std::vector<Session*>& sessions, uint64_t deadline_ns) {
  std::vector<pollfd> fds;
  std::vector<Session*> polled;
  while (true) {
    fds.clear();
    polled.clear();
    bool pending = false;
    for (Session* session : sessions) {
      if (session->failed()) continue;
      pending = pending || !session->Drained();
      fds.push_back(pollfd{session->fd(), session->Events(), 0});
      polled.push_back(session);
    }
    if (!pending) return;
    if (NowNs() > deadline_ns) {
      for (Session* session : polled) {
        if (!session->Drained()) session->Fail("I/O did not finish in time");
      }
      return;
    }
    const int ready = poll(fds.data(), fds.size(), 100);
    if (ready < 0) {
      if (errno == EINTR) continue;
      for (Session* session : polled) session->Fail(absl::StrCat("poll: ", strerror(errno)));
      return;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) polled[i]->Service(fds[i].revents);
    }
  }
}

void RunThread(const std::vector<Session*>& sessions, bool verify, uint64_t measure_start_ns,
               uint64_t stop_ns) {
  for (Session* session : sessions) session->Start(measure_start_ns, stop_ns);
  Poll(sessions, stop_ns + kDrainTimeoutNs);
  if (!verify) return;
  for (Session* session : sessions) {
    if (!session->failed()) session->StartReadback();
  }
  Poll(sessions, ~uint64_t{0} / 2);
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

const char* PatternName(Pattern p) { return p == Pattern::kRandom ? "random" : "sequential"; }
const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kRead:
      return "read";
    case Mode::kWrite:
      return "write";
    case Mode::kMixed:
      return "mixed";
  }
  return "?";
}

double Micros(uint64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  uint64_t multiplier = 1;
  if (!s.empty() && s.back() == 'b') s.pop_back();  // "4kb", "1mb"
  if (!s.empty() && s.back() == 'i') s.pop_back();  // "4ki", "1mi" (binary either way)
  if (!s.empty()) {
    switch (s.back()) {
      case 'k':
        multiplier = 1ULL << 10;
        break;
      case 'm':
        multiplier = 1ULL << 20;
        break;
      case 'g':
        multiplier = 1ULL << 30;
        break;
      case 't':
        multiplier = 1ULL << 40;
        break;
      default:
        break;
    }
    if (multiplier != 1) s.pop_back();
  }
  uint64_t value = 0;
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); }) ||
      !absl::SimpleAtoi(s, &value) || value > ~uint64_t{0} / multiplier) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size (bytes, or a number with k, M, G or T)"));
  }
  return value * multiplier;
}

absl::StatusOr<Pattern> ParsePattern(absl::string_view text) {
  if (text == "random" || text == "rand") return Pattern::kRandom;
  if (text == "sequential" || text == "seq") return Pattern::kSequential;
  return absl::InvalidArgumentError(
      absl::StrCat("--pattern: '", text, "' is neither random nor sequential"));
}

absl::StatusOr<Mode> ParseMode(absl::string_view text) {
  if (text == "read") return Mode::kRead;
  if (text == "write") return Mode::kWrite;
  if (text == "mixed" || text == "rw") return Mode::kMixed;
  return absl::InvalidArgumentError(
      absl::StrCat("--mode: '", text, "' is not read, write or mixed"));
}

absl::Status ValidateLoadOptions(const LoadOptions& o) {
  if (o.target_iqn.empty()) return absl::InvalidArgumentError("--target is required");
  if (o.portal.empty()) return absl::InvalidArgumentError("--portal is required");
  if (o.initiator.empty()) return absl::InvalidArgumentError("--initiator must not be empty");
  if (o.lun < 0 || o.lun > 255) return absl::InvalidArgumentError("--lun must be 0..255");
  if (o.read_percent < 0 || o.read_percent > 100) {
    return absl::InvalidArgumentError("--read-pct must be 0..100");
  }
  if (o.io_size < 512 || o.io_size % 512 != 0 || o.io_size > (16ULL << 20)) {
    return absl::InvalidArgumentError("--bs must be a multiple of 512 bytes, at most 16M");
  }
  if (o.queue_depth < 1 || o.queue_depth > 1024) {
    return absl::InvalidArgumentError("--qd must be 1..1024");
  }
  if (o.sessions < 1 || o.sessions > 1024) {
    return absl::InvalidArgumentError("--sessions must be 1..1024");
  }
  if (o.threads < 1 || o.threads > 64) return absl::InvalidArgumentError("--threads must be 1..64");
  if (o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (o.ramp < absl::ZeroDuration())
    return absl::InvalidArgumentError("--ramp must not be negative");
  if (o.cpu_pid < 0) return absl::InvalidArgumentError("--cpu-pid must be a process id");
  return absl::OkStatus();
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options) {
  if (absl::Status valid = ValidateLoadOptions(options); !valid.ok()) return valid;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < options.sessions; ++i) {
    sessions.push_back(std::make_unique<Session>(options, i));
    if (absl::Status s = sessions.back()->Connect(); !s.ok()) return s;
  }
  LoadResult result;
  result.block_size = sessions[0]->block_size();
  result.lun_bytes = sessions[0]->lun_bytes();
  if (options.io_size % result.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--bs ", options.io_size,
                                                   " is not a multiple of the LUN's block size ",
                                                   result.block_size));
  }
  if (options.span > result.lun_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--span ", options.span, " is larger than the LUN (", result.lun_bytes, " bytes)"));
  }
  const uint64_t span = options.span == 0 ? result.lun_bytes : options.span;
  const uint64_t units = span / options.io_size;
  const auto count = static_cast<uint64_t>(options.sessions);
  for (uint64_t i = 0; i < count; ++i) {
    // Slices: session i owns regions [i*units/n, (i+1)*units/n).
    const uint64_t first = i * units / count;
    const uint64_t last = (i + 1) * units / count;
    if (absl::Status s = sessions[i]->Prepare(first, last - first); !s.ok()) return s;
  }

  const int threads = std::min(options.threads, options.sessions);
  std::vector<std::vector<Session*>> per_thread(static_cast<size_t>(threads));
  for (size_t i = 0; i < sessions.size(); ++i) {
    per_thread[i % per_thread.size()].push_back(sessions[i].get());
  }
  const uint64_t start_ns = NowNs() + 1000000;  // everyone starts together, 1 ms from now
  const uint64_t measure_start_ns = start_ns + ToNs(options.ramp);
  const uint64_t stop_ns = measure_start_ns + ToNs(options.duration);
  std::vector<std::thread> workers;
  for (const std::vector<Session*>& group : per_thread) {
    workers.emplace_back([&group, &options, start_ns, measure_start_ns, stop_ns] {
      SleepUntilNs(start_ns);
      RunThread(group, options.verify, measure_start_ns, stop_ns);
    });
  }
  SleepUntilNs(measure_start_ns);
  const double target_cpu_before = options.cpu_pid > 0 ? ProcessCpuSeconds(options.cpu_pid) : -1;
  const double own_cpu_before = OwnCpuSeconds();
  SleepUntilNs(stop_ns);
  const double target_cpu_after = options.cpu_pid > 0 ? ProcessCpuSeconds(options.cpu_pid) : -1;
  const double own_cpu_after = OwnCpuSeconds();
  for (std::thread& worker : workers) worker.join();

  result.seconds = static_cast<double>(stop_ns - measure_start_ns) / 1e9;
  if (target_cpu_before >= 0 && target_cpu_after >= 0) {
    result.target_cpu_seconds = target_cpu_after - target_cpu_before;
  }
  result.client_cpu_seconds = own_cpu_after - own_cpu_before;
  for (const std::unique_ptr<Session>& session : sessions) {
    Stats& s = session->stats();
    result.reads += s.reads;
    result.writes += s.writes;
    result.read_bytes += s.read_bytes;
    result.write_bytes += s.write_bytes;
    result.latency.Merge(s.latency);
    result.read_latency.Merge(s.read_latency);
    result.write_latency.Merge(s.write_latency);
    result.errors += s.errors;
    result.unit_attentions += s.unit_attentions;
    result.verified_reads += s.verified_reads;
    result.unverified_reads += s.unverified_reads;
    result.mismatches += s.mismatches;
    for (std::string& sample : s.error_samples) {
      if (result.error_samples.size() < kMaxErrorSamples) {
        result.error_samples.push_back(std::move(sample));
      }
    }
  }
  sessions.clear();  // logs out
  return result;
}

std::string LoadResultJson(const LoadOptions& o, const LoadResult& r) {
  const double per_million = r.target_cpu_seconds >= 0 && r.ios() > 0
                                 ? r.target_cpu_seconds / (static_cast<double>(r.ios()) / 1e6)
                                 : -1;
  std::string json = absl::StrFormat(
      "{\"label\":%s,\"portal\":%s,\"target\":%s,\"lun\":%d,\"pattern\":\"%s\",\"mode\":\"%s\","
      "\"read_pct\":%d,\"bs\":%d,\"qd\":%d,\"sessions\":%d,\"threads\":%d,\"verify\":%s,"
      "\"seconds\":%.3f,\"ios\":%d,\"reads\":%d,\"writes\":%d,\"iops\":%.1f,\"mib_s\":%.2f,"
      "\"lat_mean_us\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,"
      "\"lat_max_us\":%.1f,\"read_p99_us\":%.1f,\"write_p99_us\":%.1f,\"errors\":%d,"
      "\"unit_attentions\":%d,\"verified_reads\":%d,\"unverified_reads\":%d,\"mismatches\":%d,"
      "\"target_cpu_s\":%.3f,\"target_cpu_s_per_mio\":%.3f,\"client_cpu_s\":%.3f,"
      "\"block_size\":%d,\"lun_bytes\":%d}",
      JsonString(o.label), JsonString(o.portal), JsonString(o.target_iqn), o.lun,
      PatternName(o.pattern), ModeName(o.mode),
      o.mode == Mode::kMixed  ? o.read_percent
      : o.mode == Mode::kRead ? 100
                              : 0,
      o.io_size, o.queue_depth, o.sessions, o.threads, o.verify ? "true" : "false", r.seconds,
      r.ios(), r.reads, r.writes, r.Iops(), r.MibPerSecond(), r.latency.Mean() / 1000.0,
      Micros(r.latency.Quantile(0.5)), Micros(r.latency.Quantile(0.99)),
      Micros(r.latency.Quantile(0.999)), Micros(r.latency.max()),
      Micros(r.read_latency.Quantile(0.99)), Micros(r.write_latency.Quantile(0.99)), r.errors,
      r.unit_attentions, r.verified_reads, r.unverified_reads, r.mismatches, r.target_cpu_seconds,
      per_million, r.client_cpu_seconds, r.block_size, r.lun_bytes);
  return json;
}

std::string LoadResultText(const LoadOptions& o, const LoadResult& r) {
  std::string text = absl::StrFormat(
      "%s%s %s, bs %d, qd %d x %d session(s), %.1f s: %.0f IOPS, %.1f MiB/s\n"
      "  latency us: mean %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n"
      "  reads %d  writes %d  errors %d  unit attentions %d\n",
      o.label.empty() ? "" : o.label + ": ", PatternName(o.pattern), ModeName(o.mode), o.io_size,
      o.queue_depth, o.sessions, r.seconds, r.Iops(), r.MibPerSecond(), r.latency.Mean() / 1000.0,
      Micros(r.latency.Quantile(0.5)), Micros(r.latency.Quantile(0.99)),
      Micros(r.latency.Quantile(0.999)), Micros(r.latency.max()), r.reads, r.writes, r.errors,
      r.unit_attentions);
  if (o.verify) {
    absl::StrAppendFormat(&text,
                          "  verify: %d reads checked, %d unchecked (never written), "
                          "%d mismatches\n",
                          r.verified_reads, r.unverified_reads, r.mismatches);
  }
  if (r.target_cpu_seconds >= 0) {
    absl::StrAppendFormat(
        &text,
        "  target cpu %.3f s (%.3f s per million I/Os), client cpu "
        "%.3f s\n",
        r.target_cpu_seconds,
        r.ios() > 0 ? r.target_cpu_seconds * 1e6 / static_cast<double>(r.ios()) : 0.0,
        r.client_cpu_seconds);
  }
  for (const std::string& sample : r.error_samples) absl::StrAppend(&text, "  ! ", sample, "\n");
  return text;
}

double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string stat = buffer.str();
  // The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  // utime and stime are fields 14 and 15 of proc(5): indexes 11 and 12 from field 3.
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double MeasureMemcpy(uint64_t buffer_bytes, uint64_t chunk, absl::Duration duration) {
  chunk = std::max<uint64_t>(1, std::min(chunk, buffer_bytes));
  std::vector<uint8_t> from(buffer_bytes, 0x5a);
  std::vector<uint8_t> to(buffer_bytes, 0xa5);
  const uint64_t chunks = buffer_bytes / chunk;
  uint64_t copied = 0;
  uint64_t i = 0;
  const uint64_t start = NowNs();
  const uint64_t end = start + ToNs(duration);
  uint64_t now = start;
  while (now < end) {
    for (int burst = 0; burst < 16; ++burst) {
      const uint64_t at = (i++ % chunks) * chunk;
      std::memcpy(to.data() + at, from.data() + at, chunk);
      copied += chunk;
    }
    now = NowNs();
  }
  // Use the copy so the compiler cannot drop it.
  volatile uint8_t sink = to[buffer_bytes / 2];
  (void)sink;
  return static_cast<double>(copied) / (static_cast<double>(now - start) / 1e9) / 1048576.0;
}

}  // namespace iscsi_csi::bench
