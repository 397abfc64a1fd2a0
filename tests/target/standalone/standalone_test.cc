#include "target/standalone/standalone.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseSizeTest, AcceptsBytesAndBinarySuffixes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("64K"), 64u << 10);
  EXPECT_EQ(*ParseSize("64m"), 64u << 20);
  EXPECT_EQ(*ParseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseSize("2TB"), 2ull << 40);
  for (const char* bad : {"", "0", "G", "1.5G", "-1", "12Q", "99999999999999999999"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
}

TEST(ParseExportSpecTest, SplitsIqnFileAndSize) {
  auto spec = ParseExportSpec("iqn.2026-11.io.example:disk1=/tmp/d1.img:1G");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->iqn, "iqn.2026-11.io.example:disk1");
  EXPECT_EQ(spec->file, "/tmp/d1.img");
  EXPECT_EQ(spec->size_bytes, 1ull << 30);
}

TEST(ParseExportSpecTest, SizeIsOptionalAndColonsInFileNamesSurvive) {
  auto spec = ParseExportSpec("iqn.2026-11.io.example:d=/data/a:b.img");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->file, "/data/a:b.img");
  EXPECT_EQ(spec->size_bytes, 0u);
}

TEST(ParseExportSpecTest, MissingPartsAreRefused) {
  for (const char* bad : {"", "iqn.x", "=file", "iqn.2026-11.io.example:d=", "iqn.x=:1G"}) {
    EXPECT_EQ(ParseExportSpec(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseChapSpecTest, SplitsUserAndSecretAndNeverEchoesTheSecret) {
  auto spec = ParseChapSpec("iqn.2026-11.io.example:d=alice:s3cret-s3cret");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->credentials.user, "alice");
  EXPECT_EQ(spec->credentials.secret, "s3cret-s3cret");
  absl::Status bad = ParseChapSpec("iqn.2026-11.io.example:d=no-colon-secret").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), Not(HasSubstr("no-colon-secret")));
}

TEST(DeriveNaaWwnTest, IsNaa6StableAndDistinct) {
  auto a = DeriveNaaWwn("iqn.2026-11.io.iscsi-csi:vol-1");
  auto b = DeriveNaaWwn("iqn.2026-11.io.iscsi-csi:vol-2");
  EXPECT_EQ(a[0] >> 4, 6);
  EXPECT_EQ(a, DeriveNaaWwn("iqn.2026-11.io.iscsi-csi:vol-1"));
  EXPECT_NE(a, b);
  // The company id occupies the 24 bits after the NAA nibble.
  uint32_t oui = (static_cast<uint32_t>(a[0] & 0x0f) << 20) | (a[1] << 12) | (a[2] << 4) |
                 (a[3] >> 4);
  EXPECT_EQ(oui, kIscsiCsiOui);
  EXPECT_EQ(DeriveSerial("x").size(), 16u);
  EXPECT_NE(DeriveSerial("x"), DeriveSerial("y"));
}

TEST(CheckStandaloneOptionsTest, RefusesInconsistentSettings) {
  StandaloneOptions options;
  EXPECT_FALSE(CheckStandaloneOptions(options).ok());  // nothing exported
  options.exports.push_back({"iqn.2026-11.io.example:a", "/tmp/a", 1 << 20});
  EXPECT_TRUE(CheckStandaloneOptions(options).ok());
  StandaloneOptions twice = options;
  twice.exports.push_back(options.exports[0]);
  EXPECT_FALSE(CheckStandaloneOptions(twice).ok());
  StandaloneOptions stray_allow = options;
  stray_allow.allows.push_back({"iqn.2026-11.io.example:b", "iqn.i"});
  EXPECT_FALSE(CheckStandaloneOptions(stray_allow).ok());
  StandaloneOptions read_only = options;
  read_only.read_only.push_back("iqn.2026-11.io.example:a");
  EXPECT_TRUE(CheckStandaloneOptions(read_only).ok());
  read_only.read_only.push_back("iqn.2026-11.io.example:b");
  EXPECT_THAT(CheckStandaloneOptions(read_only).message(), ::testing::HasSubstr("--read-only"));
  StandaloneOptions mutual_only = options;
  mutual_only.mutual_chaps.push_back({"iqn.2026-11.io.example:a", {"t", "target-secret-12"}});
  EXPECT_FALSE(CheckStandaloneOptions(mutual_only).ok());
  StandaloneOptions odd_block = options;
  odd_block.block_size = 1024;
  EXPECT_FALSE(CheckStandaloneOptions(odd_block).ok());
}

}  // namespace
}  // namespace iscsi_csi::target
