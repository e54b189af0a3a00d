// Compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c; see dot_kernels.h for what this file
// may call.
// GCC 12's AVX-512 headers fill "undefined" vectors by reading them uninitialised, which it then
// warns about wherever an intrinsic using one is inlined. The warnings point into the header, so
// silencing them around the include keeps them for this file's own code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/simd_dot_rows.h"

namespace shardlm {

namespace {

__mmask16 first_lanes(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

struct Avx512 {
  using Vec = __m512;
  static constexpr std::size_t kWidth = 16;
  // Of 32 zmm registers: 16 accumulators, up to 4 activation vectors, weights and temporaries.
  static constexpr int kAccumulators = 16;
  static constexpr int kMaxTokensPerBlock = 4;

  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec load_partial(const float* p, std::size_t n) {
    return _mm512_maskz_loadu_ps(first_lanes(n), p);
  }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void store_partial(float* p, Vec v, std::size_t n) {
    _mm512_mask_storeu_ps(p, first_lanes(n), v);
  }
  static Vec fma(Vec a, Vec b, Vec acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float sum(Vec v) { return _mm512_reduce_add_ps(v); }
};

struct F32Weights {
  using Element = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load_partial(const float* p, std::size_t n) {
    return _mm512_maskz_loadu_ps(first_lanes(n), p);
  }
};

struct F16Weights {
  using Element = std::uint16_t;
  static __m512 load(const std::uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load_partial(const std::uint16_t* p, std::size_t n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_lanes(n), p));
  }
};

// bf16 is the top half of an f32, so widening is exact: zero-extend to 32 bits and shift up.
// (vdpbf16ps would be faster but rounds the activations to bf16 too.)
__m512 bf16_bits_to_f32(__m256i bits) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

struct BF16Weights {
  using Element = std::uint16_t;
  static __m512 load(const std::uint16_t* p) {
    return bf16_bits_to_f32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load_partial(const std::uint16_t* p, std::size_t n) {
    return bf16_bits_to_f32(_mm256_maskz_loadu_epi16(first_lanes(n), p));
  }
};

}  // namespace

const DotKernels& dot_kernels_avx512() {
  static constexpr DotKernels kernels{
      "avx512",
      &simd_dot_rows::dot_rows<Avx512, F32Weights>,
      &simd_dot_rows::dot_rows<Avx512, F16Weights>,
      &simd_dot_rows::dot_rows<Avx512, BF16Weights>,
      &simd_dot_rows::widen_rows<Avx512, F16Weights>,
      &simd_dot_rows::widen_rows<Avx512, BF16Weights>,
  };
  return kernels;
}

}  // namespace shardlm
