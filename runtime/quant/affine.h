#pragma once

// MLX's "affine" group-wise quantization of linear weights, bit for bit as MLX stores it.
//
// A weight matrix W[out][in] is cut, row by row, into groups of group_size consecutive inputs. Each
// group has a scale s and a bias b, each weight a code q in [0, 2^bits - 1], and w ~ s * q + b.
// In a model folder written by MLX (mlx_lm.convert and nn.quantize):
//   <module>.weight  uint32 [out][in * bits / 32]: the codes of a row as one little-endian bit
//                    stream, code i in bits [i * bits, (i + 1) * bits) of the stream, stream bit k
//                    being bit k % 32 of word k / 32;
//   <module>.scales  [out][in / group_size] in the model's float dtype (f32, f16 or bf16);
//   <module>.biases  the same shape and dtype.
//
// What was checked against MLX itself (ml-explore/mlx: mlx/ops.cpp affine_quantize, quantize and
// affine_dequantize; mlx/backend/cpu/quantized.cpp quantize, extract_bits and _qmm_t; the Metal
// affine_quantize kernel; the mx.quantize docstring in python/src/ops.cpp and its page in the MLX
// documentation):
//   - group sizes 32, 64 (the default) and 128; bits 2, 3, 4 (the default), 5, 6 and 8; quantize
//     rejects anything else, and a last dimension that is not a multiple of the group size;
//   - the packed shape [out][in * bits / 32] of uint32, scales and biases [out][in / group_size] in
//     the input's dtype; codes packed "from the lower to upper bits". For 3, 5 and 6 bits MLX
//     writes bytes (8 codes in 3 bytes, 8 in 5, 4 in 3), lowest bits first, which read as
//     little-endian uint32 words is the same bit stream;
//   - dequantization is w = s * q + b;
//   - the scale and bias of a group (fast::Quantize::eval_cpu, quantize<T, U>), all in f32:
//         n_bins = 2^bits - 1, eps = 1e-7
//         w_min, w_max = the group's extremes
//         scale = max((w_max - w_min) / n_bins, eps)
//         if |w_min| > |w_max|: edge = w_min            else: edge = w_max, scale = -scale
//         q0 = rint(edge / scale)
//         if q0 != 0: scale = edge / q0, bias = edge    else: bias = 0
//         q = clamp(rint((w - bias) / scale), 0, n_bins)
//     So the extreme of larger magnitude (the "edge") is code 0 exactly, zero is the whole code -q0
//     (up to the rounding of edge / q0), the scale is negative when that extreme is the maximum,
//     and the other extreme may need code n_bins + 1 and be clamped, so its error can reach |s|,
//     not |s| / 2 (at 2 bits [-1, 1] gets q0 = rint(-1.5) = -2, s = -0.5, b = 1, and -1 would need
//     code 4: it gets 3, which is -0.5). The codes come from the f32 scale and bias; only the
//     stored copies are rounded to the model's dtype. rint rounds halves to even.
//   - MLX's documentation still describes an older rule (s = (max - min) / n_bins, bias = min);
//     the code above is what it runs.
//   - MLX's GPU kernels (Metal, CUDA) differ from its CPU code in two corners, which a file
//     quantized on a Mac may show: they round halves away from zero (round, not rint), and they
//     start the maximum at 0, so a group with no positive weight is quantized as if it held a 0.
//     For real weights both are rare (an exact tie; a group of 32 or more all-negative weights).
//     This file follows the CPU code.
//
// The format needs in to be a multiple of group_size; every supported group size is a multiple of
// 32, so every row is then a whole number of uint32 words for every bit width, and so is any block
// of whole groups, which is what lets a matrix be cut by input columns at group boundaries.

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace shardlm {

struct QuantSpec {
  int bits = 4;
  int group_size = 64;
};

// Throws std::invalid_argument naming the problem: bits not one of 2, 3, 4, 5, 6, 8; group_size not
// one of 32, 64, 128.
void validate_quant_spec(QuantSpec spec);

// validate_quant_spec, and that rows of `in_features` inputs are whole groups
// (std::invalid_argument otherwise).
void validate_quant_row_length(QuantSpec spec, std::size_t in_features);

// uint32 words that hold n codes of `bits` bits, the last one padded with zero bits if n * bits is
// not a multiple of 32 (it always is for a valid row).
constexpr std::size_t packed_words(std::size_t n, int bits) {
  return (n * static_cast<std::size_t>(bits) + 31) / 32;
}

// Packs codes[0, n) into packed_words(n, bits) words. Throws std::invalid_argument for a code that
// does not fit in `bits` bits.
void pack_codes(const std::uint8_t* codes, std::size_t n, int bits, std::uint32_t* words);

// The inverse of pack_codes.
void unpack_codes(const std::uint32_t* words, std::size_t n, int bits, std::uint8_t* codes);

// Code i of the bit stream starting at `packed`, which need not be aligned (model files are mapped
// as they are, and a tensor in a safetensors file starts wherever the tensors before it end).
std::uint32_t packed_code(const void* packed, std::size_t i, int bits);

// The weight a code stands for. One fused multiply-add, so that every kernel, SIMD or scalar, can
// reproduce it bit for bit; MLX computes s * q + b in the scales' dtype, which for f16 and bf16 is
// less precise than this.
inline float dequantize_code(float scale, float bias, std::uint32_t code) {
  return std::fma(scale, static_cast<float>(code), bias);
}

// Quantizes one row of n weights by MLX's rule: packed gets packed_words(n, spec.bits) words,
// scales and biases n / spec.group_size floats each. The scales and biases are the f32 values the
// codes were computed from; a model file stores them rounded to its dtype (to nearest even, as
// MLX's casts do). Throws std::invalid_argument for an invalid spec, an n that is not a multiple of
// the group size, or a weight that is not finite.
void quantize_row(const float* w, std::size_t n, QuantSpec spec, std::uint32_t* packed,
                  float* scales, float* biases);

// out[i] = dequantize_code(scale, bias of i's group, code i) for i < n. Throws like quantize_row
// for an invalid spec or row length.
void dequantize_row(const std::uint32_t* packed, const float* scales, const float* biases,
                    std::size_t n, QuantSpec spec, float* out);

}  // namespace shardlm
