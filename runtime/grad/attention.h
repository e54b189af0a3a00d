#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shardlm {
class ThreadPool;
}

namespace shardlm::grad {

// One sequence at positions [0, positions): queries [positions][q_heads * head_dim], keys and values
// [positions][kv_heads * head_dim], after the rotary embedding. Query head h reads KV head
// kv_head_of_q_head[h] (grouped-query attention); query i attends to keys j <= i with i - j < window
// (window 0: every earlier key), scaled by 1 / sqrt(head_dim), as the decoder's causal_attention.
struct AttentionShape {
  std::size_t positions = 0;
  std::size_t head_dim = 0;
  std::size_t kv_heads = 0;
  std::span<const std::size_t> kv_head_of_q_head;
  std::int64_t sliding_window = 0;
};

template <typename T>
void attention_forward(ThreadPool& pool, const AttentionShape& shape, const T* q, const T* k, const T* v, T* out);

// The gradients with respect to q, k and v (overwritten) given d_out and the forward's output `out`.
// The attention weights are recomputed rather than stored: with p = softmax(s),
// ds_j = p_j (d_out . v_j - d_out . out), dq = scale sum_j ds_j k_j, dk_j += scale ds_j q, dv_j += p_j d_out.
// Work is split by KV head so that the query heads sharing one accumulate into it without contention.
template <typename T>
void attention_backward(ThreadPool& pool, const AttentionShape& shape, const T* q, const T* k, const T* v,
                        const T* out, const T* d_out, T* dq, T* dk, T* dv);

}  // namespace shardlm::grad
