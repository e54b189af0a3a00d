#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shardlm {

// What a streaming read achieved: the fastest pass's bytes per second, and the wrapping sum of every
// word read (so the reads cannot be optimised away, and a caller can tell that every word was read).
struct ReadBandwidth {
  double bytes_per_second = 0.0;
  std::uint64_t checksum = 0;
};

// Reads `words` `passes` times with `threads` threads at once, each streaming through its own
// contiguous share, and times each pass from the moment all threads start to the moment the last
// one ends. Decoding a token reads every weight once in the same way, so on a buffer much larger than
// the caches this is the bandwidth that bounds decode speed.
ReadBandwidth measure_read_bandwidth(std::span<const std::uint64_t> words, std::size_t threads, int passes);

// Size of a buffer that the caches cannot hold: four times the last-level cache, between 256 MiB
// and 1 GiB.
std::size_t bandwidth_probe_bytes();

// The memory read bandwidth available to `threads` threads of this process, in bytes per second:
// measure_read_bandwidth over a freshly written buffer of bandwidth_probe_bytes(), best of 20
// passes (each takes milliseconds; many of them find a moment when other processes leave the memory
// bus alone). The buffer is freed before returning.
double probe_memory_bandwidth(std::size_t threads);

}  // namespace shardlm
