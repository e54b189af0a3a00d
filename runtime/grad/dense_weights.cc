#include "runtime/grad/dense_weights.h"

#include <fmt/format.h>

#include <stdexcept>

namespace shardlm::grad {

namespace {

template <typename T>
std::vector<T> converted(const std::vector<float>& values) {
  return std::vector<T>(values.begin(), values.end());
}

template <typename T>
DenseLinear<T> dense_linear(const std::string& module, const WeightMatrix& stored, const std::vector<float>& bias,
                            const WeightSource& source) {
  DenseLinear<T> linear;
  linear.module = module;
  linear.weight.rows = stored.rows;
  linear.weight.cols = stored.cols;
  linear.weight.values = converted<T>(source(module, stored));
  if (linear.weight.values.size() != stored.rows * stored.cols) {
    throw std::logic_error(fmt::format("weight source gave {} values for '{}', expected {}",
                                       linear.weight.values.size(), module, stored.rows * stored.cols));
  }
  linear.bias = converted<T>(bias);
  return linear;
}

}  // namespace

std::vector<float> widened_weight(const std::string&, const WeightMatrix& stored) {
  std::vector<float> values(stored.rows * stored.cols);
  for (std::size_t r = 0; r < stored.rows; ++r) widen_weight_row(stored, r, values.data() + r * stored.cols);
  return values;
}

std::string head_module(const ModelConfig& config) {
  return config.tie_word_embeddings ? "model.embed_tokens" : "lm_head";
}

template <typename T>
DenseWeights<T> make_dense_weights(const ModelConfig& config, const ModelSlice& slice, const ModelWeights& stored,
                                   const WeightSource& source) {
  const ModelSlice whole = ModelSlice::whole(config);
  if (slice.q_heads != whole.q_heads || slice.ffn != whole.ffn || slice.vocab != whole.vocab) {
    throw std::invalid_argument("the gradient pass needs whole layers: it splits a model into pipeline stages only");
  }
  DenseWeights<T> dense;
  if (slice.has_embedding) dense.embedding = dense_linear<T>("model.embed_tokens", stored.embedding, {}, source);
  for (std::size_t l = 0; l < stored.layers.size(); ++l) {
    const LayerWeights& w = stored.layers[l];
    const std::string attn = fmt::format("model.layers.{}.self_attn.", slice.layers.begin + static_cast<std::int64_t>(l));
    const std::string mlp = fmt::format("model.layers.{}.mlp.", slice.layers.begin + static_cast<std::int64_t>(l));
    DenseLayer<T> layer;
    layer.input_norm = converted<T>(w.input_norm);
    layer.post_attention_norm = converted<T>(w.post_attention_norm);
    layer.q_norm = converted<T>(w.q_norm);
    layer.k_norm = converted<T>(w.k_norm);
    layer.q = dense_linear<T>(attn + "q_proj", w.q.weight, w.q.bias, source);
    layer.k = dense_linear<T>(attn + "k_proj", w.k.weight, w.k.bias, source);
    layer.v = dense_linear<T>(attn + "v_proj", w.v.weight, w.v.bias, source);
    layer.o = dense_linear<T>(attn + "o_proj", w.o.weight, w.o.bias, source);
    layer.gate = dense_linear<T>(mlp + "gate_proj", w.gate.weight, w.gate.bias, source);
    layer.up = dense_linear<T>(mlp + "up_proj", w.up.weight, w.up.bias, source);
    layer.down = dense_linear<T>(mlp + "down_proj", w.down.weight, w.down.bias, source);
    dense.layers.push_back(std::move(layer));
  }
  if (slice.has_head) {
    dense.final_norm = converted<T>(stored.final_norm);
    if (!(config.tie_word_embeddings && slice.has_embedding)) {
      dense.lm_head = dense_linear<T>(head_module(config), stored.lm_head, {}, source);
    }
  }
  return dense;
}

template DenseWeights<float> make_dense_weights<float>(const ModelConfig&, const ModelSlice&, const ModelWeights&,
                                                       const WeightSource&);
template DenseWeights<double> make_dense_weights<double>(const ModelConfig&, const ModelSlice&, const ModelWeights&,
                                                         const WeightSource&);

}  // namespace shardlm::grad
