// protocol.h: the one header through which our target code includes both pdu.h and
// negotiation.h.
//
// Both headers declare `iscsi_csi::target::LoginStage` (the CSG/NSG codes of RFC 7143
// §11.12.3) with identical enumerators, so a translation unit that includes both fails to
// compile. Until the two owners settle on one declaration, this header includes pdu.h with
// its copy renamed to `PduLoginStage` (pdu.h never uses the enum in a signature: CSG/NSG
// are plain uint8_t fields there) and then negotiation.h, whose `LoginStage` is the one the
// rest of our code uses. Include this header instead of pdu.h or negotiation.h, and before
// any header that includes pdu.h.
#ifndef ISCSI_CSI_TARGET_PROTOCOL_H_
#define ISCSI_CSI_TARGET_PROTOCOL_H_

#ifdef ISCSI_CSI_TARGET_PDU_H_
#error "target/protocol.h must be included before target/pdu.h"
#endif

// NOLINTNEXTLINE: temporary rename, see the file comment.
#define LoginStage PduLoginStage
#include "target/pdu.h"
#undef LoginStage
#include "target/negotiation.h"

#endif  // ISCSI_CSI_TARGET_PROTOCOL_H_
