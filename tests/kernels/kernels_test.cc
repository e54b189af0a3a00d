#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/matmul.h"
#include "runtime/tensor/dtype.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float bits_float(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Scalar dtype conversions, against values worked out by hand.

TEST(Bf16Conversion, WidensByShifting) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(bf16_to_f32(0x3ec0), 0.375f);
  EXPECT_EQ(bf16_to_f32(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16_to_f32(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
  EXPECT_EQ(float_bits(bf16_to_f32(0x8000)), 0x80000000u);
  EXPECT_EQ(float_bits(bf16_to_f32(0x0001)), 0x00010000u);  // bf16 subnormals stay subnormal
}

TEST(Bf16Conversion, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f807fffu)), 0x3f80);  // just below half way: down
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f808000u)), 0x3f80);  // tie, 0x3f80 is even: down
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f808001u)), 0x3f81);  // just above half way: up
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f818000u)), 0x3f82);  // tie, 0x3f81 is odd: up
  EXPECT_EQ(f32_to_bf16(bits_float(0xbf818000u)), 0xbf82);  // the same with the sign set
  EXPECT_EQ(f32_to_bf16(bits_float(0x3fffffffu)), 0x4000);  // carry into the exponent
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
}

TEST(Bf16Conversion, KeepsNanANan) {
  // A NaN whose payload lies only in the low 16 bits would truncate to infinity.
  for (const std::uint32_t nan : {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu}) {
    const std::uint16_t bits = f32_to_bf16(bits_float(nan));
    EXPECT_EQ(bits & 0x7f80u, 0x7f80u) << std::hex << nan;
    EXPECT_NE(bits & 0x007fu, 0u) << std::hex << nan;
    EXPECT_EQ(bits & 0x8000u, (nan >> 16) & 0x8000u) << std::hex << nan;
  }
}

TEST(Bf16Conversion, EveryPatternRoundTrips) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = bf16_to_f32(static_cast<std::uint16_t>(bits));
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(value))));
    } else {
      ASSERT_EQ(f32_to_bf16(value), bits) << std::hex << bits;
    }
  }
}

TEST(F16Conversion, Widens) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);  // (1 + 341/1024) / 4
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0400), 6.103515625e-05f);         // smallest normal, 2^-14
  EXPECT_EQ(f16_to_f32(0x03ff), 1023.0f * 0x1p-24f);        // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);                  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x8001), -0x1p-24f);
  EXPECT_EQ(float_bits(f16_to_f32(0x8000)), 0x80000000u);
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));
}

TEST(F16Conversion, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);         // tie, 0x3c00 is even: down
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);     // tie, 0x3c01 is odd: up
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // just above half way: up
  EXPECT_EQ(f32_to_f16(-(1.0f + 3 * 0x1p-11f)), 0xbc02);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);  // below the tie with 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // tie, 0x7bff is odd: up to infinity
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
}

TEST(F16Conversion, RoundsSubnormals) {
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);               // tie between 0 and 1: to 0
  EXPECT_EQ(f32_to_f16(0x1p-25f + 0x1p-40f), 0x0001);    // just above that tie
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);           // tie between 1 and 2: to 2
  EXPECT_EQ(f32_to_f16(5 * 0x1p-25f), 0x0002);           // tie between 2 and 3: to 2
  EXPECT_EQ(f32_to_f16(0x1p-26f), 0x0000);
  EXPECT_EQ(f32_to_f16(-3 * 0x1p-25f), 0x8002);
  EXPECT_EQ(f32_to_f16(1023.5f * 0x1p-24f), 0x0400);     // tie above the largest subnormal: to normal
  EXPECT_EQ(f32_to_f16(1e-10f), 0x0000);
}

TEST(F16Conversion, KeepsNanANan) {
  for (const std::uint32_t nan : {0x7f800001u, 0xff800001u, 0x7fc00000u}) {
    const std::uint16_t bits = f32_to_f16(bits_float(nan));
    EXPECT_EQ(bits & 0x7c00u, 0x7c00u) << std::hex << nan;
    EXPECT_NE(bits & 0x03ffu, 0u) << std::hex << nan;
  }
}

TEST(F16Conversion, EveryPatternRoundTrips) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = f16_to_f32(static_cast<std::uint16_t>(bits));
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(value))));
    } else {
      ASSERT_EQ(f32_to_f16(value), bits) << std::hex << bits;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ThreadPool.

// Runs one parallel_for and checks that its chunks are contiguous, non-empty, at most one per
// thread, of near-equal size, and cover [0, n) exactly once.
void check_one_loop(ThreadPool& pool, std::size_t n) {
  std::vector<std::atomic<int>> hits(n);
  std::mutex mutex;
  std::vector<std::pair<std::size_t, std::size_t>> chunks;
  pool.parallel_for(n, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex);
    chunks.emplace_back(begin, end);
  });
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  EXPECT_LE(chunks.size(), pool.size());
  for (const auto& [begin, end] : chunks) {
    ASSERT_LT(begin, end);
    const std::size_t size = end - begin;
    EXPECT_GE(size, n / pool.size()) << "n=" << n;
    EXPECT_LE(size, n / pool.size() + 1) << "n=" << n;
  }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (const std::size_t threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.size(), threads);
    for (const std::size_t n : {0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 100, 1001, 65536}) {
      check_one_loop(pool, n);
    }
  }
}

TEST(ThreadPool, ZeroThreadsMeansOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
  check_one_loop(pool, 10);
}

TEST(ThreadPool, DefaultThreadCountIsPositive) { EXPECT_GE(default_thread_count(), 1u); }

TEST(ThreadPool, ManyCallsInARow) {
  ThreadPool pool(3);
  std::atomic<std::size_t> total{0};
  std::size_t expected = 0;
  for (std::size_t call = 0; call < 20000; ++call) {
    const std::size_t n = call % 11;
    pool.parallel_for(n, [&](std::size_t begin, std::size_t end) {
      std::size_t sum = 0;
      for (std::size_t i = begin; i < end; ++i) sum += i + 1;
      total.fetch_add(sum, std::memory_order_relaxed);
    });
    expected += n * (n + 1) / 2;
  }
  EXPECT_EQ(total.load(), expected);
}

TEST(ThreadPool, WorkersSeeWritesMadeBeforeTheLoopAndTheCallerSeesTheirs) {
  ThreadPool pool(2);
  std::vector<std::size_t> data(1000);
  for (std::size_t round = 0; round < 200; ++round) {
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = round;
    pool.parallel_for(data.size(), [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) data[i] = data[i] * 2 + i;
    });
    for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], round * 2 + i);
  }
}

TEST(ThreadPool, WorkersThatFellAsleepWakeUp) {
  ThreadPool pool(2);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    check_one_loop(pool, 100);
  }
}

// ---------------------------------------------------------------------------------------------
// Dot kernels and matmul.

const char* const kKernelSetNames[] = {"scalar", "avx2", "avx512", "avx512bf16", "amx"};
const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

// A weight matrix stored in a bigger buffer: row_stride - cols padding elements after each row and
// `offset` elements before the first, all NaN, so that a kernel reading outside the view is caught.
class TestWeights {
 public:
  TestWeights(DType dtype, std::size_t rows, std::size_t cols, std::size_t row_stride,
              std::size_t offset, std::mt19937& rng)
      : dtype_(dtype), rows_(rows), cols_(cols), row_stride_(row_stride), offset_(offset) {
    const std::size_t size = offset + rows * row_stride;
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    if (dtype == DType::F32) {
      f32_.assign(size, std::numeric_limits<float>::quiet_NaN());
    } else {
      bits_.assign(size, dtype == DType::F16 ? 0x7e00 : 0x7fc0);
    }
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < cols; ++c) {
        const std::size_t i = offset + r * row_stride + c;
        const float value = uniform(rng);
        switch (dtype) {
          case DType::F32: f32_[i] = value; break;
          case DType::F16: bits_[i] = f32_to_f16(value); break;
          case DType::BF16: bits_[i] = f32_to_bf16(value); break;
        }
      }
    }
  }

  WeightMatrix view() const {
    const void* data = dtype_ == DType::F32 ? static_cast<const void*>(f32_.data() + offset_)
                                            : static_cast<const void*>(bits_.data() + offset_);
    return WeightMatrix{dtype_, data, rows_, cols_, row_stride_};
  }

 private:
  DType dtype_;
  std::size_t rows_, cols_, row_stride_, offset_;
  std::vector<float> f32_;
  std::vector<std::uint16_t> bits_;
};

std::vector<float> random_activations(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = uniform(rng);
  return x;
}

float widened_weight(const WeightMatrix& w, std::size_t r, std::size_t c) {
  const void* row = w.row(r);
  switch (w.dtype) {
    case DType::F32: return static_cast<const float*>(row)[c];
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(row)[c]);
    case DType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(row)[c]);
  }
  return NAN;
}

// Checks y against matmul_reference for rows [row_begin, row_end), allowing f32 accumulation error
// in proportion to sqrt(cols) * sum |w x|, and what rounding the activations as the kernel says it
// does adds (activation_rounding.h: for dense weights a fraction of each term).
void expect_close_to_reference(const WeightMatrix& w, const float* x, std::size_t n_tokens,
                               const float* y, std::size_t row_begin, std::size_t row_end,
                               const std::string& what, ActivationRounding rounding) {
  double per_term = 0.0;
  switch (rounding) {
    case ActivationRounding::kExact: break;
    case ActivationRounding::kBf16Split: per_term = std::ldexp(1.0, -16); break;
    case ActivationRounding::kBf16: per_term = std::ldexp(1.0, -8); break;
    case ActivationRounding::kInt16Groups:
    case ActivationRounding::kInt8Groups: FAIL() << what << ": dense weights with quantized activations";
  }
  std::vector<float> expected(n_tokens * w.rows);
  matmul_reference(w, x, n_tokens, expected.data());
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::size_t r = row_begin; r < row_end; ++r) {
      double magnitude = 0.0;
      for (std::size_t c = 0; c < w.cols; ++c) {
        magnitude += std::fabs(static_cast<double>(widened_weight(w, r, c)) * x[t * w.cols + c]);
      }
      const double tolerance = (1e-5 * std::sqrt(static_cast<double>(w.cols)) + per_term) * magnitude + 1e-30;
      const float got = y[t * w.rows + r];
      const float want = expected[t * w.rows + r];
      ASSERT_LE(std::fabs(static_cast<double>(got) - want), tolerance)
          << what << " token " << t << " row " << r << ": got " << got << ", want " << want;
    }
  }
}

std::string describe(std::string_view set, DType dtype, std::size_t rows, std::size_t cols,
                     std::size_t n_tokens, std::size_t row_stride, std::size_t offset) {
  return std::string(set) + " " + std::string(dtype_name(dtype)) + " rows=" + std::to_string(rows) +
         " cols=" + std::to_string(cols) + " tokens=" + std::to_string(n_tokens) +
         " stride=" + std::to_string(row_stride) + " offset=" + std::to_string(offset);
}

TEST(CpuFeatures, KernelSetsFollowTheFeatures) {
  const CpuFeatures& cpu = cpu_features();
  EXPECT_NE(dot_kernels_for("scalar"), nullptr);
  EXPECT_EQ(dot_kernels_for("avx2") != nullptr, cpu.avx2 && cpu.fma && cpu.f16c);
  EXPECT_EQ(dot_kernels_for("avx512") != nullptr,
            cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.fma && cpu.f16c);
  EXPECT_EQ(dot_kernels_for("avx512bf16") != nullptr,
            dot_kernels_for("avx512") != nullptr && cpu.avx512bf16 && cpu.avx512vnni);
  EXPECT_EQ(dot_kernels_for("amx") != nullptr, dot_kernels_for("avx512bf16") != nullptr && cpu.amx_usable);
  EXPECT_EQ(cpu.amx_usable, cpu.amx_tile && cpu.amx_bf16 && cpu.amx_int8 && cpu.amx_usable);
  EXPECT_EQ(dot_kernels_for("sse"), nullptr);
  // AVX-512 implies the rest on every CPU that has it.
  if (cpu.avx512f) {
    EXPECT_TRUE(cpu.avx2 && cpu.fma && cpu.f16c);
  }
}

TEST(DotKernelSelection, PicksTheBestSetUnlessForced) {
  const DotKernels& best = select_dot_kernels(nullptr);
  const DotKernels* expected = dot_kernels_for("amx");
  if (expected == nullptr) expected = dot_kernels_for("avx512bf16");
  if (expected == nullptr) expected = dot_kernels_for("avx512");
  if (expected == nullptr) expected = dot_kernels_for("avx2");
  if (expected == nullptr) expected = dot_kernels_for("scalar");
  EXPECT_EQ(&best, expected);
  EXPECT_EQ(&select_dot_kernels(""), expected);
  EXPECT_STREQ(select_dot_kernels("scalar").name, "scalar");
  for (const char* name : kKernelSetNames) {
    if (dot_kernels_for(name) != nullptr) {
      EXPECT_STREQ(select_dot_kernels(name).name, name);
    } else {
      EXPECT_THROW(select_dot_kernels(name), std::runtime_error);
    }
  }
  EXPECT_THROW(select_dot_kernels("avx1024"), std::runtime_error);
  EXPECT_STREQ(matmul_kernel_name(), active_dot_kernels().name);
}

TEST(DotKernels, MatchTheReferenceOnEveryShape) {
  std::mt19937 rng(1234);
  std::size_t view_kind = 0;
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    EXPECT_STREQ(kernels->name, set_name);
    for (const DType dtype : kDTypes) {
      for (const std::size_t cols : {1, 3, 17, 31, 64, 100, 257, 1000}) {
        for (const std::size_t rows : {1, 5, 64, 130}) {
          for (const std::size_t n_tokens : {1, 2, 3, 8, 9, 40}) {
            // Cycle through dense matrices and views with padded rows or a misaligned start.
            const std::size_t padding_choices[] = {0, 5, 16};
            const std::size_t padding = padding_choices[view_kind % 3];
            const std::size_t offset = view_kind % 4;
            ++view_kind;
            const TestWeights weights(dtype, rows, cols, cols + padding, offset, rng);
            const WeightMatrix w = weights.view();
            const std::vector<float> x = random_activations(n_tokens * cols, rng);
            const std::string what =
                describe(set_name, dtype, rows, cols, n_tokens, w.row_stride, offset);

            std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
            kernels->dot_rows(dtype)(w, 0, rows, x.data(), n_tokens, y.data());
            expect_close_to_reference(w, x.data(), n_tokens, y.data(), 0, rows, what, kernels->rounding(w));
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(DotKernels, WriteOnlyTheirRows) {
  std::mt19937 rng(99);
  const float sentinel = -12345.0f;
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    for (const DType dtype : kDTypes) {
      const std::size_t rows = 37, cols = 45, n_tokens = 3, begin = 3, end = 30;
      const TestWeights weights(dtype, rows, cols, cols, 0, rng);
      const WeightMatrix w = weights.view();
      const std::vector<float> x = random_activations(n_tokens * cols, rng);
      std::vector<float> y(n_tokens * rows, sentinel);
      kernels->dot_rows(dtype)(w, begin, end, x.data(), n_tokens, y.data());
      for (std::size_t t = 0; t < n_tokens; ++t) {
        for (std::size_t r = 0; r < rows; ++r) {
          if (r < begin || r >= end) {
            ASSERT_EQ(y[t * rows + r], sentinel) << set_name << " token " << t << " row " << r;
          }
        }
      }
      expect_close_to_reference(w, x.data(), n_tokens, y.data(), begin, end,
                                std::string(set_name) + " " + std::string(dtype_name(dtype)), kernels->rounding(w));
    }
  }
}

TEST(DotKernels, WidenEvery16BitPatternLikeTheScalarConversions) {
  for (const char* set_name : kKernelSetNames) {
    const DotKernels* kernels = dot_kernels_for(set_name);
    if (kernels == nullptr) continue;
    EXPECT_EQ(kernels->widen_rows(DType::F32), nullptr);
    for (const DType dtype : {DType::F16, DType::BF16}) {
      // 65536 patterns as 256 rows of 256, viewed from column 3 with 253 columns so that every row
      // has a tail; the first three patterns of each row are checked through a second view.
      std::vector<std::uint16_t> bits(65536);
      for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::uint16_t>(i);
      for (const std::size_t first_col : {std::size_t{0}, std::size_t{3}}) {
        const std::size_t cols = first_col == 0 ? 3 : 253;
        const WeightMatrix w{dtype, bits.data() + first_col, 256, cols, 256};
        std::vector<float> out(256 * cols);
        kernels->widen_rows(dtype)(w, 0, 256, out.data());
        for (std::size_t r = 0; r < 256; ++r) {
          for (std::size_t c = 0; c < cols; ++c) {
            const std::uint16_t pattern = bits[r * 256 + first_col + c];
            const float want = dtype == DType::F16 ? f16_to_f32(pattern) : bf16_to_f32(pattern);
            const float got = out[r * cols + c];
            if (std::isnan(want)) {
              ASSERT_TRUE(std::isnan(got)) << set_name << " " << dtype_name(dtype) << std::hex
                                           << " pattern " << pattern;
            } else {
              ASSERT_EQ(float_bits(got), float_bits(want))
                  << set_name << " " << dtype_name(dtype) << std::hex << " pattern " << pattern;
            }
          }
        }
      }
    }
  }
}

TEST(Matmul, MatchesTheReferenceForDecodeAndPrefill) {
  std::mt19937 rng(42);
  std::size_t case_index = 0;
  for (const std::size_t threads : {1, 3}) {
    ThreadPool pool(threads);
    for (const DType dtype : kDTypes) {
      // Small shapes run on the calling thread; 130 x 1000 and up are split over the pool.
      const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1}, {5, 17}, {130, 1000}, {333, 257}};
      for (const auto& [rows, cols] : shapes) {
        // Up to 32 tokens take the dot kernels, more the prefill kernels or sgemm.
        for (const std::size_t n_tokens : {1, 2, 8, 9, 32, 33, 40}) {
          // Every other case is a view with padded rows and a misaligned start.
          const std::size_t padding = case_index++ % 2 == 0 ? 0 : 7;
          const TestWeights weights(dtype, rows, cols, cols + padding, padding, rng);
          const WeightMatrix w = weights.view();
          const std::vector<float> x = random_activations(n_tokens * cols, rng);
          std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
          matmul(pool, w, x.data(), n_tokens, y.data());
          expect_close_to_reference(
              w, x.data(), n_tokens, y.data(), 0, rows,
              "threads=" + std::to_string(threads) + " " +
                  describe(matmul_kernel_name(), dtype, rows, cols, n_tokens, w.row_stride, padding),
              matmul_activation_rounding(w, n_tokens));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(Matmul, PrefillWidensLargeMatricesInSeveralBlocks) {
  // 2100 x 1030 f32 is more than the 8 MiB that prefill widens at a time.
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const std::size_t rows = 2100, cols = 1030, n_tokens = 33;
    const TestWeights weights(dtype, rows, cols, cols + 2, 1, rng);
    const WeightMatrix w = weights.view();
    const std::vector<float> x = random_activations(n_tokens * cols, rng);
    std::vector<float> y(n_tokens * rows, std::numeric_limits<float>::quiet_NaN());
    matmul(pool, w, x.data(), n_tokens, y.data());
    expect_close_to_reference(w, x.data(), n_tokens, y.data(), 0, rows,
                              std::string(dtype_name(dtype)), matmul_activation_rounding(w, n_tokens));
  }
}

TEST(Matmul, ZeroColumnsGiveZeros) {
  ThreadPool pool(2);
  const float unused = 0.0f;
  for (const std::size_t n_tokens : {1, 20}) {
    const WeightMatrix w{DType::BF16, &unused, 4, 0, 0};
    std::vector<float> y(n_tokens * 4, 1.0f);
    matmul(pool, w, nullptr, n_tokens, y.data());
    for (const float v : y) EXPECT_EQ(v, 0.0f);
  }
}

}  // namespace
}  // namespace shardlm
