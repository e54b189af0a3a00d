#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/io/model_folder.h"
#include "runtime/quant/affine.h"

namespace shardlm {

// Which modules a quantization touches and how: given a module path (e.g. "model.layers.3.mlp.down_proj")
// and its weight's shape, the parameters to quantize it with, or nothing to keep it in float.
using QuantizationPlan = std::function<std::optional<QuantSpec>(const std::string& module, std::int64_t rows,
                                                                std::int64_t cols)>;

// The modules whose weights a quantization may touch: the embedding, the LM head and the linear
// projections of every layer.
bool is_quantizable_module(const std::string& module);

// Every quantizable module whose inputs are whole groups of `spec`, with `spec`.
QuantizationPlan uniform_plan(QuantSpec spec);

// One tensor of the model folder and the form in which a quantization writes it.
struct PlannedTensor {
  std::string name;
  const TensorEntry* source = nullptr;
  std::string module;             // for the weight of a quantizable module; empty for any other tensor
  std::optional<QuantSpec> spec;  // set when the weight is written quantized
};

struct QuantizationSummary {
  std::size_t quantized_modules = 0;
  std::size_t float_modules = 0;  // linear or embedding weights left in float
  std::size_t weight_bytes = 0;   // every tensor written
  double parameters = 0;          // of the original model
  double bits_per_weight = 0;     // weight_bytes * 8 / parameters, as mlx-lm computes it
};

// What a plan makes of a model folder, worked out from the safetensors headers alone (nothing is
// read or quantized), so that the bits per weight a planner weighs are the ones quantize_model then
// writes. Tensors the model never reads are left out, as mlx-lm drops them when it loads a model: the
// LM head of a model with tied embeddings (the embedding is counted once) and rotary inv_freq buffers.
struct QuantizationLayout {
  std::vector<PlannedTensor> tensors;  // in name order
  QuantizationSummary summary;
};

QuantizationLayout plan_quantization(const ModelFolder& folder, const QuantizationPlan& plan);

// Bytes of a [rows][cols] weight quantized with `spec`: the packed codes, and a scale and a bias per
// group of `scale_type`, the weight's float type.
std::size_t quantized_weight_bytes(std::int64_t rows, std::int64_t cols, QuantSpec spec, StorageType scale_type);

}  // namespace shardlm
