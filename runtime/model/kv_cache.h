#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shardlm {

// Keys and values of one sequence for the layers and KV heads an engine instance holds. Each layer's
// keys (and values) are kept head by head: one KV head's head_dim floats for every position, one
// position after the other, then the next head's. Decode attention reads each head's positions in
// turn, so this keeps its reads sequential; position-major rows put 2 KB (the other heads) between
// one position's 256 bytes and the next's, and decode attention of a 1B Llama shape at 512 cached
// tokens took 2.2 times as long so (2 cores). Rows are appended as the sequence grows.
class KVCache {
 public:
  KVCache(std::size_t n_layers, std::size_t kv_heads, std::size_t head_dim);

  std::int64_t length() const { return length_; }
  std::size_t kv_heads() const { return kv_heads_; }
  std::size_t head_dim() const { return head_dim_; }

  // Makes room for `extra` more positions in every layer; the rows stay unfilled until written.
  void reserve_positions(std::int64_t extra);

  // Stores the keys and values of `position` (reserved) in `layer`: kv_heads * head_dim floats each,
  // head after head.
  void write(std::size_t layer, std::int64_t position, const float* keys, const float* values);

  // Head h's row for position p of a layer starts at keys(layer) + p * row_stride() + h * head_stride().
  const float* keys(std::size_t layer) const { return keys_[layer].data(); }
  const float* values(std::size_t layer) const { return values_[layer].data(); }
  std::size_t row_stride() const { return head_dim_; }
  std::size_t head_stride() const { return capacity_ * head_dim_; }

  // Marks `n` more positions as filled, once every layer has written them.
  void commit(std::int64_t n) { length_ += n; }
  void clear() { length_ = 0; }

 private:
  std::size_t kv_heads_;
  std::size_t head_dim_;
  std::size_t capacity_ = 0;  // positions
  std::int64_t length_ = 0;
  std::vector<std::vector<float>> keys_;
  std::vector<std::vector<float>> values_;
};

}  // namespace shardlm
