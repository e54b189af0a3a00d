#include "runtime/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/kernels/blas_threads.h"
#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/matrix_product.h"
#include "runtime/ops/softmax.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

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

// The query heads that share one key-value head (grouped-query attention): heads
// [first_head, first_head + n_heads).
struct HeadGroup {
  std::size_t first_head;
  std::size_t n_heads;
};

std::vector<HeadGroup> head_groups(const AttentionInputs& in) {
  std::vector<HeadGroup> groups;
  for (std::size_t head = 0; head < in.kv_head_of_q_head.size(); ++head) {
    if (groups.empty() || in.kv_head_of_q_head[head] != in.kv_head_of_q_head[groups.back().first_head]) {
      groups.push_back({head, 0});
    }
    ++groups.back().n_heads;
  }
  return groups;
}

// Each group cut into `parts` smaller ones where it has that many heads.
std::vector<HeadGroup> cut_groups(const std::vector<HeadGroup>& groups, std::size_t parts) {
  std::vector<HeadGroup> cut;
  for (const HeadGroup& group : groups) {
    const std::size_t n = std::min(parts, group.n_heads);
    for (std::size_t part = 0; part < n; ++part) {
      const std::size_t begin = group.n_heads * part / n;
      const std::size_t end = group.n_heads * (part + 1) / n;
      cut.push_back({group.first_head + begin, end - begin});
    }
  }
  return cut;
}

// One query of the heads of `group`, on the calling thread, by the active kernel set's attend_heads:
// the heads read their keys and values once together. One head at a time with plain dot products,
// decode attention of a 1B Llama shape over 512 cached tokens took 5.9 ms a token on the 2-core
// development machine, against 1.5 ms so (with KVCache's layout; shardlm-attention-bench). scores
// holds the group's rows of scores.
void attend_group(const AttentionInputs& in, std::size_t query, const HeadGroup& group, std::vector<float>& scores,
                  float* out) {
  const std::size_t hd = in.head_dim;
  const std::size_t q_width = in.kv_head_of_q_head.size() * hd;
  const VisibleKeys visible = visible_keys(in, query);
  const auto n_keys = static_cast<std::size_t>(visible.last - visible.first + 1);
  const std::size_t kv_offset = in.kv_head_of_q_head[group.first_head] * in.kv_head_stride;
  const std::size_t first_row = static_cast<std::size_t>(visible.first) * in.kv_row_stride + kv_offset;
  const std::size_t first = query * q_width + group.first_head * hd;
  scores.resize(group.n_heads * n_keys);
  active_dot_kernels().attend_heads(in.queries + first, group.n_heads, in.keys + first_row, in.values + first_row,
                                    in.kv_row_stride, n_keys, hd, 1.0f / std::sqrt(static_cast<float>(hd)),
                                    scores.data(), out + first);
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
  const std::size_t kv_offset = in.kv_head_of_q_head[head] * in.kv_head_stride;
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
  // Every query of every group of heads is one item: groups cost the same, while later queries of a
  // causal prompt cost more, so contiguous chunks of groups keep the threads evenly loaded. Where
  // there are fewer items than threads (a tensor-parallel rank holding one or two KV heads), the
  // groups are cut smaller, and the threads read the same keys and values for heads of their own.
  const std::vector<HeadGroup> kv_groups = head_groups(inputs);
  const std::size_t items_per_part = inputs.n_queries * kv_groups.size();
  const std::size_t parts = (pool.size() + items_per_part - 1) / items_per_part;
  const std::vector<HeadGroup> groups = parts == 1 ? kv_groups : cut_groups(kv_groups, parts);
  const std::size_t items = inputs.n_queries * groups.size();
  pool.parallel_for(items, [&](std::size_t begin, std::size_t end) {
    std::vector<float> scores;
    for (std::size_t item = begin; item < end; ++item) {
      attend_group(inputs, item % inputs.n_queries, groups[item / inputs.n_queries], scores, out);
    }
  });
}

}  // namespace shardlm
