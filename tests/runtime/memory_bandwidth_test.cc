// The memory bandwidth probe: each of its read loops reads every word once per pass, at a rate that
// agrees with a plain timed loop over the same buffer.
#include "runtime/system/memory_bandwidth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

#include "runtime/system/memory_usage.h"

namespace shardlm {
namespace {

TEST(MemoryBandwidthTest, EveryThreadCountReadsEveryWordOnce) {
  std::vector<std::uint64_t> words(1'000'003);
  std::iota(words.begin(), words.end(), std::uint64_t{0x9e3779b97f4a7c15ull});
  const std::uint64_t expected = std::accumulate(words.begin(), words.end(), std::uint64_t{0});
  for (const ReadLoop loop : {ReadLoop::kOneStream, ReadLoop::kEightStreams}) {
    for (const std::size_t threads : {1, 2, 3, 7}) {
      const ReadBandwidth result = measure_read_bandwidth(words, threads, 2, {loop});
      EXPECT_EQ(result.checksum, expected) << threads << " threads, loop " << static_cast<int>(loop);
      EXPECT_GT(result.bytes_per_second, 0.0);
    }
  }
}

TEST(MemoryBandwidthTest, OneThreadMatchesAPlainTimedLoop) {
  std::vector<std::uint64_t> words(bandwidth_probe_bytes() / sizeof(std::uint64_t));
  ASSERT_GE(words.size() * sizeof(std::uint64_t), std::size_t{256} << 20);
  std::iota(words.begin(), words.end(), std::uint64_t{0});
  // The reference: the same bytes summed by std::accumulate on this thread. Passes of the two
  // alternate, and each keeps its best, so that a busy machine slows both alike.
  double best = 1e30;
  double one_stream = 0.0, eight_streams = 0.0;
  std::uint64_t sink = 0;
  for (int pass = 0; pass < 6; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    sink += std::accumulate(words.begin(), words.end(), std::uint64_t{0});
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    one_stream = std::max(one_stream, measure_read_bandwidth(words, 1, 1, {ReadLoop::kOneStream}).bytes_per_second);
    eight_streams = std::max(eight_streams, measure_read_bandwidth(words, 1, 1, {ReadLoop::kEightStreams}).bytes_per_second);
  }
  const double reference = static_cast<double>(words.size() * sizeof(std::uint64_t)) / best;
  const std::uint64_t n = words.size();
  EXPECT_EQ(sink, 6 * (n * (n - 1) / 2)) << "the reference read every word";
  // Same work on one thread: each of the probe's loops may be faster or slower (eight streams read at
  // 0.6 of one on the development machine's Zen 4), never by the factor that a wrong byte count (x8)
  // would give.
  for (const double probe : {one_stream, eight_streams}) {
    EXPECT_GT(probe, 0.25 * reference) << "probe " << probe / 1e9 << " GB/s, loop " << reference / 1e9 << " GB/s";
    EXPECT_LT(probe, 4.0 * reference) << "probe " << probe / 1e9 << " GB/s, loop " << reference / 1e9 << " GB/s";
  }
}

TEST(MemoryBandwidthTest, ProbeFreesItsBuffer) {
  ASSERT_TRUE(reset_peak_rss());
  const std::size_t before = current_rss_bytes();
  const double bandwidth = probe_memory_bandwidth(2);
  EXPECT_GT(bandwidth, 1e8);
  EXPECT_GE(peak_rss_bytes(), before + bandwidth_probe_bytes() * 9 / 10) << "the buffer was written";
  EXPECT_LT(current_rss_bytes(), before + (std::size_t{32} << 20)) << "and given back";
  reset_peak_rss();
  EXPECT_LT(peak_rss_bytes(), before + (std::size_t{32} << 20));
}

}  // namespace
}  // namespace shardlm
