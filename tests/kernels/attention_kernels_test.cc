#include "runtime/kernels/attention_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "runtime/kernels/dot_kernels.h"

namespace shardlm {
namespace {

// Softmax-weighted values in double, written from the definition.
std::vector<double> reference(const std::vector<float>& queries, std::size_t n_heads, const float* keys,
                              const float* values, std::size_t stride, std::size_t n_keys, std::size_t head_dim,
                              double scale) {
  std::vector<double> out(n_heads * head_dim, 0.0);
  for (std::size_t h = 0; h < n_heads; ++h) {
    std::vector<double> scores(n_keys);
    double largest = -INFINITY;
    for (std::size_t j = 0; j < n_keys; ++j) {
      double dot = 0.0;
      for (std::size_t d = 0; d < head_dim; ++d) dot += double{queries[h * head_dim + d]} * keys[j * stride + d];
      scores[j] = scale * dot;
      largest = std::max(largest, scores[j]);
    }
    double total = 0.0;
    for (double& s : scores) total += (s = std::exp(s - largest));
    for (std::size_t j = 0; j < n_keys; ++j) {
      for (std::size_t d = 0; d < head_dim; ++d) out[h * head_dim + d] += scores[j] / total * values[j * stride + d];
    }
  }
  return out;
}

struct Shape {
  std::size_t n_heads, n_keys, head_dim, stride;
};

// Every set this CPU runs against the definition: head sizes with and without tails of 16, groups of
// heads past the SIMD kernel's blocks of 4 and 16, one key and many, rows padded apart. The padding and
// everything past the last row are NaN, so a kernel that reads outside its rows fails.
TEST(AttentionKernelsTest, AttendHeadsMatchesTheDefinition) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const char* name : {"scalar", "avx2", "avx512", "avx512bf16", "amx"}) {
    const DotKernels* kernels = dot_kernels_for(name);
    if (kernels == nullptr) continue;
    for (const Shape s : {Shape{1, 1, 64, 64}, Shape{4, 512, 64, 512}, Shape{3, 17, 8, 24}, Shape{6, 40, 40, 48},
                          Shape{5, 33, 80, 80}, Shape{2, 9, 128, 256}, Shape{17, 70, 16, 16}, Shape{8, 300, 96, 96}}) {
      std::vector<float> queries(s.n_heads * s.head_dim), keys(s.n_keys * s.stride + 16, nan),
          values(s.n_keys * s.stride + 16, nan);
      for (auto& q : queries) q = 2.0f * normal(rng);
      for (std::size_t j = 0; j < s.n_keys; ++j) {
        for (std::size_t d = 0; d < s.head_dim; ++d) {
          keys[j * s.stride + d] = normal(rng);
          values[j * s.stride + d] = normal(rng);
        }
      }
      const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
      std::vector<float> scores(s.n_heads * s.n_keys), out(s.n_heads * s.head_dim, nan);
      kernels->attend_heads(queries.data(), s.n_heads, keys.data(), values.data(), s.stride, s.n_keys, s.head_dim,
                            scale, scores.data(), out.data());
      const auto expected =
          reference(queries, s.n_heads, keys.data(), values.data(), s.stride, s.n_keys, s.head_dim, scale);
      for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], expected[i], 2e-5) << name << ": " << s.n_heads << " heads, " << s.n_keys << " keys, "
                                               << s.head_dim << " dims, element " << i;
      }
    }
  }
}

// Scores far apart: exponents that underflow to zero must leave the largest score's weight alone.
TEST(AttentionKernelsTest, AttendHeadsKeepsExtremeScoresFinite) {
  for (const char* name : {"scalar", "avx2", "avx512", "avx512bf16", "amx"}) {
    const DotKernels* kernels = dot_kernels_for(name);
    if (kernels == nullptr) continue;
    const std::size_t head_dim = 16, n_keys = 20;
    std::vector<float> query(head_dim, 0.0f), keys(n_keys * head_dim, 0.0f), values(n_keys * head_dim);
    query[0] = 1.0f;
    for (std::size_t j = 0; j < n_keys; ++j) {
      keys[j * head_dim] = j == 7 ? 100.0f : -1000.0f * static_cast<float>(j);
      for (std::size_t d = 0; d < head_dim; ++d) values[j * head_dim + d] = static_cast<float>(j);
    }
    std::vector<float> scores(n_keys), out(head_dim);
    kernels->attend_heads(query.data(), 1, keys.data(), values.data(), head_dim, n_keys, head_dim, 1.0f,
                          scores.data(), out.data());
    for (const float o : out) EXPECT_FLOAT_EQ(o, 7.0f) << name;
  }
}

// Every set's softmax against the definition in double: lengths around the vector width, a wide
// spread of values, and masked-out (-inf) entries, which must come out 0. The float subtraction of the
// largest value alone costs up to |x - largest| * 2^-24 relative, a few millionths here.
TEST(AttentionKernelsTest, SoftmaxMatchesTheDefinition) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 8.0f);
  for (const char* name : {"scalar", "avx2", "avx512", "avx512bf16", "amx"}) {
    const DotKernels* kernels = dot_kernels_for(name);
    if (kernels == nullptr) continue;
    for (const std::size_t n : {1, 15, 16, 17, 333, 4096}) {
      // Odd lengths lie far below zero, where e^x underflows unless the largest value comes off first.
      const float shift = n % 2 == 1 ? -300.0f : 0.0f;
      std::vector<float> values(n);
      for (auto& v : values) v = shift + normal(rng);
      if (n > 2) values[n / 2] = values[1] = -INFINITY;
      double largest = -INFINITY, total = 0.0;
      for (const float v : values) largest = std::max(largest, double{v});
      for (const float v : values) total += std::exp(v - largest);
      std::vector<float> out = values;
      kernels->softmax(out.data(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const double expected = std::exp(values[i] - largest) / total;
        ASSERT_NEAR(out[i], expected, 2e-5 * expected + 1e-30) << name << ", " << n << " values, element " << i;
      }
    }
  }
}

// The SIMD softmax's exponential, within 2 ulp of e^x over its whole domain, down to 0 where e^x is
// below the smallest float.
TEST(AttentionKernelsTest, SimdExponentialIsWithinTwoUlp) {
  if (dot_kernels_for("avx512") == nullptr) GTEST_SKIP() << "no AVX-512 here";
  std::vector<float> x;
  for (float v = 0.0f; v > -110.0f; v -= 0.001953125f) x.push_back(v);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-90.0f, 0.0f);
  for (int i = 0; i < 100000; ++i) x.push_back(uniform(rng));
  x.push_back(-0.0f);
  std::vector<float> out(x.size());
  exp_nonpositive_avx512(x.data(), x.size(), out.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double exact = std::exp(static_cast<double>(x[i]));
    if (exact < std::numeric_limits<float>::min()) {
      ASSERT_LE(std::abs(out[i] - exact), 2.0 * std::numeric_limits<float>::denorm_min() + exact * 1e-6) << x[i];
    } else {
      ASSERT_LE(std::abs(out[i] - exact), 2.0 * std::numeric_limits<float>::epsilon() / 2 * exact) << x[i];
    }
  }
}

}  // namespace
}  // namespace shardlm
