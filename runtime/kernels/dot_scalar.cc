#include <cstddef>
#include <cstdint>

#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/kernel_scratch.h"

namespace shardlm {

namespace {

struct F32Weights {
  using Element = float;
  static float load(float value) { return value; }
};

struct F16Weights {
  using Element = std::uint16_t;
  static float load(std::uint16_t bits) { return f16_to_f32(bits); }
};

struct BF16Weights {
  using Element = std::uint16_t;
  static float load(std::uint16_t bits) { return bf16_to_f32(bits); }
};

template <typename Weights>
const typename Weights::Element* weight_row(const WeightMatrix& w, std::size_t r) {
  return static_cast<const typename Weights::Element*>(w.row(r));
}

// Four partial sums, like the SIMD sets' lanes, so that rounding behaves much the same and the
// compiler is free to overlap the additions.
template <typename Weights>
float dot(const typename Weights::Element* w, const float* x, std::size_t cols) {
  float partial[4] = {};
  std::size_t c = 0;
  for (; c + 4 <= cols; c += 4) {
    for (std::size_t lane = 0; lane < 4; ++lane) {
      partial[lane] += Weights::load(w[c + lane]) * x[c + lane];
    }
  }
  for (; c < cols; ++c) partial[c % 4] += Weights::load(w[c]) * x[c];
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

template <typename Weights>
void dot_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
              std::size_t n_tokens, float* y) {
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const typename Weights::Element* row = weight_row<Weights>(w, r);
    for (std::size_t t = 0; t < n_tokens; ++t) y[t * w.rows + r] = dot<Weights>(row, x + t * w.cols, w.cols);
  }
}

template <typename Weights>
void widen_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, float* out) {
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const typename Weights::Element* row = weight_row<Weights>(w, r);
    float* dst = out + (r - row_begin) * w.cols;
    for (std::size_t c = 0; c < w.cols; ++c) dst[c] = Weights::load(row[c]);
  }
}

// Quantized rows are dequantized one at a time (by the reference conversion) and then dotted like
// f32.
void dot_rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                     const float* x, std::size_t n_tokens, float* y) {
  float* row = kernel_scratch(0, w.cols);
  for (std::size_t r = row_begin; r < row_end; ++r) {
    widen_weight_row(w, r, row);
    for (std::size_t t = 0; t < n_tokens; ++t)
      y[t * w.rows + r] = dot<F32Weights>(row, x + t * w.cols, w.cols);
  }
}

void widen_rows_affine(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                       float* out) {
  for (std::size_t r = row_begin; r < row_end; ++r)
    widen_weight_row(w, r, out + (r - row_begin) * w.cols);
}

}  // namespace

const DotKernels& dot_kernels_scalar() {
  static constexpr DotKernels kernels{
      "scalar",
      &dot_rows<F32Weights>,
      &dot_rows<F16Weights>,
      &dot_rows<BF16Weights>,
      &widen_rows<F16Weights>,
      &widen_rows<BF16Weights>,
      &dot_rows_affine,
      nullptr,
      &widen_rows_affine,
      nullptr,
      nullptr,
      &attend_heads_scalar,
      &softmax_scalar,
  };
  return kernels;
}

}  // namespace shardlm
