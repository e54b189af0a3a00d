#include "runtime/grad/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/threading/thread_pool.h"

namespace shardlm::grad {

namespace {

std::size_t first_key(const AttentionShape& shape, std::size_t query) {
  if (shape.sliding_window <= 0) return 0;
  const auto window = static_cast<std::size_t>(shape.sliding_window);
  return query + 1 > window ? query + 1 - window : 0;
}

template <typename T>
T dot(const T* a, const T* b, std::size_t n) {
  T sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// p[j - first] = softmax over the keys query i attends to of its scaled scores with head `head`.
template <typename T>
void attention_weights(const AttentionShape& shape, const T* q, const T* k, std::size_t query, std::size_t head,
                       std::vector<T>& p) {
  const std::size_t hd = shape.head_dim;
  const std::size_t q_width = shape.kv_head_of_q_head.size() * hd;
  const std::size_t kv_width = shape.kv_heads * hd;
  const std::size_t kv_offset = shape.kv_head_of_q_head[head] * hd;
  const T scale = T(1) / std::sqrt(static_cast<T>(hd));
  const std::size_t first = first_key(shape, query);
  const T* q_row = q + query * q_width + head * hd;
  p.resize(query + 1 - first);
  T largest = -INFINITY;
  for (std::size_t j = first; j <= query; ++j) {
    p[j - first] = dot(q_row, k + j * kv_width + kv_offset, hd) * scale;
    largest = std::max(largest, p[j - first]);
  }
  T total = 0;
  for (auto& value : p) {
    value = std::exp(value - largest);
    total += value;
  }
  for (auto& value : p) value /= total;
}

}  // namespace

template <typename T>
void attention_forward(ThreadPool& pool, const AttentionShape& shape, const T* q, const T* k, const T* v, T* out) {
  const std::size_t hd = shape.head_dim;
  const std::size_t q_heads = shape.kv_head_of_q_head.size();
  const std::size_t q_width = q_heads * hd;
  const std::size_t kv_width = shape.kv_heads * hd;
  pool.parallel_for(q_heads, [&](std::size_t begin, std::size_t end) {
    std::vector<T> p;
    for (std::size_t head = begin; head < end; ++head) {
      const std::size_t kv_offset = shape.kv_head_of_q_head[head] * hd;
      for (std::size_t i = 0; i < shape.positions; ++i) {
        attention_weights(shape, q, k, i, head, p);
        T* o = out + i * q_width + head * hd;
        std::fill(o, o + hd, T(0));
        const std::size_t first = first_key(shape, i);
        for (std::size_t j = first; j <= i; ++j) {
          const T* v_row = v + j * kv_width + kv_offset;
          for (std::size_t d = 0; d < hd; ++d) o[d] += p[j - first] * v_row[d];
        }
      }
    }
  });
}

template <typename T>
void attention_backward(ThreadPool& pool, const AttentionShape& shape, const T* q, const T* k, const T* v,
                        const T* out, const T* d_out, T* dq, T* dk, T* dv) {
  const std::size_t hd = shape.head_dim;
  const std::size_t q_heads = shape.kv_head_of_q_head.size();
  const std::size_t q_width = q_heads * hd;
  const std::size_t kv_width = shape.kv_heads * hd;
  const T scale = T(1) / std::sqrt(static_cast<T>(hd));
  std::fill(dq, dq + shape.positions * q_width, T(0));
  std::fill(dk, dk + shape.positions * kv_width, T(0));
  std::fill(dv, dv + shape.positions * kv_width, T(0));
  pool.parallel_for(shape.kv_heads, [&](std::size_t begin, std::size_t end) {
    std::vector<T> p;
    for (std::size_t kv_head = begin; kv_head < end; ++kv_head) {
      const std::size_t kv_offset = kv_head * hd;
      for (std::size_t head = 0; head < q_heads; ++head) {
        if (shape.kv_head_of_q_head[head] != kv_head) continue;
        for (std::size_t i = 0; i < shape.positions; ++i) {
          attention_weights(shape, q, k, i, head, p);
          const T* d_o = d_out + i * q_width + head * hd;
          const T* q_row = q + i * q_width + head * hd;
          T* dq_row = dq + i * q_width + head * hd;
          const T d_out_dot_out = dot(d_o, out + i * q_width + head * hd, hd);
          const std::size_t first = first_key(shape, i);
          for (std::size_t j = first; j <= i; ++j) {
            const T weight = p[j - first];
            const T* k_row = k + j * kv_width + kv_offset;
            const T* v_row = v + j * kv_width + kv_offset;
            T* dk_row = dk + j * kv_width + kv_offset;
            T* dv_row = dv + j * kv_width + kv_offset;
            const T d_score = weight * (dot(d_o, v_row, hd) - d_out_dot_out) * scale;
            for (std::size_t d = 0; d < hd; ++d) {
              dq_row[d] += d_score * k_row[d];
              dk_row[d] += d_score * q_row[d];
              dv_row[d] += weight * d_o[d];
            }
          }
        }
      }
    }
  });
}

template void attention_forward<float>(ThreadPool&, const AttentionShape&, const float*, const float*, const float*,
                                       float*);
template void attention_forward<double>(ThreadPool&, const AttentionShape&, const double*, const double*,
                                        const double*, double*);
template void attention_backward<float>(ThreadPool&, const AttentionShape&, const float*, const float*, const float*,
                                        const float*, const float*, float*, float*, float*);
template void attention_backward<double>(ThreadPool&, const AttentionShape&, const double*, const double*,
                                         const double*, const double*, const double*, double*, double*, double*);

}  // namespace shardlm::grad
