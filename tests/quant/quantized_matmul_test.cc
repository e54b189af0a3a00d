// Quantized WeightMatrix views and the kernels that read them, against matmul_reference on the
// dequantized f32 matrix.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "quantized_matrix.h"
#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/decode_threads.h"
#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/matmul.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

using quant_test::QuantizedLayout;
using quant_test::QuantizedMatrix;
using quant_test::random_activations;

const char* const kKernelSetNames[] = {"scalar", "avx2", "avx512", "avx512bf16", "amx"};
const int kBits[] = {2, 3, 4, 5, 6, 8};
const int kGroupSizes[] = {32, 64, 128};
const DType kScaleDTypes[] = {DType::F32, DType::F16, DType::BF16};

std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Checks y[t][r] for t < n_tokens and rows [row_begin, row_end) against `expected` (the reference
// on the dequantized matrix, for at least n_tokens tokens), allowing f32 accumulation error in
// proportion to sqrt(cols) times the size of the terms summed, plus what rounding the activations
// as the kernel says it does may add (activation_rounding.h).
void expect_close(const QuantizedMatrix& m, const float* x, std::size_t n_tokens, const float* y,
                  const std::vector<float>& expected, std::size_t row_begin, std::size_t row_end,
                  const std::string& what, ActivationRounding rounding) {
  const WeightMatrix w = m.view();
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = row_begin; r < row_end; ++r) {
      const float* token = x + t * w.cols;
      const double tolerance = 1e-5 * std::sqrt(static_cast<double>(w.cols)) * m.magnitude(r, token) +
                               m.rounding_bound(r, token, rounding) + 1e-30;
      const float got = y[t * w.rows + r];
      const float want = expected[t * w.rows + r];
      ASSERT_LE(std::fabs(static_cast<double>(got) - want), tolerance)
          << what << " tokens=" << n_tokens << ": token " << t << " row " << r << ": got " << got
          << ", want " << want;
    }
  }
}

std::vector<float> reference(const QuantizedMatrix& m, const std::vector<float>& x,
                             std::size_t n_tokens) {
  std::vector<float> y(n_tokens * m.view().rows);
  matmul_reference(m.dequantized_matrix(), x.data(), n_tokens, y.data());
  return y;
}

// ---------------------------------------------------------------------------------------------
// WeightMatrix of a quantized matrix.

TEST(QuantizedWeightMatrix, ViewsDequantizeLikeTheirRows) {
  std::mt19937 rng(1);
  for (const DType dtype : kScaleDTypes) {
    const QuantizedMatrix m({3, 64}, dtype, 5, 192, QuantizedLayout{2, 1, 2}, rng);
    const WeightMatrix w = m.view();
    ASSERT_TRUE(w.quantized());
    EXPECT_NO_THROW(check_weight_matrix(w));
    EXPECT_EQ(w.cols, 192u);
    EXPECT_EQ(w.row_stride, (6u * 64u) * 3u / 32u);  // the whole row's words, junk groups included
    EXPECT_EQ(w.quant.group_stride, 6u);
    EXPECT_EQ(weight_bytes(w), 5 * (192 * 3 / 8 + 2 * 3 * dtype_size(dtype)));
    std::vector<float> row(w.cols);
    for (std::size_t r = 0; r < w.rows; ++r) {
      widen_weight_row(w, r, row.data());
      for (std::size_t c = 0; c < w.cols; ++c) {
        ASSERT_EQ(float_bits(row[c]), float_bits(m.dequantized()[r * w.cols + c])) << r << " " << c;
      }
    }
    // A block of the view: rows 1..3, its second and third groups.
    const WeightMatrix block = weight_block(w, 1, 3, 64, 128);
    for (std::size_t r = 0; r < 3; ++r) {
      widen_weight_row(block, r, row.data());
      for (std::size_t c = 0; c < 128; ++c) {
        ASSERT_EQ(float_bits(row[c]), float_bits(m.dequantized()[(r + 1) * w.cols + 64 + c]))
            << r << " " << c;
      }
    }
  }
}

TEST(QuantizedWeightMatrix, BlocksMustKeepGroupsWhole) {
  std::mt19937 rng(2);
  const QuantizedMatrix m({4, 32}, DType::BF16, 4, 128, QuantizedLayout{}, rng);
  const WeightMatrix w = m.view();
  EXPECT_NO_THROW(weight_block(w, 0, 4, 32, 96));
  EXPECT_NO_THROW(weight_block(w, 4, 0, 128, 0));
  for (const auto& [col_begin, n_cols] :
       {std::pair<std::size_t, std::size_t>{16, 32}, {32, 48}, {8, 0}}) {
    try {
      weight_block(w, 0, 4, col_begin, n_cols);
      ADD_FAILURE() << col_begin << " +" << n_cols;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("do not start and end on its groups of 32"),
                std::string::npos)
          << error.what();
    }
  }
  EXPECT_THROW(weight_block(w, 3, 2, 0, 32), std::invalid_argument);
  EXPECT_THROW(weight_block(w, 0, 1, 96, 64), std::invalid_argument);
}

TEST(QuantizedWeightMatrix, CheckNamesTheProblem) {
  std::mt19937 rng(3);
  const QuantizedMatrix m({4, 64}, DType::F16, 3, 128, QuantizedLayout{}, rng);
  const auto expect_problem = [](WeightMatrix w, const std::string& words) {
    try {
      check_weight_matrix(w);
      ADD_FAILURE() << "accepted; expected " << words;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(words), std::string::npos) << error.what();
    }
  };
  WeightMatrix w = m.view();
  w.quant.bits = 7;
  expect_problem(w, "unsupported quantization bits 7");
  w = m.view();
  w.quant.group_size = 96;
  expect_problem(w, "unsupported quantization group size 96");
  w = m.view();
  w.cols = 96;
  expect_problem(w, "in-features 96 is not a multiple");
  w = m.view();
  w.row_stride = 15;
  expect_problem(w, "row stride 15 words is shorter than a row of 16");
  w = m.view();
  w.quant.group_stride = 1;
  expect_problem(w, "group stride 1 is shorter than a row of 2 groups");
  w = m.view();
  w.quant.biases = nullptr;
  expect_problem(w, "no scales or biases");
}

TEST(QuantizedWeightMatrix, DenseMatricesAreAsBefore) {
  const float values[] = {1, 2, 3, 4, 5, 6};
  WeightMatrix w;
  w.dtype = DType::F32;
  w.data = values;
  w.rows = 2;
  w.cols = 3;
  w.row_stride = 3;
  EXPECT_FALSE(w.quantized());
  EXPECT_EQ(w.row(1), values + 3);
  EXPECT_EQ(weight_bytes(w), 24u);
  const WeightMatrix block = weight_block(w, 1, 1, 1, 2);
  EXPECT_EQ(block.data, values + 4);
  EXPECT_EQ(block.row_stride, 3u);
  float row[2];
  widen_weight_row(block, 0, row);
  EXPECT_EQ(row[0], 5.0f);
  EXPECT_EQ(row[1], 6.0f);
}

// ---------------------------------------------------------------------------------------------
// The kernels of every set this CPU runs.

// The layouts the kernel tests cycle through: a dense matrix, a view with junk groups on both
// sides, and one whose words are not 4-byte aligned.
QuantizedLayout layout_for(std::size_t index) {
  switch (index % 3) {
    case 0: return {};
    case 1: return {1, 2, 0};
    default: return {2, 0, 2};
  }
}

TEST(QuantizedKernels, DotRowsMatchTheReference) {
  std::mt19937 rng(1234);
  std::size_t case_index = 0;
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    for (const int bits : kBits) {
      for (const int group : kGroupSizes) {
        const auto g = static_cast<std::size_t>(group);
        // Odd row counts leave tails after the blocks of 8, 4 and 2 rows and after the 8 lanes of a
        // thread's rows (1 and 8 rows each here); every token count from 1 to 40 runs through each of
        // the token blocks. Rows of 67 groups hold more groups than the decode kernels scale at a
        // time (64).
        const std::size_t wide = 67 * g;
        const std::pair<std::size_t, std::size_t> shapes[] = {{1, g}, {13, 3 * g}, {67, 5 * g}, {9, wide}};
        for (const auto& [rows, cols] : shapes) {
          const DType dtype = kScaleDTypes[case_index % 3];
          const QuantizedMatrix m({bits, group}, dtype, rows, cols, layout_for(case_index), rng);
          ++case_index;
          const WeightMatrix w = m.view();
          const std::size_t max_tokens = 40;
          const std::vector<float> x = random_activations(max_tokens * cols, rng);
          const std::vector<float> expected = reference(m, x, max_tokens);
          const std::string what = std::string(set_name) + " " + m.describe();
          for (std::size_t n_tokens = 1; n_tokens <= max_tokens; ++n_tokens) {
            // The biggest shape takes every seventh count only, to keep the test quick.
            if (rows == 67 && n_tokens % 7 != 1 && n_tokens != max_tokens) continue;
            if (cols == wide && n_tokens != 1 && n_tokens != 2 && n_tokens != 5 && n_tokens != 9) continue;
            for (const bool in_lanes : {false, true}) {
              if (in_lanes && kernels->dot_rows_affine_in_lanes == nullptr) continue;
              std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
              kernels->dot_rows(w, in_lanes)(w, 0, rows, x.data(), n_tokens, y.data());
              expect_close(m, x.data(), n_tokens, y.data(), expected, 0, rows,
                           what + (in_lanes ? " in lanes" : ""), kernels->rounding(w));
              if (HasFatalFailure()) return;
            }
          }
        }
      }
    }
  }
}

TEST(QuantizedKernels, DotRowsWriteOnlyTheirRows) {
  std::mt19937 rng(99);
  const float sentinel = -12345.0f;
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    for (const int bits : kBits) {
      // 27 rows: 8 lanes of 3 rows and 3 more.
      const std::size_t rows = 37, cols = 128, begin = 3, end = 30;
      const QuantizedMatrix m({bits, 64}, DType::BF16, rows, cols, QuantizedLayout{1, 1, 0}, rng);
      const WeightMatrix w = m.view();
      for (const std::size_t n_tokens : {std::size_t{1}, std::size_t{3}}) {
        for (const bool in_lanes : {false, true}) {
          const std::string what = std::string(set_name) + " " + m.describe() + " tokens=" +
                                   std::to_string(n_tokens) + (in_lanes ? " in lanes" : "");
          const std::vector<float> x = random_activations(n_tokens * cols, rng);
          std::vector<float> y(n_tokens * rows, sentinel);
          kernels->dot_rows(w, in_lanes)(w, begin, end, x.data(), n_tokens, y.data());
          for (std::size_t t = 0; t < n_tokens; ++t) {
            for (std::size_t r = 0; r < rows; ++r) {
              if (r < begin || r >= end) {
                ASSERT_EQ(y[t * rows + r], sentinel) << what << " token " << t << " row " << r;
              }
            }
          }
          expect_close(m, x.data(), n_tokens, y.data(), reference(m, x, n_tokens), begin, end, what,
                       kernels->rounding(w));
        }
      }
    }
  }
}

TEST(QuantizedKernels, WidenRowsDequantizeExactly) {
  std::mt19937 rng(77);
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    std::size_t case_index = 0;
    for (const int bits : kBits) {
      for (const int group : kGroupSizes) {
        for (const DType dtype : kScaleDTypes) {
          const std::size_t rows = 9, cols = 3 * static_cast<std::size_t>(group);
          const QuantizedMatrix m({bits, group}, dtype, rows, cols, layout_for(case_index++), rng);
          const WeightMatrix w = m.view();
          ASSERT_NE(kernels->widen_rows(w), nullptr);
          // Rows 2..8 only, written from the start of out.
          std::vector<float> out((rows - 2) * cols, std::numeric_limits<float>::quiet_NaN());
          kernels->widen_rows(w)(w, 2, rows, out.data());
          for (std::size_t i = 0; i < out.size(); ++i) {
            ASSERT_EQ(float_bits(out[i]), float_bits(m.dequantized()[2 * cols + i]))
                << set_name << " " << m.describe() << " element " << i;
          }
        }
      }
    }
  }
}

// `size` bytes that end where an inaccessible page begins, as a tensor at the end of a mapped model
// file does: reading a byte past them crashes.
class GuardedBytes {
 public:
  explicit GuardedBytes(std::size_t size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t used = (size + page - 1) / page * page;
    mapping_size_ = used + page;
    mapping_ =
        mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    mprotect(static_cast<char*>(mapping_) + used, page, PROT_NONE);
    data_ = static_cast<char*>(mapping_) + used - size;
  }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  ~GuardedBytes() { munmap(mapping_, mapping_size_); }

  char* data() const { return data_; }

 private:
  void* mapping_;
  std::size_t mapping_size_;
  char* data_;
};

TEST(QuantizedKernels, ReadNothingPastTheEndOfTheMatrix) {
  std::mt19937 rng(5);
  for (const int bits : kBits) {
    for (const DType dtype : {DType::F32, DType::BF16}) {
      const std::size_t rows = 11, cols = 96;
      const QuantizedMatrix m({bits, 32}, dtype, rows, cols, QuantizedLayout{}, rng);
      const WeightMatrix source = m.view();
      const std::size_t code_bytes = rows * source.row_stride * sizeof(std::uint32_t);
      const std::size_t param_bytes = rows * source.quant.group_stride * dtype_size(dtype);
      const GuardedBytes codes(code_bytes), scales(param_bytes), biases(param_bytes);
      std::memcpy(codes.data(), source.data, code_bytes);
      std::memcpy(scales.data(), source.quant.scales, param_bytes);
      std::memcpy(biases.data(), source.quant.biases, param_bytes);
      WeightMatrix w = source;
      w.data = codes.data();
      w.quant.scales = scales.data();
      w.quant.biases = biases.data();

      const std::vector<float> x = random_activations(5 * cols, rng);
      const std::vector<float> expected = reference(m, x, 5);
      for (const char* set_name : kKernelSetNames) {
        const DotKernels* kernels = dot_kernels_for(set_name);
        if (kernels == nullptr) continue;
        for (const std::size_t n_tokens : {1, 5}) {
          for (const bool in_lanes : {false, true}) {
            std::vector<float> y(n_tokens * rows);
            kernels->dot_rows(w, in_lanes)(w, 0, rows, x.data(), n_tokens, y.data());
            expect_close(m, x.data(), n_tokens, y.data(), expected, 0, rows,
                         std::string(set_name) + " " + m.describe() + (in_lanes ? " in lanes" : ""),
                         kernels->rounding(w));
          }
        }
        std::vector<float> out(rows * cols);
        kernels->widen_rows(w)(w, 0, rows, out.data());
        EXPECT_EQ(out, m.dequantized()) << set_name << " " << m.describe();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// matmul, with whichever set is active, for decode (dot kernels) and prefill (the VNNI prefill
// kernels, or dequantize and sgemm).

TEST(QuantizedMatmul, MatchesTheReferenceForDecodeAndPrefill) {
  std::mt19937 rng(42);
  std::size_t case_index = 0;
  for (const std::size_t threads : {1, 3}) {
    ThreadPool pool(threads);
    for (const int bits : kBits) {
      for (const int group : kGroupSizes) {
        // 130 x 512 and up are split over the pool.
        const auto g = static_cast<std::size_t>(group);
        const std::pair<std::size_t, std::size_t> shapes[] = {{5, g}, {130, 4 * g}};
        for (const auto& [rows, cols] : shapes) {
          const QuantizedMatrix m({bits, group}, kScaleDTypes[case_index % 3], rows, cols,
                                  layout_for(case_index), rng);
          ++case_index;
          const WeightMatrix w = m.view();
          const std::vector<float> x = random_activations(70 * cols, rng);
          const std::vector<float> expected = reference(m, x, 70);
          // Up to 32 or 64 tokens take the dot kernels, more the prefill kernels or sgemm.
          for (const std::size_t n_tokens : {1, 2, 3, 4, 5, 8, 9, 31, 32, 33, 40, 64, 65, 70}) {
            std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
            matmul(pool, w, x.data(), n_tokens, y.data());
            expect_close(m, x.data(), n_tokens, y.data(), expected, 0, rows,
                         std::string(matmul_kernel_name()) + " threads=" + std::to_string(threads) +
                             " " + m.describe(),
                         matmul_activation_rounding(w, n_tokens));
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(QuantizedMatmul, ReadsRowsInLanesOnlyWhereFewThreadsDecode) {
  set_decode_threads_on_host(0);
  EXPECT_EQ(decode_threads_on_host(3), 3u);
  set_decode_threads_on_host(12);
  EXPECT_EQ(decode_threads_on_host(3), 12u);

  std::mt19937 rng(8);
  const bool amd = cpu_features().vendor == CpuVendor::kAmd;
  for (const int bits : kBits) {
    const QuantizedMatrix m({bits, 64}, DType::BF16, 300, 256, QuantizedLayout{}, rng);
    const WeightMatrix w = m.view();
    EXPECT_FALSE(decode_in_row_lanes(w, 5)) << bits;
    EXPECT_EQ(decode_in_row_lanes(w, 2), bits == 4 || amd) << bits;
    EXPECT_FALSE(decode_in_row_lanes(m.dequantized_matrix(), 1));

    // The order in which the threads read their rows changes nothing in the result.
    ThreadPool pool(2);
    const std::vector<float> x = random_activations(w.cols, rng);
    std::vector<float> many(w.rows), few(w.rows);
    set_decode_threads_on_host(16);
    matmul(pool, w, x.data(), 1, many.data());
    set_decode_threads_on_host(2);
    matmul(pool, w, x.data(), 1, few.data());
    EXPECT_EQ(many, few) << bits;
  }
  set_decode_threads_on_host(0);
}

TEST(QuantizedMatmul, PrefillDequantizesLargeMatricesInSeveralBlocks) {
  // 2100 x 1024 f32 is more than the 8 MiB that prefill dequantizes at a time.
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (const int bits : {3, 4, 8}) {
    const std::size_t rows = 2100, cols = 1024, n_tokens = 65;
    const QuantizedMatrix m({bits, 64}, DType::BF16, rows, cols, QuantizedLayout{1, 0, 2}, rng);
    const std::vector<float> x = random_activations(n_tokens * cols, rng);
    std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
    matmul(pool, m.view(), x.data(), n_tokens, y.data());
    expect_close(m, x.data(), n_tokens, y.data(), reference(m, x, n_tokens), 0, rows, m.describe(),
                 matmul_activation_rounding(m.view(), n_tokens));
  }
}

// The bounds above come from what the kernels say they do to the activations; this pins what they
// say, so that a kernel cannot pass by claiming a coarser rounding than it needs. Only the
// avx512bf16 and amx sets round: to 16 bits for decode of 8-bit codes and of 4-bit codes in groups of
// 64 or more, to 8 bits for prefill of 8- and 4-bit codes.
TEST(QuantizedMatmul, DeclaresHowItRoundsTheActivations) {
  std::mt19937 rng(10);
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    const bool rounds = std::string(set_name) == "avx512bf16" || std::string(set_name) == "amx";
    for (const int bits : kBits) {
      for (const int group : kGroupSizes) {
        const QuantizedMatrix m({bits, group}, DType::BF16, 2, 128, QuantizedLayout{}, rng);
        const bool int16 = rounds && (bits == 8 || (bits == 4 && group >= 64));
        EXPECT_EQ(kernels->rounding(m.view()),
                  int16 ? ActivationRounding::kInt16Groups : ActivationRounding::kExact)
            << set_name << " " << m.describe();
        if (kernels != &active_dot_kernels()) continue;
        EXPECT_EQ(matmul_activation_rounding(m.view(), 32), kernels->rounding(m.view())) << m.describe();
        const bool int8 = rounds && (bits == 8 || bits == 4);
        EXPECT_EQ(matmul_activation_rounding(m.view(), 65),
                  int8 ? ActivationRounding::kInt8Groups : ActivationRounding::kExact)
            << m.describe();
      }
    }
  }
}

TEST(QuantizedMatmul, RejectsUnsupportedLayouts) {
  std::mt19937 rng(9);
  ThreadPool pool(1);
  const QuantizedMatrix m({4, 32}, DType::BF16, 2, 64, QuantizedLayout{}, rng);
  const std::vector<float> x(64, 1.0f);
  std::vector<float> y(2);
  WeightMatrix w = m.view();
  w.quant.bits = 7;
  EXPECT_THROW(matmul(pool, w, x.data(), 1, y.data()), std::invalid_argument);
  w = m.view();
  w.quant.group_size = 16;
  EXPECT_THROW(matmul(pool, w, x.data(), 1, y.data()), std::invalid_argument);
  w = m.view();
  w.cols = 48;
  EXPECT_THROW(matmul(pool, w, x.data(), 1, y.data()), std::invalid_argument);
}

TEST(QuantizedMatmul, ReferenceReadsQuantizedMatricesLikeTheirDequantization) {
  std::mt19937 rng(8);
  for (const int bits : kBits) {
    const QuantizedMatrix m({bits, 32}, DType::F16, 7, 96, QuantizedLayout{1, 1, 2}, rng);
    const std::vector<float> x = random_activations(3 * 96, rng);
    std::vector<float> direct(3 * 7), dequantized(3 * 7);
    matmul_reference(m.view(), x.data(), 3, direct.data());
    matmul_reference(m.dequantized_matrix(), x.data(), 3, dequantized.data());
    for (std::size_t i = 0; i < direct.size(); ++i) {
      EXPECT_EQ(float_bits(direct[i]), float_bits(dequantized[i])) << i;
    }
  }
}

}  // namespace
}  // namespace shardlm
