#pragma once

#include <cstddef>

namespace shardlm {

// Scratch memory for the kernels, one set of buffers per thread, kept from call to call so that a
// matmul does not pay for fresh pages every time. A kernel set's source file may call this: it is
// an ordinary function compiled with the base flags (see dot_kernels.h).
//
// Slot `slot` (< kKernelScratchSlots) of the calling thread, holding at least n_floats floats; its
// contents are whatever the thread last left there. A later call for the same slot may move it.
inline constexpr std::size_t kKernelScratchSlots = 4;
float* kernel_scratch(std::size_t slot, std::size_t n_floats);

}  // namespace shardlm
