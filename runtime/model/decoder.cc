#include "runtime/model/decoder.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "runtime/kernels/matmul.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/rms_norm.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

void grow(std::vector<float>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

void add_rows(float* rows, const float* addend, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) rows[i] += addend[i];
}

}  // namespace

Decoder::Decoder(const ModelConfig& config, const ModelSlice& slice, ModelWeights weights, ThreadPool& pool,
                 PartialSumReducer* reducer)
    : config_(config),
      slice_(slice),
      weights_(std::move(weights)),
      pool_(pool),
      reducer_(reducer),
      rope_(config.rope, config.head_dim) {
  const std::int64_t group = config.num_heads / config.num_kv_heads;
  for (std::int64_t head = slice.q_heads.begin; head < slice.q_heads.end; ++head) {
    kv_head_of_q_head_.push_back(static_cast<std::size_t>(head / group - slice.kv_heads.begin));
  }
}

KVCache Decoder::new_cache() const {
  return KVCache(static_cast<std::size_t>(slice_.layers.size()), static_cast<std::size_t>(slice_.kv_heads.size()),
                 static_cast<std::size_t>(config_.head_dim));
}

void Decoder::reduce(float* data, std::size_t n) {
  if (reducer_ != nullptr) reducer_->all_reduce_sum(data, n);
}

void Decoder::project(const Linear& linear, const float* x, std::size_t rows, float* y) {
  matmul(pool_, linear.weight, x, rows, y);
  if (linear.bias.empty()) return;
  const std::size_t width = linear.weight.rows;
  for (std::size_t r = 0; r < rows; ++r) add_rows(y + r * width, linear.bias.data(), width);
}

void Decoder::embed(std::span<const std::int32_t> tokens, float* hidden) {
  const WeightMatrix& table = weights_.embedding;
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    float* row = hidden + i * width;
    const std::int64_t local = tokens[i] - slice_.vocab.begin;
    if (local < 0 || local >= slice_.vocab.size()) {
      std::fill(row, row + width, 0.0f);
      continue;
    }
    widen_weight_row(table, static_cast<std::size_t>(local), row);
  }
  if (slice_.vocab.size() != config_.vocab_size) reduce(hidden, tokens.size() * width);
}

void Decoder::run_layers(float* hidden, std::span<const SequenceRows> sequences) {
  std::size_t rows = 0;
  for (const auto& sequence : sequences) {
    sequence.cache->reserve_positions(static_cast<std::int64_t>(sequence.n_tokens));
    rows += sequence.n_tokens;
  }
  for (std::size_t layer = 0; layer < weights_.layers.size(); ++layer) {
    const LayerWeights& w = weights_.layers[layer];
    attention_block(w, layer, hidden, sequences, rows);
    mlp_block(w, hidden, rows);
    if (after_layer_) after_layer_();
  }
  for (const auto& sequence : sequences) sequence.cache->commit(static_cast<std::int64_t>(sequence.n_tokens));
}

void Decoder::attention_block(const LayerWeights& w, std::size_t layer, float* hidden,
                              std::span<const SequenceRows> sequences, std::size_t rows) {
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  const std::size_t head_dim = static_cast<std::size_t>(config_.head_dim);
  const std::size_t q_width = w.q.weight.rows;
  const std::size_t kv_width = w.k.weight.rows;
  const float eps = static_cast<float>(config_.rms_norm_eps);

  grow(normed_, rows * width);
  grow(queries_, rows * q_width);
  grow(keys_, rows * kv_width);
  grow(values_, rows * kv_width);
  grow(attended_, rows * q_width);
  grow(projected_, rows * width);

  rms_norm(hidden, w.input_norm.data(), rows, width, eps, normed_.data());
  project(w.q, normed_.data(), rows, queries_.data());
  project(w.k, normed_.data(), rows, keys_.data());
  project(w.v, normed_.data(), rows, values_.data());
  if (config_.qk_norm) {
    rms_norm(queries_.data(), w.q_norm.data(), rows * q_width / head_dim, head_dim, eps, queries_.data());
    rms_norm(keys_.data(), w.k_norm.data(), rows * kv_width / head_dim, head_dim, eps, keys_.data());
  }

  const std::int64_t window = config_.sliding_window[static_cast<std::size_t>(slice_.layers.begin) + layer];
  std::size_t first_row = 0;
  for (const auto& sequence : sequences) {
    KVCache& cache = *sequence.cache;
    assert(cache.kv_heads() * cache.head_dim() == kv_width);
    for (std::size_t i = 0; i < sequence.n_tokens; ++i) {
      const std::size_t row = first_row + i;
      const std::int64_t position = cache.length() + static_cast<std::int64_t>(i);
      rope_.apply(queries_.data() + row * q_width, q_width / head_dim, position);
      rope_.apply(keys_.data() + row * kv_width, kv_width / head_dim, position);
      cache.write(layer, position, keys_.data() + row * kv_width, values_.data() + row * kv_width);
    }
    AttentionInputs inputs;
    inputs.queries = queries_.data() + first_row * q_width;
    inputs.n_queries = sequence.n_tokens;
    inputs.first_position = cache.length();
    inputs.keys = cache.keys(layer);
    inputs.values = cache.values(layer);
    inputs.kv_row_stride = cache.row_stride();
    inputs.kv_head_stride = cache.head_stride();
    inputs.head_dim = head_dim;
    inputs.kv_head_of_q_head = kv_head_of_q_head_;
    inputs.sliding_window = window;
    causal_attention(pool_, inputs, attended_.data() + first_row * q_width);
    first_row += sequence.n_tokens;
  }

  project(w.o, attended_.data(), rows, projected_.data());
  reduce(projected_.data(), rows * width);
  add_rows(hidden, projected_.data(), rows * width);
}

void Decoder::mlp_block(const LayerWeights& w, float* hidden, std::size_t rows) {
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  const std::size_t ffn = w.gate.weight.rows;
  grow(gate_, rows * ffn);
  grow(up_, rows * ffn);

  rms_norm(hidden, w.post_attention_norm.data(), rows, width, static_cast<float>(config_.rms_norm_eps), normed_.data());
  project(w.gate, normed_.data(), rows, gate_.data());
  project(w.up, normed_.data(), rows, up_.data());
  silu_mul(gate_.data(), up_.data(), rows * ffn);
  project(w.down, gate_.data(), rows, projected_.data());
  reduce(projected_.data(), rows * width);
  add_rows(hidden, projected_.data(), rows * width);
}

void Decoder::logits(const float* hidden, std::size_t rows, float* out) {
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  grow(normed_, rows * width);
  rms_norm(hidden, weights_.final_norm.data(), rows, width, static_cast<float>(config_.rms_norm_eps), normed_.data());
  matmul(pool_, weights_.lm_head, normed_.data(), rows, out);
}

}  // namespace shardlm
