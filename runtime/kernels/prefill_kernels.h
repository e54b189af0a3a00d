#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/weight_matrix.h"

namespace shardlm {

// Prefill kernels: matrix-matrix products for many tokens on the CPU's dot-product instructions,
// for the weight formats whose values fit those instructions' narrow inputs.
//
// Dense bf16 weights (vdpbf16ps): each activation is split into two bf16 numbers, x ~ high + low,
// high = x rounded to nearest even and low = the remainder rounded again, and the weights multiply
// both. That costs twice the instructions of rounding x to bf16 once, but keeps 16 significant bits
// of x: the sum carries an error of at most 2^-16 * sum_c |w_c x_c| on top of f32 accumulation,
// where x rounded once to bf16 (8 bits, 2^-8) moves the logits of the golden models (tests/golden)
// by about 4% of their spread, 40 times what they allow. That rounding is still there to choose
// (bf16_activations.h) for those who want the speed.
//
// Affine-quantized weights (vpdpbusd): codes q become signed bytes q' = q - 2^(bits-1), and the
// activations of each token and weight group are quantized to 8 bits with the step
// d = max |x| / 127, x ~ d * x8. With s, b a group's scale and bias,
//   sum_i (s q_i + b) x_i ~ s d sum_i q'_i x8_i + (b + s 2^(bits-1)) sum_i x_i,
// the integer dot product exact, the sum of x kept in f32. The error is s sum_i q'_i (d x8_i - x_i),
// at most |s| sum_i |q'_i| d / 2 per group: half a step of the activations times weights measured from
// the middle of the group's range.

// The activations of one matmul in the form the kernels read, written by a PrepareFn.
struct PrefillActivations {
  std::size_t n_tokens = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;          // bytes from one token's values to the next
  // bf16 pairs split into high and low parts, bf16 rounded once (Bf16Activations::kRounded), or
  // bytes x8 + 128 (quantized weights), in the order the kernel set's prepare functions choose
  std::uint8_t* values = nullptr;
  float* group_steps = nullptr;    // quantized weights: d of each token and group, [n_tokens][groups]
  float* group_sums = nullptr;     // quantized weights: sum of x over each group, [n_tokens][groups]
};

// Fills tokens [token_begin, token_end) of `out` from x ([n_tokens][w.cols] f32) for matrix w.
using PrepareFn = void (*)(const WeightMatrix& w, const float* x, std::size_t token_begin,
                           std::size_t token_end, const PrefillActivations& out);

// y[t * w.rows + r] = sum_c w[r][c] x[t][c] for all tokens and rows [row_begin, row_end).
using PrefillRowsFn = void (*)(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                               const PrefillActivations& x, float* y);

// Bytes of one token's prepared activations for matrix w, before rounding up to a cache line.
using ActivationBytesFn = std::size_t (*)(const WeightMatrix& w, bool split_bf16);

struct PrefillKernels {
  // Rows are packed and computed in blocks of this many; the threads share out whole blocks.
  std::size_t row_block;
  // The activations buffer holds a whole multiple of this many tokens: the kernels may read the
  // tokens past n_tokens (whatever they hold) but use nothing computed from them.
  std::size_t token_block;
  ActivationBytesFn activation_bytes;
  PrepareFn prepare_bf16;
  PrefillRowsFn rows_bf16;
  // The same with each activation rounded to bf16 once.
  PrepareFn prepare_bf16_rounded;
  PrefillRowsFn rows_bf16_rounded;
  PrepareFn prepare_affine;
  PrefillRowsFn rows_affine;
};

// The AVX-512 BF16 / VNNI kernels, whether or not this CPU can run them.
const PrefillKernels& prefill_kernels_avx512();

// The same products on the AMX tile units (AMX-BF16 and AMX-INT8), with the same activation
// rounding, whether or not this CPU can run them. The calling thread must have the operating
// system's permission to use AMX (cpu_features.h).
const PrefillKernels& prefill_kernels_amx();

}  // namespace shardlm
