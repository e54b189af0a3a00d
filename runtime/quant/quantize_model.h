#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "runtime/quant/affine.h"

namespace shardlm {

// Which modules a quantization touches and how: given a module path (e.g. "model.layers.3.mlp.down_proj")
// and its weight's shape, the parameters to quantize it with, or nothing to keep it in float.
using QuantizationPlan = std::function<std::optional<QuantSpec>(const std::string& module, std::int64_t rows,
                                                                std::int64_t cols)>;

struct QuantizationSummary {
  std::size_t quantized_modules = 0;
  std::size_t float_modules = 0;   // linear or embedding weights left in float
  std::size_t weight_bytes = 0;    // every tensor written
  double parameters = 0;           // of the original model
  double bits_per_weight = 0;      // weight_bytes * 8 / parameters, as mlx-lm computes it
};

// The modules whose weights a quantization may touch: the embedding, the LM head and the linear
// projections of every layer.
bool is_quantizable_module(const std::string& module);

// Every quantizable module whose inputs are whole groups of `spec`, with `spec`.
QuantizationPlan uniform_plan(QuantSpec spec);

// Writes the model folder `in` to `out` with the plan's modules quantized in MLX's affine format
// (<module>.weight as packed uint32 codes, <module>.scales and <module>.biases in the module's float
// dtype) and config.json's "quantization" recording the parameters (default and per-module
// overrides, as mlx-lm writes them). Other tensors and the tokenizer and generation files are copied.
QuantizationSummary quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                                   QuantSpec defaults, const QuantizationPlan& plan);

}  // namespace shardlm
