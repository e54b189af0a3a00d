// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mavx512vnni -mfma; see dot_kernels.h
// for what this file may call, and prefill_kernels.h for what the kernels compute.
#include "runtime/kernels/x86_intrinsics.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/prefill_kernels.h"
#include "runtime/kernels/prefill_panels.h"

namespace shardlm {

namespace {

// Where a tile's results go: kTokens rows of y, of which the lanes in `mask` of each vector.
struct TileOutput {
  float* y;
  std::size_t stride;  // floats from one token to the next
  __mmask16 mask[2];
};

// Calls run.template operator()<k>() for k = n, 1 <= n <= kMax, so that each tile size is a
// constant of its own loop.
template <int kMax, typename Run>
void with_tile_tokens(std::size_t n, const Run& run) {
  if constexpr (kMax > 1) {
    if (n < static_cast<std::size_t>(kMax)) {
      with_tile_tokens<kMax - 1>(n, run);
      return;
    }
  }
  run.template operator()<kMax>();
}

// ---------------------------------------------------------------------------------------------
// Dense bf16 weights: vdpbf16ps on pairs of columns.

// 24 accumulators of 32 zmm registers.
constexpr int kBf16TileTokens = 12;

// x holds, for each pair of columns, the pair's high bf16 parts and then its low ones (kSplit), or
// the pair rounded to bf16 once.
template <int kTokens, bool kSplit>
void bf16_tile(const std::uint32_t* panel, std::size_t n_pairs, const std::uint32_t* x,
               std::size_t x_stride, bool accumulate, const TileOutput& out) {
  constexpr std::size_t kPairWords = kSplit ? 2 : 1;
  __m512 acc[kTokens][2];
  for (int t = 0; t < kTokens; ++t) {
    for (int v = 0; v < 2; ++v) {
      acc[t][v] = accumulate ? _mm512_maskz_loadu_ps(out.mask[v], out.y + t * out.stride + 16 * v)
                             : _mm512_setzero_ps();
    }
  }
  for (std::size_t p = 0; p < n_pairs; ++p, panel += kPanelRows, x += kPairWords) {
    const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_load_si512(panel));
    const __m512bh w1 = reinterpret_cast<__m512bh>(_mm512_load_si512(panel + 16));
    for (int t = 0; t < kTokens; ++t) {
      const __m512bh high = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int>(x[t * x_stride])));
      if constexpr (kSplit) {
        const __m512bh low = reinterpret_cast<__m512bh>(
            _mm512_set1_epi32(static_cast<int>(x[t * x_stride + 1])));
        acc[t][0] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[t][0], w0, high), w0, low);
        acc[t][1] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[t][1], w1, high), w1, low);
      } else {
        acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, high);
        acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, high);
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    for (int v = 0; v < 2; ++v) {
      _mm512_mask_storeu_ps(out.y + t * out.stride + 16 * v, out.mask[v], acc[t][v]);
    }
  }
}

// 16 activations as bf16 high parts (rounded to nearest even) and low parts (the remainder, which
// is exact in f32, rounded again), interleaved by pairs: high of pair 0, low of pair 0, high of pair 1...
void split_bf16(__m512 x, std::uint32_t* out) {
  const __m256i high = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x));
  const __m512 high_f32 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(high), 16));
  const __m256i low = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_sub_ps(x, high_f32)));
  // Pairs are 32-bit lanes: interleave the 8 high pairs with the 8 low ones.
  const __m512i pairs = _mm512_permutex2var_epi32(
      _mm512_castsi256_si512(high),
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23),
      _mm512_castsi256_si512(low));
  _mm512_storeu_si512(out, pairs);
}

void prepare_bf16(const WeightMatrix& w, const float* x, std::size_t token_begin,
                  std::size_t token_end, const PrefillActivations& out) {
  for (std::size_t t = token_begin; t < token_end; ++t) {
    const float* src = x + t * w.cols;
    auto* dst = reinterpret_cast<std::uint32_t*>(out.values + t * out.stride);
    std::size_t c = 0;
    for (; c + 16 <= w.cols; c += 16) split_bf16(_mm512_loadu_ps(src + c), dst + c);
    if (c < w.cols) {
      // The zeros past the last column make the half pair at the end whole.
      alignas(64) std::uint32_t tail[16];
      split_bf16(_mm512_maskz_loadu_ps(first_lanes(w.cols - c), src + c), tail);
      std::memcpy(dst + c, tail, 2 * bf16_pairs(w.cols - c) * sizeof(std::uint32_t));
    }
  }
}

// Each pair of activations rounded to bf16 once, a 32-bit word per pair.
void prepare_bf16_rounded(const WeightMatrix& w, const float* x, std::size_t token_begin,
                          std::size_t token_end, const PrefillActivations& out) {
  for (std::size_t t = token_begin; t < token_end; ++t) {
    const float* src = x + t * w.cols;
    auto* dst = reinterpret_cast<std::uint32_t*>(out.values + t * out.stride);
    for (std::size_t c = 0; c < w.cols; c += 16) {
      const std::size_t n = smaller(16, w.cols - c);
      // The zeros past the last column make the half pair at the end whole.
      const __m256i pairs =
          reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(first_lanes(n), src + c)));
      _mm256_mask_storeu_epi32(dst + c / 2, static_cast<__mmask8>((1u << bf16_pairs(n)) - 1u), pairs);
    }
  }
}

template <bool kSplit>
void rows_bf16(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
               const PrefillActivations& x, float* y) {
  constexpr std::size_t kPairWords = kSplit ? 2 : 1;
  const std::size_t n_pairs = bf16_pairs(w.cols);
  const std::size_t slice_pairs = kSliceBytes / (kPanelRows * sizeof(std::uint32_t));
  auto* panel = static_cast<std::uint32_t*>(
      aligned_scratch(kPanel, n_pairs * kPanelRows * sizeof(std::uint32_t)));
  const auto* x_pairs = reinterpret_cast<const std::uint32_t*>(x.values);
  const std::size_t x_stride = x.stride / sizeof(std::uint32_t);
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += kPanelRows) {
    const std::size_t n_rows = smaller(kPanelRows, row_end - r0);
    pack_bf16_panel(w, r0, n_rows, n_pairs, panel);
    const std::size_t rows_left = n_rows;
    for (std::size_t p0 = 0; p0 < n_pairs; p0 += slice_pairs) {
      const std::size_t pairs = smaller(slice_pairs, n_pairs - p0);
      for (std::size_t t0 = 0; t0 < x.n_tokens; t0 += kBf16TileTokens) {
        const TileOutput out{y + t0 * w.rows + r0, w.rows,
                             {first_lanes(rows_left), first_lanes(rows_left > 16 ? rows_left - 16 : 0)}};
        with_tile_tokens<kBf16TileTokens>(x.n_tokens - t0, [&]<int kTokens>() {
          bf16_tile<kTokens, kSplit>(panel + p0 * kPanelRows, pairs,
                                     x_pairs + t0 * x_stride + kPairWords * p0, x_stride, p0 > 0, out);
        });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Affine-quantized weights: vpdpbusd on quads of columns, activations x8 + 128 as the unsigned
// operand and signed codes q' as the signed one.

// Two accumulators per token and row vector, the running f32 sum and the current group's int32
// one: 24 of 32 zmm registers.
constexpr int kAffineTileTokens = 6;

template <int kTokens>
void affine_tile(const std::uint32_t* panel, const GroupParams* params, std::size_t n_groups,
                 std::size_t quads_per_group, const std::uint8_t* x, std::size_t x_stride,
                 const float* steps, const float* sums, std::size_t group_stride, bool accumulate,
                 const TileOutput& out) {
  __m512 acc[kTokens][2];
  for (int t = 0; t < kTokens; ++t) {
    for (int v = 0; v < 2; ++v) {
      acc[t][v] = accumulate ? _mm512_maskz_loadu_ps(out.mask[v], out.y + t * out.stride + 16 * v)
                             : _mm512_setzero_ps();
    }
  }
  for (std::size_t g = 0; g < n_groups; ++g, ++params) {
    __m512i dot[kTokens][2];
    const __m512i start0 = _mm512_load_si512(params->start);
    const __m512i start1 = _mm512_load_si512(params->start + 16);
    for (int t = 0; t < kTokens; ++t) {
      dot[t][0] = start0;
      dot[t][1] = start1;
    }
    for (std::size_t j = 0; j < quads_per_group; ++j, panel += kPanelRows, x += 4) {
      const __m512i w0 = _mm512_load_si512(panel);
      const __m512i w1 = _mm512_load_si512(panel + 16);
      for (int t = 0; t < kTokens; ++t) {
        std::int32_t quad;
        std::memcpy(&quad, x + t * x_stride, sizeof quad);
        const __m512i activations = _mm512_set1_epi32(quad);
        dot[t][0] = _mm512_dpbusd_epi32(dot[t][0], activations, w0);
        dot[t][1] = _mm512_dpbusd_epi32(dot[t][1], activations, w1);
      }
    }
    const __m512 scale0 = _mm512_load_ps(params->scale);
    const __m512 scale1 = _mm512_load_ps(params->scale + 16);
    const __m512 bias0 = _mm512_load_ps(params->bias);
    const __m512 bias1 = _mm512_load_ps(params->bias + 16);
    for (int t = 0; t < kTokens; ++t) {
      const __m512 step = _mm512_set1_ps(steps[t * group_stride + g]);
      const __m512 sum = _mm512_set1_ps(sums[t * group_stride + g]);
      acc[t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][0]), _mm512_mul_ps(scale0, step),
                                  _mm512_fmadd_ps(bias0, sum, acc[t][0]));
      acc[t][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][1]), _mm512_mul_ps(scale1, step),
                                  _mm512_fmadd_ps(bias1, sum, acc[t][1]));
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    for (int v = 0; v < 2; ++v) {
      _mm512_mask_storeu_ps(out.y + t * out.stride + 16 * v, out.mask[v], acc[t][v]);
    }
  }
}

void rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                 const PrefillActivations& x, float* y) {
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group;
  const std::size_t quads_per_group = group / 4;
  const std::size_t n_quads = w.cols / 4;
  const std::size_t slice_groups = kSliceBytes / (kPanelRows * group) > 0 ? kSliceBytes / (kPanelRows * group) : 1;
  // The groups' parameters, then the panel's codes (whole vectors, so the codes stay aligned).
  const std::size_t code_bytes = n_quads * kPanelRows * sizeof(std::uint32_t);
  auto* params = static_cast<GroupParams*>(
      aligned_scratch(kPanel, n_groups * sizeof(GroupParams) + code_bytes));
  auto* panel = reinterpret_cast<std::uint32_t*>(params + n_groups);
  auto* codes = reinterpret_cast<std::uint8_t*>(kernel_scratch(kRowCodes, w.cols / 4 + 1));
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += kPanelRows) {
    const std::size_t n_rows = smaller(kPanelRows, row_end - r0);
    pack_affine_panel(w, r0, n_rows, panel, params, codes);
    for (std::size_t g0 = 0; g0 < n_groups; g0 += slice_groups) {
      const std::size_t groups = smaller(slice_groups, n_groups - g0);
      for (std::size_t t0 = 0; t0 < x.n_tokens; t0 += kAffineTileTokens) {
        const TileOutput out{y + t0 * w.rows + r0, w.rows,
                             {first_lanes(n_rows), first_lanes(n_rows > 16 ? n_rows - 16 : 0)}};
        with_tile_tokens<kAffineTileTokens>(x.n_tokens - t0, [&]<int kTokens>() {
          affine_tile<kTokens>(panel + g0 * quads_per_group * kPanelRows, params + g0, groups,
                               quads_per_group, x.values + t0 * x.stride + g0 * group, x.stride,
                               x.group_steps + t0 * n_groups + g0, x.group_sums + t0 * n_groups + g0,
                               n_groups, g0 > 0, out);
        });
      }
    }
  }
}

// Pairs of columns as 32-bit words, one per pair rounded once or two split, or a byte per column.
std::size_t activation_bytes(const WeightMatrix& w, bool split_bf16) {
  if (w.quantized()) return w.cols;
  return (split_bf16 ? 2 : 1) * bf16_pairs(w.cols) * sizeof(std::uint32_t);
}

}  // namespace

const PrefillKernels& prefill_kernels_avx512() {
  static constexpr PrefillKernels kernels{
      kPanelRows,           1,
      &activation_bytes,    &prepare_bf16,
      &rows_bf16<true>,     &prepare_bf16_rounded,
      &rows_bf16<false>,    &prepare_affine,
      &rows_affine};
  return kernels;
}

}  // namespace shardlm
