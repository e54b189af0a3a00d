#include "runtime/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/ops/softmax.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

// Sixteen independent partial sums, which the compiler keeps in vector registers: one running sum is a
// chain of dependent additions, and was most of the time of a 512-token prefill of a 1B model.
float dot(const float* a, const float* b, std::size_t n) {
  constexpr std::size_t kLanes = 16;
  float lanes[kLanes] = {};
  std::size_t d = 0;
  for (; d + kLanes <= n; d += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += a[d + l] * b[d + l];
  }
  float sum = 0.0f;
  for (; d < n; ++d) sum += a[d] * b[d];
  for (const float lane : lanes) sum += lane;
  return sum;
}

void attend_one(const AttentionInputs& in, std::size_t query, std::size_t head, std::vector<float>& scores, float* out) {
  const std::size_t hd = in.head_dim;
  const std::size_t q_heads = in.kv_head_of_q_head.size();
  const std::int64_t position = in.first_position + static_cast<std::int64_t>(query);
  const std::int64_t first_key = in.sliding_window > 0 ? std::max<std::int64_t>(0, position - in.sliding_window + 1) : 0;
  const auto n_keys = static_cast<std::size_t>(position - first_key + 1);
  const float* q = in.queries + (query * q_heads + head) * hd;
  const std::size_t kv_offset = in.kv_head_of_q_head[head] * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  scores.resize(n_keys);
  for (std::size_t j = 0; j < n_keys; ++j) {
    const float* k = in.keys + (static_cast<std::size_t>(first_key) + j) * in.kv_row_stride + kv_offset;
    scores[j] = dot(q, k, hd) * scale;
  }
  softmax(scores.data(), n_keys);

  float* o = out + (query * q_heads + head) * hd;
  std::fill(o, o + hd, 0.0f);
  for (std::size_t j = 0; j < n_keys; ++j) {
    const float* v = in.values + (static_cast<std::size_t>(first_key) + j) * in.kv_row_stride + kv_offset;
    const float weight = scores[j];
    for (std::size_t d = 0; d < hd; ++d) o[d] += weight * v[d];
  }
}

}  // namespace

void causal_attention(ThreadPool& pool, const AttentionInputs& inputs, float* out) {
  const std::size_t q_heads = inputs.kv_head_of_q_head.size();
  const std::size_t items = inputs.n_queries * q_heads;
  // Head-major order: every head costs the same, while later queries of a causal prefill cost more,
  // so contiguous chunks of heads keep the threads evenly loaded.
  pool.parallel_for(items, [&](std::size_t begin, std::size_t end) {
    std::vector<float> scores;
    for (std::size_t item = begin; item < end; ++item) {
      attend_one(inputs, item % inputs.n_queries, item / inputs.n_queries, scores, out);
    }
  });
}

}  // namespace shardlm
