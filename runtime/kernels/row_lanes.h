#pragma once

#include <cstddef>

namespace shardlm {

// Decode streams every weight from memory once, a block of rows at a time with the block's rows
// read side by side. In lanes, a thread's rows [begin, end) are cut into kRowLanes lanes of
// consecutive rows, and a block takes the i-th row of neighbouring lanes, i rising, so that each
// lane is one run through memory as long as the thread's share of the matrix; blocks of consecutive
// rows instead read runs of one row each, 1 or 2 KB for the 4- or 8-bit codes of 2048 inputs. Which
// is faster depends on the CPU, the code width and how many threads of the host read memory at once;
// decode_threads.h says when lanes are used and what they gained.
constexpr std::size_t kRowLanes = 8;

// Calls block.template operator()<kRows>(first, spacing) for blocks of the kRows rows
// first + r * spacing, r < kRows, that are the i-th rows of kRows neighbouring lanes, then
// block.template operator()<1>(row, 1) for each row left over past the lanes.
template <int kRows, typename Block>
void for_each_row_block_in_lanes(std::size_t begin, std::size_t end, const Block& block) {
  static_assert(kRows >= 1 && kRowLanes % kRows == 0);
  const std::size_t per_lane = (end - begin) / kRowLanes;
  for (std::size_t i = 0; i < per_lane; ++i) {
    for (std::size_t lane = 0; lane < kRowLanes; lane += kRows) {
      block.template operator()<kRows>(begin + lane * per_lane + i, per_lane);
    }
  }
  for (std::size_t row = begin + kRowLanes * per_lane; row < end; ++row) {
    block.template operator()<1>(row, std::size_t{1});
  }
}

// How far ahead in its lane a block prefetches its rows' lines, in rows of row_bytes: about 2 KB
// (the best of 1, 2 and 4 KB for plain reads in lanes on the development machine), and at least the
// next row.
constexpr std::size_t kLanePrefetchBytes = 2048;
constexpr std::size_t lane_prefetch_rows(std::size_t row_bytes) {
  return row_bytes >= kLanePrefetchBytes ? 1 : (kLanePrefetchBytes + row_bytes - 1) / row_bytes;
}

}  // namespace shardlm
