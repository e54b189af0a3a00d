#include "runtime/kernels/bf16_activations.h"

#include <atomic>

namespace shardlm {

namespace {

std::atomic<Bf16Activations> mode{Bf16Activations::kSplit};

}  // namespace

void set_bf16_activations(Bf16Activations new_mode) { mode.store(new_mode, std::memory_order_relaxed); }

Bf16Activations bf16_activations() { return mode.load(std::memory_order_relaxed); }

}  // namespace shardlm
