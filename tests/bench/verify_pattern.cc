#include "tests/bench/verify_pattern.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace iscsi_csi::bench {
namespace {

constexpr uint64_t kMagic = 0x69736373692d626eULL;  // "iscsi-bn"
constexpr size_t kWords = kPatternChunk / sizeof(uint64_t);

// SplitMix64's finaliser: cheap and every input bit reaches every output bit.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void FillChunk(uint64_t offset, uint64_t generation, uint64_t* words) {
  words[0] = kMagic;
  words[1] = offset;
  words[2] = generation;
  const uint64_t seed = Mix(offset ^ Mix(generation));
  for (size_t i = 3; i < kWords; ++i) words[i] = seed + i * 0x2545f4914f6cdd1dULL;
}

}  // namespace

void FillPattern(uint64_t offset, uint64_t generation, uint8_t* data, size_t length) {
  uint64_t words[kWords];
  for (size_t at = 0; at < length; at += kPatternChunk) {
    FillChunk(offset + at, generation, words);
    std::memcpy(data + at, words, kPatternChunk);
  }
}

std::optional<std::string> CheckPattern(uint64_t offset, uint64_t generation, const uint8_t* data,
                                        size_t length) {
  uint64_t want[kWords];
  uint64_t got[kWords];
  for (size_t at = 0; at < length; at += kPatternChunk) {
    FillChunk(offset + at, generation, want);
    if (std::memcmp(data + at, want, kPatternChunk) == 0) continue;
    std::memcpy(got, data + at, kPatternChunk);
    if (got[0] != kMagic) {
      return absl::StrCat("byte offset ", offset + at, ": expected generation ", generation,
                          ", found no pattern (first word 0x", absl::Hex(got[0]), ")");
    }
    if (got[1] != offset + at || got[2] != generation) {
      return absl::StrCat("byte offset ", offset + at, ": expected generation ", generation,
                          ", found the chunk written for offset ", got[1], " in generation ",
                          got[2]);
    }
    return absl::StrCat("byte offset ", offset + at, ": header right (generation ", generation,
                        ") but the body differs (torn or corrupted)");
  }
  return std::nullopt;
}

}  // namespace iscsi_csi::bench
