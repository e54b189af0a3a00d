// Compiled with -mavx512f -mavx512bw -mavx512vl -mfma; see dot_kernels.h for what this file may call.
#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cstddef>

#include "runtime/kernels/attention_kernels.h"

namespace shardlm {

namespace {

__mmask16 first_lanes(std::size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

// e^x for x <= 0, within 2 ulp: x = n ln 2 + r with n whole and |r| <= ln 2 / 2 (ln 2 in two parts,
// so that r keeps its precision), e^r by its Taylor series to degree 7 (error below 1e-8 relative),
// times 2^n by vscalefps, which also gives 0 below the f32 range.
__m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // e^-104 is below the smallest subnormal
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  for (const float c : {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f}) {
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  }
  return _mm512_scalef_ps(p, n);
}

// The sums of the lanes of a, b, c and d, in that order.
__m128 sum_lanes(__m512 a, __m512 b, __m512 c, __m512 d) {
  // Within each 128-bit block: a and b's lanes 0 + 2 and 1 + 3, interleaved; likewise c and d.
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // Each block's sums of a, b, c and d.
  const __m512 blocks = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                      _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  // The high half through a double-precision extract: the single-precision one needs AVX512DQ.
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(blocks), 1));
  const __m256 halves = _mm256_add_ps(_mm512_castps512_ps256(blocks), high);
  return _mm_add_ps(_mm256_castps256_ps128(halves), _mm256_extractf128_ps(halves, 1));
}

// row[j] = scale * q . keys[j] for j < n_keys, four keys at a time; returns the largest.
float head_scores(const float* q, const float* keys, std::size_t kv_row_stride, std::size_t n_keys,
                  std::size_t head_dim, float scale, float* row) {
  __m128 largest = _mm_set1_ps(-__builtin_inff());
  for (std::size_t j = 0; j < n_keys; j += 4) {
    __m512 acc[4];
    for (int i = 0; i < 4; ++i) acc[i] = _mm512_setzero_ps();
    // Past the last key the block repeats it, and drops its copies' scores below.
    const float* k[4];
    for (std::size_t i = 0; i < 4; ++i) k[i] = keys + std::min(j + i, n_keys - 1) * kv_row_stride;
    for (std::size_t d = 0; d < head_dim; d += 16) {
      const __mmask16 mask = first_lanes(head_dim - d);
      const __m512 qv = _mm512_maskz_loadu_ps(mask, q + d);
      for (int i = 0; i < 4; ++i) acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, k[i] + d), qv, acc[i]);
    }
    const __m128 scores = _mm_mul_ps(sum_lanes(acc[0], acc[1], acc[2], acc[3]), _mm_set1_ps(scale));
    const auto valid = static_cast<__mmask8>((1u << std::min<std::size_t>(4, n_keys - j)) - 1u);
    _mm_mask_storeu_ps(row + j, valid, scores);
    largest = _mm_mask_max_ps(largest, valid, largest, scores);
  }
  const __m128 pairs = _mm_max_ps(largest, _mm_movehl_ps(largest, largest));
  return _mm_cvtss_f32(_mm_max_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)));
}

// row[j] = e^(row[j] - largest); returns their sum.
float exponentiate(float* row, std::size_t n_keys, float largest) {
  __m512 total = _mm512_setzero_ps();
  for (std::size_t j = 0; j < n_keys; j += 16) {
    const __mmask16 mask = first_lanes(n_keys - j);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row + j), _mm512_set1_ps(largest)));
    _mm512_mask_storeu_ps(row + j, mask, e);
    total = _mm512_add_ps(total, _mm512_maskz_mov_ps(mask, e));
  }
  return _mm512_reduce_add_ps(total);
}

// Columns [d0, d0 + n_d), n_d <= 64, of kHeads heads' outputs: out[h] = weights[h] . values / totals[h],
// the heads' weights n_keys apart from weights on and their outputs head_dim apart from out on. Each
// value row's columns are loaded once for all the heads.
template <int kHeads>
void weighted_values(const float* weights, const float* values, std::size_t kv_row_stride, std::size_t n_keys,
                     std::size_t head_dim, std::size_t d0, std::size_t n_d, const float* totals, float* out) {
  constexpr int kChunks = 4;
  __mmask16 masks[kChunks];
  for (int c = 0; c < kChunks; ++c) masks[c] = first_lanes(n_d > 16u * c ? n_d - 16u * c : 0);
  __m512 acc[kHeads][kChunks];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_setzero_ps();
  }
  for (std::size_t j = 0; j < n_keys; ++j) {
    const float* v = values + j * kv_row_stride + d0;
    __m512 row[kChunks];
    for (int c = 0; c < kChunks; ++c) row[c] = _mm512_maskz_loadu_ps(masks[c], v + 16 * c);
    for (int h = 0; h < kHeads; ++h) {
      const __m512 weight = _mm512_set1_ps(weights[h * n_keys + j]);
      for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_fmadd_ps(weight, row[c], acc[h][c]);
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    const __m512 inverse = _mm512_set1_ps(1.0f / totals[h]);
    for (int c = 0; c < kChunks; ++c) {
      _mm512_mask_storeu_ps(out + h * head_dim + d0 + 16 * c, masks[c], _mm512_mul_ps(acc[h][c], inverse));
    }
  }
}

}  // namespace

void exp_nonpositive_avx512(const float* x, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = first_lanes(n - i);
    _mm512_mask_storeu_ps(out + i, mask, exp_nonpositive(_mm512_maskz_loadu_ps(mask, x + i)));
  }
}

void softmax_avx512(float* values, std::size_t n) {
  if (n == 0) return;
  __m512 largest = _mm512_set1_ps(-__builtin_inff());
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = first_lanes(n - i);
    largest = _mm512_mask_max_ps(largest, mask, largest, _mm512_maskz_loadu_ps(mask, values + i));
  }
  const float inverse = 1.0f / exponentiate(values, n, _mm512_reduce_max_ps(largest));
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = first_lanes(n - i);
    _mm512_mask_storeu_ps(values + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, values + i), _mm512_set1_ps(inverse)));
  }
}

void attend_heads_avx512(const float* queries, std::size_t n_heads, const float* keys, const float* values,
                         std::size_t kv_row_stride, std::size_t n_keys, std::size_t head_dim, float scale,
                         float* scores, float* out) {
  constexpr std::size_t kMaxHeads = 16;
  float totals[kMaxHeads];
  for (std::size_t h0 = 0; h0 < n_heads; h0 += kMaxHeads) {
    const std::size_t heads = std::min(kMaxHeads, n_heads - h0);
    for (std::size_t h = 0; h < heads; ++h) {
      float* row = scores + (h0 + h) * n_keys;
      const float largest = head_scores(queries + (h0 + h) * head_dim, keys, kv_row_stride, n_keys, head_dim, scale, row);
      totals[h] = exponentiate(row, n_keys, largest);
    }
    for (std::size_t h = 0; h < heads; h += 4) {
      const float* weights = scores + (h0 + h) * n_keys;
      float* o = out + (h0 + h) * head_dim;
      for (std::size_t d0 = 0; d0 < head_dim; d0 += 64) {
        const std::size_t n_d = std::min<std::size_t>(64, head_dim - d0);
        switch (std::min<std::size_t>(4, heads - h)) {
          case 1: weighted_values<1>(weights, values, kv_row_stride, n_keys, head_dim, d0, n_d, totals + h, o); break;
          case 2: weighted_values<2>(weights, values, kv_row_stride, n_keys, head_dim, d0, n_d, totals + h, o); break;
          case 3: weighted_values<3>(weights, values, kv_row_stride, n_keys, head_dim, d0, n_d, totals + h, o); break;
          default: weighted_values<4>(weights, values, kv_row_stride, n_keys, head_dim, d0, n_d, totals + h, o); break;
        }
      }
    }
  }
}

}  // namespace shardlm
