#pragma once

#include <filesystem>

#include "runtime/quant/affine.h"
#include "runtime/quant/quantization_layout.h"

namespace shardlm {

// Writes the model folder `in` to `out` with the plan's modules quantized in MLX's affine format
// (<module>.weight as packed uint32 codes, <module>.scales and <module>.biases in the module's float
// dtype) and config.json's "quantization" recording the parameters (default and per-module
// overrides, as mlx-lm writes them). Other tensors (less those plan_quantization leaves out) and the
// tokenizer and generation files are copied. The summary is plan_quantization's, which the written
// files match byte for byte.
QuantizationSummary quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                                   QuantSpec defaults, const QuantizationPlan& plan);

}  // namespace shardlm
