#pragma once

#include <cstddef>

namespace shardlm {

// The gated MLP's activation: gate[i] = silu(gate[i]) * up[i], with silu(x) = x / (1 + e^-x).
void silu_mul(float* gate, const float* up, std::size_t n);

}  // namespace shardlm
