// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mavx512vnni -mfma -mf16c; see
// dot_kernels.h for what this file may call.
//
// The avx512bf16 set's decode kernels, on dot-product instructions. Decode reads every weight once,
// so it can go no faster than memory delivers the weights; widening each weight to f32 for an FMA
// takes three or more instructions per 16 weights. On the 2-core Zen 4 development machine (one
// thread, a 2048 x 2048 matrix from cache) that reads 8- and 4-bit codes at 18 and 14 GB/s, below
// what memory gives one core; here, with one or two instructions per 32 weights and token, 48 and
// 25 GB/s, and bf16 65 GB/s against 57:
//
// bf16 weights (vdpbf16ps): the activations are split into high and low bf16 parts as for prefill
// (ActivationRounding::kBf16Split) and both multiply the weights as stored.
//
// 8- and 4-bit codes (vpdpwssd): the codes, widened to 16-bit words, multiply activations quantized
// to 16 bits per token and group (ActivationRounding::kInt16Groups), x ~ x~ = d * x16. With s and b
// a group's scale and bias,
//   sum_i (s q_i + b) x~_i = s d (sum_i q_i x16_i) + b d (sum_i x16_i),
// both integer sums exact, so the result is the weights' product with x~ and its error
// sum_i |w_i| |x~_i - x_i|, at most d / 2 * sum_i |w_i| per group: 256 times less than 8-bit
// activations would give, for the same speed once memory is the limit.
#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/kernel_scratch.h"
#include "runtime/kernels/row_lanes.h"

namespace shardlm {

namespace {

enum ScratchSlot : std::size_t { kActivations, kGroupSteps, kScaledScales };

// As in the other sets: tokens go in groups of at most 4, and a block of rows and tokens keeps 16
// accumulators (of 32 zmm registers), or 8 pairs where the quantized kernels add a group's integer
// sums to a running f32 one.
constexpr int kMaxTokensPerBlock = 4;
constexpr int kAccumulators = 16;
constexpr int kPairs = kAccumulators / 2;

__mmask16 first_lanes(std::size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

__mmask32 first_words(std::size_t n) {
  return n >= 32 ? ~__mmask32{0} : (__mmask32{1} << n) - 1u;
}

__m512 bf16_to_f32(__m256i bits) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

// Empty asm that keeps a vector that several instructions share in a register: left to itself GCC
// folds its load into each of them, and the loop waits on load ports (see simd_dot_rows.h).
template <typename Vec>
void keep_in_register(Vec& v) {
  asm("" : "+v"(v));
}

// Calls run.template operator()<k>() for k = n, 1 <= n <= kMax, so that each block size is a
// constant of its own loop.
template <int kMax, typename Run>
void with_block_tokens(std::size_t n, const Run& run) {
  if constexpr (kMax > 1) {
    if (n < static_cast<std::size_t>(kMax)) {
      with_block_tokens<kMax - 1>(n, run);
      return;
    }
  }
  run.template operator()<kMax>();
}

// Token groups of near-equal size, at most kMaxTokensPerBlock each: group g is tokens
// [begin(g), begin(g + 1)).
struct TokenGroups {
  explicit TokenGroups(std::size_t tokens)
      : n_tokens(tokens), count((tokens + kMaxTokensPerBlock - 1) / kMaxTokensPerBlock) {}
  std::size_t begin(std::size_t g) const { return g * n_tokens / count; }
  std::size_t largest() const { return (n_tokens + count - 1) / count; }
  std::size_t n_tokens, count;
};

// Decode streams each weight from memory once, a block of rows at a time, and a row (1 KB for 2048
// 4-bit codes, 4 KB for bf16) ends before the hardware prefetcher has ramped up on it. So a block,
// while it reads byte `offset` of its rows, asks for the same cache line of rows further on (`next`,
// rows `stride` bytes apart): the next block's, or in lanes (row_lanes.h) those about 2 KB on in
// each lane, which keeps reads in flight.
// Into L2 only: on the development machine, prefetching into L1 as well (prefetcht0) left 4-bit
// decode at half the speed, and bf16 decode gains a sixth from it. Past the last row the requests
// touch memory that is never read, which prefetching may do without faulting.
template <int kRows>
void prefetch_next_rows(const void* next, std::size_t stride, std::size_t offset) {
  for (int r = 0; r < kRows; ++r) __builtin_prefetch(static_cast<const char*>(next) + r * stride + offset, 0, 1);
}

// ---------------------------------------------------------------------------------------------
// bf16 weights.

// Activations are padded with zeros to whole vectors of 32, which the masked loads of a row's last
// weights meet with zeros.
std::size_t padded_cols(std::size_t cols) { return (cols + 31) / 32 * 32; }

// Token t's activations as bf16 high parts from out + 2 * t * padded on, then its low parts.
void split_activations(const float* x, std::size_t n_tokens, std::size_t cols, std::uint16_t* out) {
  const std::size_t padded = padded_cols(cols);
  for (std::size_t t = 0; t < n_tokens; ++t) {
    const float* src = x + t * cols;
    std::uint16_t* high = out + 2 * t * padded;
    std::uint16_t* low = high + padded;
    for (std::size_t c = 0; c < padded; c += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(first_lanes(c < cols ? cols - c : 0), src + c);
      const __m256bh h = _mm512_cvtneps_pbh(v);
      const __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, bf16_to_f32(reinterpret_cast<__m256i>(h))));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(high + c), reinterpret_cast<__m256i>(h));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(low + c), reinterpret_cast<__m256i>(l));
    }
  }
}

// y[t * y_stride + r] = row r of w . token t of x for r < kRows, t < kTokens; x as split_activations
// writes it. Each step's activations are loaded once for all rows, each row's weights once for all
// tokens.
template <int kRows, int kTokens>
void bf16_block(const std::uint16_t* w, std::size_t w_stride, std::size_t cols, const std::uint16_t* x,
                std::size_t padded, float* y, std::size_t y_stride) {
  __m512 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  const auto step = [&](std::size_t c, auto load_weights) {
    prefetch_next_rows<kRows>(w + kRows * w_stride, 2 * w_stride, 2 * c);
    __m512bh high[kTokens], low[kTokens];
    for (int t = 0; t < kTokens; ++t) {
      __m512i h = _mm512_loadu_si512(x + 2 * t * padded + c);
      __m512i l = _mm512_loadu_si512(x + 2 * t * padded + padded + c);
      if constexpr (kRows > 1) {
        keep_in_register(h);
        keep_in_register(l);
      }
      high[t] = reinterpret_cast<__m512bh>(h);
      low[t] = reinterpret_cast<__m512bh>(l);
    }
    for (int r = 0; r < kRows; ++r) {
      __m512i weights = load_weights(w + r * w_stride + c);
      if constexpr (kTokens > 1) keep_in_register(weights);
      const auto wv = reinterpret_cast<__m512bh>(weights);
      for (int t = 0; t < kTokens; ++t) {
        acc[r][t] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[r][t], wv, high[t]), wv, low[t]);
      }
    }
  };
  std::size_t c = 0;
  for (; c + 32 <= cols; c += 32) {
    step(c, [](const std::uint16_t* p) { return _mm512_loadu_si512(p); });
  }
  if (c < cols) {
    const __mmask32 mask = first_words(cols - c);
    step(c, [mask](const std::uint16_t* p) { return _mm512_maskz_loadu_epi16(mask, p); });
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

template <int kRows>
void bf16_row_blocks(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                     const std::uint16_t* x, const TokenGroups& tokens, float* y) {
  const auto* base = static_cast<const std::uint16_t*>(w.data);
  const std::size_t padded = padded_cols(w.cols);
  constexpr int kMaxTokens = kMaxTokensPerBlock * kRows <= kAccumulators ? kMaxTokensPerBlock
                                                                          : kAccumulators / kRows;
  const auto run_block = [&]<int kBlockRows>(std::size_t row) {
    for (std::size_t g = 0; g < tokens.count; ++g) {
      const std::size_t begin = tokens.begin(g);
      with_block_tokens<kMaxTokens>(tokens.begin(g + 1) - begin, [&]<int kTokens>() {
        bf16_block<kBlockRows, kTokens>(base + row * w.row_stride, w.row_stride, w.cols,
                                        x + 2 * begin * padded, padded, y + begin * w.rows + row, w.rows);
      });
    }
  };
  std::size_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) run_block.template operator()<kRows>(r);
  for (; r < row_end; ++r) run_block.template operator()<1>(r);
}

// Blocks of 8 rows where the accumulators allow, since more rows streamed at once keep more memory
// reads in flight; blocks of 4 otherwise.
void dot_rows_bf16(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
                   std::size_t n_tokens, float* y) {
  assert(row_begin <= row_end && row_end <= w.rows && w.dtype == DType::BF16 && !w.quantized());
  if (n_tokens == 0 || row_begin == row_end) return;
  // Two bf16 numbers per activation take the room of one float.
  auto* split = reinterpret_cast<std::uint16_t*>(kernel_scratch(kActivations, n_tokens * padded_cols(w.cols)));
  split_activations(x, n_tokens, w.cols, split);
  const TokenGroups tokens(n_tokens);
  if (tokens.largest() * 8 <= kAccumulators) {
    bf16_row_blocks<8>(w, row_begin, row_end, split, tokens, y);
  } else {
    bf16_row_blocks<4>(w, row_begin, row_end, split, tokens, y);
  }
}

// ---------------------------------------------------------------------------------------------
// 8- and 4-bit codes.

// 8-bit codes, 32 a step: one word each.
struct ByteCodes {
  static constexpr std::size_t kStep = 32;
  static constexpr std::size_t kStepBytes = 32;
  static constexpr int kVecs = 1;
  static constexpr bool kEvenOdd = false;

  static void decode(const std::uint8_t* p, __m512i* out) {
    out[0] = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

// 4-bit codes, 64 a step: the 32 bytes widened to words give the even codes (low nibbles) by a
// mask and the odd ones (high nibbles) by a shift. The activations are stored in that order.
struct NibbleCodes {
  static constexpr std::size_t kStep = 64;
  static constexpr std::size_t kStepBytes = 32;
  static constexpr int kVecs = 2;
  static constexpr bool kEvenOdd = true;

  static void decode(const std::uint8_t* p, __m512i* out) {
    const __m512i words = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    out[0] = _mm512_and_si512(words, _mm512_set1_epi16(0xf));
    out[1] = _mm512_srli_epi16(words, 4);
  }
};

bool has_int16_kernel(const WeightMatrix& w) {
  return w.quant.bits == 8 || (w.quant.bits == 4 && w.quant.group_size % NibbleCodes::kStep == 0);
}

// The 16-bit activations of a call: token t's values from values + t * cols on (for 4-bit codes
// each step's 64 as the even ones, then the odd ones), and for group g its step d and d * sum x16
// at steps and sums [t * n_groups + g].
struct Int16Activations {
  std::int16_t* values;
  float* steps;
  float* sums;
};

template <bool kEvenOdd>
void quantize_activations(const float* x, std::size_t n_tokens, std::size_t cols, std::size_t group,
                          const Int16Activations& out) {
  const std::size_t n_groups = cols / group;
  const __m512i even = _mm512_setr_epi32(0x00020000, 0x00060004, 0x000a0008, 0x000e000c, 0x00120010,
                                         0x00160014, 0x001a0018, 0x001e001c, 0x00220020, 0x00260024,
                                         0x002a0028, 0x002e002c, 0x00320030, 0x00360034, 0x003a0038,
                                         0x003e003c);
  const __m512i odd = _mm512_add_epi16(even, _mm512_set1_epi16(1));
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t g = 0; g < n_groups; ++g) {
      const float* src = x + t * cols + g * group;
      std::int16_t* dst = out.values + t * cols + g * group;
      __m512 largest = _mm512_setzero_ps();
      for (std::size_t i = 0; i < group; i += 16) {
        largest = _mm512_max_ps(largest, _mm512_abs_ps(_mm512_loadu_ps(src + i)));
      }
      const float max_abs = _mm512_reduce_max_ps(largest);
      const float step = max_abs / 32767.0f;
      const __m512 inverse = _mm512_set1_ps(max_abs > 0.0f ? 32767.0f / max_abs : 0.0f);
      __m512i sum = _mm512_setzero_si512();
      for (std::size_t i = 0; i < group; i += 64) {
        __m512i words[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        for (int half = 0; half < 2; ++half) {
          const __m512i a = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + i + 32 * half), inverse));
          const __m512i b = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + i + 32 * half + 16), inverse));
          sum = _mm512_add_epi32(sum, _mm512_add_epi32(a, b));
          words[half] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtsepi32_epi16(a)),
                                           _mm512_cvtsepi32_epi16(b), 1);
          if (!kEvenOdd && i + 32 * half + 32 >= group) break;  // a group of 32
        }
        if constexpr (kEvenOdd) {
          _mm512_storeu_si512(dst + i, _mm512_permutex2var_epi16(words[0], even, words[1]));
          _mm512_storeu_si512(dst + i + 32, _mm512_permutex2var_epi16(words[0], odd, words[1]));
        } else {
          _mm512_storeu_si512(dst + i, words[0]);
          if (i + 32 < group) _mm512_storeu_si512(dst + i + 32, words[1]);
        }
      }
      out.steps[t * n_groups + g] = step;
      out.sums[t * n_groups + g] = step * static_cast<float>(_mm512_reduce_add_epi32(sum));
    }
  }
}

// n_groups parameters (scales or biases) of dtype from p on, as f32 in the lanes of `mask`.
__m512 load_params(DType dtype, const void* p, __mmask16 mask) {
  switch (dtype) {
    case DType::F32: return _mm512_maskz_loadu_ps(mask, p);
    case DType::F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
    case DType::BF16: return bf16_to_f32(_mm256_maskz_loadu_epi16(mask, p));
  }
  return _mm512_setzero_ps();
}

// The scaled scales of a block (below) are worked out for this many groups at a time, so that the
// block's loop over groups finds each row's and token's at a constant offset: GCC then addresses
// them from one register, where a stride of n_groups took a register per row and token and, short
// of registers, reloaded them from the stack every group.
constexpr std::size_t kScaledGroups = 64;

// out[(t * kRows + r) * kScaledGroups + i] = the scale of row `row + r * spacing`, group g0 + i,
// times token t's step for that group (steps[t * n_groups + g0 + i]), for i < n <= kScaledGroups:
// what the group's integer sum is multiplied by.
template <int kRows, int kTokens>
void scaled_scales(const WeightMatrix& w, std::size_t row, std::size_t spacing, std::size_t g0, std::size_t n,
                   const float* steps, float* out) {
  const std::size_t n_groups = w.cols / static_cast<std::size_t>(w.quant.group_size);
  const std::size_t element = dtype_size(w.dtype);
  for (int r = 0; r < kRows; ++r) {
    const auto* scales =
        static_cast<const char*>(w.quant.scales) + ((row + r * spacing) * w.quant.group_stride + g0) * element;
    for (std::size_t i = 0; i < n; i += 16) {
      const __mmask16 mask = first_lanes(n - i);
      const __m512 s = load_params(w.dtype, scales + i * element, mask);
      for (int t = 0; t < kTokens; ++t) {
        _mm512_mask_storeu_ps(out + (t * kRows + r) * kScaledGroups + i, mask,
                              _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mask, steps + t * n_groups + g0 + i)));
      }
    }
  }
}

// y[t * y_stride + r * spacing] += the codes' part of row `row + r * spacing` of w . token t for
// r < kRows, t < kTokens, with token t's 16-bit activations from x + t * w.cols and steps from
// steps + t * n_groups; each row's lines ahead_bytes further on are prefetched. Outside lanes the
// rows are consecutive (spacing 1) and the next block is the one prefetched, constants there: taken
// from the caller instead, 4 tokens of 4-bit codes decoded from cache 1.5% slower. Groups
// are kSteps steps, a constant so that the steps unroll and GCC keeps the integer sums in registers.
// `scaled` is room for kRows * kTokens * kScaledGroups floats.
template <typename Codes, bool kLanes, int kRows, int kTokens, int kSteps>
void affine_block(const WeightMatrix& w, std::size_t row, std::size_t lane_spacing, std::size_t lane_ahead_bytes,
                  const std::int16_t* x, const float* steps, float* scaled, float* y, std::size_t y_stride) {
  const std::size_t n_groups = w.cols / static_cast<std::size_t>(w.quant.group_size);
  const std::size_t row_bytes = w.row_stride * sizeof(std::uint32_t);
  const std::size_t spacing = kLanes ? lane_spacing : 1;
  const std::size_t ahead_bytes = kLanes ? lane_ahead_bytes : kRows * row_bytes;
  const std::size_t w_stride = spacing * row_bytes;
  const std::size_t x_stride = w.cols;
  const auto* const first = static_cast<const std::uint8_t*>(w.data) + row * row_bytes;
  const std::uint8_t* codes_at = first;
  __m512 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  constexpr std::size_t kGroupBytes = kSteps * Codes::kStepBytes;
  for (std::size_t g0 = 0; g0 < n_groups; g0 += kScaledGroups) {
    const std::size_t n = std::min(kScaledGroups, n_groups - g0);
    scaled_scales<kRows, kTokens>(w, row, spacing, g0, n, steps, scaled);
    for (std::size_t i = 0; i < n; ++i) {
      // Once per cache line; here, where no integer sum is live, since GCC keeps them in memory
      // across a branch among the steps.
      const auto offset = static_cast<std::size_t>(codes_at - first);
      if (kGroupBytes >= 64 || offset % 64 == 0) {
        for (std::size_t line = 0; line < kGroupBytes; line += 64) {
          prefetch_next_rows<kRows>(first + ahead_bytes, w_stride, offset + line);
        }
      }
      __m512i dot[kRows][kTokens];
      for (int s = 0; s < kSteps; ++s, codes_at += Codes::kStepBytes, x += Codes::kStep) {
        __m512i xv[kTokens][Codes::kVecs];
        for (int t = 0; t < kTokens; ++t) {
          for (int v = 0; v < Codes::kVecs; ++v) {
            xv[t][v] = _mm512_loadu_si512(x + t * x_stride + 32 * v);
            if constexpr (kRows > 1) keep_in_register(xv[t][v]);
          }
        }
        for (int r = 0; r < kRows; ++r) {
          __m512i codes[Codes::kVecs];
          Codes::decode(codes_at + r * w_stride, codes);
          for (int v = 0; v < Codes::kVecs; ++v) {
            if constexpr (kTokens > 1) keep_in_register(codes[v]);
            for (int t = 0; t < kTokens; ++t) {
              // The group's first products start its sums, which saves zeroing them.
              dot[r][t] = s == 0 && v == 0 ? _mm512_madd_epi16(codes[v], xv[t][v])
                                           : _mm512_dpwssd_epi32(dot[r][t], codes[v], xv[t][v]);
            }
          }
        }
      }
      for (int r = 0; r < kRows; ++r) {
        for (int t = 0; t < kTokens; ++t) {
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][t]),
                                      _mm512_set1_ps(scaled[(t * kRows + r) * kScaledGroups + i]), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * y_stride + r * spacing] += _mm512_reduce_add_ps(acc[r][t]);
  }
}

// Calls run.template operator()<k>() for the steps per group k = n, a power of two up to 4.
template <typename Run>
void with_group_steps(std::size_t n, const Run& run) {
  switch (n) {
    case 1: run.template operator()<1>(); break;
    case 2: run.template operator()<2>(); break;
    case 4: run.template operator()<4>(); break;
    default: assert(false && "groups of 32, 64 or 128 codes");
  }
}

template <typename Codes, bool kLanes, int kRows>
void affine_row_blocks(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                       const Int16Activations& x, const TokenGroups& tokens, float* y) {
  const std::size_t n_groups = w.cols / static_cast<std::size_t>(w.quant.group_size);
  const std::size_t steps_per_group = static_cast<std::size_t>(w.quant.group_size) / Codes::kStep;
  const std::size_t row_bytes = w.row_stride * sizeof(std::uint32_t);
  const std::size_t lane_ahead = lane_prefetch_rows(row_bytes);
  constexpr int kMaxTokens = kMaxTokensPerBlock * kRows <= kPairs ? kMaxTokensPerBlock : kPairs / kRows;
  float* scaled = kernel_scratch(kScaledScales, kMaxTokens * kRows * kScaledGroups);
  const auto run_block = [&]<int kBlockRows>(std::size_t row, std::size_t spacing) {
    // Consecutive blocks read the next block ahead; lanes, a row about 2 KB on in each lane.
    const std::size_t ahead_rows = kLanes ? lane_ahead : kBlockRows;
    prefetch_scales(w, row + ahead_rows, kBlockRows, spacing);
    for (std::size_t g = 0; g < tokens.count; ++g) {
      const std::size_t begin = tokens.begin(g);
      with_block_tokens<kMaxTokens>(tokens.begin(g + 1) - begin, [&]<int kTokens>() {
        with_group_steps(steps_per_group, [&]<int kSteps>() {
          affine_block<Codes, kLanes, kBlockRows, kTokens, kSteps>(
              w, row, spacing, ahead_rows * row_bytes, x.values + begin * w.cols, x.steps + begin * n_groups,
              scaled, y + begin * w.rows + row, w.rows);
        });
      });
    }
  };
  if constexpr (kLanes) {
    for_each_row_block_in_lanes<kRows>(row_begin, row_end, run_block);
  } else {
    std::size_t r = row_begin;
    for (; r + kRows <= row_end; r += kRows) run_block.template operator()<kRows>(r, 1);
    for (; r < row_end; ++r) run_block.template operator()<1>(r, 1);
  }
}

// The most rows per block, at most 8, that leave room for the largest token group. Only blocks of 8
// rows (one token) read in lanes when asked: blocks of 2 rows, for 4 tokens, decoded 4-bit codes
// about 13% slower in lanes than in consecutive blocks on the development machine (2 threads).
template <typename Codes, bool kLanes>
void affine_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
                 std::size_t n_tokens, float* y) {
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group;
  // Two 16-bit values take the room of one float.
  Int16Activations a;
  a.values = reinterpret_cast<std::int16_t*>(kernel_scratch(kActivations, (n_tokens * w.cols + 1) / 2));
  a.steps = kernel_scratch(kGroupSteps, 2 * n_tokens * n_groups);
  a.sums = a.steps + n_tokens * n_groups;
  quantize_activations<Codes::kEvenOdd>(x, n_tokens, w.cols, group, a);

  // The biases' part first: their dot product with each token's group sums.
  const WeightMatrix bias_rows{w.dtype, w.quant.biases, w.rows, n_groups, w.quant.group_stride};
  dot_kernels_avx512().dot_rows(w.dtype)(bias_rows, row_begin, row_end, a.sums, n_tokens, y);

  const TokenGroups tokens(n_tokens);
  const std::size_t largest = tokens.largest();
  if (largest * 8 <= kPairs) {
    affine_row_blocks<Codes, kLanes, 8>(w, row_begin, row_end, a, tokens, y);
  } else if (largest * 4 <= kPairs) {
    affine_row_blocks<Codes, false, 4>(w, row_begin, row_end, a, tokens, y);
  } else {
    affine_row_blocks<Codes, false, 2>(w, row_begin, row_end, a, tokens, y);
  }
}

// Other code widths, and 4-bit codes in groups of 32, take the avx512 set's kernel.
template <bool kLanes>
void dot_rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
                     std::size_t n_tokens, float* y) {
  assert(row_begin <= row_end && row_end <= w.rows && w.quantized());
  assert(w.cols % static_cast<std::size_t>(w.quant.group_size) == 0);
  if (!has_int16_kernel(w)) {
    dot_kernels_avx512().dot_rows_affine(w, row_begin, row_end, x, n_tokens, y);
    return;
  }
  if (n_tokens == 0 || row_begin == row_end) return;
  if (w.quant.bits == 8) {
    affine_rows<ByteCodes, kLanes>(w, row_begin, row_end, x, n_tokens, y);
  } else {
    affine_rows<NibbleCodes, kLanes>(w, row_begin, row_end, x, n_tokens, y);
  }
}

ActivationRounding dot_rounding(const WeightMatrix& w) {
  if (w.quantized()) return has_int16_kernel(w) ? ActivationRounding::kInt16Groups : ActivationRounding::kExact;
  return w.dtype == DType::BF16 ? ActivationRounding::kBf16Split : ActivationRounding::kExact;
}

}  // namespace

const DotProductDecodeKernels& dot_product_decode_kernels_avx512() {
  static constexpr DotProductDecodeKernels kernels{&dot_rows_bf16, &dot_rows_affine<false>, &dot_rows_affine<true>,
                                                   &dot_rounding};
  return kernels;
}

}  // namespace shardlm
