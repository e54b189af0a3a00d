#include "runtime/model/kv_cache.h"

#include <algorithm>

namespace shardlm {

KVCache::KVCache(std::size_t n_layers, std::size_t kv_width) : kv_width_(kv_width), keys_(n_layers), values_(n_layers) {}

void KVCache::reserve_positions(std::int64_t extra) {
  const std::size_t needed = static_cast<std::size_t>(length_ + extra) * kv_width_;
  for (std::size_t layer = 0; layer < keys_.size(); ++layer) {
    if (keys_[layer].size() >= needed) continue;
    // Grow geometrically so that decoding one token at a time reallocates rarely.
    const std::size_t grown = std::max(needed, keys_[layer].size() * 2);
    keys_[layer].resize(grown);
    values_[layer].resize(grown);
  }
}

}  // namespace shardlm
