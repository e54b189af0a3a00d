// Compiled with -mavx2 -mfma -mf16c (and AVX-512 switched off, so that this set stays what a CPU
// without AVX-512 runs); see dot_kernels.h for what this file may call.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/simd_dot_rows.h"

namespace shardlm {

namespace {

// Lanes [0, n) all ones, the rest zero: the mask operand of vmaskmovps.
__m256i first_lanes(std::size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

struct Avx2 {
  using Vec = __m256;
  static constexpr std::size_t kWidth = 8;
  // Of 16 ymm registers: 8 accumulators, up to 2 activation vectors, weights and temporaries.
  static constexpr int kAccumulators = 8;
  static constexpr int kMaxTokensPerBlock = 2;

  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec load_partial(const float* p, std::size_t n) {
    return _mm256_maskload_ps(p, first_lanes(n));
  }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void store_partial(float* p, Vec v, std::size_t n) {
    _mm256_maskstore_ps(p, first_lanes(n), v);
  }
  static Vec fma(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
  static float sum(Vec v) {
    __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    quad = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    quad = _mm_add_ss(quad, _mm_movehdup_ps(quad));
    return _mm_cvtss_f32(quad);
  }
};

// AVX2 has no masked 16-bit load, so a partial row of 16-bit weights goes through a zeroed buffer.
__m128i load_partial_16bit(const std::uint16_t* p, std::size_t n) {
  std::uint16_t padded[8] = {};
  std::memcpy(padded, p, n * sizeof(std::uint16_t));
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(padded));
}

struct F32Weights {
  using Element = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 load_partial(const float* p, std::size_t n) { return Avx2::load_partial(p, n); }
};

struct F16Weights {
  using Element = std::uint16_t;
  static __m256 load(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static __m256 load_partial(const std::uint16_t* p, std::size_t n) {
    return _mm256_cvtph_ps(load_partial_16bit(p, n));
  }
};

// bf16 is the top half of an f32, so widening is exact: zero-extend to 32 bits and shift up.
__m256 bf16_bits_to_f32(__m128i bits) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}

struct BF16Weights {
  using Element = std::uint16_t;
  static __m256 load(const std::uint16_t* p) {
    return bf16_bits_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static __m256 load_partial(const std::uint16_t* p, std::size_t n) {
    return bf16_bits_to_f32(load_partial_16bit(p, n));
  }
};

}  // namespace

const DotKernels& dot_kernels_avx2() {
  static constexpr DotKernels kernels{
      "avx2",
      &simd_dot_rows::dot_rows<Avx2, F32Weights>,
      &simd_dot_rows::dot_rows<Avx2, F16Weights>,
      &simd_dot_rows::dot_rows<Avx2, BF16Weights>,
      &simd_dot_rows::widen_rows<Avx2, F16Weights>,
      &simd_dot_rows::widen_rows<Avx2, BF16Weights>,
  };
  return kernels;
}

}  // namespace shardlm
