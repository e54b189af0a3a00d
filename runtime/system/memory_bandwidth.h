#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace shardlm {

// What a streaming read achieved: the fastest pass's bytes per second, and the wrapping sum of every
// word read (so the reads cannot be optimised away, and a caller can tell that every word was read).
struct ReadBandwidth {
  double bytes_per_second = 0.0;
  std::uint64_t checksum = 0;
};

// How a pass reads its words. Which is faster depends on the CPU: on the 2-core Zen 4 development
// machine one thread reads 26 GB/s in one stream and 15.5 in eight; on the device machine's Xeon,
// 14 in one and 22 in eight, and decode kernels, which read blocks of 8 rows side by side, beat the
// one stream by up to 40%.
enum class ReadLoop {
  kOneStream,     // a thread's share front to back, 64-bit loads into four accumulators
  kEightStreams,  // the share cut in eight parts read side by side, 32-byte loads, prefetching 2 KB ahead
};

// Reads `words` `passes` times with `threads` threads at once, each streaming through its own
// contiguous share, and times each pass from the moment all threads start to the moment the last
// one ends. Decoding a token reads every weight once in the same way, so on a buffer much larger than
// the caches this is the bandwidth that bounds decode speed. Passes take turns among `loops`.
ReadBandwidth measure_read_bandwidth(std::span<const std::uint64_t> words, std::size_t threads, int passes,
                                     std::initializer_list<ReadLoop> loops = {ReadLoop::kOneStream});

// Size of a buffer that the caches cannot hold: four times the last-level cache, between 256 MiB
// and 1 GiB.
std::size_t bandwidth_probe_bytes();

// The probe's reading of `words` (at least bandwidth_probe_bytes() of them), in bytes per second: the
// best of `passes` passes of measure_read_bandwidth, the two read loops taking turns, so that it is
// the faster loop's rate.
double probe_read_bandwidth(std::span<const std::uint64_t> words, std::size_t threads, int passes = 20);

// The memory read bandwidth available to `threads` threads of this process, in bytes per second:
// probe_read_bandwidth over a freshly written buffer of bandwidth_probe_bytes(), the best of 20 passes
// (each takes milliseconds; many of them find a moment when other processes leave the memory bus
// alone). The buffer is freed before returning.
double probe_memory_bandwidth(std::size_t threads);

}  // namespace shardlm
