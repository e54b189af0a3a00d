#pragma once

// The loop structure of the SIMD kernels for affine-quantized weights (weight_matrix.h), shared by
// the kernel sets like simd_dot_rows.h and under the same rules: templates only, instantiated with
// policy types of internal linkage, calling nothing but those policies, intrinsics and ordinary
// functions compiled elsewhere (kernel_scratch, and the dense kernels passed in). The policies:
//
//   Isa:   as in simd_dot_rows.h, plus broadcast(float) and add(a, b).
//   Codes: kBits;
//          kStep, how many codes decode() turns into floats at a time, a multiple of Isa::kWidth
//          that divides 32, so that every group (and every view's first column, which is on a
//          group boundary) starts a step, and every step starts on a byte;
//          decode(const std::uint8_t* p, Vec* out), the kStep codes stored from byte p on, as
//          kStep / kWidth vectors of floats, reading no byte beyond the step's own;
//          kPermuted, whether decode delivers the codes in another order than they are stored, and
//          if so permute(const float* x, float* out), the kStep activations of a step in decode's
//          order.
//
// A row's dot product with a token splits by groups g, of scale s_g and bias b_g:
//   sum_i (s_g q_i + b_g) x_i = sum_g s_g (sum_{i in g} q_i x_i) + sum_g b_g (sum_{i in g} x_i).
// The second sum is the dot product of the row's biases with the token's per-group sums of x, which
// the dense kernel for the biases' dtype works out first. The quantized loop adds the first: it
// turns codes into floats and multiplies them with the activations, all in f32, gathering a group's
// q . x in accumulators of its own and scaling them once at the group's end. No weight is ever
// dequantized.

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/kernel_scratch.h"
#include "runtime/kernels/simd_dot_rows.h"
#include "runtime/kernels/weight_matrix.h"

namespace shardlm::simd_quant_rows {

// Decode streams each weight from memory once, a block of rows at a time, and a row of codes (1 KB
// for 2048 4-bit codes) ends before the hardware prefetcher has ramped up on it: left alone, the
// kernels wait for memory latency at the start of every block. So a block, while it reads byte
// `offset` of its rows, asks for the same cache line of the rows one block further on (`next`, rows
// `stride` bytes apart), which keeps a block's worth of reads in flight. The requests fill L2 only:
// on the 2-core Zen 4 development machine filling L1 as well (prefetcht0) made 4-bit decode a quarter
// slower. Past the last row the requests touch memory that is never read, which prefetching may do
// without faulting.
template <int kRows>
void prefetch_rows(const void* next, std::size_t stride, std::size_t offset) {
  for (int r = 0; r < kRows; ++r) {
    __builtin_prefetch(static_cast<const char*>(next) + r * stride + offset, 0, 1);
  }
}

// Bytes of weights between two prefetch requests of a row: one cache line.
inline constexpr std::size_t kPrefetchBytes = 64;

// The per-thread scratch (kernel_scratch.h) that these kernels use.
enum ScratchSlot : std::size_t { kPermutedX, kGroupSums, kGroupParams };

// A block keeps two accumulators per row and token, the running sum and the current group's, so it
// may hold half as many (row, token) pairs as a dense block.
template <typename Isa>
inline constexpr int kPairs = Isa::kAccumulators / 2;

// The byte shuffle and shifts that move codes of kBits bits, stored from byte 0 on, into 32-bit
// lanes of their own: lane i takes byte (i * kBits) / 8 and, where its code runs past that byte,
// the next one (index 0x80 makes vpshufb write a zero), then shifts right by (i * kBits) % 8 and
// masks. All indices stay below 16, within vpshufb's reach, for kLanes <= 16 and kBits <= 8.
template <int kBits, int kLanes>
struct CodeLanes {
  alignas(64) std::uint8_t shuffle[4 * kLanes];
  alignas(64) std::uint32_t shift[kLanes];
};

template <int kBits, int kLanes>
constexpr CodeLanes<kBits, kLanes> code_lanes() {
  CodeLanes<kBits, kLanes> lanes{};
  for (int i = 0; i < kLanes; ++i) {
    const int first = i * kBits / 8;
    const int offset = i * kBits % 8;
    lanes.shuffle[4 * i] = static_cast<std::uint8_t>(first);
    lanes.shuffle[4 * i + 1] = static_cast<std::uint8_t>(offset + kBits > 8 ? first + 1 : 0x80);
    lanes.shuffle[4 * i + 2] = 0x80;
    lanes.shuffle[4 * i + 3] = 0x80;
    lanes.shift[i] = static_cast<std::uint32_t>(offset);
  }
  return lanes;
}

// The permutation for 4-bit codes decoded as a vector of low nibbles and then one of high nibbles:
// byte j holds codes 2j and 2j + 1, so the first vector's lanes take the even activations and the
// second's the odd ones. (Like every function here it depends on the Isa, which keeps it out of
// reach of the other sets; see dot_kernels.h.)
template <typename Isa>
void split_even_odd(const float* x, float* out) {
  for (std::size_t j = 0; j < Isa::kWidth; ++j) {
    out[j] = x[2 * j];
    out[Isa::kWidth + j] = x[2 * j + 1];
  }
}

template <typename Isa>
float sum_of(const float* x, std::size_t n) {
  auto acc = Isa::zero();
  for (std::size_t i = 0; i < n; i += Isa::kWidth) acc = Isa::add(acc, Isa::load(x + i));
  return Isa::sum(acc);
}

// y[t * y_stride + r] += sum_g scales[r * n_groups + g] * (q . x over group g) for r < kRows,
// t < kTokens: row r's codes start at byte r * w_stride of w, token t's (permuted) activations at
// x + t * x_stride. Each step's activations are loaded once for all rows of the block and each
// row's codes decoded once for all tokens.
template <typename Isa, typename Codes, int kRows, int kTokens>
void dot_block(const std::uint8_t* w, std::size_t w_stride, const float* scales,
               std::size_t n_groups, std::size_t steps_per_group, const float* x,
               std::size_t x_stride, float* y, std::size_t y_stride) {
  using Vec = typename Isa::Vec;
  constexpr std::size_t kVecs = Codes::kStep / Isa::kWidth;
  constexpr std::size_t kStepBytes = Codes::kStep * Codes::kBits / 8;
  const std::uint8_t* const first = w;
  Vec acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) acc[r][t] = Isa::zero();
  }
  for (std::size_t g = 0; g < n_groups; ++g) {
    Vec group_acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r) {
      for (int t = 0; t < kTokens; ++t) group_acc[r][t] = Isa::zero();
    }
    for (std::size_t s = 0; s < steps_per_group; ++s, w += kStepBytes, x += Codes::kStep) {
      if ((w - first) % kPrefetchBytes < kStepBytes) {
        prefetch_rows<kRows>(first + kRows * w_stride, w_stride,
                                            static_cast<std::size_t>(w - first));
      }
      Vec xv[kTokens][kVecs];
      for (int t = 0; t < kTokens; ++t) {
        for (std::size_t v = 0; v < kVecs; ++v) {
          Vec value = Isa::load(x + t * x_stride + v * Isa::kWidth);
          // As in simd_dot_rows.h: keep vectors that several FMAs share in registers.
          if constexpr (kRows > 1) asm("" : "+v"(value));
          xv[t][v] = value;
        }
      }
      for (int r = 0; r < kRows; ++r) {
        Vec wv[kVecs];
        Codes::decode(w + r * w_stride, wv);
        for (std::size_t v = 0; v < kVecs; ++v) {
          if constexpr (kTokens > 1) asm("" : "+v"(wv[v]));
          for (int t = 0; t < kTokens; ++t) {
            group_acc[r][t] = Isa::fma(wv[v], xv[t][v], group_acc[r][t]);
          }
        }
      }
    }
    for (int r = 0; r < kRows; ++r) {
      const Vec scale = Isa::broadcast(scales[r * n_groups + g]);
      for (int t = 0; t < kTokens; ++t) acc[r][t] = Isa::fma(scale, group_acc[r][t], acc[r][t]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * y_stride + r] += Isa::sum(acc[r][t]);
  }
}

// dot_block for a run-time token count, 1 <= n_tokens <= kTokens, starting from the most tokens
// that a block of kRows rows may take.
template <typename Isa, typename Codes, int kRows,
          int kTokens = Isa::kMaxTokensPerBlock* kRows <= kPairs<Isa> ? Isa::kMaxTokensPerBlock
                                                                      : kPairs<Isa> / kRows>
void dot_block_for_tokens(std::size_t n_tokens, const std::uint8_t* w, std::size_t w_stride,
                          const float* scales, std::size_t n_groups, std::size_t steps_per_group,
                          const float* x, std::size_t x_stride, float* y, std::size_t y_stride) {
  static_assert(kTokens >= 1);
  assert(n_tokens >= 1 && n_tokens <= static_cast<std::size_t>(kTokens));
  if constexpr (kTokens > 1) {
    if (n_tokens < static_cast<std::size_t>(kTokens)) {
      dot_block_for_tokens<Isa, Codes, kRows, kTokens - 1>(
          n_tokens, w, w_stride, scales, n_groups, steps_per_group, x, x_stride, y, y_stride);
      return;
    }
  }
  dot_block<Isa, Codes, kRows, kTokens>(w, w_stride, scales, n_groups, steps_per_group, x, x_stride,
                                        y, y_stride);
}

// Rows [row_begin, row_end) in blocks of kRows: a block widens its rows' scales to f32, then takes
// every token group in turn while its codes are still in cache.
template <typename Isa, typename Codes, int kRows>
void row_blocks(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
                std::size_t n_tokens, std::size_t n_token_groups, float* y,
                WidenRowsFn widen_scales) {
  const auto group_size = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group_size;
  const std::size_t steps_per_group = group_size / Codes::kStep;
  const std::size_t w_stride = w.row_stride * sizeof(std::uint32_t);
  const auto* base = static_cast<const std::uint8_t*>(w.data);
  const WeightMatrix scale_rows{w.dtype, w.quant.scales, w.rows, n_groups, w.quant.group_stride};
  float* scales = kernel_scratch(kGroupParams, kRows * n_groups);
  const auto run_block = [&]<int kBlockRows>(std::size_t row) {
    prefetch_scales(w, row + kBlockRows, kBlockRows);
    widen_scales(scale_rows, row, row + kBlockRows, scales);
    for (std::size_t g = 0; g < n_token_groups; ++g) {
      const std::size_t begin = g * n_tokens / n_token_groups;
      const std::size_t end = (g + 1) * n_tokens / n_token_groups;
      dot_block_for_tokens<Isa, Codes, kBlockRows>(
          end - begin, base + row * w_stride, w_stride, scales, n_groups, steps_per_group,
          x + begin * w.cols, w.cols, y + begin * w.rows + row, w.rows);
    }
  };
  std::size_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) run_block.template operator()<kRows>(r);
  for (; r < row_end; ++r) run_block.template operator()<1>(r);
}

// row_blocks with the most rows per block, at most kRows, that leave room for `largest_token_group`
// tokens.
template <typename Isa, typename Codes, int kRows>
void row_blocks_for_tokens(std::size_t largest_token_group, const WeightMatrix& w,
                           std::size_t row_begin, std::size_t row_end, const float* x,
                           std::size_t n_tokens, std::size_t n_token_groups, float* y,
                           WidenRowsFn widen_scales) {
  if constexpr (kRows > kPairs<Isa>) {
    row_blocks_for_tokens<Isa, Codes, kRows / 2>(largest_token_group, w, row_begin, row_end, x,
                                                 n_tokens, n_token_groups, y, widen_scales);
  } else {
    if constexpr (kRows > 1) {
      if (largest_token_group * kRows > static_cast<std::size_t>(kPairs<Isa>)) {
        row_blocks_for_tokens<Isa, Codes, kRows / 2>(largest_token_group, w, row_begin, row_end, x,
                                                     n_tokens, n_token_groups, y, widen_scales);
        return;
      }
    }
    row_blocks<Isa, Codes, kRows>(w, row_begin, row_end, x, n_tokens, n_token_groups, y,
                                  widen_scales);
  }
}

// The DotRowsFn for w quantized with Codes::kBits bits. dot_biases and widen_scales are the dense
// kernels of this set for the scales' dtype.
template <typename Isa, typename Codes>
void dot_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
              std::size_t n_tokens, float* y, DotRowsFn dot_biases, WidenRowsFn widen_scales) {
  assert(row_begin <= row_end && row_end <= w.rows);
  assert(w.quant.bits == Codes::kBits &&
         w.cols % static_cast<std::size_t>(w.quant.group_size) == 0);
  if (n_tokens == 0 || row_begin == row_end) return;
  const auto group_size = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group_size;

  float* sums = kernel_scratch(kGroupSums, n_tokens * n_groups);
  for (std::size_t i = 0; i < n_tokens * n_groups; ++i) {
    sums[i] = sum_of<Isa>(x + i * group_size, group_size);
  }
  const WeightMatrix bias_rows{w.dtype, w.quant.biases, w.rows, n_groups, w.quant.group_stride};
  dot_biases(bias_rows, row_begin, row_end, sums, n_tokens, y);

  const float* codes_x = x;
  if constexpr (Codes::kPermuted) {
    float* permuted = kernel_scratch(kPermutedX, n_tokens * w.cols);
    for (std::size_t i = 0; i < n_tokens * w.cols; i += Codes::kStep) {
      Codes::permute(x + i, permuted + i);
    }
    codes_x = permuted;
  }

  constexpr auto kMaxTokens = static_cast<std::size_t>(Isa::kMaxTokensPerBlock);
  const std::size_t n_token_groups = (n_tokens + kMaxTokens - 1) / kMaxTokens;
  const std::size_t largest = (n_tokens + n_token_groups - 1) / n_token_groups;
  row_blocks_for_tokens<Isa, Codes, 8>(largest, w, row_begin, row_end, codes_x, n_tokens,
                                       n_token_groups, y, widen_scales);
}

// The WidenRowsFn for w quantized with Codes::kBits bits: fma(scale, q, bias) for every code, the
// same value as dequantize_code. widen_params is the dense widening kernel for the scales' dtype.
template <typename Isa, typename Codes>
void widen_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, float* out,
                WidenRowsFn widen_params) {
  static_assert(!Codes::kPermuted, "widening writes the codes in their stored order");
  assert(row_begin <= row_end && row_end <= w.rows);
  using Vec = typename Isa::Vec;
  constexpr std::size_t kVecs = Codes::kStep / Isa::kWidth;
  constexpr std::size_t kStepBytes = Codes::kStep * Codes::kBits / 8;
  const auto group_size = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group_size;
  const std::size_t steps_per_group = group_size / Codes::kStep;
  const WeightMatrix scale_rows{w.dtype, w.quant.scales, w.rows, n_groups, w.quant.group_stride};
  const WeightMatrix bias_rows{w.dtype, w.quant.biases, w.rows, n_groups, w.quant.group_stride};
  float* params = kernel_scratch(kGroupParams, 2 * n_groups);
  for (std::size_t r = row_begin; r < row_end; ++r) {
    widen_params(scale_rows, r, r + 1, params);
    widen_params(bias_rows, r, r + 1, params + n_groups);
    const std::uint8_t* src =
        static_cast<const std::uint8_t*>(w.data) + r * w.row_stride * sizeof(std::uint32_t);
    float* dst = out + (r - row_begin) * w.cols;
    for (std::size_t g = 0; g < n_groups; ++g) {
      const Vec scale = Isa::broadcast(params[g]);
      const Vec bias = Isa::broadcast(params[n_groups + g]);
      for (std::size_t s = 0; s < steps_per_group; ++s, src += kStepBytes, dst += Codes::kStep) {
        Vec codes[kVecs];
        Codes::decode(src, codes);
        for (std::size_t v = 0; v < kVecs; ++v) {
          Isa::store(dst + v * Isa::kWidth, Isa::fma(scale, codes[v], bias));
        }
      }
    }
  }
}

// The quantized entry points of one SIMD kernel set, built from its own code decoders (Stored<bits>
// for any width, Nibble and Byte for the 4- and 8-bit fast paths) and the dense kernels it uses for
// scales and biases of each float dtype (its F32, F16 and BF16 weight types).
template <typename Isa, template <int> class Stored, typename Nibble, typename Byte, typename F32Weights,
          typename F16Weights, typename BF16Weights>
struct AffineKernels {
  struct ScaleKernels {
    DotRowsFn dot;
    WidenRowsFn widen;
  };

  template <typename Weights>
  static constexpr ScaleKernels kScaleKernels{&simd_dot_rows::dot_rows<Isa, Weights>,
                                              &simd_dot_rows::widen_rows<Isa, Weights>};

  static ScaleKernels scale_kernels(DType dtype) {
    switch (dtype) {
      case DType::F32: return kScaleKernels<F32Weights>;
      case DType::F16: return kScaleKernels<F16Weights>;
      case DType::BF16: return kScaleKernels<BF16Weights>;
    }
    return kScaleKernels<F32Weights>;
  }

  // Calls run.template operator()<Codes>() with the decoder of w's bit width; widening takes the
  // generic decoder for 4 bits, whose codes come in storage order.
  template <bool kFastNibbles, typename Run>
  static void with_codes(int bits, const Run& run) {
    switch (bits) {
      case 2: run.template operator()<Stored<2>>(); break;
      case 3: run.template operator()<Stored<3>>(); break;
      case 4:
        if constexpr (kFastNibbles) {
          run.template operator()<Nibble>();
        } else {
          run.template operator()<Stored<4>>();
        }
        break;
      case 5: run.template operator()<Stored<5>>(); break;
      case 6: run.template operator()<Stored<6>>(); break;
      case 8: run.template operator()<Byte>(); break;
      default: assert(false && "unsupported quantization bits");
    }
  }

  static void dot_rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
                              std::size_t n_tokens, float* y) {
    const ScaleKernels s = scale_kernels(w.dtype);
    with_codes<true>(w.quant.bits, [&]<typename Codes>() {
      dot_rows<Isa, Codes>(w, row_begin, row_end, x, n_tokens, y, s.dot, s.widen);
    });
  }

  static void widen_rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, float* out) {
    const WidenRowsFn widen_params = scale_kernels(w.dtype).widen;
    with_codes<false>(w.quant.bits, [&]<typename Codes>() {
      widen_rows<Isa, Codes>(w, row_begin, row_end, out, widen_params);
    });
  }
};

}  // namespace shardlm::simd_quant_rows
