#pragma once

// What the prefill kernel sets (prefill_avx512.cc, prefill_amx.cc) share: how weight rows are packed
// into panels and how activations are quantized for the affine kernels. Include only from those
// files, after x86_intrinsics.h: everything here has internal linkage, so that each file keeps a copy
// compiled with its own instruction set (see dot_kernels.h).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/kernel_scratch.h"
#include "runtime/kernels/prefill_kernels.h"
#include "runtime/quant/affine.h"

namespace shardlm {
namespace {

// A block of weight rows is packed into a panel that two vectors of 16 rows read per column step;
// each panel is then multiplied with every tile of tokens while it is in cache. The columns are
// taken a slice at a time so that a panel's slice stays in L1 across the tiles of tokens, whose
// activations for the slice stay in L2.
constexpr std::size_t kPanelRows = 32;
constexpr std::size_t kSliceBytes = 16 * 1024;  // of packed panel

enum ScratchSlot : std::size_t { kPanel, kRowCodes };

std::size_t smaller(std::size_t a, std::size_t b) { return a < b ? a : b; }

// kernel_scratch, aligned to a cache line so that the panels are read with aligned vector loads.
void* aligned_scratch(ScratchSlot slot, std::size_t bytes) {
  float* scratch = kernel_scratch(slot, (bytes + 63) / sizeof(float) + 1);
  return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(scratch) + 63) &
                                 ~std::uintptr_t{63});
}

__mmask16 first_lanes(std::size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

float bf16_bits_to_float(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

float param(DType dtype, const void* values, std::size_t i) {
  switch (dtype) {
    case DType::F32: return static_cast<const float*>(values)[i];
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(values)[i]);
    case DType::BF16: return bf16_bits_to_float(static_cast<const std::uint16_t*>(values)[i]);
  }
  return 0.0f;
}

std::size_t bf16_pairs(std::size_t cols) { return (cols + 1) / 2; }

// Rows [r0, r0 + n_rows) of w, as pairs p < padded_pairs of columns: panel[p * 32 + r] holds
// w[r][2p] in its low half and w[r][2p + 1] in its high half (zero past the last column and for rows
// past n_rows).
void pack_bf16_panel(const WeightMatrix& w, std::size_t r0, std::size_t n_rows, std::size_t padded_pairs,
                     std::uint32_t* panel) {
  const std::size_t n_pairs = bf16_pairs(w.cols);
  const std::size_t whole_pairs = w.cols / 2;
  for (std::size_t r = 0; r < kPanelRows; ++r) {
    if (r >= n_rows) {
      for (std::size_t p = 0; p < padded_pairs; ++p) panel[p * kPanelRows + r] = 0;
      continue;
    }
    const auto* row = static_cast<const std::uint16_t*>(w.row(r0 + r));
    for (std::size_t p = 0; p < whole_pairs; ++p) {
      std::uint32_t pair;
      std::memcpy(&pair, row + 2 * p, sizeof pair);
      panel[p * kPanelRows + r] = pair;
    }
    if (whole_pairs < n_pairs) panel[whole_pairs * kPanelRows + r] = row[w.cols - 1];
    for (std::size_t p = n_pairs; p < padded_pairs; ++p) panel[p * kPanelRows + r] = 0;
  }
}

// Per group of a panel: the int32 sums start at -128 * sum q' (which takes the + 128 of the
// activations back out), then scale the group's integer dot product by scale * d and add
// bias' * sum x, bias' = bias + scale * 2^(bits - 1).
struct GroupParams {
  alignas(64) std::int32_t start[kPanelRows];
  alignas(64) float scale[kPanelRows];
  alignas(64) float bias[kPanelRows];
};

// The codes of one row as bytes.
void row_codes(const WeightMatrix& w, std::size_t r, std::uint8_t* codes) {
  const auto* packed = static_cast<const std::uint8_t*>(w.row(r));
  if (w.quant.bits == 8) {
    std::memcpy(codes, packed, w.cols);
  } else if (w.quant.bits == 4) {
    for (std::size_t i = 0; i < w.cols / 2; ++i) {
      codes[2 * i] = packed[i] & 0xf;
      codes[2 * i + 1] = static_cast<std::uint8_t>(packed[i] >> 4);
    }
  } else {
    unpack_codes(static_cast<const std::uint32_t*>(w.row(r)), w.cols, w.quant.bits, codes);
  }
}

// Rows [r0, r0 + n_rows) of w as quads j of columns, panel[j * 32 + r] holding the signed codes of
// columns 4j .. 4j + 3 of row r, one byte each; and the rows' GroupParams (all zero for rows past
// n_rows, which so contribute nothing).
void pack_affine_panel(const WeightMatrix& w, std::size_t r0, std::size_t n_rows,
                       std::uint32_t* panel, GroupParams* params, std::uint8_t* codes) {
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group;
  const std::size_t n_quads = w.cols / 4;
  const int offset = 1 << (w.quant.bits - 1);
  for (std::size_t r = 0; r < kPanelRows; ++r) {
    if (r >= n_rows) {
      for (std::size_t j = 0; j < n_quads; ++j) panel[j * kPanelRows + r] = 0;
      for (std::size_t g = 0; g < n_groups; ++g) {
        params[g].start[r] = 0;
        params[g].scale[r] = 0.0f;
        params[g].bias[r] = 0.0f;
      }
      continue;
    }
    row_codes(w, r0 + r, codes);
    for (std::size_t i = 0; i < w.cols; ++i) {
      codes[i] = static_cast<std::uint8_t>(codes[i] - offset);
    }
    for (std::size_t j = 0; j < n_quads; ++j) {
      std::uint32_t quad;
      std::memcpy(&quad, codes + 4 * j, sizeof quad);
      panel[j * kPanelRows + r] = quad;
    }
    const std::size_t first_group = (r0 + r) * w.quant.group_stride;
    for (std::size_t g = 0; g < n_groups; ++g) {
      std::int32_t sum = 0;
      for (std::size_t i = g * group; i < (g + 1) * group; ++i) {
        sum += static_cast<std::int8_t>(codes[i]);
      }
      const float scale = param(w.dtype, w.quant.scales, first_group + g);
      const float bias = param(w.dtype, w.quant.biases, first_group + g);
      params[g].start[r] = -128 * sum;
      params[g].scale[r] = scale;
      params[g].bias[r] = bias + scale * static_cast<float>(offset);
    }
  }
}

void prepare_affine(const WeightMatrix& w, const float* x, std::size_t token_begin,
                    std::size_t token_end, const PrefillActivations& out) {
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group;
  for (std::size_t t = token_begin; t < token_end; ++t) {
    for (std::size_t g = 0; g < n_groups; ++g) {
      const float* src = x + t * w.cols + g * group;
      __m512 largest = _mm512_setzero_ps();
      __m512 sum = _mm512_setzero_ps();
      for (std::size_t i = 0; i < group; i += 16) {
        const __m512 v = _mm512_loadu_ps(src + i);
        largest = _mm512_max_ps(largest, _mm512_abs_ps(v));
        sum = _mm512_add_ps(sum, v);
      }
      const float max_abs = _mm512_reduce_max_ps(largest);
      const float inverse_step = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
      out.group_steps[t * n_groups + g] = max_abs / 127.0f;
      out.group_sums[t * n_groups + g] = _mm512_reduce_add_ps(sum);
      std::uint8_t* dst = out.values + t * out.stride + g * group;
      for (std::size_t i = 0; i < group; i += 16) {
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + i),
                                                           _mm512_set1_ps(inverse_step)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                         _mm512_cvtepi32_epi8(_mm512_add_epi32(q, _mm512_set1_epi32(128))));
      }
    }
  }
}

}  // namespace
}  // namespace shardlm
