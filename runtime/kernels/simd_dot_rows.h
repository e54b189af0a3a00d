#pragma once

// The loop structure that the SIMD kernel sets share; each set supplies its instructions through two
// policy types defined in an anonymous namespace of its own source file:
//
//   Isa:     Vec; kWidth, floats per Vec; kAccumulators, how many Vecs a block may accumulate into
//            without spilling; kMaxTokensPerBlock; zero(), load(const float*),
//            load_partial(const float*, n), store(float*, Vec), store_partial(float*, Vec, n),
//            fma(a, b, acc), sum(Vec)
//   Weights: Element (the stored type), load(const Element*), load_partial(const Element*, n),
//            both giving kWidth weights widened to f32; partial loads read n < kWidth elements and
//            zero the rest.
//
// Because the policies have internal linkage, so does every template instantiated from them here,
// and each kernel file keeps its own copy compiled with its own instruction set. For the same reason
// this header must hold templates only.

#include <cassert>
#include <cstddef>

#include "runtime/kernels/matmul.h"

namespace shardlm::simd_dot_rows {

// y[t * y_stride + r] = dot(row r of w, token t of x) for r < kRows, t < kTokens. The x vectors of a
// column step are loaded once and shared by all rows of the block; each row's weights are widened
// once and shared by all tokens.
template <typename Isa, typename Weights, int kRows, int kTokens>
void dot_block(const typename Weights::Element* w, std::size_t w_stride, std::size_t cols,
               const float* x, float* y, std::size_t y_stride) {
  using Vec = typename Isa::Vec;
  Vec acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) acc[r][t] = Isa::zero();
  }

  const auto step = [&](std::size_t c, auto load_x, auto load_w) {
    Vec xv[kTokens];
    for (int t = 0; t < kTokens; ++t) {
      Vec v = load_x(x + t * cols + c);
      // Left to itself GCC folds loads that several FMAs share into each of them, so the loop waits
      // on load ports rather than on FMAs; an empty asm keeps each shared vector in a register.
      if constexpr (kRows > 1) asm("" : "+v"(v));
      xv[t] = v;
    }
    for (int r = 0; r < kRows; ++r) {
      Vec wv = load_w(w + r * w_stride + c);
      if constexpr (kTokens > 1) asm("" : "+v"(wv));
      for (int t = 0; t < kTokens; ++t) acc[r][t] = Isa::fma(wv, xv[t], acc[r][t]);
    }
  };

  std::size_t c = 0;
  for (; c + Isa::kWidth <= cols; c += Isa::kWidth) {
    step(c, [](const float* p) { return Isa::load(p); },
         [](const typename Weights::Element* p) { return Weights::load(p); });
  }
  if (const std::size_t left = cols - c; left > 0) {
    step(c, [left](const float* p) { return Isa::load_partial(p, left); },
         [left](const typename Weights::Element* p) { return Weights::load_partial(p, left); });
  }

  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * y_stride + r] = Isa::sum(acc[r][t]);
  }
}

// dot_block for a run-time token count, 1 <= n_tokens <= kTokens. kTokens starts at the most tokens
// a block of kRows rows may take, so that no block that would spill its accumulators is instantiated.
template <typename Isa, typename Weights, int kRows,
          int kTokens = Isa::kMaxTokensPerBlock * kRows <= Isa::kAccumulators
                            ? Isa::kMaxTokensPerBlock
                            : Isa::kAccumulators / kRows>
void dot_block_for_tokens(std::size_t n_tokens, const typename Weights::Element* w,
                          std::size_t w_stride, std::size_t cols, const float* x, float* y,
                          std::size_t y_stride) {
  static_assert(kTokens >= 1);
  assert(n_tokens >= 1 && n_tokens <= static_cast<std::size_t>(kTokens));
  if constexpr (kTokens > 1) {
    if (n_tokens < static_cast<std::size_t>(kTokens)) {
      dot_block_for_tokens<Isa, Weights, kRows, kTokens - 1>(n_tokens, w, w_stride, cols, x, y,
                                                             y_stride);
      return;
    }
  }
  dot_block<Isa, Weights, kRows, kTokens>(w, w_stride, cols, x, y, y_stride);
}

// Rows [row_begin, row_end) in blocks of kRows, each block taking every token group in turn while its
// weights are still in cache.
template <typename Isa, typename Weights, int kRows>
void dot_row_blocks(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end,
                    const float* x, std::size_t n_tokens, std::size_t n_groups, float* y) {
  const auto* base = static_cast<const typename Weights::Element*>(w.data);
  const auto run_block = [&]<int kBlockRows>(std::size_t row) {
    for (std::size_t g = 0; g < n_groups; ++g) {
      const std::size_t begin = g * n_tokens / n_groups;
      const std::size_t end = (g + 1) * n_tokens / n_groups;
      dot_block_for_tokens<Isa, Weights, kBlockRows>(end - begin, base + row * w.row_stride,
                                                     w.row_stride, w.cols, x + begin * w.cols,
                                                     y + begin * w.rows + row, w.rows);
    }
  };
  std::size_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) run_block.template operator()<kRows>(r);
  for (; r < row_end; ++r) run_block.template operator()<1>(r);
}

// Tokens go in near-equal groups of at most kMaxTokensPerBlock. Blocks of 8 rows where the
// accumulators allow, since more weight rows streamed at once keep more memory reads in flight;
// blocks of 4 otherwise.
template <typename Isa, typename Weights>
void dot_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, const float* x,
              std::size_t n_tokens, float* y) {
  assert(row_begin <= row_end && row_end <= w.rows);
  if (n_tokens == 0) return;
  constexpr auto kMaxTokens = static_cast<std::size_t>(Isa::kMaxTokensPerBlock);
  const std::size_t n_groups = (n_tokens + kMaxTokens - 1) / kMaxTokens;
  const std::size_t largest_group = (n_tokens + n_groups - 1) / n_groups;
  if (largest_group * 8 <= static_cast<std::size_t>(Isa::kAccumulators)) {
    dot_row_blocks<Isa, Weights, 8>(w, row_begin, row_end, x, n_tokens, n_groups, y);
  } else {
    dot_row_blocks<Isa, Weights, 4>(w, row_begin, row_end, x, n_tokens, n_groups, y);
  }
}

template <typename Isa, typename Weights>
void widen_rows(const WeightMatrix& w, std::size_t row_begin, std::size_t row_end, float* out) {
  assert(row_begin <= row_end && row_end <= w.rows);
  const auto* base = static_cast<const typename Weights::Element*>(w.data);
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const typename Weights::Element* src = base + r * w.row_stride;
    float* dst = out + (r - row_begin) * w.cols;
    std::size_t c = 0;
    for (; c + Isa::kWidth <= w.cols; c += Isa::kWidth) Isa::store(dst + c, Weights::load(src + c));
    if (const std::size_t left = w.cols - c; left > 0) {
      Isa::store_partial(dst + c, Weights::load_partial(src + c, left), left);
    }
  }
}

}  // namespace shardlm::simd_dot_rows
