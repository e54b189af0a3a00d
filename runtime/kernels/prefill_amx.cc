// Compiled with the flags of prefill_avx512.cc plus -mamx-tile -mamx-bf16 -mamx-int8; see
// dot_kernels.h for what this file may call, and prefill_kernels.h for what the kernels compute. The
// products are those of prefill_avx512.cc, with the same activations and the same error bounds, on
// the AMX tile units: one tile instruction multiplies 16 tokens with 16 weight rows over 32 bf16 or
// 64 int8 columns.
#include "runtime/kernels/x86_intrinsics.h"

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/prefill_kernels.h"
#include "runtime/kernels/prefill_panels.h"

namespace shardlm {

namespace {

// The eight tile registers, which the intrinsics take as literal numbers: tmm0-3 the accumulators
// C_ij of a block of 32 tokens (halves i) by the 32 rows of a panel (halves j), in the order C00,
// C01, C10, C11; tmm4-5 the activations of the two halves of the tokens (A0, A1); tmm6-7 the weights
// of the two halves of the panel's rows (B0, B1).
constexpr int kAccumulatorTiles = 4;
constexpr int kFirstActivationTile = 4;
constexpr int kFirstWeightTile = 6;

constexpr std::size_t kHalf = 16;
constexpr std::size_t kBlockTokens = 2 * kHalf;
// Bytes of one token's activations that a tile instruction takes: 32 bf16 or 64 int8 values.
constexpr std::size_t kStepBytes = 64;
constexpr std::size_t kPanelRowBytes = kPanelRows * sizeof(std::uint32_t);

// GCC's tile loads (and ldtilecfg, which it tells of only 8 bytes of the configuration) are asm
// statements that do not say they read memory, so the compiler may drop or delay stores they
// depend on; this makes every store before it happen first.
void stores_before_tile_loads() { asm volatile("" ::: "memory"); }

struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};

// The tile shapes, set for the calling thread while in scope: C 16 x 16 four-byte values, A 16
// tokens by step_bytes, B step_bytes / 4 rows of 16 four-byte pairs or quads of a panel.
class TileScope {
 public:
  explicit TileScope(std::size_t step_bytes) {
    TileConfig config;
    for (int t = 0; t < kAccumulatorTiles; ++t) set(config, t, kHalf, 64);
    for (int t = kFirstActivationTile; t < kFirstWeightTile; ++t) set(config, t, kHalf, step_bytes);
    for (int t = kFirstWeightTile; t < 8; ++t) set(config, t, step_bytes / 4, 64);
    stores_before_tile_loads();
    _tile_loadconfig(&config);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;

 private:
  static void set(TileConfig& config, int tile, std::size_t rows, std::size_t bytes) {
    config.rows[tile] = static_cast<std::uint8_t>(rows);
    config.bytes_per_row[tile] = static_cast<std::uint16_t>(bytes);
  }
};

// A block of y: n_tokens <= 32 tokens from `y` on, rows n_rows <= 32 of each.
struct BlockOutput {
  float* y;
  std::size_t stride;  // floats from one token to the next
  std::size_t n_tokens;
  std::size_t n_rows;

  std::size_t tokens_of_half(std::size_t i) const {
    return n_tokens > i * kHalf ? smaller(kHalf, n_tokens - i * kHalf) : 0;
  }
  std::size_t rows_of_half(std::size_t j) const {
    return n_rows > j * kHalf ? smaller(kHalf, n_rows - j * kHalf) : 0;
  }
  float* corner(std::size_t i, std::size_t j) const { return y + i * kHalf * stride + j * kHalf; }
};

// A pass packs this many panels (256 rows) and takes each token block's slice of activations, which
// stays in L1, through all of them: the activations then come from L3 once per 256 rows rather than
// once per panel, which the tile units would otherwise wait on.
constexpr std::size_t kPanelsPerPass = 8;

// The panels of the pass that starts at row r0 and ends at most at row_end.
struct PassRows {
  PassRows(std::size_t r0, std::size_t row_end)
      : first(r0), n_rows(smaller(kPanelsPerPass * kPanelRows, row_end - r0)),
        n_panels((n_rows + kPanelRows - 1) / kPanelRows) {}
  std::size_t first_row(std::size_t p) const { return first + p * kPanelRows; }
  std::size_t rows_of_panel(std::size_t p) const { return smaller(kPanelRows, n_rows - p * kPanelRows); }

  std::size_t first;
  std::size_t n_rows;
  std::size_t n_panels;
};

// ---------------------------------------------------------------------------------------------
// Dense bf16 weights: tdpbf16ps. The f32 accumulators live in the C tiles and are loaded from y and
// stored back once per slice of the columns; a quarter of the block cut by the last token or row
// goes through `spill` (16 x 16 floats), so that nothing outside the block is read or written.

// Where accumulator C_ij is loaded from or stored to: the block's corner of y, or `spill` where the
// quarter is cut by the last token or row.
struct TileAddress {
  void* base;
  std::size_t stride;  // bytes
};

TileAddress accumulator_address(const BlockOutput& out, std::size_t i, std::size_t j, float* spill) {
  if (out.tokens_of_half(i) == kHalf && out.rows_of_half(j) == kHalf) {
    return {out.corner(i, j), out.stride * sizeof(float)};
  }
  return {spill, kHalf * sizeof(float)};
}

// The address to load C_ij from, with spill filled from y (zeros outside the block) where needed.
TileAddress accumulator_source(const BlockOutput& out, std::size_t i, std::size_t j, float* spill) {
  const TileAddress address = accumulator_address(out, i, j, spill);
  if (address.base == spill) {
    const std::size_t tokens = out.tokens_of_half(i);
    const __mmask16 rows = first_lanes(out.rows_of_half(j));
    for (std::size_t t = 0; t < kHalf; ++t) {
      const __m512 v = t < tokens ? _mm512_maskz_loadu_ps(rows, out.corner(i, j) + t * out.stride)
                                  : _mm512_setzero_ps();
      _mm512_store_ps(spill + t * kHalf, v);
    }
  }
  stores_before_tile_loads();
  return address;
}

// After C_ij was stored to accumulator_address(out, i, j, spill): copies the block's part of spill to y.
void finish_accumulator_store(const BlockOutput& out, std::size_t i, std::size_t j, const float* spill) {
  if (accumulator_address(out, i, j, const_cast<float*>(spill)).base != spill) return;
  const __mmask16 rows = first_lanes(out.rows_of_half(j));
  for (std::size_t t = 0; t < out.tokens_of_half(i); ++t) {
    _mm512_mask_storeu_ps(out.corner(i, j) + t * out.stride, rows, _mm512_load_ps(spill + t * kHalf));
  }
}

// Columns are taken 32 at a time, a step: the activations of a token hold per step 64 bytes of the
// 16 pairs rounded to bf16 (the high parts) and, when split, 64 bytes of the low parts.
std::size_t bf16_steps(std::size_t cols) { return (cols + 31) / 32; }

template <bool kSplit>
constexpr std::size_t bf16_step_bytes() {
  return kSplit ? 2 * kStepBytes : kStepBytes;
}

// Multiplies `n_steps` steps of the panel with one block of tokens (both halves or the first only).
template <bool kSplit, bool kBothHalves>
void bf16_block(const std::uint32_t* panel, std::size_t n_steps, const std::uint8_t* x,
                std::size_t x_stride, bool accumulate, const BlockOutput& out, float* spill) {
  if (accumulate) {
    TileAddress c = accumulator_source(out, 0, 0, spill);
    _tile_loadd(0, c.base, c.stride);
    c = accumulator_source(out, 0, 1, spill);
    _tile_loadd(1, c.base, c.stride);
    if constexpr (kBothHalves) {
      c = accumulator_source(out, 1, 0, spill);
      _tile_loadd(2, c.base, c.stride);
      c = accumulator_source(out, 1, 1, spill);
      _tile_loadd(3, c.base, c.stride);
    }
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const std::uint8_t* x_second = x + kHalf * x_stride;
  for (std::size_t s = 0; s < n_steps; ++s) {
    const std::size_t offset = s * bf16_step_bytes<kSplit>();
    _tile_loadd(6, panel, kPanelRowBytes);
    _tile_loadd(7, panel + kHalf, kPanelRowBytes);
    _tile_loadd(4, x + offset, x_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if constexpr (kBothHalves) {
      _tile_loadd(5, x_second + offset, x_stride);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    if constexpr (kSplit) {
      _tile_loadd(4, x + offset + kStepBytes, x_stride);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      if constexpr (kBothHalves) {
        _tile_loadd(5, x_second + offset + kStepBytes, x_stride);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
    panel += kHalf * kPanelRows;
  }
  TileAddress c = accumulator_address(out, 0, 0, spill);
  _tile_stored(0, c.base, c.stride);
  finish_accumulator_store(out, 0, 0, spill);
  c = accumulator_address(out, 0, 1, spill);
  _tile_stored(1, c.base, c.stride);
  finish_accumulator_store(out, 0, 1, spill);
  if constexpr (kBothHalves) {
    c = accumulator_address(out, 1, 0, spill);
    _tile_stored(2, c.base, c.stride);
    finish_accumulator_store(out, 1, 0, spill);
    c = accumulator_address(out, 1, 1, spill);
    _tile_stored(3, c.base, c.stride);
    finish_accumulator_store(out, 1, 1, spill);
  }
}

__m512 widen_bf16(__m256i bits) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

template <bool kSplit>
void prepare_bf16(const WeightMatrix& w, const float* x, std::size_t token_begin,
                  std::size_t token_end, const PrefillActivations& out) {
  const std::size_t n_steps = bf16_steps(w.cols);
  for (std::size_t t = token_begin; t < token_end; ++t) {
    const float* src = x + t * w.cols;
    std::uint8_t* dst = out.values + t * out.stride;
    for (std::size_t s = 0; s < n_steps; ++s, dst += bf16_step_bytes<kSplit>()) {
      const std::size_t c = 32 * s, n = smaller(32, w.cols - c);
      // Zeros past the last column, so that the step's products there are zero.
      const __m512 first = _mm512_maskz_loadu_ps(first_lanes(n), src + c);
      const __m512 second = _mm512_maskz_loadu_ps(first_lanes(n > 16 ? n - 16 : 0), src + c + 16);
      const __m512i high = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(second, first));
      _mm512_storeu_si512(dst, high);
      if constexpr (kSplit) {
        const __m512 first_rest = _mm512_sub_ps(first, widen_bf16(_mm512_castsi512_si256(high)));
        const __m512 second_rest = _mm512_sub_ps(second, widen_bf16(_mm512_extracti64x4_epi64(high, 1)));
        _mm512_storeu_si512(dst + kStepBytes, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(second_rest, first_rest)));
      }
    }
  }
}

template <bool kSplit>
void rows_bf16(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
               const PrefillActivations& x, float* y) {
  const std::size_t n_steps = bf16_steps(w.cols);
  const std::size_t padded_pairs = n_steps * kHalf;
  const std::size_t panel_words = padded_pairs * kPanelRows;
  const std::size_t slice_steps = kSliceBytes / (kHalf * kPanelRowBytes);
  auto* panels = static_cast<std::uint32_t*>(
      aligned_scratch(kPanel, kPanelsPerPass * panel_words * sizeof(std::uint32_t)));
  alignas(64) float spill[kHalf * kHalf];
  const TileScope tiles(kStepBytes);
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += kPanelsPerPass * kPanelRows) {
    const PassRows pass(r0, row_end);
    for (std::size_t p = 0; p < pass.n_panels; ++p) {
      pack_bf16_panel(w, pass.first_row(p), pass.rows_of_panel(p), padded_pairs, panels + p * panel_words);
    }
    stores_before_tile_loads();
    for (std::size_t s0 = 0; s0 < n_steps; s0 += slice_steps) {
      const std::size_t steps = smaller(slice_steps, n_steps - s0);
      for (std::size_t t0 = 0; t0 < x.n_tokens; t0 += kBlockTokens) {
        const std::size_t n_tokens = smaller(kBlockTokens, x.n_tokens - t0);
        const std::uint8_t* block_x = x.values + t0 * x.stride + s0 * bf16_step_bytes<kSplit>();
        for (std::size_t p = 0; p < pass.n_panels; ++p) {
          const std::uint32_t* slice = panels + p * panel_words + s0 * kHalf * kPanelRows;
          const BlockOutput out{y + t0 * w.rows + pass.first_row(p), w.rows, n_tokens, pass.rows_of_panel(p)};
          if (n_tokens > kHalf) {
            bf16_block<kSplit, true>(slice, steps, block_x, x.stride, s0 > 0, out, spill);
          } else {
            bf16_block<kSplit, false>(slice, steps, block_x, x.stride, s0 > 0, out, spill);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Affine-quantized weights: tdpbusd on the activations x8 + 128 (unsigned) and the signed codes of
// the panels of prefill_panels.h. Each group's integer sums leave the tiles through `dots` (32 x 32)
// and are scaled into the block's f32 sums in `sums_of_block` (32 x 32) with AVX-512, as in
// prefill_avx512.cc.

struct AffineSlice {
  const std::uint32_t* panel;
  const GroupParams* params;
  std::size_t n_groups;
  std::size_t steps_per_group;
  std::size_t step_bytes;
};

template <bool kBothHalves>
void affine_block(const AffineSlice& slice, const std::uint8_t* x, std::size_t x_stride,
                  const float* steps, const float* sums, std::size_t group_stride, bool accumulate,
                  const BlockOutput& out, float* sums_of_block, std::int32_t* dots) {
  const __mmask16 masks[2] = {first_lanes(out.rows_of_half(0)), first_lanes(out.rows_of_half(1))};
  for (std::size_t t = 0; t < out.n_tokens; ++t) {
    for (std::size_t v = 0; v < 2; ++v) {
      const __m512 start = accumulate ? _mm512_maskz_loadu_ps(masks[v], out.y + t * out.stride + kHalf * v)
                                      : _mm512_setzero_ps();
      _mm512_store_ps(sums_of_block + t * kBlockTokens + kHalf * v, start);
    }
  }
  const std::uint32_t* panel = slice.panel;
  const std::uint8_t* x_second = x + kHalf * x_stride;
  const std::size_t quads_per_step = slice.step_bytes / 4;
  const GroupParams* params = slice.params;
  for (std::size_t g = 0; g < slice.n_groups; ++g, ++params) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (std::size_t s = 0; s < slice.steps_per_group; ++s) {
      _tile_loadd(6, panel, kPanelRowBytes);
      _tile_loadd(7, panel + kHalf, kPanelRowBytes);
      _tile_loadd(4, x, x_stride);
      _tile_dpbusd(0, 4, 6);
      _tile_dpbusd(1, 4, 7);
      if constexpr (kBothHalves) {
        _tile_loadd(5, x_second, x_stride);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
      }
      panel += quads_per_step * kPanelRows;
      x += slice.step_bytes;
      x_second += slice.step_bytes;
    }
    constexpr std::size_t kDotsStride = kBlockTokens * sizeof(std::int32_t);
    _tile_stored(0, dots, kDotsStride);
    _tile_stored(1, dots + kHalf, kDotsStride);
    if constexpr (kBothHalves) {
      _tile_stored(2, dots + kHalf * kBlockTokens, kDotsStride);
      _tile_stored(3, dots + kHalf * kBlockTokens + kHalf, kDotsStride);
    }
    for (std::size_t v = 0; v < 2; ++v) {
      const __m512i start = _mm512_load_si512(params->start + kHalf * v);
      const __m512 scale = _mm512_load_ps(params->scale + kHalf * v);
      const __m512 bias = _mm512_load_ps(params->bias + kHalf * v);
      for (std::size_t t = 0; t < out.n_tokens; ++t) {
        float* sum_of_row = sums_of_block + t * kBlockTokens + kHalf * v;
        const __m512 dot = _mm512_cvtepi32_ps(
            _mm512_add_epi32(_mm512_load_si512(dots + t * kBlockTokens + kHalf * v), start));
        const __m512 step = _mm512_set1_ps(steps[t * group_stride + g]);
        const __m512 sum = _mm512_set1_ps(sums[t * group_stride + g]);
        _mm512_store_ps(sum_of_row, _mm512_fmadd_ps(dot, _mm512_mul_ps(scale, step),
                                                    _mm512_fmadd_ps(bias, sum, _mm512_load_ps(sum_of_row))));
      }
    }
  }
  for (std::size_t t = 0; t < out.n_tokens; ++t) {
    for (std::size_t v = 0; v < 2; ++v) {
      _mm512_mask_storeu_ps(out.y + t * out.stride + kHalf * v, masks[v],
                            _mm512_load_ps(sums_of_block + t * kBlockTokens + kHalf * v));
    }
  }
}

void rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                 const PrefillActivations& x, float* y) {
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t n_groups = w.cols / group;
  const std::size_t step_bytes = smaller(group, kStepBytes);
  const std::size_t n_quads = w.cols / 4;
  const std::size_t slice_groups = kSliceBytes / (kPanelRows * group) > 0 ? kSliceBytes / (kPanelRows * group) : 1;
  // Per panel of the pass: the groups' parameters, then the codes (whole cache lines, so that both
  // stay aligned).
  const std::size_t code_bytes = n_quads * kPanelRows * sizeof(std::uint32_t);
  const std::size_t panel_bytes = n_groups * sizeof(GroupParams) + code_bytes;
  auto* panels = static_cast<std::uint8_t*>(aligned_scratch(kPanel, kPanelsPerPass * panel_bytes));
  const auto params_of = [&](std::size_t p) { return reinterpret_cast<GroupParams*>(panels + p * panel_bytes); };
  const auto codes_of = [&](std::size_t p) { return reinterpret_cast<std::uint32_t*>(params_of(p) + n_groups); };
  auto* codes = reinterpret_cast<std::uint8_t*>(kernel_scratch(kRowCodes, w.cols / 4 + 1));
  alignas(64) float sums_of_block[kBlockTokens * kBlockTokens];
  alignas(64) std::int32_t dots[kBlockTokens * kBlockTokens];
  const TileScope tiles(step_bytes);
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += kPanelsPerPass * kPanelRows) {
    const PassRows pass(r0, row_end);
    for (std::size_t p = 0; p < pass.n_panels; ++p) {
      pack_affine_panel(w, pass.first_row(p), pass.rows_of_panel(p), codes_of(p), params_of(p), codes);
    }
    stores_before_tile_loads();
    for (std::size_t g0 = 0; g0 < n_groups; g0 += slice_groups) {
      const std::size_t groups = smaller(slice_groups, n_groups - g0);
      for (std::size_t t0 = 0; t0 < x.n_tokens; t0 += kBlockTokens) {
        const std::size_t n_tokens = smaller(kBlockTokens, x.n_tokens - t0);
        const std::uint8_t* block_x = x.values + t0 * x.stride + g0 * group;
        const float* steps = x.group_steps + t0 * n_groups + g0;
        const float* sums = x.group_sums + t0 * n_groups + g0;
        for (std::size_t p = 0; p < pass.n_panels; ++p) {
          const AffineSlice slice{codes_of(p) + g0 * (group / 4) * kPanelRows, params_of(p) + g0, groups,
                                  group / step_bytes, step_bytes};
          const BlockOutput out{y + t0 * w.rows + pass.first_row(p), w.rows, n_tokens, pass.rows_of_panel(p)};
          if (n_tokens > kHalf) {
            affine_block<true>(slice, block_x, x.stride, steps, sums, n_groups, g0 > 0, out, sums_of_block, dots);
          } else {
            affine_block<false>(slice, block_x, x.stride, steps, sums, n_groups, g0 > 0, out, sums_of_block, dots);
          }
        }
      }
    }
  }
}

std::size_t activation_bytes(const WeightMatrix& w, bool split_bf16) {
  if (w.quantized()) return w.cols;
  return bf16_steps(w.cols) * (split_bf16 ? bf16_step_bytes<true>() : bf16_step_bytes<false>());
}

}  // namespace

const PrefillKernels& prefill_kernels_amx() {
  static constexpr PrefillKernels kernels{
      kPanelRows,           kBlockTokens,
      &activation_bytes,    &prepare_bf16<true>,
      &rows_bf16<true>,     &prepare_bf16<false>,
      &rows_bf16<false>,    &prepare_affine,
      &rows_affine};
  return kernels;
}

}  // namespace shardlm
