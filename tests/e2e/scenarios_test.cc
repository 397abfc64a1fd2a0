// scenarios_test: the end-to-end scenarios of issue #8, run inside the QEMU guest with the real
// kernel initiator (open-iscsi's iscsid and iscsiadm, sd, ext4/xfs, udev), the real
// `iscsi-csi controller` with its embedded target and the real `iscsi-csi node`, all on the
// guest's loopback. run_vm.sh boots one guest per scenario and selects it with --gtest_filter;
// tests/e2e/CMakeLists.txt registers each as its own ctest test (label e2e).
//
//   1. Ext4Lifecycle             create, publish, stage (login with mutual CHAP, WWN, mkfs),
//                                publish, write, unpublish, unstage, stage again: data intact
//   2. XfsAndBlockLifecycles     the same for xfs, and for a raw block volume
//   3. OnlineExpansion           ControllerExpandVolume + NodeExpandVolume while mounted
//   4. SnapshotAndRestore        CreateSnapshot, CreateVolume from it, stage: the data is there
//   5. RestartSafety             node plugin killed between stage and publish; controller
//                                SIGKILLed under write load: reconnect, fsck clean, no loss
//   6. AccessControl             other node's publication, wrong CHAP either way, revoked
//                                publication: no login, nothing left behind
//   7. DeleteLeavesNothing       no pool file, no export, no session after DeleteVolume
//
// The binary refuses to run outside the guest (it would log in and mount on the host).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/volume_context.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/guest_harness.h"

namespace iscsi_csi::e2e {
namespace {

using ::iscsi_csi::testing::ProcessResult;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// AckedWriter appends files of kFileBytes under `dir` from its own thread; a file counts as
// acknowledged only after it and its directory were fsynced. Content(i) is what file i holds.
class AckedWriter {
 public:
  static constexpr size_t kFileBytes = 128 * 1024;

  explicit AckedWriter(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~AckedWriter() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int acked() const { return acked_.load(); }
  std::string error() const {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  // WaitForAcked waits until `count` files are acknowledged (false on timeout or error).
  bool WaitForAcked(int count, absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (acked() < count && error().empty() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return acked() >= count;
  }

  static std::string PathOf(const std::string& dir, int index) {
    return absl::StrCat(dir, "/", index, ".dat");
  }
  static std::string Content(int index) {
    std::string data(kFileBytes, '\0');
    uint32_t x = 0x9e3779b9u * static_cast<uint32_t>(index + 1);
    for (char& c : data) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      c = static_cast<char>(x);
    }
    return data;
  }
  // BadFiles: the indexes below `count` whose file is missing or differs from Content().
  static std::vector<int> BadFiles(const std::string& dir, int count) {
    std::vector<int> bad;
    for (int i = 0; i < count; ++i) {
      std::string data(kFileBytes + 1, '\0');
      int fd = open(PathOf(dir, i).c_str(), O_RDONLY | O_CLOEXEC);
      ssize_t n = fd < 0 ? -1 : pread(fd, data.data(), data.size(), 0);
      if (fd >= 0) close(fd);
      if (n != static_cast<ssize_t>(kFileBytes) || data.substr(0, kFileBytes) != Content(i)) {
        bad.push_back(i);
      }
    }
    return bad;
  }

 private:
  void Fail(const std::string& what) {
    absl::MutexLock lock(&mu_);
    error_ = absl::StrCat(what, ": ", strerror(errno));
  }

  void Loop() {
    int dir_fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return Fail("open " + dir_);
    for (int i = 0; !stop_.load(); ++i) {
      const std::string data = Content(i);
      const std::string path = PathOf(dir_, i);
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return Fail("create " + path);
      size_t done = 0;
      while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
          close(fd);
          return Fail("write " + path);
        }
        done += static_cast<size_t>(n);
      }
      if (fsync(fd) != 0) {
        close(fd);
        return Fail("fsync " + path);
      }
      close(fd);
      if (fsync(dir_fd) != 0) return Fail("fsync " + dir_);
      acked_.store(i + 1);
    }
    close(dir_fd);
  }

  const std::string dir_;
  std::atomic<bool> stop_{false};
  std::atomic<int> acked_{0};
  mutable absl::Mutex mu_;
  std::string error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class VolumeLifecycleTest : public E2eTest {
 protected:
  // FilesystemLifecycle: the whole life of one mount volume of `fs_type`.
  void FilesystemLifecycle(const std::string& fs_type, int64_t bytes) {
    TestVolume volume;
    ASSERT_NO_FATAL_FAILURE(
        Provision(CreateRequest("pvc-" + fs_type, bytes, MountCapability(fs_type)), &volume));
    ASSERT_NO_FATAL_FAILURE(Stage(volume));
    // A real SendTargets discovery as this node offers the volume published to it.
    EXPECT_THAT(DiscoveredTargets(), Contains(volume.iqn()));
    ASSERT_NO_FATAL_FAILURE(Publish(volume));
    const std::string written = WriteFiles(volume.target_path, 4);
    ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(volume));

    // A fresh login and a fresh disk: what is read now came from the target, not a cache. The
    // plugin must find the filesystem and mount it, not format it again.
    ASSERT_NO_FATAL_FAILURE(Stage(volume));
    ASSERT_NO_FATAL_FAILURE(Publish(volume));
    EXPECT_EQ(Checksums(volume.target_path), written);
    ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(volume));
    ASSERT_NO_FATAL_FAILURE(Deprovision(volume));
  }

  // BlockDigest: sha256 of `count` MiB of `device` from MiB `skip`, read with O_DIRECT.
  static std::string BlockDigest(const std::string& device, int skip, int count) {
    ProcessResult result =
        Shell(absl::StrCat("dd if='", device, "' bs=1M skip=", skip, " count=", count,
                           " iflag=direct status=none | sha256sum"));
    return result.exit_code == 0 ? result.stdout_text : "";
  }

  // WriteBlocks writes `count` MiB of random bytes at MiB `seek` of `device` with O_DIRECT and
  // returns the sha256 of what was written.
  static std::string WriteBlocks(const std::string& device, int seek, int count) {
    const std::string scratch = absl::StrCat("/tmp/block-", seek);
    ProcessResult result =
        Shell(absl::StrCat("set -e; head -c ", count * kMiB, " /dev/urandom >", scratch,
                           "; dd if=", scratch, " of='", device, "' bs=1M seek=", seek,
                           " oflag=direct conv=notrunc,fsync status=none; sha256sum <", scratch));
    EXPECT_EQ(result.exit_code, 0);
    return result.stdout_text;
  }

  void BlockLifecycle(int64_t bytes) {
    TestVolume volume;
    ASSERT_NO_FATAL_FAILURE(
        Provision(CreateRequest("pvc-block", bytes, BlockCapability()), &volume));
    ASSERT_NO_FATAL_FAILURE(Stage(volume));
    ASSERT_NO_FATAL_FAILURE(Publish(volume));
    const std::string device = volume.target_path;
    EXPECT_EQ(DeviceBytes(device), volume.volume.capacity_bytes());
    // A raw volume is never formatted: blkid finds nothing on it (exit 2).
    EXPECT_EQ(Exec({"blkid", "-p", device}).exit_code, 2);
    const int last_mib = static_cast<int>(volume.volume.capacity_bytes() / kMiB) - 1;
    const std::string head = WriteBlocks(device, 3, 2);
    const std::string tail = WriteBlocks(device, last_mib, 1);
    EXPECT_EQ(BlockDigest(device, 3, 2), head);
    ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(volume));

    ASSERT_NO_FATAL_FAILURE(Stage(volume));
    ASSERT_NO_FATAL_FAILURE(Publish(volume));
    EXPECT_EQ(BlockDigest(device, 3, 2), head);
    EXPECT_EQ(BlockDigest(device, last_mib, 1), tail);
    ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(volume));
    ASSERT_NO_FATAL_FAILURE(Deprovision(volume));
  }

  // ExpandMounted grows a mounted volume of `fs_type` from `bytes` to `grown` bytes online.
  void ExpandMounted(const std::string& fs_type, int64_t bytes, int64_t grown) {
    TestVolume volume;
    ASSERT_NO_FATAL_FAILURE(
        Provision(CreateRequest("pvc-grow-" + fs_type, bytes, MountCapability(fs_type)), &volume));
    ASSERT_NO_FATAL_FAILURE(Stage(volume));
    ASSERT_NO_FATAL_FAILURE(Publish(volume));
    const std::string written = WriteFiles(volume.target_path, 1);
    const int64_t before = FilesystemBytes(volume.target_path);
    Note(absl::StrCat("df: ", before, " bytes before expansion"));

    csi::v1::ControllerExpandVolumeRequest expand;
    expand.set_volume_id(volume.id());
    expand.mutable_capacity_range()->set_required_bytes(grown);
    *expand.mutable_volume_capability() = volume.capability;
    csi::v1::ControllerExpandVolumeResponse expanded;
    ASSERT_TRUE(
        Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerExpandVolume,
                       expand, &expanded)));
    EXPECT_GE(expanded.capacity_bytes(), grown);
    EXPECT_TRUE(expanded.node_expansion_required());

    csi::v1::NodeExpandVolumeRequest node_expand;
    node_expand.set_volume_id(volume.id());
    node_expand.set_volume_path(volume.target_path);
    node_expand.set_staging_target_path(volume.staging_path);
    node_expand.mutable_capacity_range()->set_required_bytes(grown);
    *node_expand.mutable_volume_capability() = volume.capability;
    csi::v1::NodeExpandVolumeResponse node_expanded;
    grpc::Status status =
        Call(node_stub_.get(), &csi::v1::Node::Stub::NodeExpandVolume, node_expand, &node_expanded);
    Note(absl::StrCat("NodeExpandVolume ", volume.id(), " -> ", CodeName(status), " ",
                      status.error_message()));
    ASSERT_TRUE(Succeeded(status));
    EXPECT_GE(node_expanded.capacity_bytes(), grown);
    EXPECT_EQ(DeviceBytes(Disk(volume)), expanded.capacity_bytes());
    const int64_t after = FilesystemBytes(volume.target_path);
    Note(absl::StrCat("df: ", after, " bytes after expansion"));
    // The filesystem grew by (nearly) what the device grew; metadata takes a little.
    EXPECT_GE(after - before, (grown - bytes) * 9 / 10);
    // Still mounted read-write and intact, and the new space takes writes.
    EXPECT_EQ(Checksums(volume.target_path), written);
    EXPECT_EQ(Shell(absl::StrCat("dd if=/dev/zero of='", volume.target_path,
                                 "/after-expansion' bs=1M count=2 conv=fsync status=none"))
                  .exit_code,
              0);
    ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(volume));
    ASSERT_NO_FATAL_FAILURE(Deprovision(volume));
  }
};

TEST_F(VolumeLifecycleTest, Ext4Lifecycle) { FilesystemLifecycle("ext4", 64 * kMiB); }

TEST_F(VolumeLifecycleTest, XfsAndBlockLifecycles) {
  // mkfs.xfs refuses filesystems below 300 MB; the volume is sparse, so this costs little.
  ASSERT_NO_FATAL_FAILURE(FilesystemLifecycle("xfs", 320 * kMiB));
  ASSERT_NO_FATAL_FAILURE(BlockLifecycle(64 * kMiB));
}

TEST_F(VolumeLifecycleTest, OnlineExpansion) {
  ASSERT_NO_FATAL_FAILURE(ExpandMounted("ext4", 64 * kMiB, 160 * kMiB));
  ASSERT_NO_FATAL_FAILURE(ExpandMounted("xfs", 320 * kMiB, 512 * kMiB));
}

TEST_F(VolumeLifecycleTest, SnapshotAndRestore) {
  TestVolume source;
  ASSERT_NO_FATAL_FAILURE(
      Provision(CreateRequest("pvc-source", 64 * kMiB, MountCapability("ext4")), &source));
  ASSERT_NO_FATAL_FAILURE(Stage(source));
  ASSERT_NO_FATAL_FAILURE(Publish(source));
  const std::string written = WriteFiles(source.target_path, 4);  // synced

  csi::v1::CreateSnapshotRequest snap;
  snap.set_name("snap-e2e");
  snap.set_source_volume_id(source.id());
  csi::v1::CreateSnapshotResponse snapped;
  grpc::Status status =
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::CreateSnapshot, snap, &snapped);
  ASSERT_TRUE(Succeeded(status));
  const csi::v1::Snapshot& snapshot = snapped.snapshot();
  Note(absl::StrCat("CreateSnapshot -> ", snapshot.snapshot_id(), " (", snapshot.size_bytes(),
                    " bytes, ready ", snapshot.ready_to_use(), ")"));
  EXPECT_TRUE(snapshot.ready_to_use());
  EXPECT_EQ(snapshot.source_volume_id(), source.id());
  // Written after the snapshot: must not be in the restored volume.
  ASSERT_EQ(Shell(absl::StrCat("echo later >'", source.target_path, "/after-snapshot' && sync"))
                .exit_code,
            0);

  csi::v1::CreateVolumeRequest restore =
      CreateRequest("pvc-restored", 64 * kMiB, MountCapability("ext4"));
  restore.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(
      snapshot.snapshot_id());
  TestVolume restored;
  ASSERT_NO_FATAL_FAILURE(Provision(restore, &restored));
  EXPECT_NE(restored.id(), source.id());
  EXPECT_NE(restored.wwn(), source.wwn());
  EXPECT_EQ(restored.volume.content_source().snapshot().snapshot_id(), snapshot.snapshot_id());
  ASSERT_NO_FATAL_FAILURE(Stage(restored));
  ASSERT_NO_FATAL_FAILURE(Publish(restored));
  EXPECT_EQ(Checksums(restored.target_path), written);
  EXPECT_FALSE(std::filesystem::exists(restored.target_path + "/after-snapshot"));
  EXPECT_TRUE(std::filesystem::exists(source.target_path + "/after-snapshot"));

  for (const TestVolume* volume : {&restored, &source}) {
    ASSERT_NO_FATAL_FAILURE(Unpublish(*volume));
    ASSERT_NO_FATAL_FAILURE(Unstage(*volume));
  }
  csi::v1::DeleteSnapshotRequest unsnap;
  unsnap.set_snapshot_id(snapshot.snapshot_id());
  csi::v1::DeleteSnapshotResponse unsnapped;
  ASSERT_TRUE(Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::DeleteSnapshot,
                             unsnap, &unsnapped)));
  ASSERT_NO_FATAL_FAILURE(Deprovision(restored));
  ASSERT_NO_FATAL_FAILURE(Deprovision(source));
}

TEST_F(VolumeLifecycleTest, RestartSafety) {
  TestVolume volume;
  ASSERT_NO_FATAL_FAILURE(
      Provision(CreateRequest("pvc-restart", 96 * kMiB, MountCapability("ext4")), &volume));
  ASSERT_NO_FATAL_FAILURE(Stage(volume));
  const int sid = SessionsTo(volume.iqn()).at(0).sid;

  // The node plugin dies between stage and publish and comes back: kubelet repeats the stage,
  // which must find the volume staged (same session, no second one) and publish must work.
  ASSERT_TRUE(Succeeded(node_->Kill(SIGKILL)));
  ASSERT_TRUE(Succeeded(node_->Start())) << node_->LogTail(40);
  Connect();
  ASSERT_NO_FATAL_FAILURE(Stage(volume));
  EXPECT_EQ(SessionsTo(volume.iqn()).at(0).sid, sid) << "the restart replaced the session";
  ASSERT_NO_FATAL_FAILURE(Publish(volume));

  // The controller (and with it the target) is SIGKILLed under a writer that fsyncs every file.
  ASSERT_EQ(Exec({"dmesg", "-C"}).exit_code, 0);
  const std::string dir = volume.target_path + "/w";
  AckedWriter writer(dir);
  ASSERT_TRUE(writer.WaitForAcked(8, absl::Minutes(2))) << writer.error();
  ASSERT_TRUE(Succeeded(controller_->Kill(SIGKILL)));
  const int acked_at_kill = writer.acked();
  Note(absl::StrCat("controller killed with ", acked_at_kill, " files acknowledged"));
  absl::SleepFor(absl::Seconds(3));  // the kernel notices; the writer blocks in fsync
  ASSERT_TRUE(Succeeded(controller_->Start())) << controller_->LogTail(40);
  Connect();
  const int acked_at_restart = writer.acked();
  Note(absl::StrCat("controller back with ", acked_at_restart, " files acknowledged"));
  // The kernel logs in again on its own (same CHAP, publication restored) and the blocked
  // writes complete.
  EXPECT_TRUE(writer.WaitForAcked(acked_at_restart + 16, absl::Minutes(3))) << writer.error();
  writer.Stop();
  const int acked = writer.acked();
  EXPECT_EQ(writer.error(), "");
  Note(absl::StrCat("writer stopped with ", acked, " files acknowledged"));
  ProcessResult dmesg = Exec({"dmesg"});
  EXPECT_THAT(dmesg.stdout_text, HasSubstr("conn error")) << "the connection never broke";
  std::vector<SessionInfo> sessions = SessionsTo(volume.iqn());
  ASSERT_THAT(sessions, SizeIs(1));
  EXPECT_EQ(sessions[0].sid, sid);
  EXPECT_EQ(sessions[0].state, "LOGGED_IN");
  EXPECT_THAT(AckedWriter::BadFiles(dir, acked), IsEmpty());

  // fsck on the unmounted device: clean.
  const std::string disk = Disk(volume);
  ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
  ASSERT_EQ(Exec({"umount", volume.staging_path}).exit_code, 0);
  ProcessResult fsck = Exec({"e2fsck", "-f", "-n", disk});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.stdout_text << fsck.stderr_text;
  ASSERT_NO_FATAL_FAILURE(Unstage(volume));

  // Every acknowledged file is on the target: read back through a new session.
  ASSERT_NO_FATAL_FAILURE(Stage(volume));
  ASSERT_NO_FATAL_FAILURE(Publish(volume));
  EXPECT_THAT(AckedWriter::BadFiles(dir, acked), IsEmpty());
  ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
  ASSERT_NO_FATAL_FAILURE(Unstage(volume));
  ASSERT_NO_FATAL_FAILURE(Deprovision(volume));
}

TEST_F(VolumeLifecycleTest, AccessControl) {
  // Published to another node only: this node holds valid CHAP credentials, but its initiator
  // name is not in the target's ACL.
  TestVolume volume;
  ASSERT_NO_FATAL_FAILURE(Provision(CreateRequest("pvc-acl", 32 * kMiB, MountCapability("ext4")),
                                    &volume, kOtherNodeId));
  grpc::Status denied = NodeStage(volume, volume.publish_context);
  EXPECT_EQ(CodeName(denied), "UNAUTHENTICATED");
  EXPECT_THAT(denied.error_message(), HasSubstr(volume.id()));
  EXPECT_THAT(denied.error_message(), HasSubstr("published to this node"));
  ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft(volume));
  EXPECT_THAT(DiscoveredTargets(), Not(Contains(volume.iqn())));

  // Moved to this node (a single-node volume: unpublished from the other first), but staged
  // with a wrong secret either way.
  csi::v1::ControllerUnpublishVolumeRequest revoke;
  revoke.set_volume_id(volume.id());
  revoke.set_node_id(kOtherNodeId);
  csi::v1::ControllerUnpublishVolumeResponse revoked;
  ASSERT_TRUE(
      Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerUnpublishVolume,
                     revoke, &revoked)));
  ContextMap context;
  ASSERT_TRUE(Succeeded(ControllerPublish(volume, kNodeId, &context)));
  struct WrongSecret {
    const char* key;
    const char* code;
    const char* says;
  };
  for (const WrongSecret& c : {
           // The target rejects the node: iscsiadm 24.
           WrongSecret{kPubChapSecret, "UNAUTHENTICATED", "refused the CHAP credentials"},
           // The node rejects the target's answer to its challenge: iscsiadm 19.
           WrongSecret{kPubChapTargetSecret, "FAILED_PRECONDITION", "failed mutual CHAP"},
       }) {
    ContextMap wrong = context;
    wrong[c.key] = "not-the-secret-0123456789";
    grpc::Status refused = NodeStage(volume, wrong);
    EXPECT_EQ(CodeName(refused), c.code) << c.key;
    EXPECT_THAT(refused.error_message(), HasSubstr(c.says)) << c.key;
    EXPECT_THAT(refused.error_message(), Not(HasSubstr(wrong[c.key]))) << "a secret in the error";
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft(volume)) << c.key;
  }

  // The right credentials work (so the refusals above were about the credentials).
  volume.publish_context = context;
  ASSERT_NO_FATAL_FAILURE(Stage(volume));
  ASSERT_NO_FATAL_FAILURE(Unstage(volume));

  // Once the publication is revoked, the same credentials no longer let this node in.
  revoke.set_node_id(kNodeId);
  ASSERT_TRUE(
      Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerUnpublishVolume,
                     revoke, &revoked)));
  EXPECT_EQ(CodeName(NodeStage(volume, context)), "UNAUTHENTICATED");
  ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft(volume));
  ASSERT_NO_FATAL_FAILURE(Deprovision(volume));
}

TEST_F(VolumeLifecycleTest, DeleteLeavesNothing) {
  TestVolume volume;
  ASSERT_NO_FATAL_FAILURE(
      Provision(CreateRequest("pvc-cleanup", 32 * kMiB, MountCapability("ext4")), &volume));
  ASSERT_NO_FATAL_FAILURE(Stage(volume));
  ASSERT_NO_FATAL_FAILURE(Publish(volume));
  WriteFiles(volume.target_path, 1);
  const std::string pool_file = absl::StrCat(pool_dir_, "/volumes/", volume.id(), ".img");
  ASSERT_TRUE(std::filesystem::exists(pool_file));
  ASSERT_NO_FATAL_FAILURE(Unpublish(volume));
  ASSERT_NO_FATAL_FAILURE(Unstage(volume));

  // Before the delete the target still exists and refuses this (unpublished) node ...
  csi::v1::ControllerUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(volume.id());
  unpublish.set_node_id(kNodeId);
  csi::v1::ControllerUnpublishVolumeResponse unpublished;
  ASSERT_TRUE(
      Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ControllerUnpublishVolume,
                     unpublish, &unpublished)));
  EXPECT_EQ(RawLogin(volume, volume.publish_context), 24);  // authorization failure
  csi::v1::DeleteVolumeRequest remove;
  remove.set_volume_id(volume.id());
  csi::v1::DeleteVolumeResponse removed;
  ASSERT_TRUE(Succeeded(
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::DeleteVolume, remove, &removed)));
  // ... after it the target is gone ("not found", iscsiadm's non-retryable failure).
  EXPECT_EQ(RawLogin(volume, volume.publish_context), 19);
  EXPECT_THAT(DiscoveredTargets(), Not(Contains(volume.iqn())));

  // No file, no export, no session, no record, no mount, no staging record.
  EXPECT_FALSE(std::filesystem::exists(pool_file));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pool_dir_ + "/volumes", ec)) {
    ADD_FAILURE() << "left in the pool: " << entry.path();
  }
  ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft(volume));
  EXPECT_FALSE(std::filesystem::exists(volume.target_path));
  csi::v1::ListVolumesResponse listed;
  ASSERT_TRUE(Succeeded(Call(controller_stub_.get(), &csi::v1::Controller::Stub::ListVolumes,
                             csi::v1::ListVolumesRequest(), &listed)));
  EXPECT_THAT(listed.entries(), IsEmpty());
  // DeleteVolume of a deleted volume succeeds (CSI: idempotent).
  EXPECT_TRUE(Succeeded(
      Call(controller_stub_.get(), &csi::v1::Controller::Stub::DeleteVolume, remove, &removed)));
}

}  // namespace
}  // namespace iscsi_csi::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (std::getenv("ISCSI_CSI_E2E_GUEST") == nullptr && !GTEST_FLAG_GET(list_tests)) {
    std::cerr << "e2e_guest_test logs in to iSCSI targets, formats disks and mounts them: it "
                 "runs only inside the QEMU guest that tests/e2e/run_vm.sh boots (ctest -L e2e)"
              << std::endl;
    return 77;
  }
  const int result = RUN_ALL_TESTS();
  // A filter that matches nothing (a renamed scenario) must not pass as an empty success.
  if (::testing::UnitTest::GetInstance()->test_to_run_count() == 0) {
    std::cerr << "e2e_guest_test: --gtest_filter selected no scenario" << std::endl;
    return 1;
  }
  return result;
}
