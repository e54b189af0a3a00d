#pragma once

#include <cstddef>
#include <string_view>

#include "runtime/kernels/activation_rounding.h"
#include "runtime/kernels/attention_kernels.h"
#include "runtime/kernels/matmul.h"
#include "runtime/kernels/prefill_kernels.h"
#include "runtime/tensor/dtype.h"

namespace shardlm {

// For rows [row_begin, row_end) of w and tokens t < n_tokens:
//   y[t * w.rows + r] = sum_c w[r][c] * x[t * w.cols + c],
// reading w in its stored format and accumulating in f32.
using DotRowsFn = void (*)(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                           const float* x, std::size_t n_tokens, float* y);

// Widens (or dequantizes) rows [row_begin, row_end) of w to f32, written densely: out holds
// row_end - row_begin rows of w.cols floats.
using WidenRowsFn = void (*)(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                             float* out);

// One instruction set's kernels. Each set lives in its own source file compiled with that set's
// flags. Those files call nothing but intrinsics, functions of internal linkage and ordinary
// out-of-line functions compiled with the base flags elsewhere (kernel_scratch, or kernels reached
// through a function pointer): the linker keeps one copy of every inline function for the whole
// program, and it may be the copy compiled with instructions that another CPU lacks.
struct DotKernels {
  const char* name;
  DotRowsFn dot_rows_f32;
  DotRowsFn dot_rows_f16;
  DotRowsFn dot_rows_bf16;
  WidenRowsFn widen_rows_f16;
  WidenRowsFn widen_rows_bf16;
  // Affine-quantized matrices, any bit width and scale dtype. The SIMD sets read 4-bit and 8-bit
  // codes with instructions of their own and the other widths through a byte shuffle; the scalar
  // set dequantizes a row at a time.
  DotRowsFn dot_rows_affine;
  // The same, reading each thread's rows in lanes (row_lanes.h), or null where the set has no such
  // kernel.
  DotRowsFn dot_rows_affine_in_lanes;
  WidenRowsFn widen_rows_affine;
  // Matrix-matrix kernels for prefill on dot-product instructions (prefill_kernels.h), or null where
  // the set has none and prefill widens the weights for sgemm.
  const PrefillKernels* prefill;
  // What dot_rows(w) does to the activations (activation_rounding.h), or null where the set's dot
  // kernels take them exactly for every format.
  ActivationRounding (*dot_rounding)(const WeightMatrix& w);
  // Decode attention over the cached keys and values, and the softmax of prefill attention's
  // scores (attention_kernels.h).
  AttendHeadsFn attend_heads;
  SoftmaxFn softmax;

  // The kernels for dense matrices of that dtype.
  DotRowsFn dot_rows(DType dtype) const;
  // Null for f32, which needs no widening.
  WidenRowsFn widen_rows(DType dtype) const;
  // The kernels for w's format, dense or quantized; widen_rows is null for dense f32. in_lanes asks
  // for dot_rows_affine_in_lanes where w is quantized and the set has it.
  DotRowsFn dot_rows(const WeightMatrix& w, bool in_lanes = false) const;
  WidenRowsFn widen_rows(const WeightMatrix& w) const;
  ActivationRounding rounding(const WeightMatrix& w) const;
};

// The avx512bf16 set's own dot kernels (dot_avx512bf16.cc): bf16 weights on AVX-512 BF16 and 8- and
// 4-bit codes on VNNI dot-product instructions, the other code widths through the avx512 set.
struct DotProductDecodeKernels {
  DotRowsFn dot_rows_bf16;
  DotRowsFn dot_rows_affine;
  DotRowsFn dot_rows_affine_in_lanes;
  ActivationRounding (*dot_rounding)(const WeightMatrix& w);
};
const DotProductDecodeKernels& dot_product_decode_kernels_avx512();

// Each set, whether or not this CPU can run it.
const DotKernels& dot_kernels_scalar();
const DotKernels& dot_kernels_avx2();
const DotKernels& dot_kernels_avx512();
// The avx512 set with the dot-product decode kernels above and the AVX-512 BF16 and VNNI prefill
// kernels.
const DotKernels& dot_kernels_avx512bf16();
// The avx512bf16 set with the AMX prefill kernels: decode, one token at a time, waits on memory and
// keeps the AVX-512 kernels.
const DotKernels& dot_kernels_amx();

// The set called name ("scalar", "avx2", "avx512", "avx512bf16" or "amx"), or null if there is none by that name or this
// CPU cannot run it.
const DotKernels* dot_kernels_for(std::string_view name);

// The set called `requested`, or where that is null or empty, the best set this CPU supports.
// Throws std::runtime_error when `requested` names a set that is unknown or unsupported here.
const DotKernels& select_dot_kernels(const char* requested);

// The set that matmul uses: select_dot_kernels(getenv("SHARDLM_KERNELS")), chosen on first use, so
// that tests and benchmarks can force a lower set.
const DotKernels& active_dot_kernels();

}  // namespace shardlm
