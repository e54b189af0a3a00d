#include "runtime/model/kv_cache.h"

#include <gtest/gtest.h>

#include <vector>

namespace shardlm {
namespace {

float key_of(std::size_t layer, std::int64_t position, std::size_t head, std::size_t d) {
  return static_cast<float>(layer * 100000 + static_cast<std::size_t>(position) * 100 + head * 10 + d);
}

// Rows written one position at a time, through several growths of the cache, stay where the
// strides say, head by head, with keys and values apart.
TEST(KVCacheTest, KeepsEveryRowHeadByHeadAcrossGrowth) {
  const std::size_t layers = 2, heads = 3, head_dim = 4;
  KVCache cache(layers, heads, head_dim);
  for (std::int64_t position = 0; position < 37; ++position) {
    cache.reserve_positions(1);
    for (std::size_t layer = 0; layer < layers; ++layer) {
      std::vector<float> keys(heads * head_dim), values(heads * head_dim);
      for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t d = 0; d < head_dim; ++d) {
          keys[h * head_dim + d] = key_of(layer, position, h, d);
          values[h * head_dim + d] = -key_of(layer, position, h, d);
        }
      }
      cache.write(layer, position, keys.data(), values.data());
    }
    cache.commit(1);
  }
  ASSERT_EQ(cache.length(), 37);
  ASSERT_GE(cache.head_stride(), 37 * cache.row_stride());
  for (std::size_t layer = 0; layer < layers; ++layer) {
    for (std::int64_t position = 0; position < 37; ++position) {
      for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t at = static_cast<std::size_t>(position) * cache.row_stride() + h * cache.head_stride();
        for (std::size_t d = 0; d < head_dim; ++d) {
          ASSERT_EQ(cache.keys(layer)[at + d], key_of(layer, position, h, d));
          ASSERT_EQ(cache.values(layer)[at + d], -key_of(layer, position, h, d));
        }
      }
    }
  }
}

}  // namespace
}  // namespace shardlm
