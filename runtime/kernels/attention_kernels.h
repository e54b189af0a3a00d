#pragma once

#include <cstddef>

namespace shardlm {

// Attention of one query position for the query heads that share one key-value head (grouped-query
// attention): for each head h < n_heads,
//   out[h] = sum_j softmax_j(scale * queries[h] . keys[j]) * values[j],  j < n_keys,
// queries and out holding n_heads rows of head_dim floats one after the other, keys and values
// n_keys rows of head_dim floats, rows kv_row_stride floats apart. scores is room for
// n_heads * n_keys floats. Decode reads every cached key and value once per group of heads this way.
using AttendHeadsFn = void (*)(const float* queries, std::size_t n_heads, const float* keys, const float* values,
                               std::size_t kv_row_stride, std::size_t n_keys, std::size_t head_dim, float scale,
                               float* scores, float* out);

// The plain scalar definition, which the tests compare the SIMD version against.
void attend_heads_scalar(const float* queries, std::size_t n_heads, const float* keys, const float* values,
                         std::size_t kv_row_stride, std::size_t n_keys, std::size_t head_dim, float scale,
                         float* scores, float* out);

// On AVX-512 (attention_avx512.cc), for the sets that have it.
void attend_heads_avx512(const float* queries, std::size_t n_heads, const float* keys, const float* values,
                         std::size_t kv_row_stride, std::size_t n_keys, std::size_t head_dim, float scale,
                         float* scores, float* out);

// In-place softmax over n values, computed stably by subtracting the largest: prefill attention's
// rows of scores.
using SoftmaxFn = void (*)(float* values, std::size_t n);
void softmax_scalar(float* values, std::size_t n);
void softmax_avx512(float* values, std::size_t n);

// out[i] = e^x[i] for n values x[i] <= 0, the exponential that attend_heads_avx512 uses for its
// softmax (on AVX-512; exposed for its tests).
void exp_nonpositive_avx512(const float* x, std::size_t n, float* out);

}  // namespace shardlm
