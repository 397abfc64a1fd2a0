// staging_store: durable StagingRecords, one file per volume under <data-dir>/staging.
// Crash ordering: Write goes to ".<name>.tmp", fsyncs it, renames it over "<name>" and fsyncs the
// directory, so a reader sees the old record or the new one, never a torn one; Delete unlinks and
// fsyncs the directory. Temporary files left by a crash are removed by Init. File names escape
// every byte outside [A-Za-z0-9_-] (and a leading '.') as %XX, so any CSI volume id is safe and
// the '.' prefix stays reserved for temporaries.
#ifndef ISCSI_CSI_NODE_STAGING_STORE_H_
#define ISCSI_CSI_NODE_STAGING_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "staging.pb.h"

namespace iscsi_csi::node {

// EscapeVolumeId / UnescapeVolumeId: the file name of a volume's record and back.
std::string EscapeVolumeId(absl::string_view volume_id);
absl::StatusOr<std::string> UnescapeVolumeId(absl::string_view file_name);

class StagingStore {
 public:
  explicit StagingStore(std::string dir);
  const std::string& dir() const { return dir_; }

  // Init creates the directory and removes temporaries a crash left behind.
  absl::Status Init();
  // Read returns the record of `volume_id`, nullopt when there is none; Internal when the file
  // exists but does not parse (the message names the file).
  absl::StatusOr<std::optional<StagingRecord>> Read(absl::string_view volume_id) const;
  // Write replaces the record atomically (sets updated_unix_seconds).
  absl::Status Write(StagingRecord record) const;
  // Delete removes the record; OK when there is none.
  absl::Status Delete(absl::string_view volume_id) const;
  // List returns every record, sorted by volume id.
  absl::StatusOr<std::vector<StagingRecord>> List() const;

 private:
  std::string PathFor(absl::string_view volume_id) const;
  absl::Status SyncDir() const;
  const std::string dir_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_STAGING_STORE_H_
