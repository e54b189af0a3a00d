// The prefill kernels (prefill_kernels.h) against the scalar reference, matmul_reference on the
// weights widened by widen_weight_row, within the error that their narrow activations allow.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kernels/bf16_activations.h"
#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/matmul.h"
#include "runtime/kernels/prefill_kernels.h"
#include "runtime/quant/affine.h"
#include "runtime/tensor/dtype.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

// Every set of prefill kernels that this CPU runs (AVX-512 BF16 / VNNI, AMX), by name.
std::vector<std::pair<std::string, const PrefillKernels*>> prefill_kernel_sets() {
  std::vector<std::pair<std::string, const PrefillKernels*>> sets;
  for (const char* name : {"avx512bf16", "amx"}) {
    if (const DotKernels* set = dot_kernels_for(name); set != nullptr) sets.emplace_back(name, set->prefill);
  }
  return sets;
}

std::vector<float> random_activations(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = uniform(rng);
  return x;
}

// The activations buffer as matmul lays it out, the values filled by two calls that split the
// tokens, as two threads would.
class Prepared {
 public:
  Prepared(const PrefillKernels& kernels, PrepareFn prepare, const WeightMatrix& w,
           const std::vector<float>& x, std::size_t n_tokens) {
    const std::size_t n_groups = w.quantized() ? w.cols / w.quant.group_size : 0;
    a_.n_tokens = n_tokens;
    a_.cols = w.cols;
    // A stride past what the values need, so that a kernel reading the wrong bytes is caught.
    a_.stride = kernels.activation_bytes(w, prepare == kernels.prepare_bf16) + 64;
    const std::size_t buffer_tokens = (n_tokens + kernels.token_block - 1) / kernels.token_block * kernels.token_block;
    values_.assign(buffer_tokens * a_.stride, 0xee);
    steps_.assign(n_tokens * n_groups, NAN);
    sums_.assign(n_tokens * n_groups, NAN);
    a_.values = values_.data();
    a_.group_steps = steps_.data();
    a_.group_sums = sums_.data();
    prepare(w, x.data(), 0, n_tokens / 2, a_);
    prepare(w, x.data(), n_tokens / 2, n_tokens, a_);
  }
  const PrefillActivations& activations() const { return a_; }

 private:
  PrefillActivations a_;
  std::vector<std::uint8_t> values_;
  std::vector<float> steps_, sums_;
};

// Runs `rows` on rows [row_begin, row_end) and checks that it leaves the other rows alone.
std::vector<float> run_rows(PrefillRowsFn rows, const WeightMatrix& w, const Prepared& prepared,
                            std::size_t row_begin, std::size_t row_end) {
  const std::size_t n_tokens = prepared.activations().n_tokens;
  const float sentinel = -12345.0f;
  std::vector<float> y(n_tokens * w.rows, sentinel);
  rows(w, row_begin, row_end, prepared.activations(), y.data());
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = 0; r < w.rows; ++r) {
      if (r < row_begin || r >= row_end) {
        EXPECT_EQ(y[t * w.rows + r], sentinel) << "row " << r;
      }
    }
  }
  return y;
}

std::vector<float> widened(const WeightMatrix& w) {
  std::vector<float> dense(w.rows * w.cols);
  for (std::size_t r = 0; r < w.rows; ++r) widen_weight_row(w, r, dense.data() + r * w.cols);
  return dense;
}

// f32 accumulation of `cols` terms: well within sqrt(cols) * 1e-5 of the sum of their sizes.
double accumulation_error(std::size_t cols, double magnitude) {
  return 1e-5 * std::sqrt(static_cast<double>(cols)) * magnitude + 1e-30;
}

// ---------------------------------------------------------------------------------------------
// bf16 weights.

// Rows of random bf16 weights, `padding` NaN elements after each row and one before the first, so
// that a kernel reading outside the view is caught.
struct Bf16Weights {
  Bf16Weights(std::size_t rows, std::size_t cols, std::size_t padding, std::mt19937& rng)
      : bits(1 + rows * (cols + padding), 0x7fc0) {
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < cols; ++c) bits[1 + r * (cols + padding) + c] = f32_to_bf16(uniform(rng));
    }
    view = WeightMatrix{DType::BF16, bits.data() + 1, rows, cols, cols + padding};
  }
  std::vector<std::uint16_t> bits;
  WeightMatrix view;
};

// Runs one pair of bf16 prefill kernels on random shapes (odd column counts end in half a pair; 600
// columns are more than one slice of the panel; 300 rows more than one pass of the AMX kernels, 40
// tokens more than one block of them) and checks every result against the scalar reference
// in double: within activation_bits significant bits of the activations, each term moving by at most
// 2^-activation_bits of itself, on top of f32 accumulation. Returns the largest error seen as a
// fraction of that row's sum |w x|.
double check_bf16_prefill(const PrefillKernels& kernels, PrepareFn prepare, PrefillRowsFn rows_fn,
                          int activation_bits, std::mt19937& rng) {
  double largest = 0.0;
  std::size_t case_index = 0;
  for (const std::size_t cols : {1, 2, 3, 17, 64, 257, 600}) {
    for (const std::size_t rows : {1, 31, 32, 33, 70, 300}) {
      for (const std::size_t n_tokens : {1, 5, 12, 13, 29, 40}) {
        const Bf16Weights weights(rows, cols, case_index++ % 3, rng);
        const WeightMatrix& w = weights.view;
        const std::vector<float> x = random_activations(n_tokens * cols, rng);
        std::vector<float> expected(n_tokens * rows);
        matmul_reference(w, x.data(), n_tokens, expected.data());

        const Prepared prepared(kernels, prepare, w, x, n_tokens);
        const std::size_t row_begin = rows > 40 ? 3 : 0;
        const std::vector<float> y = run_rows(rows_fn, w, prepared, row_begin, rows);
        const std::vector<float> dense = widened(w);
        for (std::size_t t = 0; t < n_tokens; ++t) {
          for (std::size_t r = row_begin; r < rows; ++r) {
            double magnitude = 0.0;
            for (std::size_t c = 0; c < cols; ++c) {
              magnitude += std::fabs(static_cast<double>(dense[r * cols + c]) * x[t * cols + c]);
            }
            const double error = std::fabs(y[t * rows + r] - static_cast<double>(expected[t * rows + r]));
            EXPECT_LE(error, std::ldexp(magnitude, -activation_bits) + accumulation_error(cols, magnitude))
                << "rows=" << rows << " cols=" << cols << " tokens=" << n_tokens << ": token " << t
                << " row " << r;
            if (::testing::Test::HasFailure()) return largest;
            if (magnitude > 0.0) largest = std::max(largest, error / magnitude);
          }
        }
      }
    }
  }
  return largest;
}

// Splitting x into two bf16 numbers keeps 16 significant bits (the low part rounds a remainder of at
// most 2^-8 |x| to 8 bits), so the sum moves by at most 2^-16 * sum |w x| on top of f32 accumulation.
// Rounding x to bf16 only once would miss this bound by a factor of about 256, so the test also
// catches a kernel that drops the low parts.
TEST(PrefillBf16, MatchesTheReferenceWithin16BitsOfTheActivations) {
  if (prefill_kernel_sets().empty()) GTEST_SKIP() << "no AVX-512 BF16 / VNNI on this CPU";
  for (const auto& [name, kernels] : prefill_kernel_sets()) {
    SCOPED_TRACE(name);
    std::mt19937 rng(11);
    check_bf16_prefill(*kernels, kernels->prepare_bf16, kernels->rows_bf16, 16, rng);
  }
}

// Rounded once to bf16 (round to nearest even, 8 significant bits), each activation moves by at most
// half a unit in its last place, 2^-8 of itself. The kernels must really round: somewhere the error
// must pass what the split form allows (2^-16) by far, here 2^-11 of the row's sum |w x|.
TEST(PrefillBf16, RoundedActivationsStayWithin8Bits) {
  if (prefill_kernel_sets().empty()) GTEST_SKIP() << "no AVX-512 BF16 / VNNI on this CPU";
  for (const auto& [name, kernels] : prefill_kernel_sets()) {
    SCOPED_TRACE(name);
    std::mt19937 rng(12);
    const double largest =
        check_bf16_prefill(*kernels, kernels->prepare_bf16_rounded, kernels->rows_bf16_rounded, 8, rng);
    EXPECT_GT(largest, std::ldexp(1.0, -11));
  }
}

// matmul takes the rounded kernels for bf16 prefill while Bf16Activations::kRounded is set, and says
// so; decode and the other dtypes are unaffected.
TEST(PrefillBf16, TheFastSettingSwitchesMatmulToRoundedActivations) {
  if (active_dot_kernels().prefill == nullptr) {
    GTEST_SKIP() << "no AVX-512 BF16 / VNNI prefill kernels in the active set";
  }
  std::mt19937 rng(13);
  ThreadPool pool(2);
  const std::size_t rows = 70, cols = 300, n_tokens = 40;
  const Bf16Weights weights(rows, cols, 1, rng);
  const WeightMatrix& w = weights.view;
  const std::vector<float> x = random_activations(n_tokens * cols, rng);
  std::vector<float> split(n_tokens * rows), rounded(n_tokens * rows);
  ASSERT_EQ(bf16_activations(), Bf16Activations::kSplit);
  EXPECT_EQ(matmul_activation_rounding(w, n_tokens), ActivationRounding::kBf16Split);
  matmul(pool, w, x.data(), n_tokens, split.data());
  set_bf16_activations(Bf16Activations::kRounded);
  EXPECT_EQ(matmul_activation_rounding(w, n_tokens), ActivationRounding::kBf16);
  EXPECT_EQ(matmul_activation_rounding(w, 1), ActivationRounding::kBf16Split);
  const WeightMatrix f32{DType::F32, x.data(), 2, cols, cols};
  EXPECT_EQ(matmul_activation_rounding(f32, n_tokens), ActivationRounding::kExact);
  matmul(pool, w, x.data(), n_tokens, rounded.data());
  set_bf16_activations(Bf16Activations::kSplit);

  std::vector<float> expected(n_tokens * rows);
  matmul_reference(w, x.data(), n_tokens, expected.data());
  const std::vector<float> dense = widened(w);
  double largest_split = 0.0, largest_rounded = 0.0;
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = 0; r < rows; ++r) {
      double magnitude = 0.0;
      for (std::size_t c = 0; c < cols; ++c) magnitude += std::fabs(double{dense[r * cols + c]} * x[t * cols + c]);
      const std::size_t i = t * rows + r;
      const double allowance = accumulation_error(cols, magnitude);
      ASSERT_LE(std::fabs(rounded[i] - double{expected[i]}), std::ldexp(magnitude, -8) + allowance) << i;
      ASSERT_LE(std::fabs(split[i] - double{expected[i]}), std::ldexp(magnitude, -16) + allowance) << i;
      largest_split = std::max(largest_split, std::fabs(split[i] - double{expected[i]}) / magnitude);
      largest_rounded = std::max(largest_rounded, std::fabs(rounded[i] - double{expected[i]}) / magnitude);
    }
  }
  EXPECT_GT(largest_rounded, 16 * largest_split) << "the setting changed nothing";
}

// ---------------------------------------------------------------------------------------------
// Affine-quantized weights.

// A quantized matrix with random codes, scales and biases, stored wider than the view (a junk group
// of all-ones codes and NaN scales and biases after each row) and starting 2 bytes into its buffer.
class RandomQuantized {
 public:
  RandomQuantized(int bits, int group, DType dtype, std::size_t rows, std::size_t cols,
                  std::mt19937& rng)
      : bits_(bits), group_(group), rows_(rows), cols_(cols), codes_(rows * cols) {
    const std::size_t stored_cols = cols + group;
    const std::size_t row_words = packed_words(stored_cols, bits);
    const std::size_t stored_groups = stored_cols / group;
    storage_.assign(2 + rows * row_words * 4, 0);
    std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<std::uint8_t> row_codes(stored_cols, static_cast<std::uint8_t>((1 << bits) - 1));
    std::vector<std::uint32_t> words(row_words);
    const std::size_t param_size = dtype_size(dtype);
    params_.assign(2 * rows * stored_groups * param_size, 0xff);  // NaN in every dtype
    const auto store_param = [&](std::size_t index, float value) {
      std::uint8_t* p = params_.data() + index * param_size;
      if (dtype == DType::F32) {
        std::memcpy(p, &value, 4);
      } else {
        const std::uint16_t half = dtype == DType::BF16 ? f32_to_bf16(value) : f32_to_f16(value);
        std::memcpy(p, &half, 2);
      }
    };
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < cols; ++c) {
        codes_[r * cols + c] = static_cast<std::uint8_t>(code(rng));
        row_codes[c] = codes_[r * cols + c];
      }
      pack_codes(row_codes.data(), stored_cols, bits, words.data());
      std::memcpy(storage_.data() + 2 + r * row_words * 4, words.data(), row_words * 4);
      for (std::size_t g = 0; g < cols / group; ++g) {
        const float scale = 0.01f * (1.0f + uniform(rng));
        store_param(r * stored_groups + g, scale);
        store_param(rows * stored_groups + r * stored_groups + g, 0.02f * uniform(rng));
      }
    }
    view_.dtype = dtype;
    view_.data = storage_.data() + 2;
    view_.rows = rows;
    view_.cols = cols;
    view_.row_stride = row_words;
    view_.quant = AffineQuant{bits, group, params_.data(),
                              params_.data() + rows * stored_groups * param_size, stored_groups};
  }

  const WeightMatrix& view() const { return view_; }
  // |scale| * |q - 2^(bits-1)| of row r, column c: a weight measured from the middle of its group.
  double centred_size(std::size_t r, std::size_t c, const std::vector<float>& scales) const {
    return std::fabs(scales[r * (cols_ / group_) + c / group_]) *
           std::fabs(static_cast<double>(codes_[r * cols_ + c]) - (1 << (bits_ - 1)));
  }
  std::vector<float> widened_scales() const {
    std::vector<float> scales(rows_ * (cols_ / group_));
    const WeightMatrix scale_rows{view_.dtype, view_.quant.scales, rows_, cols_ / group_,
                                  view_.quant.group_stride};
    for (std::size_t r = 0; r < rows_; ++r) widen_weight_row(scale_rows, r, scales.data() + r * (cols_ / group_));
    return scales;
  }

 private:
  int bits_, group_;
  std::size_t rows_, cols_;
  std::vector<std::uint8_t> codes_;
  std::vector<std::uint8_t> storage_, params_;
  WeightMatrix view_;
};

// Each token's activations in each group are quantized to 8 bits with the step d = max |x| / 127,
// so each moves by at most d / 2, and only the part s * (q - 2^(bits-1)) of a weight multiplies the
// quantized activation (the rest, bias + s * 2^(bits-1), multiplies the exact sum of the group).
// The bound is therefore sum over the row of |s| |q - 2^(bits-1)| d / 2, plus f32 accumulation.
void expect_within_activation_steps(const RandomQuantized& m, const std::vector<float>& x,
                                    std::size_t n_tokens, const std::vector<float>& y,
                                    std::size_t row_begin, const std::string& what) {
  const WeightMatrix& w = m.view();
  const std::size_t rows = w.rows, cols = w.cols, g = w.quant.group_size;
  std::vector<float> expected(n_tokens * rows);
  matmul_reference(w, x.data(), n_tokens, expected.data());
  const std::vector<float> dense = widened(w);
  const std::vector<float> scales = m.widened_scales();
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = row_begin; r < rows; ++r) {
      double bound = 0.0, magnitude = 0.0;
      for (std::size_t first = 0; first < cols; first += g) {
        double max_abs = 0.0;
        for (std::size_t c = first; c < first + g; ++c) {
          max_abs = std::max(max_abs, std::fabs(static_cast<double>(x[t * cols + c])));
        }
        for (std::size_t c = first; c < first + g; ++c) {
          bound += m.centred_size(r, c, scales) * max_abs / 127.0 / 2.0;
          magnitude += std::fabs(static_cast<double>(dense[r * cols + c]) * x[t * cols + c]) +
                       m.centred_size(r, c, scales) * std::fabs(x[t * cols + c]);
        }
      }
      ASSERT_LE(std::fabs(y[t * rows + r] - static_cast<double>(expected[t * rows + r])),
                bound * (1.0 + 1e-5) + accumulation_error(cols, magnitude))
          << what << " " << w.quant.bits << "-bit g" << g << " " << dtype_name(w.dtype)
          << " rows=" << rows << " cols=" << cols << " tokens=" << n_tokens << ": token " << t
          << " row " << r;
    }
  }
}

void check_affine_prefill(const PrefillKernels& kernels) {
  std::mt19937 rng(5);
  const DType dtypes[] = {DType::F32, DType::F16, DType::BF16};
  std::size_t case_index = 0;
  for (const int bits : {2, 3, 4, 5, 6, 8}) {
    for (const int group : {32, 64, 128}) {
      const auto g = static_cast<std::size_t>(group);
      // 20 groups are more than one slice of the panel for every group size.
      for (const std::size_t cols : {g, 3 * g, 20 * g}) {
        const std::size_t rows = case_index % 4 == 3 ? 270 : (case_index % 2 == 0 ? 33 : 5);
        const std::size_t n_tokens = case_index % 3 == 0 ? 13 : (case_index % 3 == 1 ? 6 : 37);
        const RandomQuantized m(bits, group, dtypes[case_index % 3], rows, cols, rng);
        ++case_index;
        const WeightMatrix& w = m.view();
        std::vector<float> x = random_activations(n_tokens * cols, rng);
        // A group of zeros (step 0) and one of an outlier among small values.
        std::fill(x.begin(), x.begin() + group, 0.0f);
        if (x.size() > 2 * g) x[g + 3] = 50.0f;
        const Prepared prepared(kernels, kernels.prepare_affine, w, x, n_tokens);
        const std::vector<float> y = run_rows(kernels.rows_affine, w, prepared, 1, rows);
        expect_within_activation_steps(m, x, n_tokens, y, 1, "rows_affine");
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(PrefillAffine, MatchesTheReferenceWithinHalfAStepOfTheActivations) {
  if (prefill_kernel_sets().empty()) GTEST_SKIP() << "no AVX-512 BF16 / VNNI on this CPU";
  for (const auto& [name, kernels] : prefill_kernel_sets()) {
    SCOPED_TRACE(name);
    check_affine_prefill(*kernels);
    if (HasFatalFailure()) return;
  }
}

// Activations that are whole multiples of their group's step (max |x| / 127) quantize without
// error, so all that is left is f32 accumulation: the integer dot products, the offset that makes the
// codes signed and its correction through the bias must be exact.
void check_exact_on_the_grid(const std::string& name, const PrefillKernels& kernels, int bits, std::size_t n_tokens,
                             std::mt19937& rng) {
  const std::size_t rows = 40, cols = 256;
  const RandomQuantized m(bits, 64, DType::BF16, rows, cols, rng);
  std::vector<float> x(n_tokens * cols);
  std::uniform_int_distribution<int> step(-127, 127);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 64 == 0 ? 127.0f * 0.125f : step(rng) * 0.125f;
  std::vector<float> expected(n_tokens * rows);
  matmul_reference(m.view(), x.data(), n_tokens, expected.data());
  const Prepared prepared(kernels, kernels.prepare_affine, m.view(), x, n_tokens);
  const std::vector<float> y = run_rows(kernels.rows_affine, m.view(), prepared, 0, rows);
  const std::vector<float> dense = widened(m.view());
  const std::vector<float> scales = m.widened_scales();
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = 0; r < rows; ++r) {
      double magnitude = 0.0;
      for (std::size_t c = 0; c < cols; ++c) {
        magnitude += std::fabs(static_cast<double>(dense[r * cols + c]) * x[t * cols + c]) +
                     m.centred_size(r, c, scales) * std::fabs(x[t * cols + c]);
      }
      ASSERT_NEAR(y[t * rows + r], expected[t * rows + r], accumulation_error(cols, magnitude))
          << name << " " << bits << "-bit, " << n_tokens << " tokens: token " << t << " row " << r;
    }
  }
}

TEST(PrefillAffine, IsExactForActivationsOnTheQuantizationGrid) {
  if (prefill_kernel_sets().empty()) GTEST_SKIP() << "no AVX-512 BF16 / VNNI on this CPU";
  std::mt19937 rng(8);
  for (const auto& [name, kernels] : prefill_kernel_sets()) {
    for (const int bits : {4, 8}) {
      // 37 tokens: more than one block of the AMX kernels.
      for (const std::size_t n_tokens : {7, 37}) {
        check_exact_on_the_grid(name, *kernels, bits, n_tokens, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// matmul itself on quantized weights, for token counts on either side of where prefill starts and a
// pool whose threads share out row blocks unevenly; under a forced kernel set without prefill
// kernels, the same bound holds with room to spare.
TEST(PrefillMatmul, QuantizedWeightsOnThePool) {
  std::mt19937 rng(21);
  ThreadPool pool(3);
  for (const int bits : {4, 8}) {
    const RandomQuantized m(bits, 64, DType::BF16, 100, 640, rng);
    for (const std::size_t n_tokens : {9, 64, 65, 100}) {
      const std::vector<float> x = random_activations(n_tokens * 640, rng);
      std::vector<float> y(n_tokens * 100, std::numeric_limits<float>::quiet_NaN());
      matmul(pool, m.view(), x.data(), n_tokens, y.data());
      expect_within_activation_steps(m, x, n_tokens, y, 0, matmul_kernel_name());
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace shardlm
