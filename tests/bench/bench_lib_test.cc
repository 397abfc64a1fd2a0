// Unit tests of the load generator's pure parts: the latency histogram, the verify pattern,
// size and workload parsing, option validation and /proc parsing.
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bench/latency_histogram.h"
#include "tests/bench/load_generator.h"
#include "tests/bench/verify_pattern.h"

namespace iscsi_csi::bench {
namespace {

using ::testing::HasSubstr;

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.Quantile(0.5), 50u);
  EXPECT_EQ(h.Quantile(0.99), 99u);
  EXPECT_EQ(h.Quantile(1.0), 100u);
  EXPECT_DOUBLE_EQ(h.Mean(), 50.5);
}

TEST(LatencyHistogramTest, QuantilesOfLargeValuesAreWithinTwoPercent) {
  LatencyHistogram h;
  for (uint64_t i = 1; i <= 100000; ++i) h.Record(i * 1000);  // 1 us .. 100 ms
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double want = q * 100000 * 1000;
    EXPECT_NEAR(static_cast<double>(h.Quantile(q)), want, want * 0.02) << q;
  }
  EXPECT_EQ(h.max(), 100000000u);
}

TEST(LatencyHistogramTest, BucketsAreMonotonicAndCoverEveryValue) {
  int last = -1;
  for (uint64_t v :
       {0ULL, 1ULL, 127ULL, 128ULL, 129ULL, 255ULL, 256ULL, 1000ULL, 1ULL << 40, ~0ULL}) {
    const int bucket = LatencyHistogram::BucketOf(v);
    EXPECT_GE(bucket, last) << v;
    last = bucket;
    if (v < (1ULL << 62)) {
      const uint64_t mid = LatencyHistogram::ValueOf(bucket);
      EXPECT_NEAR(static_cast<double>(mid), static_cast<double>(v),
                  static_cast<double>(v) / 64.0 + 1)
          << v;
    }
  }
}

TEST(LatencyHistogramTest, MergeAddsCounts) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.Record(10);
  b.Record(20);
  b.Record(30);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), 30u);
  EXPECT_EQ(a.Quantile(0.5), 20u);
  EXPECT_EQ(LatencyHistogram().Quantile(0.99), 0u);
}

TEST(VerifyPatternTest, WhatIsWrittenChecks) {
  std::vector<uint8_t> data(4096);
  FillPattern(1 << 20, 7, data.data(), data.size());
  EXPECT_EQ(CheckPattern(1 << 20, 7, data.data(), data.size()), std::nullopt);
}

TEST(VerifyPatternTest, AnOlderGenerationIsReportedAsSuch) {
  std::vector<uint8_t> data(4096);
  FillPattern(8192, 6, data.data(), data.size());
  std::optional<std::string> error = CheckPattern(8192, 7, data.data(), data.size());
  ASSERT_TRUE(error.has_value());
  EXPECT_THAT(*error, HasSubstr("in generation 6"));
}

TEST(VerifyPatternTest, DataFromAnotherOffsetIsReportedAsSuch) {
  std::vector<uint8_t> data(1024);
  FillPattern(0, 3, data.data(), data.size());
  std::optional<std::string> error = CheckPattern(512, 3, data.data(), data.size());
  ASSERT_TRUE(error.has_value());
  EXPECT_THAT(*error, HasSubstr("written for offset 0"));
}

TEST(VerifyPatternTest, ZerosAndTornChunksFail) {
  std::vector<uint8_t> zeros(512);
  EXPECT_THAT(CheckPattern(0, 1, zeros.data(), zeros.size()).value_or(""), HasSubstr("no pattern"));
  std::vector<uint8_t> data(1024);
  FillPattern(0, 1, data.data(), data.size());
  data[700] ^= 1;
  EXPECT_THAT(CheckPattern(0, 1, data.data(), data.size()).value_or(""),
              HasSubstr("byte offset 512: header right"));
}

TEST(ParseByteSizeTest, AcceptsBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("4k"), 4096u);
  EXPECT_EQ(*ParseByteSize("4KiB"), 4096u);
  EXPECT_EQ(*ParseByteSize("1M"), 1u << 20);
  EXPECT_EQ(*ParseByteSize("2g"), 2ULL << 30);
  EXPECT_EQ(*ParseByteSize("0"), 0u);
}

TEST(ParseByteSizeTest, RejectsGarbage) {
  for (const char* bad : {"", "k", "-4k", "4x", "1.5M", "99999999999999999999", "16777216T"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(ParseWorkloadTest, PatternAndModeNames) {
  EXPECT_EQ(*ParsePattern("random"), Pattern::kRandom);
  EXPECT_EQ(*ParsePattern("seq"), Pattern::kSequential);
  EXPECT_FALSE(ParsePattern("zigzag").ok());
  EXPECT_EQ(*ParseMode("mixed"), Mode::kMixed);
  EXPECT_EQ(*ParseMode("write"), Mode::kWrite);
  EXPECT_THAT(std::string(ParseMode("erase").status().message()), HasSubstr("--mode"));
}

TEST(ValidateLoadOptionsTest, NamesTheBadFlag) {
  struct Case {
    std::string name;
    void (*mutate)(LoadOptions&);
    std::string flag;
  };
  const std::vector<Case> cases = {
      {"no target", [](LoadOptions& o) { o.target_iqn.clear(); }, "--target"},
      {"odd bs", [](LoadOptions& o) { o.io_size = 1000; }, "--bs"},
      {"zero qd", [](LoadOptions& o) { o.queue_depth = 0; }, "--qd"},
      {"no sessions", [](LoadOptions& o) { o.sessions = 0; }, "--sessions"},
      {"read pct", [](LoadOptions& o) { o.read_percent = 101; }, "--read-pct"},
      {"duration", [](LoadOptions& o) { o.duration = absl::ZeroDuration(); }, "--duration"},
  };
  for (const Case& c : cases) {
    LoadOptions options;
    options.target_iqn = "iqn.2026-11.io.example:disk";
    options.initiator = "iqn.2026-11.io.example:bench";
    ASSERT_TRUE(ValidateLoadOptions(options).ok());
    c.mutate(options);
    absl::Status status = ValidateLoadOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.flag)) << c.name;
  }
}

TEST(ProcessCpuSecondsTest, ReadsThisProcessAndRefusesAMissingOne) {
  volatile uint64_t spin = 0;
  for (int i = 0; i < 20000000; ++i) spin = spin + static_cast<uint64_t>(i);
  EXPECT_GE(ProcessCpuSeconds(getpid()), 0.0);
  EXPECT_EQ(ProcessCpuSeconds(0x7ffffff0), -1.0);
}

}  // namespace
}  // namespace iscsi_csi::bench
