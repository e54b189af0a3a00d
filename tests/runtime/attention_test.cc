#include "runtime/ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

// Textbook attention in double with an explicit mask matrix, one query at a time.
std::vector<double> reference_attention(const AttentionInputs& in) {
  const std::size_t q_heads = in.kv_head_of_q_head.size();
  std::vector<double> out(in.n_queries * q_heads * in.head_dim, 0.0);
  for (std::size_t i = 0; i < in.n_queries; ++i) {
    const std::int64_t p = in.first_position + static_cast<std::int64_t>(i);
    for (std::size_t h = 0; h < q_heads; ++h) {
      const std::size_t kv = in.kv_head_of_q_head[h];
      std::vector<double> weights;
      double total = 0.0;
      for (std::int64_t j = 0; j <= p; ++j) {
        const bool visible = in.sliding_window == 0 || p - j < in.sliding_window;
        double score = 0.0;
        for (std::size_t d = 0; d < in.head_dim; ++d) {
          score += static_cast<double>(in.queries[(i * q_heads + h) * in.head_dim + d]) *
                   in.keys[static_cast<std::size_t>(j) * in.kv_row_stride + kv * in.kv_head_stride + d];
        }
        weights.push_back(visible ? std::exp(score / std::sqrt(static_cast<double>(in.head_dim))) : 0.0);
        total += weights.back();
      }
      for (std::int64_t j = 0; j <= p; ++j) {
        for (std::size_t d = 0; d < in.head_dim; ++d) {
          out[(i * q_heads + h) * in.head_dim + d] += weights[static_cast<std::size_t>(j)] / total *
              in.values[static_cast<std::size_t>(j) * in.kv_row_stride + kv * in.kv_head_stride + d];
        }
      }
    }
  }
  return out;
}

struct Case {
  std::size_t n_queries;
  std::int64_t first_position;
  std::int64_t window;
};

// causal_attention against the reference for each case, with the cache's keys and values position by
// position and head by head (as KVCache keeps them).
void check_cases(ThreadPool& pool, const std::vector<std::size_t>& kv_of_q, std::initializer_list<Case> cases) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::size_t head_dim = 8;
  const std::size_t kv_heads = kv_of_q.back() + 1;
  const std::size_t kv_width = kv_heads * head_dim;
  for (const Case c : cases) {
    const std::size_t positions = static_cast<std::size_t>(c.first_position) + c.n_queries;
    std::vector<float> queries(c.n_queries * kv_of_q.size() * head_dim);
    std::vector<float> keys(positions * kv_width);
    std::vector<float> values(positions * kv_width);
    for (auto* v : {&queries, &keys, &values}) {
      for (auto& x : *v) x = normal(rng);
    }
    // Head by head with room for 3 more positions a head, the spare rows NaN.
    const std::size_t capacity = positions + 3;
    std::vector<float> head_keys(kv_heads * capacity * head_dim, NAN), head_values(kv_heads * capacity * head_dim, NAN);
    for (std::size_t p = 0; p < positions; ++p) {
      for (std::size_t h = 0; h < kv_heads; ++h) {
        for (std::size_t d = 0; d < head_dim; ++d) {
          head_keys[(h * capacity + p) * head_dim + d] = keys[p * kv_width + h * head_dim + d];
          head_values[(h * capacity + p) * head_dim + d] = values[p * kv_width + h * head_dim + d];
        }
      }
    }
    for (const bool head_major : {false, true}) {
      AttentionInputs inputs;
      inputs.queries = queries.data();
      inputs.n_queries = c.n_queries;
      inputs.first_position = c.first_position;
      inputs.keys = head_major ? head_keys.data() : keys.data();
      inputs.values = head_major ? head_values.data() : values.data();
      inputs.kv_row_stride = head_major ? head_dim : kv_width;
      inputs.kv_head_stride = head_major ? capacity * head_dim : head_dim;
      inputs.head_dim = head_dim;
      inputs.kv_head_of_q_head = kv_of_q;
      inputs.sliding_window = c.window;
      std::vector<float> out(queries.size());
      causal_attention(pool, inputs, out.data());
      const auto expected = reference_attention(inputs);
      for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], expected[i], 1e-5) << "queries " << c.n_queries << " from " << c.first_position
                                               << " window " << c.window << (head_major ? " head-major" : "")
                                               << " element " << i;
      }
    }
  }
}

TEST(AttentionTest, MatchesReferenceForGroupedHeadsWindowsAndCacheOffsets) {
  ThreadPool pool(2);
  // 6 query heads over 3 KV heads. From 16 queries on, attention runs blocks of 128 queries through
  // matrix products: several blocks, windows shorter and longer than a block, a cache already holding
  // keys.
  check_cases(pool, {0, 0, 1, 1, 2, 2},
              {Case{1, 0, 0}, Case{7, 0, 0}, Case{1, 20, 0}, Case{5, 11, 0}, Case{9, 0, 4}, Case{3, 30, 16},
               Case{16, 0, 0}, Case{40, 9, 0}, Case{300, 5, 0}, Case{200, 0, 37}, Case{260, 3, 150}});
}

// One KV head (a tensor-parallel rank's share) and more threads than queries: decode cuts the group
// of heads among the threads.
TEST(AttentionTest, MatchesReferenceWithFewerGroupsThanThreads) {
  ThreadPool pool(3);
  check_cases(pool, {0, 0, 0, 0, 0}, {Case{1, 0, 0}, Case{1, 25, 0}, Case{2, 40, 8}});
  check_cases(pool, {0, 0, 1, 1}, {Case{1, 17, 0}});
}

}  // namespace
}  // namespace shardlm
