// redact: printable forms of CSI messages with every field marked [(csi.v1.csi_secret) = true]
// masked, at any depth (nested messages, repeated fields, maps), and publish_context masked too
// because this driver hands CHAP credentials to the node through it. CSI requires that secrets never
// reach logs; csi-lib-utils' protosanitizer plays the same role for Go drivers.
#ifndef ISCSI_CSI_COMMON_REDACT_H_
#define ISCSI_CSI_COMMON_REDACT_H_

#include <string>

#include "google/protobuf/message.h"

namespace iscsi_csi {

// The text that replaces each secret value.
inline constexpr char kRedacted[] = "***";

// Redact masks the csi_secret fields of `message` in place: string values become kRedacted,
// map<string,string> entries keep their keys and get kRedacted values, other secret fields are
// cleared. Recurses into every set message field.
void Redact(google::protobuf::Message& message);

// RedactedDebugString returns a one-line text form of a redacted copy of `message`.
std::string RedactedDebugString(const google::protobuf::Message& message);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_REDACT_H_
