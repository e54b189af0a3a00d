// Compiled with -mavx2 -mfma -mf16c (and AVX-512 switched off, so that this set stays what a CPU
// without AVX-512 runs); see dot_kernels.h for what this file may call.
#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/simd_dot_rows.h"
#include "runtime/kernels/simd_quant_rows.h"

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
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec broadcast(float value) { return _mm256_set1_ps(value); }
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

// Quantized codes; see simd_quant_rows.h for what these policies provide.

// Codes of any width in their stored order, 8 at a time: the kBits bytes of a step go to both
// 128-bit lanes, and each 32-bit lane picks out the one or two bytes that hold its code (vpshufb),
// shifts the code down and masks it off.
template <int kCodeBits>
struct StoredCodes {
  static constexpr int kBits = kCodeBits;
  static constexpr std::size_t kStep = 8;

  // The kBits bytes of a step and no more, since the last step of the last row may end the mapping.
  // A memcpy of 3, 5 or 6 bytes would be a call to the library, so they come in pieces of 4, 2 and 1.
  static std::uint64_t load_bytes(const std::uint8_t* p) {
    std::uint64_t value = 0;
    int done = 0;
    if constexpr ((kBits & 4) != 0) {
      std::uint32_t piece;
      std::memcpy(&piece, p, sizeof piece);
      value = piece;
      done = 4;
    }
    if constexpr ((kBits & 2) != 0) {
      std::uint16_t piece;
      std::memcpy(&piece, p + done, sizeof piece);
      value |= std::uint64_t{piece} << (8 * done);
      done += 2;
    }
    if constexpr ((kBits & 1) != 0) value |= std::uint64_t{p[done]} << (8 * done);
    return value;
  }
  static constexpr bool kPermuted = false;
  static constexpr simd_quant_rows::CodeLanes<kBits, 8> kLanes =
      simd_quant_rows::code_lanes<kBits, 8>();

  static void decode(const std::uint8_t* p, __m256* out) {
    const __m256i spread =
        _mm256_broadcastsi128_si256(_mm_cvtsi64_si128(static_cast<long long>(load_bytes(p))));
    const __m256i picked = _mm256_shuffle_epi8(
        spread, _mm256_load_si256(reinterpret_cast<const __m256i*>(kLanes.shuffle)));
    const __m256i shifts = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLanes.shift));
    const __m256i codes =
        _mm256_and_si256(_mm256_srlv_epi32(picked, shifts), _mm256_set1_epi32((1 << kBits) - 1));
    out[0] = _mm256_cvtepi32_ps(codes);
  }
};

// 4-bit codes, 16 at a time: the 8 bytes of a step, one to a 32-bit lane, give the even codes (low
// nibbles) by a mask and the odd ones (high nibbles) by a shift. The activations are permuted to
// match, once per call, rather than the codes once per row.
struct NibbleCodes {
  static constexpr int kBits = 4;
  static constexpr std::size_t kStep = 16;
  static constexpr bool kPermuted = true;

  static void decode(const std::uint8_t* p, __m256* out) {
    const __m256i bytes =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    out[0] = _mm256_cvtepi32_ps(_mm256_and_si256(bytes, _mm256_set1_epi32(0xf)));
    out[1] = _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 4));
  }
  static void permute(const float* x, float* out) { simd_quant_rows::split_even_odd<Avx2>(x, out); }
};

// 8-bit codes, 8 at a time, one byte each.
struct ByteCodes {
  static constexpr int kBits = 8;
  static constexpr std::size_t kStep = 8;
  static constexpr bool kPermuted = false;

  static void decode(const std::uint8_t* p, __m256* out) {
    out[0] = _mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
};

using Affine = simd_quant_rows::AffineKernels<Avx2, StoredCodes, NibbleCodes, ByteCodes, F32Weights, F16Weights,
                                              BF16Weights>;

}  // namespace

const DotKernels& dot_kernels_avx2() {
  static constexpr DotKernels kernels{
      "avx2",
      &simd_dot_rows::dot_rows<Avx2, F32Weights>,
      &simd_dot_rows::dot_rows<Avx2, F16Weights>,
      &simd_dot_rows::dot_rows<Avx2, BF16Weights>,
      &simd_dot_rows::widen_rows<Avx2, F16Weights>,
      &simd_dot_rows::widen_rows<Avx2, BF16Weights>,
      &Affine::dot_rows_affine,
      nullptr,
      &Affine::widen_rows_affine,
      nullptr,
      nullptr,
      &attend_heads_scalar,
      &softmax_scalar,
  };
  return kernels;
}

}  // namespace shardlm
