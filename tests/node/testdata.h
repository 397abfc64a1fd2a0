// testdata: reads captured tool outputs from tests/testdata/node/.
#ifndef ISCSI_CSI_TESTS_NODE_TESTDATA_H_
#define ISCSI_CSI_TESTS_NODE_TESTDATA_H_

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "node/host/vpd.h"

namespace iscsi_csi::testing {

inline std::string ReadTestdata(const std::string& name) {
  const std::string path = std::string(ISCSI_CSI_TESTDATA_DIR) + "/node/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ReadHexTestdata decodes a hex dump, skipping '#' comment lines.
inline std::string ReadHexTestdata(const std::string& name) {
  std::string hex;
  for (absl::string_view line : absl::StrSplit(ReadTestdata(name), '\n')) {
    if (!line.empty() && line[0] == '#') continue;
    hex.append(line.data(), line.size());
    hex.push_back(' ');
  }
  absl::StatusOr<std::string> bytes = node::HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_NODE_TESTDATA_H_
