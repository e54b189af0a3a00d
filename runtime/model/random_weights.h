#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"
#include "runtime/model/model_weights.h"

namespace shardlm {

class ThreadPool;

// How random weights are stored: dense in a float dtype, or as MLX affine codes (bits 8 or 4) whose
// scales and biases have that dtype.
struct RandomWeightFormat {
  DType dtype = DType::BF16;
  int bits = 0;  // 0: dense
  int group_size = 64;

  bool quantized() const { return bits != 0; }
  // Bytes of a [rows][cols] matrix in this format (codes, scales and biases when quantized).
  std::size_t matrix_bytes(std::int64_t rows, std::int64_t cols) const;
};

// "f32", "bf16", "q8" or "q4" (8- and 4-bit MLX affine codes in groups of 64, bf16 scales and biases).
// Throws std::invalid_argument naming the choices for anything else.
RandomWeightFormat parse_weight_format(const std::string& name);
std::string weight_format_name(const RandomWeightFormat& format);

// Throws std::invalid_argument when a model of this shape cannot be stored in `format`: quantized
// matrices need inputs (hidden size, FFN width, query width) that are whole groups.
void check_random_weight_format(const ModelConfig& config, const RandomWeightFormat& format);

// Weights of `slice` of a model shaped like `config`, generated here for this slice only, in owned
// memory: a rank of a sharded job holds its share and never the whole model. Each stored element
// (a weight, a word of codes, a scale) is a hash of the seed, its matrix's name and its position in
// the whole matrix, so every layout holds pieces of one and the same model. Weights are uniform with
// variance 1 / inputs (activations keep their scale from layer to layer); norms are 1 and biases
// small. Generation runs on the pool's threads.
ModelWeights random_model_weights(const ModelConfig& config, const ModelSlice& slice, const RandomWeightFormat& format,
                                  std::uint64_t seed, ThreadPool& pool);

}  // namespace shardlm
