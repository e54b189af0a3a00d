#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shardlm {

// Keys and values of one sequence for the layers (and KV heads) an engine instance holds: for every
// layer, one row of kv_width floats per position. Rows are appended as the sequence grows.
class KVCache {
 public:
  KVCache(std::size_t n_layers, std::size_t kv_width);

  std::int64_t length() const { return length_; }
  std::size_t kv_width() const { return kv_width_; }

  // Makes room for `extra` more positions in every layer; the rows stay unfilled until written.
  void reserve_positions(std::int64_t extra);
  float* keys(std::size_t layer) { return keys_[layer].data(); }
  float* values(std::size_t layer) { return values_[layer].data(); }
  // Marks `n` more positions as filled, once every layer has written them.
  void commit(std::int64_t n) { length_ += n; }
  void clear() { length_ = 0; }

 private:
  std::size_t kv_width_;
  std::int64_t length_ = 0;
  std::vector<std::vector<float>> keys_;
  std::vector<std::vector<float>> values_;
};

}  // namespace shardlm
