#include "runtime/kernels/kernel_scratch.h"

#include <cassert>
#include <memory>

namespace shardlm {

float* kernel_scratch(std::size_t slot, std::size_t n_floats) {
  assert(slot < kKernelScratchSlots);
  thread_local std::unique_ptr<float[]> buffers[kKernelScratchSlots];
  thread_local std::size_t capacities[kKernelScratchSlots] = {};
  if (capacities[slot] < n_floats) {
    buffers[slot].reset();
    buffers[slot] = std::make_unique_for_overwrite<float[]>(n_floats);
    capacities[slot] = n_floats;
  }
  return buffers[slot].get();
}

}  // namespace shardlm
