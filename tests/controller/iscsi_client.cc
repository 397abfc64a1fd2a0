#include "tests/controller/iscsi_client.h"

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <functional>

#include "absl/strings/str_cat.h"

namespace iscsi_csi::controller::testing {
namespace {

constexpr int kAttempts = 5;

// Run issues a command until it ends without a unit attention; the task is freed by the
// caller through the returned holder.
using TaskPtr = std::unique_ptr<scsi_task, void (*)(scsi_task*)>;

absl::StatusOr<TaskPtr> Run(iscsi_context* context, const std::function<scsi_task*()>& issue,
                            const char* what) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TaskPtr task(issue(), &scsi_free_scsi_task);
    if (task == nullptr) {
      return absl::UnavailableError(absl::StrCat(what, ": ", iscsi_get_error(context)));
    }
    if (task->status == SCSI_STATUS_GOOD) return task;
    if (task->status == SCSI_STATUS_CHECK_CONDITION &&
        task->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
      continue;
    }
    return absl::InternalError(absl::StrCat(what, ": status ", task->status, " sense key ",
                                            static_cast<int>(task->sense.key), " ascq 0x",
                                            absl::Hex(task->sense.ascq)));
  }
  return absl::InternalError(absl::StrCat(what, ": unit attentions did not stop"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<IscsiClient>> IscsiClient::Login(const IscsiLogin& login) {
  iscsi_context* context = iscsi_create_context(login.initiator_name.c_str());
  if (context == nullptr) return absl::InternalError("iscsi_create_context failed");
  std::unique_ptr<IscsiClient> client(new IscsiClient(context));
  iscsi_set_targetname(context, login.target_iqn.c_str());
  iscsi_set_session_type(context, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(context, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_noautoreconnect(context, 1);
  iscsi_set_timeout(context, 10);
  if (!login.chap_user.empty()) {
    iscsi_set_initiator_username_pwd(context, login.chap_user.c_str(), login.chap_secret.c_str());
  }
  if (!login.target_chap_user.empty()) {
    iscsi_set_target_username_pwd(context, login.target_chap_user.c_str(),
                                  login.target_chap_secret.c_str());
  }
  if (iscsi_full_connect_sync(context, login.portal.c_str(), 0) != 0) {
    return absl::UnavailableError(absl::StrCat("login to ", login.target_iqn, " as ",
                                               login.initiator_name, ": ",
                                               iscsi_get_error(context)));
  }
  absl::StatusOr<Capacity> capacity = client->ReadCapacity16();
  if (!capacity.ok()) return capacity.status();
  return client;
}

IscsiClient::~IscsiClient() {
  if (iscsi_is_logged_in(context_)) iscsi_logout_sync(context_);
  iscsi_destroy_context(context_);
}

absl::StatusOr<Capacity> IscsiClient::ReadCapacity16() {
  absl::StatusOr<TaskPtr> task = Run(
      context_, [this] { return iscsi_readcapacity16_sync(context_, 0); }, "read capacity");
  if (!task.ok()) return task.status();
  auto* data = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(task->get()));
  if (data == nullptr) return absl::InternalError("read capacity: cannot unmarshall");
  Capacity capacity;
  capacity.block_size = data->block_length;
  capacity.bytes = (data->returned_lba + 1) * data->block_length;
  block_size_ = data->block_length;
  return capacity;
}

absl::StatusOr<std::string> IscsiClient::Read(uint64_t lba, uint32_t blocks) {
  absl::StatusOr<TaskPtr> task = Run(
      context_,
      [&] {
        return iscsi_read16_sync(context_, 0, lba, blocks * block_size_,
                                 static_cast<int>(block_size_), 0, 0, 0, 0, 0);
      },
      "read");
  if (!task.ok()) return task.status();
  return std::string(reinterpret_cast<const char*>((*task)->datain.data),
                     static_cast<size_t>((*task)->datain.size));
}

absl::Status IscsiClient::Write(uint64_t lba, const std::string& data, bool fua) {
  std::string copy = data;
  absl::StatusOr<TaskPtr> task = Run(
      context_,
      [&] {
        return iscsi_write16_sync(context_, 0, lba, reinterpret_cast<unsigned char*>(copy.data()),
                                  static_cast<uint32_t>(copy.size()), static_cast<int>(block_size_),
                                  0, 0, fua ? 1 : 0, 0, 0);
      },
      "write");
  return task.status();
}

absl::Status IscsiClient::SynchronizeCache() {
  return Run(
             context_, [this] { return iscsi_synchronizecache10_sync(context_, 0, 0, 0, 0, 0); },
             "synchronize cache")
      .status();
}

}  // namespace iscsi_csi::controller::testing
