#pragma once

#include <cstddef>

namespace shardlm {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for each of `rows` rows of `dim` values.
// out may alias x.
void rms_norm(const float* x, const float* weight, std::size_t rows, std::size_t dim, float eps, float* out);

}  // namespace shardlm
