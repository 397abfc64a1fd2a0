// verify_pattern: the data the load generator writes in --verify mode. Every 512-byte chunk
// names itself: a magic word, its byte offset on the LUN, the write generation, then words
// derived from both, so a read that returns stale, misplaced or torn data is caught and told
// apart (wrong offset: misdirected I/O; older generation: lost write).
#ifndef ISCSI_CSI_TESTS_BENCH_VERIFY_PATTERN_H_
#define ISCSI_CSI_TESTS_BENCH_VERIFY_PATTERN_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace iscsi_csi::bench {

inline constexpr size_t kPatternChunk = 512;

// FillPattern writes the pattern for `length` bytes (a multiple of kPatternChunk) that start at
// byte `offset` of the LUN, written in generation `generation`.
void FillPattern(uint64_t offset, uint64_t generation, uint8_t* data, size_t length);

// CheckPattern returns nullopt when `data` holds exactly what FillPattern(offset, generation)
// wrote, else a description of the first chunk that differs.
std::optional<std::string> CheckPattern(uint64_t offset, uint64_t generation, const uint8_t* data,
                                        size_t length);

}  // namespace iscsi_csi::bench

#endif  // ISCSI_CSI_TESTS_BENCH_VERIFY_PATTERN_H_
