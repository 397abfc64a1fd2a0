// loopback: ports on 127.0.0.1 for the flags of the processes a test starts (--portal,
// --metrics-address, a tgtd portal) when the process cannot pick its own with port 0.
#ifndef ISCSI_CSI_TESTS_TESTUTIL_LOOPBACK_H_
#define ISCSI_CSI_TESTS_TESTUTIL_LOOPBACK_H_

#include <cstdint>

namespace iscsi_csi::testing {

// FreeLoopbackPort asks the kernel for a 127.0.0.1 TCP port nobody uses right now (bind to
// port 0, read it back, close); 0 when that fails. Another process may take it before the
// caller binds it: good enough for tests, never for production.
uint16_t FreeLoopbackPort();

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_TESTUTIL_LOOPBACK_H_
