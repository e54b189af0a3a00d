#include "runtime/quant/affine.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace shardlm {

namespace {

std::uint32_t load_word(const unsigned char* bytes, std::size_t word) {
  std::uint32_t value;
  std::memcpy(&value, bytes + word * sizeof value, sizeof value);
  return value;
}

// MLX's scale and bias for one group; see the header for the rule and where it comes from.
struct GroupParams {
  float scale;
  float bias;
};

GroupParams mlx_group_params(const float* w, std::size_t n, float n_bins) {
  constexpr float kEps = 1e-7f;
  float w_min = std::numeric_limits<float>::infinity();
  float w_max = -w_min;
  for (std::size_t i = 0; i < n; ++i) {
    w_max = std::max(w_max, w[i]);
    w_min = std::min(w_min, w[i]);
  }
  const bool edge_is_min = std::abs(w_min) > std::abs(w_max);
  float scale = std::max((w_max - w_min) / n_bins, kEps);
  if (!edge_is_min) scale = -scale;
  const float edge = edge_is_min ? w_min : w_max;
  const float q0 = std::rint(edge / scale);
  if (q0 == 0.0f) return {scale, 0.0f};
  return {edge / q0, edge};
}

}  // namespace

void validate_quant_spec(QuantSpec spec) {
  switch (spec.bits) {
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 8: break;
    default:
      throw std::invalid_argument("unsupported quantization bits " + std::to_string(spec.bits) +
                                  " (MLX affine quantization supports 2, 3, 4, 5, 6 and 8)");
  }
  switch (spec.group_size) {
    case 32:
    case 64:
    case 128: break;
    default:
      throw std::invalid_argument("unsupported quantization group size " +
                                  std::to_string(spec.group_size) +
                                  " (MLX affine quantization supports 32, 64 and 128)");
  }
}

void validate_quant_row_length(QuantSpec spec, std::size_t in_features) {
  validate_quant_spec(spec);
  if (in_features % static_cast<std::size_t>(spec.group_size) != 0) {
    throw std::invalid_argument("in-features " + std::to_string(in_features) +
                                " is not a multiple of the quantization group size " +
                                std::to_string(spec.group_size));
  }
}

void pack_codes(const std::uint8_t* codes, std::size_t n, int bits, std::uint32_t* words) {
  const std::uint32_t limit = std::uint32_t{1} << bits;
  std::fill(words, words + packed_words(n, bits), 0u);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t code = codes[i];
    if (code >= limit) {
      throw std::invalid_argument("code " + std::to_string(code) + " at " + std::to_string(i) +
                                  " does not fit in " + std::to_string(bits) + " bits");
    }
    const std::size_t bit = i * static_cast<std::size_t>(bits);
    const std::size_t word = bit / 32;
    const unsigned shift = bit % 32;
    words[word] |= code << shift;
    // A code that straddles two words leaves its high bits at the bottom of the next one.
    if (shift + static_cast<unsigned>(bits) > 32) words[word + 1] |= code >> (32 - shift);
  }
}

void unpack_codes(const std::uint32_t* words, std::size_t n, int bits, std::uint8_t* codes) {
  for (std::size_t i = 0; i < n; ++i) {
    codes[i] = static_cast<std::uint8_t>(packed_code(words, i, bits));
  }
}

std::uint32_t packed_code(const void* packed, std::size_t i, int bits) {
  const auto* bytes = static_cast<const unsigned char*>(packed);
  const std::size_t bit = i * static_cast<std::size_t>(bits);
  const std::size_t word = bit / 32;
  const unsigned shift = bit % 32;
  std::uint32_t value = load_word(bytes, word) >> shift;
  // Only read the next word when the code reaches into it: at the end of a row there may be none.
  if (shift + static_cast<unsigned>(bits) > 32) value |= load_word(bytes, word + 1) << (32 - shift);
  return value & ((std::uint32_t{1} << bits) - 1);
}

void quantize_row(const float* w, std::size_t n, QuantSpec spec, std::uint32_t* packed,
                  float* scales, float* biases) {
  validate_quant_row_length(spec, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(w[i])) {
      throw std::invalid_argument("cannot quantize weight " + std::to_string(i) +
                                  ": it is not finite");
    }
  }
  const auto group = static_cast<std::size_t>(spec.group_size);
  const auto n_bins = static_cast<float>((1 << spec.bits) - 1);
  std::uint8_t codes[128];
  std::fill(packed, packed + packed_words(n, spec.bits), 0u);
  for (std::size_t g = 0; g * group < n; ++g) {
    const float* values = w + g * group;
    const GroupParams params = mlx_group_params(values, group, n_bins);
    for (std::size_t i = 0; i < group; ++i) {
      const float q = std::rint((values[i] - params.bias) / params.scale);
      codes[i] = static_cast<std::uint8_t>(std::min(std::max(q, 0.0f), n_bins));
    }
    // Every group is a whole number of words, since group sizes are multiples of 32.
    pack_codes(codes, group, spec.bits, packed + packed_words(g * group, spec.bits));
    scales[g] = params.scale;
    biases[g] = params.bias;
  }
}

void dequantize_row(const std::uint32_t* packed, const float* scales, const float* biases,
                    std::size_t n, QuantSpec spec, float* out) {
  validate_quant_row_length(spec, n);
  const auto group = static_cast<std::size_t>(spec.group_size);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] =
        dequantize_code(scales[i / group], biases[i / group], packed_code(packed, i, spec.bits));
  }
}

}  // namespace shardlm
