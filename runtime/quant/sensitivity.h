#pragma once

#include <map>
#include <string>

#include "runtime/quant/affine.h"

namespace shardlm {

// The two quantizations a mixed-precision plan chooses between, module by module.
struct SensitivitySettings {
  QuantSpec low{4, 64};
  QuantSpec high{5, 64};
};

// Per quantizable module path ("model.embed_tokens", "model.layers.3.mlp.down_proj", "lm_head"): how
// much the KL divergence from the float model would fall if that module alone moved from the low to the
// high quantization, to first order, per million weights (mlx-lm's estimate).
using Sensitivities = std::map<std::string, double>;

}  // namespace shardlm
