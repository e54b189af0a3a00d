#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "runtime/kernels/weight_matrix.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"
#include "runtime/model/model_weights.h"

namespace shardlm::grad {

// A row-major [rows][cols] matrix owned in T: the form in which the gradient pass holds a weight.
template <typename T>
struct DenseMatrix {
  std::vector<T> values;
  std::size_t rows = 0;
  std::size_t cols = 0;

  const T* row(std::size_t r) const { return values.data() + r * cols; }
};

// A linear layer (or embedding table) with the module path its gradient is reported under.
template <typename T>
struct DenseLinear {
  std::string module;  // e.g. "model.layers.3.mlp.down_proj"
  DenseMatrix<T> weight;
  std::vector<T> bias;  // empty when the layer has none
};

template <typename T>
struct DenseLayer {
  std::vector<T> input_norm, post_attention_norm, q_norm, k_norm;
  DenseLinear<T> q, k, v, o, gate, up, down;
};

// The weights of a slice of whole layers (pipeline stages, no tensor parallelism) as dense T
// matrices: the point at which the gradient is taken. A tied model has one table: the embedding,
// which also serves as the LM head where both are on this slice, and is reported as
// "model.embed_tokens" from both uses, so the one weight gets the gradient of both.
template <typename T>
struct DenseWeights {
  DenseLinear<T> embedding;  // when the slice has the embedding
  std::vector<DenseLayer<T>> layers;
  std::vector<T> final_norm;  // when the slice has the head
  DenseLinear<T> lm_head;     // when the slice has the head, unless it is the embedding above

  const DenseLinear<T>& head() const { return lm_head.weight.values.empty() ? embedding : lm_head; }
};

// The f32 values [rows][cols] to use for a module's weight, given its stored matrix: the stored
// weights widened, or (for the sensitivities) quantized and dequantized.
using WeightSource = std::function<std::vector<float>(const std::string& module, const WeightMatrix& stored)>;

// Every row of the stored matrix widened to f32.
std::vector<float> widened_weight(const std::string& module, const WeightMatrix& stored);

// The module path of the LM head: "lm_head", or the embedding's when tied.
std::string head_module(const ModelConfig& config);

// Builds the dense weights of `slice` from its stored weights: matrices from `source`, norms and
// biases as loaded. Throws std::invalid_argument for a slice that splits layers (tensor parallelism).
template <typename T>
DenseWeights<T> make_dense_weights(const ModelConfig& config, const ModelSlice& slice, const ModelWeights& stored,
                                   const WeightSource& source);

}  // namespace shardlm::grad
