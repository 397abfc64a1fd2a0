#include "common/endpoint.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi {
namespace {

using ::testing::HasSubstr;

struct EndpointCase {
  std::string name;
  std::string text;
  bool ok;
  Endpoint::Kind kind;
  std::string grpc_address;
};

void PrintTo(const EndpointCase& c, std::ostream* os) { *os << c.name; }

class ParseEndpointTest : public ::testing::TestWithParam<EndpointCase> {};

TEST_P(ParseEndpointTest, ParsesOrRejects) {
  const EndpointCase& c = GetParam();
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(c.text);
  ASSERT_EQ(endpoint.ok(), c.ok) << endpoint.status();
  if (!c.ok) {
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  EXPECT_EQ(endpoint->kind, c.kind);
  EXPECT_EQ(endpoint->GrpcAddress(), c.grpc_address);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseEndpointTest,
    ::testing::Values(
        EndpointCase{"UnixTripleSlash", "unix:///run/csi/csi.sock", true, Endpoint::Kind::kUnix,
                     "unix:///run/csi/csi.sock"},
        EndpointCase{"UnixSingleSlash", "unix:/tmp/x.sock", true, Endpoint::Kind::kUnix,
                     "unix:///tmp/x.sock"},
        EndpointCase{"UnixRelative", "unix://relative.sock", false, Endpoint::Kind::kUnix, ""},
        EndpointCase{"UnixNoPath", "unix:", false, Endpoint::Kind::kUnix, ""},
        EndpointCase{"UnixDirectory", "unix:///tmp/", false, Endpoint::Kind::kUnix, ""},
        EndpointCase{"UnixTooLong", "unix:///" + std::string(120, 'a'), false,
                     Endpoint::Kind::kUnix, ""},
        EndpointCase{"TcpV4", "tcp://127.0.0.1:10000", true, Endpoint::Kind::kTcp,
                     "127.0.0.1:10000"},
        EndpointCase{"TcpName", "tcp://localhost:0", true, Endpoint::Kind::kTcp, "localhost:0"},
        EndpointCase{"TcpV6", "tcp://[::1]:9000", true, Endpoint::Kind::kTcp, "[::1]:9000"},
        EndpointCase{"TcpV6NoBrackets", "tcp://::1:9000", false, Endpoint::Kind::kTcp, ""},
        EndpointCase{"TcpNoPort", "tcp://127.0.0.1", false, Endpoint::Kind::kTcp, ""},
        EndpointCase{"TcpBadPort", "tcp://127.0.0.1:70000", false, Endpoint::Kind::kTcp, ""},
        EndpointCase{"TcpNoHost", "tcp://:80", false, Endpoint::Kind::kTcp, ""},
        EndpointCase{"NoScheme", "/run/csi.sock", false, Endpoint::Kind::kUnix, ""},
        EndpointCase{"OtherScheme", "http://x:1", false, Endpoint::Kind::kUnix, ""}),
    [](const ::testing::TestParamInfo<EndpointCase>& param_info) { return param_info.param.name; });

std::string TempSocketPath(const std::string& name) {
  return ::testing::TempDir() + "/ep_" + std::to_string(getpid()) + "_" + name;
}

int BindUnix(const std::string& path, bool listen_too) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  if (listen_too) {
    EXPECT_EQ(listen(fd, 1), 0);
  }
  return fd;
}

TEST(PrepareUnixSocketPathTest, MissingPathIsFineAndParentIsCreated) {
  std::string dir = TempSocketPath("newdir");
  std::string path = dir + "/sub/csi.sock";
  ASSERT_TRUE(PrepareUnixSocketPath(path).ok());
  struct stat st;
  EXPECT_EQ(stat((dir + "/sub").c_str(), &st), 0);
}

TEST(PrepareUnixSocketPathTest, StaleSocketFromCrashedProcessIsRemoved) {
  std::string path = TempSocketPath("stale.sock");
  unlink(path.c_str());
  close(BindUnix(path, /*listen_too=*/true));  // the file stays, nobody listens
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  ASSERT_TRUE(PrepareUnixSocketPath(path).ok());
  EXPECT_NE(lstat(path.c_str(), &st), 0);
}

TEST(PrepareUnixSocketPathTest, LiveSocketIsNotTakenOver) {
  std::string path = TempSocketPath("live.sock");
  unlink(path.c_str());
  int fd = BindUnix(path, /*listen_too=*/true);
  absl::Status st = PrepareUnixSocketPath(path);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("another process"));
  struct stat sb;
  EXPECT_EQ(lstat(path.c_str(), &sb), 0);
  close(fd);
  unlink(path.c_str());
}

TEST(PrepareUnixSocketPathTest, RegularFileIsNeverDeleted) {
  std::string path = TempSocketPath("regular");
  { std::ofstream(path) << "precious"; }
  absl::Status st = PrepareUnixSocketPath(path);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  unlink(path.c_str());
}

}  // namespace
}  // namespace iscsi_csi
