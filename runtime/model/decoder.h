#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/model/kv_cache.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"
#include "runtime/model/model_weights.h"
#include "runtime/ops/rotary_embedding.h"

namespace shardlm {

class ThreadPool;

// Sums partial activations across the ranks that share a layer (tensor parallelism). The decoder
// calls it after each row- or column-split product; a model held whole needs none.
class PartialSumReducer {
 public:
  virtual ~PartialSumReducer() = default;
  virtual void all_reduce_sum(float* data, std::size_t n) = 0;
};

// The rows of a batch that belong to one sequence: they are its next n_tokens positions.
struct SequenceRows {
  KVCache* cache = nullptr;
  std::size_t n_tokens = 0;
};

// A decoder-only transformer (Llama, Mistral, Qwen2, Qwen3) over the slice of the model it holds.
// Activations are f32 rows of hidden_size values; weights stay in their stored dtype.
class Decoder {
 public:
  Decoder(const ModelConfig& config, const ModelSlice& slice, ModelWeights weights, ThreadPool& pool,
          PartialSumReducer* reducer = nullptr);

  const ModelConfig& config() const { return config_; }
  const ModelSlice& slice() const { return slice_; }
  const ModelWeights& weights() const { return weights_; }
  KVCache new_cache() const;

  // hidden[i] = embedding of tokens[i].
  void embed(std::span<const std::int32_t> tokens, float* hidden);

  // Runs the slice's layers in place over hidden [rows][hidden_size], where the rows are those of
  // `sequences` one after another; each sequence's keys and values are appended to its cache.
  void run_layers(float* hidden, std::span<const SequenceRows> sequences);

  // Final norm and LM head: logits [rows][slice vocab size] of hidden [rows][hidden_size].
  void logits(const float* hidden, std::size_t rows, float* out);

  // Called after every layer. A sharded rank uses it to let transfers it started (activations
  // handed to the next stage) move on while it computes.
  void set_after_layer(std::function<void()> after_layer) { after_layer_ = std::move(after_layer); }

 private:
  void attention_block(const LayerWeights& w, std::size_t layer, float* hidden, std::span<const SequenceRows> sequences,
                       std::size_t rows);
  void mlp_block(const LayerWeights& w, float* hidden, std::size_t rows);
  void project(const Linear& linear, const float* x, std::size_t rows, float* y);
  void reduce(float* data, std::size_t n);

  ModelConfig config_;
  ModelSlice slice_;
  ModelWeights weights_;
  ThreadPool& pool_;
  PartialSumReducer* reducer_;
  RotaryEmbedding rope_;
  std::vector<std::size_t> kv_head_of_q_head_;
  std::function<void()> after_layer_;

  std::vector<float> normed_, queries_, keys_, values_, attended_, projected_, gate_, up_;
};

}  // namespace shardlm
