#include "runtime/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/kernels/blas_threads.h"
#include "runtime/kernels/matrix_product.h"
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

// The keys that query i of the inputs sees: [first, last] positions.
struct VisibleKeys {
  std::int64_t first;
  std::int64_t last;
};

VisibleKeys visible_keys(const AttentionInputs& in, std::size_t query) {
  const std::int64_t position = in.first_position + static_cast<std::int64_t>(query);
  const std::int64_t first = in.sliding_window > 0 ? std::max<std::int64_t>(0, position - in.sliding_window + 1) : 0;
  return {first, position};
}

void attend_one(const AttentionInputs& in, std::size_t query, std::size_t head, std::vector<float>& scores, float* out) {
  const std::size_t hd = in.head_dim;
  const std::size_t q_heads = in.kv_head_of_q_head.size();
  const VisibleKeys visible = visible_keys(in, query);
  const std::int64_t first_key = visible.first;
  const auto n_keys = static_cast<std::size_t>(visible.last - first_key + 1);
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

// From this many queries on (a prompt), each head's queries attend a block at a time through two
// matrix products: the scores of the block against every key it may see, then the weighted sum of the
// values. The products compute the few masked scores of the block's last keys too, and gain far more
// from sgemm's register blocking: a 512-token prefill of a 1B Llama shape on 2 cores spent a fifth of its
// time in attention one query at a time.
constexpr std::size_t kMinQueriesForProducts = 16;
constexpr std::size_t kQueryBlock = 128;

// Queries [q0, q0 + n) of one head, on the calling thread; scores holds n rows of the block's keys.
void attend_block(const AttentionInputs& in, std::size_t head, std::size_t q0, std::size_t n,
                  std::vector<float>& scores, float* out) {
  const std::size_t hd = in.head_dim;
  const std::size_t q_width = in.kv_head_of_q_head.size() * hd;
  const std::size_t kv_offset = in.kv_head_of_q_head[head] * hd;
  const std::int64_t key_begin = visible_keys(in, q0).first;
  const auto n_keys = static_cast<std::size_t>(visible_keys(in, q0 + n - 1).last - key_begin + 1);
  scores.resize(n * n_keys);
  const float* keys = in.keys + static_cast<std::size_t>(key_begin) * in.kv_row_stride + kv_offset;
  const float* values = in.values + static_cast<std::size_t>(key_begin) * in.kv_row_stride + kv_offset;
  matrix_product(n, n_keys, hd, 1.0f / std::sqrt(static_cast<float>(hd)), in.queries + q0 * q_width + head * hd,
                 q_width, keys, in.kv_row_stride, true, scores.data(), n_keys);
  for (std::size_t i = 0; i < n; ++i) {
    float* row = scores.data() + i * n_keys;
    const VisibleKeys visible = visible_keys(in, q0 + i);
    const auto first = static_cast<std::size_t>(visible.first - key_begin);
    const auto last = static_cast<std::size_t>(visible.last - key_begin);
    softmax(row + first, last - first + 1);
    std::fill(row, row + first, 0.0f);
    std::fill(row + last + 1, row + n_keys, 0.0f);
  }
  matrix_product(n, hd, n_keys, 1.0f, scores.data(), n_keys, values, in.kv_row_stride, false,
                 out + q0 * q_width + head * hd, q_width);
}

}  // namespace

void causal_attention(ThreadPool& pool, const AttentionInputs& inputs, float* out) {
  const std::size_t q_heads = inputs.kv_head_of_q_head.size();
  if (inputs.n_queries >= kMinQueriesForProducts) {
    // Every block of every head is one item for the pool's threads.
    const std::size_t n_blocks = (inputs.n_queries + kQueryBlock - 1) / kQueryBlock;
    const BlasOnCallingThreads blas_on_pool_threads;
    pool.parallel_for(q_heads * n_blocks, [&](std::size_t begin, std::size_t end) {
      std::vector<float> scores;
      for (std::size_t item = begin; item < end; ++item) {
        const std::size_t q0 = (item % n_blocks) * kQueryBlock;
        attend_block(inputs, item / n_blocks, q0, std::min(kQueryBlock, inputs.n_queries - q0), scores, out);
      }
    });
    return;
  }
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
