#include "runtime/model/kv_cache.h"

#include <algorithm>
#include <cstring>

namespace shardlm {

namespace {

// The first `length` positions of every head of `rows`, laid out for `capacity` positions a head,
// moved into a buffer laid out for `grown`.
std::vector<float> regrown(const std::vector<float>& rows, std::size_t kv_heads, std::size_t head_dim,
                           std::size_t capacity, std::size_t grown, std::size_t length) {
  std::vector<float> out(kv_heads * grown * head_dim);
  for (std::size_t h = 0; h < kv_heads; ++h) {
    std::memcpy(out.data() + h * grown * head_dim, rows.data() + h * capacity * head_dim,
                length * head_dim * sizeof(float));
  }
  return out;
}

}  // namespace

KVCache::KVCache(std::size_t n_layers, std::size_t kv_heads, std::size_t head_dim)
    : kv_heads_(kv_heads), head_dim_(head_dim), keys_(n_layers), values_(n_layers) {}

void KVCache::reserve_positions(std::int64_t extra) {
  const auto needed = static_cast<std::size_t>(length_ + extra);
  if (needed <= capacity_) return;
  // Grow geometrically so that decoding one token at a time moves the rows rarely.
  const std::size_t grown = std::max(needed, capacity_ * 2);
  const auto length = static_cast<std::size_t>(length_);
  for (std::size_t layer = 0; layer < keys_.size(); ++layer) {
    keys_[layer] = regrown(keys_[layer], kv_heads_, head_dim_, capacity_, grown, length);
    values_[layer] = regrown(values_[layer], kv_heads_, head_dim_, capacity_, grown, length);
  }
  capacity_ = grown;
}

void KVCache::write(std::size_t layer, std::int64_t position, const float* keys, const float* values) {
  const std::size_t first = static_cast<std::size_t>(position) * row_stride();
  for (std::size_t h = 0; h < kv_heads_; ++h) {
    std::memcpy(keys_[layer].data() + first + h * head_stride(), keys + h * head_dim_, head_dim_ * sizeof(float));
    std::memcpy(values_[layer].data() + first + h * head_stride(), values + h * head_dim_, head_dim_ * sizeof(float));
  }
}

}  // namespace shardlm
