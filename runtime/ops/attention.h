#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shardlm {

class ThreadPool;

// Where one sequence's queries, keys and values live. Keys and values of positions
// [0, first_position + n_queries) are already in the cache: the head_dim floats of position p and KV
// head h start at p * kv_row_stride + h * kv_head_stride.
struct AttentionInputs {
  const float* queries = nullptr;  // [n_queries][q_heads * head_dim]
  std::size_t n_queries = 0;
  std::int64_t first_position = 0;
  const float* keys = nullptr;    // cache rows
  const float* values = nullptr;  // cache rows
  std::size_t kv_row_stride = 0;
  std::size_t kv_head_stride = 0;
  std::size_t head_dim = 0;
  std::span<const std::size_t> kv_head_of_q_head;  // one entry per query head (grouped-query attention)
  std::int64_t sliding_window = 0;                  // 0: attend to every earlier position
};

// Scaled dot-product attention with a causal (and optionally sliding-window) mask: query i at position
// p attends to positions j <= p with p - j < window. Writes [n_queries][q_heads * head_dim] to out.
void causal_attention(ThreadPool& pool, const AttentionInputs& inputs, float* out);

}  // namespace shardlm
