#include "tests/testutil/iscsi_session.h"

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iscsi_csi::testing {
namespace {

constexpr int kUnitAttentionRetries = 5;

}  // namespace

// One call in flight. It lives as long as the session, not the call: libiscsi calls back what
// it still holds when the context is destroyed (SCSI_STATUS_CANCELLED), and a Data-Out buffer
// must stay valid while its PDUs exist. libiscsi's own *_sync calls keep that state on their
// stack, so a call cut off by a lost connection would be called back into a dead frame later;
// this is why the session drives the async API itself, the login and logout included.
struct IscsiSession::Pending {
  bool scsi = true;  // command_data is a scsi_task (not so for a login or logout)
  bool finished = false;
  bool abandoned = false;
  int status = -1;
  scsi_task* task = nullptr;
  std::string data_out;

  static void Done(iscsi_context* /*context*/, int status, void* command_data, void* self) {
    auto* pending = static_cast<Pending*>(self);
    pending->finished = true;
    pending->status = status;
    pending->task = pending->scsi ? static_cast<scsi_task*>(command_data) : nullptr;
    if (pending->abandoned && pending->task != nullptr) {
      scsi_free_scsi_task(pending->task);
      pending->task = nullptr;
    }
  }
};

IscsiSession::IscsiSession(iscsi_context* context, int timeout_seconds)
    : context_(context), timeout_seconds_(timeout_seconds) {}

std::string CommandResult::Describe() const {
  if (!connected) return absl::StrCat("no answer (", error, ")");
  if (status == 0) return "GOOD";
  if (status == 2) {
    return absl::StrCat("CHECK CONDITION key 0x", absl::Hex(sense_key), " ASC/ASCQ 0x",
                        absl::Hex(asc, absl::kZeroPad2), "/0x", absl::Hex(ascq, absl::kZeroPad2));
  }
  return absl::StrCat("status 0x", absl::Hex(status), " ", error);
}

absl::Status CommandResult::ToStatus() const {
  if (good()) return absl::OkStatus();
  if (!connected) return absl::UnavailableError(Describe());
  return absl::InternalError(Describe());
}

absl::StatusOr<std::unique_ptr<IscsiSession>> IscsiSession::Login(const SessionOptions& options) {
  iscsi_context* context = iscsi_create_context(options.initiator_name.c_str());
  if (context == nullptr) return absl::InternalError("iscsi_create_context failed");
  std::unique_ptr<IscsiSession> session(new IscsiSession(context, options.timeout_seconds));
  if (options.isid_qualifier.has_value()) {
    iscsi_set_isid_random(context, static_cast<uint32_t>(getpid()) & 0xffffff,
                          *options.isid_qualifier);
  }
  iscsi_set_targetname(context, options.target_iqn.c_str());
  iscsi_set_session_type(context, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(context, ISCSI_HEADER_DIGEST_NONE);
  iscsi_set_noautoreconnect(context, 1);
  iscsi_set_timeout(context, options.timeout_seconds);
  if (!options.chap_user.empty()) {
    iscsi_set_initiator_username_pwd(context, options.chap_user.c_str(),
                                     options.chap_secret.c_str());
  }
  if (!options.target_chap_user.empty()) {
    iscsi_set_target_username_pwd(context, options.target_chap_user.c_str(),
                                  options.target_chap_secret.c_str());
  }
  const std::string portal = options.portal;
  CommandResult login = session->RunOnce(
      [context, &portal](iscsi_command_cb cb, void* self) {
        return iscsi_full_connect_async(context, portal.c_str(), 0, cb, self) == 0;
      },
      "", /*scsi=*/false);
  if (!login.good()) {
    session->broken_ = true;  // no Logout from the destructor
    return absl::UnavailableError(absl::StrCat("login to ", options.target_iqn, " at ",
                                               options.portal, " as ", options.initiator_name, ": ",
                                               login.Describe()));
  }
  CommandResult capacity = session->ReadCapacity16();
  if (!capacity.good() || capacity.data.size() < 12) {
    return absl::UnavailableError(
        absl::StrCat("read capacity of ", options.target_iqn, ": ", capacity.Describe()));
  }
  return session;
}

IscsiSession::~IscsiSession() {
  if (!broken_ && iscsi_is_logged_in(context_)) Logout();
  iscsi_destroy_context(context_);  // calls back what is still queued; pending_ outlives it
}

CommandResult IscsiSession::Run(const Issue& issue, std::string data_out) {
  CommandResult result;
  for (int attempt = 0; attempt <= kUnitAttentionRetries; ++attempt) {
    result = RunOnce(issue, data_out, /*scsi=*/true);
    if (result.connected && result.status == SCSI_STATUS_CHECK_CONDITION &&
        result.sense_key == SCSI_SENSE_UNIT_ATTENTION) {
      continue;
    }
    break;
  }
  return result;
}

CommandResult IscsiSession::RunOnce(const Issue& issue, std::string data_out, bool scsi) {
  CommandResult result;
  if (broken_) {
    result.connected = false;
    result.error = "the connection was lost earlier";
    return result;
  }
  pending_.push_back(std::make_unique<Pending>());
  Pending* pending = pending_.back().get();
  pending->scsi = scsi;
  pending->data_out = std::move(data_out);
  if (!issue(&Pending::Done, pending)) {
    pending->abandoned = true;
    broken_ = true;
    result.connected = false;
    result.error = iscsi_get_error(context_);
    return result;
  }
  // libiscsi times commands out itself (iscsi_set_timeout); the deadline is a backstop.
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds_ + 10);
  while (!pending->finished) {
    pollfd fd{iscsi_get_fd(context_), static_cast<short>(iscsi_which_events(context_)), 0};
    const int ready = poll(&fd, 1, 100);
    if (ready < 0 || iscsi_service(context_, ready > 0 ? fd.revents : 0) < 0 ||
        absl::Now() > deadline) {
      break;
    }
  }
  if (!pending->finished) {
    pending->abandoned = true;
    broken_ = true;
    result.connected = false;
    result.error = iscsi_get_error(context_);
    return result;
  }
  // Finished: libiscsi holds no reference any more.
  const std::unique_ptr<Pending> done = std::move(pending_.back());
  pending_.pop_back();
  scsi_task* task = done->task;
  if (done->status != SCSI_STATUS_GOOD && done->status != SCSI_STATUS_CHECK_CONDITION &&
      (done->status < 0 || done->status > 0xff)) {
    // SCSI_STATUS_ERROR / CANCELLED / TIMEOUT: libiscsi's own failures, no answer.
    broken_ = true;
    result.connected = false;
    result.status = done->status;
    result.error = iscsi_get_error(context_);
  } else if (done->status == SCSI_STATUS_CHECK_CONDITION && task != nullptr) {
    result.status = SCSI_STATUS_CHECK_CONDITION;
    result.sense_key = static_cast<int>(task->sense.key);
    result.asc = (task->sense.ascq >> 8) & 0xff;
    result.ascq = task->sense.ascq & 0xff;
  } else if (done->status == SCSI_STATUS_GOOD) {
    result.status = SCSI_STATUS_GOOD;
    if (task != nullptr && task->datain.size > 0) {
      result.data.assign(reinterpret_cast<const char*>(task->datain.data),
                         static_cast<size_t>(task->datain.size));
    }
  } else {
    result.status = done->status;
  }
  if (task != nullptr) scsi_free_scsi_task(task);
  return result;
}

CommandResult IscsiSession::ReadCapacity16() {
  CommandResult result = Run([this](iscsi_command_cb cb, void* self) {
    return iscsi_readcapacity16_task(context_, 0, cb, self) != nullptr;
  });
  if (!result.good() || result.data.size() < 12) return result;
  const auto* bytes = reinterpret_cast<const uint8_t*>(result.data.data());
  uint64_t last_lba = 0;
  for (int i = 0; i < 8; ++i) last_lba = last_lba << 8 | bytes[i];
  blocks_ = last_lba + 1;
  block_size_ = static_cast<uint32_t>(bytes[8]) << 24 | static_cast<uint32_t>(bytes[9]) << 16 |
                static_cast<uint32_t>(bytes[10]) << 8 | bytes[11];
  return result;
}

CommandResult IscsiSession::Read(uint64_t lba, uint32_t blocks) {
  const uint32_t bytes = blocks * block_size_;
  const int block = static_cast<int>(block_size_);
  return Run([&](iscsi_command_cb cb, void* self) {
    return iscsi_read16_task(context_, 0, lba, bytes, block, 0, 0, 0, 0, 0, cb, self) != nullptr;
  });
}

CommandResult IscsiSession::Write(uint64_t lba, const std::string& data, bool fua) {
  const int block = static_cast<int>(block_size_);
  // The buffer handed to libiscsi is the Pending's own copy (see Pending).
  return Run(
      [&](iscsi_command_cb cb, void* self) {
        std::string& buffer = static_cast<Pending*>(self)->data_out;
        return iscsi_write16_task(context_, 0, lba, reinterpret_cast<unsigned char*>(buffer.data()),
                                  static_cast<uint32_t>(buffer.size()), block, 0, 0, fua ? 1 : 0, 0,
                                  0, cb, self) != nullptr;
      },
      data);
}

CommandResult IscsiSession::Unmap(const std::vector<UnmapRange>& ranges) {
  std::vector<unmap_list> list;
  for (const UnmapRange& range : ranges) list.push_back(unmap_list{range.lba, range.blocks});
  return Run([&](iscsi_command_cb cb, void* self) {
    return iscsi_unmap_task(context_, 0, 0, 0, list.data(), static_cast<int>(list.size()), cb,
                            self) != nullptr;
  });
}

CommandResult IscsiSession::SynchronizeCache() {
  return Run([this](iscsi_command_cb cb, void* self) {
    return iscsi_synchronizecache10_task(context_, 0, 0, 0, 0, 0, cb, self) != nullptr;
  });
}

void IscsiSession::Drop() {
  broken_ = true;
  iscsi_disconnect(context_);
}

bool IscsiSession::Logout() {
  if (broken_ || !iscsi_is_logged_in(context_)) return false;
  return RunOnce([this](iscsi_command_cb cb,
                        void* self) { return iscsi_logout_async(context_, cb, self) == 0; },
                 "", /*scsi=*/false)
      .good();
}

}  // namespace iscsi_csi::testing
