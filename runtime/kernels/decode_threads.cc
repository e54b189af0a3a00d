#include "runtime/kernels/decode_threads.h"

#include <atomic>

#include "runtime/kernels/cpu_features.h"

namespace shardlm {

namespace {

std::atomic<std::size_t> threads_on_host{0};

constexpr std::size_t kMostThreadsForLanes = 4;

}  // namespace

void set_decode_threads_on_host(std::size_t threads) { threads_on_host.store(threads, std::memory_order_relaxed); }

std::size_t decode_threads_on_host(std::size_t pool_threads) {
  const std::size_t set = threads_on_host.load(std::memory_order_relaxed);
  return set == 0 ? pool_threads : set;
}

bool decode_in_row_lanes(const WeightMatrix& w, std::size_t threads) {
  if (!w.quantized() || threads > kMostThreadsForLanes) return false;
  return w.quant.bits == 4 || cpu_features().vendor == CpuVendor::kAmd;
}

}  // namespace shardlm
