#pragma once

#include <cstddef>

namespace shardlm {

// Peak resident set size of this process so far (VmHWM), in bytes; 0 where it cannot be read.
std::size_t peak_rss_bytes();
// Current resident set size (VmRSS), in bytes.
std::size_t current_rss_bytes();
// Lowers the peak to the current resident size (Linux's clear_refs), so that memory freed before a
// measurement does not count as its peak. False where the kernel does not allow it.
bool reset_peak_rss();

}  // namespace shardlm
