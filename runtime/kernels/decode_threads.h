#pragma once

#include <cstddef>

#include "runtime/kernels/weight_matrix.h"

namespace shardlm {

// How many threads of this host decode at once: every rank's pool on the host together. The decode
// kernels read quantized rows in lanes (row_lanes.h) where few threads share the memory bus, and in
// blocks of consecutive rows where many do. One setting for the whole process; 0, the default,
// stands for "this process's pool alone", which is right for a single rank.
void set_decode_threads_on_host(std::size_t threads);

// The setting, or pool_threads where it is 0.
std::size_t decode_threads_on_host(std::size_t pool_threads);

// Whether decode reads the rows of w in lanes when `threads` threads of the host decode at once:
// for quantized w on at most 4 threads, for 4-bit codes everywhere and for 8-bit ones on AMD CPUs.
// Measured in one process against consecutive blocks (docs/benchmarks.md): on the 2-core Zen 4
// development machine 8-bit codes decode 2-5% faster in lanes on 2 threads (3% on 1) and 4-bit ones
// 1-6% on 2 threads (2.5% slower on 1); on the 16-core device machine's Xeon 4-bit codes gain 6-9% on
// 1-4 threads and nothing on 8-16, while 8-bit ones lose 0-4% on 1-4 threads and 8-11% on 8-16.
bool decode_in_row_lanes(const WeightMatrix& w, std::size_t threads);

}  // namespace shardlm
