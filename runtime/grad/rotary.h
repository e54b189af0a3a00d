#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/model/model_config.h"

namespace shardlm::grad {

// The rotary position embedding of the decoder (rotate-half layout, any of the config's frequency
// rules) for positions [0, positions), as a table of the f32 cosines and sines the decoder uses.
// Being a rotation, its backward is the inverse rotation: the transpose, i.e. the angle negated.
class RotaryTable {
 public:
  RotaryTable(const RopeConfig& config, std::int64_t head_dim, std::size_t positions);

  std::size_t positions() const { return positions_; }

  // Rotates n_heads consecutive heads of head_dim values at `position`; inverse rotates back, which
  // maps the gradient with respect to the output to that with respect to the input.
  template <typename T>
  void rotate(T* heads, std::size_t n_heads, std::size_t position, bool inverse) const;

 private:
  std::size_t half_;
  std::size_t positions_;
  std::vector<float> cos_;  // [positions][half]
  std::vector<float> sin_;
};

}  // namespace shardlm::grad
