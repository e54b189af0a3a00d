// Compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c; see dot_kernels.h for what this file
// may call.
#include "runtime/kernels/x86_intrinsics.h"

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/simd_dot_rows.h"
#include "runtime/kernels/simd_quant_rows.h"

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
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec broadcast(float value) { return _mm512_set1_ps(value); }
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

// Quantized codes; see simd_quant_rows.h for what these policies provide.

// Codes of any width in their stored order, 16 at a time: the 2 * kBits bytes of a step go to every
// 128-bit lane, and each 32-bit lane picks out the one or two bytes that hold its code (vpshufb),
// shifts the code down and masks it off.
template <int kCodeBits>
struct StoredCodes {
  static constexpr int kBits = kCodeBits;
  static constexpr std::size_t kStep = 16;
  static constexpr bool kPermuted = false;
  static constexpr simd_quant_rows::CodeLanes<kBits, 16> kLanes =
      simd_quant_rows::code_lanes<kBits, 16>();

  static void decode(const std::uint8_t* p, __m512* out) {
    const __m128i bytes = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << (2 * kBits)) - 1u), p);
    const __m512i picked =
        _mm512_shuffle_epi8(_mm512_broadcast_i32x4(bytes), _mm512_load_si512(kLanes.shuffle));
    const __m512i codes =
        _mm512_and_si512(_mm512_srlv_epi32(picked, _mm512_load_si512(kLanes.shift)),
                         _mm512_set1_epi32((1 << kBits) - 1));
    out[0] = _mm512_cvtepi32_ps(codes);
  }
};

// 4-bit codes, 32 at a time: the 16 bytes of a step, one to a 32-bit lane, give the even codes (low
// nibbles) by a mask and the odd ones (high nibbles) by a shift. The activations are permuted to
// match, once per call, rather than the codes once per row.
struct NibbleCodes {
  static constexpr int kBits = 4;
  static constexpr std::size_t kStep = 32;
  static constexpr bool kPermuted = true;

  static void decode(const std::uint8_t* p, __m512* out) {
    const __m512i bytes =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    out[0] = _mm512_cvtepi32_ps(_mm512_and_si512(bytes, _mm512_set1_epi32(0xf)));
    out[1] = _mm512_cvtepi32_ps(_mm512_srli_epi32(bytes, 4));
  }
  static void permute(const float* x, float* out) {
    simd_quant_rows::split_even_odd<Avx512>(x, out);
  }
};

// 8-bit codes, 16 at a time, one byte each.
struct ByteCodes {
  static constexpr int kBits = 8;
  static constexpr std::size_t kStep = 16;
  static constexpr bool kPermuted = false;

  static void decode(const std::uint8_t* p, __m512* out) {
    out[0] = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
};

using Affine = simd_quant_rows::AffineKernels<Avx512, StoredCodes, NibbleCodes, ByteCodes, F32Weights, F16Weights,
                                              BF16Weights>;

}  // namespace

const DotKernels& dot_kernels_avx512() {
  static constexpr DotKernels kernels{
      "avx512",
      &simd_dot_rows::dot_rows<Avx512, F32Weights>,
      &simd_dot_rows::dot_rows<Avx512, F16Weights>,
      &simd_dot_rows::dot_rows<Avx512, BF16Weights>,
      &simd_dot_rows::widen_rows<Avx512, F16Weights>,
      &simd_dot_rows::widen_rows<Avx512, BF16Weights>,
      &Affine::dot_rows_affine,
      nullptr,
      &Affine::widen_rows_affine,
      nullptr,
      nullptr,
      &attend_heads_avx512,
      &softmax_avx512,
  };
  return kernels;
}

}  // namespace shardlm
