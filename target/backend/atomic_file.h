// Small state files next to a backing file, replaced atomically: the new
// bytes go to "<path>.tmp", are fsync'ed, renamed over <path>, and the
// directory is fsync'ed so the rename itself survives a crash. A reader
// sees the old file or the new one, never a mix. Used for the persistent
// reservation state of a logical unit (APTPL, SPC-4 5.13.5).
#ifndef ISCSI_CSI_TARGET_BACKEND_ATOMIC_FILE_H_
#define ISCSI_CSI_TARGET_BACKEND_ATOMIC_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace iscsi_csi::target::backend {

// WriteFileAtomically replaces `path` with `data` (mode 0600).
absl::Status WriteFileAtomically(const std::string& path, absl::Span<const uint8_t> data);

// ReadSmallFile returns the contents of `path`, nullopt when it does not
// exist, or an error (also for files over `max_bytes`).
absl::StatusOr<std::optional<std::vector<uint8_t>>> ReadSmallFile(const std::string& path,
                                                                  size_t max_bytes);

// RemoveFileDurably unlinks `path` (absent is fine) and fsyncs the directory.
absl::Status RemoveFileDurably(const std::string& path);

}  // namespace iscsi_csi::target::backend

#endif  // ISCSI_CSI_TARGET_BACKEND_ATOMIC_FILE_H_
