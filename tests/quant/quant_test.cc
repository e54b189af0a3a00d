// The MLX affine format (runtime/quant/affine.h): validation, the packed bit stream against words
// worked out by hand, MLX's rule for a group's scale and bias on groups worked out by hand, and the
// error bounds that rule gives.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/quant/affine.h"

namespace shardlm {
namespace {

// Runs `call`, which must throw std::invalid_argument whose message contains `words`.
void expect_invalid(const std::function<void()>& call, const std::string& words) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one about \"" << words << "\"";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(words), std::string::npos) << error.what();
  }
}

// ---------------------------------------------------------------------------------------------
// QuantSpec.

TEST(QuantSpec, AcceptsWhatMlxSupports) {
  for (const int bits : {2, 3, 4, 5, 6, 8}) {
    for (const int group : {32, 64, 128}) {
      EXPECT_NO_THROW(validate_quant_spec({bits, group}));
      EXPECT_NO_THROW(validate_quant_row_length({bits, group}, 0));
      EXPECT_NO_THROW(validate_quant_row_length({bits, group}, 3 * group));
    }
  }
  EXPECT_EQ(QuantSpec{}.bits, 4);  // MLX's defaults
  EXPECT_EQ(QuantSpec{}.group_size, 64);
}

TEST(QuantSpec, RejectsEverythingElseSayingWhy) {
  for (const int bits : {-4, 0, 1, 7, 9, 16, 32}) {
    expect_invalid(
        [&] { validate_quant_spec({bits, 64}); },
        "unsupported quantization bits " + std::to_string(bits));
  }
  for (const int group : {-64, 0, 1, 16, 48, 96, 256}) {
    expect_invalid(
        [&] { validate_quant_spec({4, group}); },
        "unsupported quantization group size " + std::to_string(group));
  }
  expect_invalid(
      [] { validate_quant_row_length({4, 64}, 96); },
      "in-features 96 is not a multiple of the quantization group size 64");
  expect_invalid([] { validate_quant_row_length({3, 128}, 64); }, "not a multiple");
}

// ---------------------------------------------------------------------------------------------
// The packed bit stream: code i occupies bits [i * bits, (i + 1) * bits) of the row's stream,
// stream bit k being bit k % 32 of word k / 32. Each case packs the codes 0 .. 2^bits - 1 in order,
// repeated until they fill whole words; the words were worked out by hand as ORs of shifted codes.

struct PackingCase {
  int bits;
  std::vector<std::uint8_t> codes;
  std::vector<std::uint32_t> words;
};

std::vector<std::uint8_t> counting(int bits, int repeats) {
  std::vector<std::uint8_t> codes;
  for (int r = 0; r < repeats; ++r) {
    for (int c = 0; c < (1 << bits); ++c) codes.push_back(static_cast<std::uint8_t>(c));
  }
  return codes;
}

std::vector<PackingCase> packing_cases() {
  std::vector<PackingCase> cases;
  // 2 bits, 0 1 2 3 four times: each byte is 0 | 1 << 2 | 2 << 4 | 3 << 6 = 0xe4.
  cases.push_back({2, counting(2, 4), {0xe4e4e4e4}});
  // 3 bits, 0..7 four times (96 bits). 0..7 fill 24 bits: 1<<3 | 2<<6 | 3<<9 | 4<<12 | 5<<15 |
  // 6<<18 | 7<<21 = 0x8 + 0x80 + 0x600 + 0x4000 + 0x28000 + 0x180000 + 0xe00000 = 0xfac688, bytes
  // 88 c6 fa (MLX's "8 codes in 3 bytes"). Four of them, bytes 88 c6 fa 88 | c6 fa 88 c6 | fa 88 c6
  // fa, read as little-endian words:
  cases.push_back({3, counting(3, 4), {0x88fac688, 0xc688fac6, 0xfac688fa}});
  // 4 bits, 0..15: nibble i of the first word is i, of the second i + 8.
  cases.push_back({4, counting(4, 1), {0x76543210, 0xfedcba98}});
  // 5 bits, 0..31 (160 bits):
  //   word 0 = 0 | 1<<5 | 2<<10 | 3<<15 | 4<<20 | 5<<25 | (6 & 3)<<30
  //          = 0x20 + 0x800 + 0x18000 + 0x400000 + 0xa000000 + 0x80000000 = 0x8a418820
  //   word 1 = 6>>2 | 7<<3 | 8<<8 | 9<<13 | 10<<18 | 11<<23 | (12 & 0xf)<<28
  //          = 0x1 + 0x38 + 0x800 + 0x12000 + 0x280000 + 0x5800000 + 0xc0000000 = 0xc5a92839
  //   word 2 = 12>>4 | 13<<1 | 14<<6 | 15<<11 | 16<<16 | 17<<21 | 18<<26 | (19 & 1)<<31
  //          = 0x0 + 0x1a + 0x380 + 0x7800 + 0x100000 + 0x2200000 + 0x48000000
  //            + 0x80000000 = 0xca307b9a
  //   word 3 = 19>>1 | 20<<4 | 21<<9 | 22<<14 | 23<<19 | 24<<24 | (25 & 7)<<29
  //          = 0x9 + 0x140 + 0x2a00 + 0x58000 + 0xb80000 + 0x18000000 + 0x20000000 = 0x38bdab49
  //   word 4 = 25>>3 | 26<<2 | 27<<7 | 28<<12 | 29<<17 | 30<<22 | 31<<27
  //          = 0x3 + 0x68 + 0xd80 + 0x1c000 + 0x3a0000 + 0x7800000 + 0xf8000000 = 0xffbbcdeb
  cases.push_back(
      {5, counting(5, 1), {0x8a418820, 0xc5a92839, 0xca307b9a, 0x38bdab49, 0xffbbcdeb}});
  // 6 bits, 0..63 (384 bits); 16 codes fill 3 words, so the pattern of shifts repeats every 3
  // words:
  //   word 0 = 0 | 1<<6 | 2<<12 | 3<<18 | 4<<24 | (5 & 3)<<30
  //          = 0x40 + 0x2000 + 0xc0000 + 0x4000000 + 0x40000000 = 0x440c2040
  //   word 1 = 5>>2 | 6<<4 | 7<<10 | 8<<16 | 9<<22 | (10 & 0xf)<<28
  //          = 0x1 + 0x60 + 0x1c00 + 0x80000 + 0x2400000 + 0xa0000000 = 0xa2481c61
  //   word 2 = 10>>4 | 11<<2 | 12<<8 | 13<<14 | 14<<20 | 15<<26
  //          = 0x0 + 0x2c + 0xc00 + 0x34000 + 0xe00000 + 0x3c000000 = 0x3ce34c2c
  //   and so on with codes 16.., 32.., 48..; the last word is
  //   word 11 = 58>>4 | 59<<2 | 60<<8 | 61<<14 | 62<<20 | 63<<26
  //           = 0x3 + 0xec + 0x3c00 + 0xf4000 + 0x3e00000 + 0xfc000000 = 0xffef7cef
  cases.push_back({6,
                   counting(6, 1),
                   {0x440c2040, 0xa2481c61, 0x3ce34c2c, 0x544d2450, 0xa6585d65, 0x7de75c6d,
                    0x648e2860, 0xaa689e69, 0xbeeb6cae, 0x74cf2c70, 0xae78df6d, 0xffef7cef}});
  // 8 bits, 0..255: byte j of word k is 4k + j, so word k = 0x03020100 + k * 0x04040404.
  std::vector<std::uint32_t> bytes_words;
  for (std::uint32_t k = 0; k < 64; ++k) bytes_words.push_back(0x03020100u + k * 0x04040404u);
  cases.push_back({8, counting(8, 1), bytes_words});
  return cases;
}

TEST(PackedCodes, MatchWordsWorkedOutByHand) {
  for (const PackingCase& c : packing_cases()) {
    ASSERT_EQ(packed_words(c.codes.size(), c.bits), c.words.size()) << c.bits << " bits";
    std::vector<std::uint32_t> words(c.words.size(), 0xdeadbeef);
    pack_codes(c.codes.data(), c.codes.size(), c.bits, words.data());
    for (std::size_t k = 0; k < words.size(); ++k) {
      EXPECT_EQ(words[k], c.words[k]) << c.bits << " bits, word " << k << std::hex << ": got 0x"
                                      << words[k] << ", want 0x" << c.words[k];
    }
    std::vector<std::uint8_t> codes(c.codes.size(), 0xee);
    unpack_codes(c.words.data(), c.codes.size(), c.bits, codes.data());
    EXPECT_EQ(codes, c.codes) << c.bits << " bits";
    for (std::size_t i = 0; i < c.codes.size(); ++i) {
      ASSERT_EQ(packed_code(c.words.data(), i, c.bits), c.codes[i])
          << c.bits << " bits, code " << i;
    }
  }
  // Spot checks of the 8-bit words against the rule above.
  EXPECT_EQ(packing_cases().back().words[1], 0x07060504u);
  EXPECT_EQ(packing_cases().back().words[63], 0xfffefdfcu);
}

// MLX's CPU dequantizer (extract_bits in mlx/backend/cpu/quantized.cpp) reads 3-, 5- and 6-bit
// codes byte by byte with these masks; the same bytes, taken from our words in little-endian order,
// must give the same codes.
std::vector<std::uint32_t> mlx_byte_codes(int bits, const std::uint8_t* b) {
  if (bits == 3) {
    return {b[0] & 0x7u,         (b[0] & 0x38u) >> 3, ((b[0] & 0xc0u) >> 6) + ((b[1] & 0x1u) << 2),
            (b[1] & 0xeu) >> 1,  (b[1] & 0x70u) >> 4, ((b[1] & 0x80u) >> 7) + ((b[2] & 0x3u) << 1),
            (b[2] & 0x1cu) >> 2, (b[2] & 0xe0u) >> 5};
  }
  if (bits == 5) {
    return {b[0] & 0x1fu,
            ((b[0] & 0xe0u) >> 5) + ((b[1] & 0x3u) << 3),
            (b[1] & 0x7cu) >> 2,
            ((b[1] & 0x80u) >> 7) + ((b[2] & 0xfu) << 1),
            ((b[2] & 0xf0u) >> 4) + ((b[3] & 0x1u) << 4),
            (b[3] & 0x3eu) >> 1,
            ((b[3] & 0xc0u) >> 6) + ((b[4] & 0x7u) << 2),
            (b[4] & 0xf8u) >> 3};
  }
  return {b[0] & 0x3fu, ((b[0] >> 6) & 0x3u) + ((b[1] & 0xfu) << 2),
          ((b[1] >> 4) & 0xfu) + ((b[2] & 0x3u) << 4), (b[2] >> 2) & 0x3fu};
}

TEST(PackedCodes, ReadLikeMlxReadsItsBytes) {
  std::mt19937 rng(5);
  for (const int bits : {3, 5, 6}) {
    const std::size_t codes_per_pack = bits == 6 ? 4 : 8;
    const std::size_t bytes_per_pack = bits == 5 ? 5 : 3;
    std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
    std::vector<std::uint8_t> codes(128);
    for (auto& c : codes) c = static_cast<std::uint8_t>(code(rng));
    std::vector<std::uint32_t> words(packed_words(codes.size(), bits));
    pack_codes(codes.data(), codes.size(), bits, words.data());
    std::vector<std::uint8_t> bytes(words.size() * 4);
    for (std::size_t k = 0; k < words.size(); ++k) {
      for (std::size_t j = 0; j < 4; ++j) {
        bytes[4 * k + j] = static_cast<std::uint8_t>(words[k] >> (8 * j));
      }
    }
    for (std::size_t pack = 0; pack < codes.size() / codes_per_pack; ++pack) {
      const auto read = mlx_byte_codes(bits, &bytes[pack * bytes_per_pack]);
      for (std::size_t i = 0; i < codes_per_pack; ++i) {
        ASSERT_EQ(read[i], codes[pack * codes_per_pack + i])
            << bits << " bits, code " << pack * codes_per_pack + i;
      }
    }
  }
}

TEST(PackedCodes, PartialWordsAndUnalignedStreams) {
  // 5 codes of 3 bits: 15 bits, one word, the rest zero.
  const std::uint8_t codes[] = {7, 0, 5, 1, 6};
  std::uint32_t word = 0xffffffff;
  pack_codes(codes, 5, 3, &word);
  EXPECT_EQ(word, 7u | 0u << 3 | 5u << 6 | 1u << 9 | 6u << 12);
  // packed_code reads from any address: a stream starting at an odd byte.
  unsigned char buffer[16] = {};
  std::memcpy(buffer + 1, &word, sizeof word);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(packed_code(buffer + 1, i, 3), codes[i]);
}

TEST(PackedCodes, RejectCodesThatDoNotFit) {
  const std::uint8_t codes[] = {1, 4};
  std::uint32_t word = 0;
  expect_invalid([&] { pack_codes(codes, 2, 2, &word); }, "code 4 at 1 does not fit in 2 bits");
}

// ---------------------------------------------------------------------------------------------
// MLX's rule for a group's scale and bias (affine.h), on groups of 32 worked out by hand. Each
// group repeats `values`; at 4 bits n_bins = 15.

struct Quantized {
  float scale;
  float bias;
  std::vector<std::uint32_t> codes;  // of `values`
  std::vector<float> dequantized;    // of `values`
};

Quantized quantize_group(const std::vector<float>& values, int bits) {
  std::vector<float> w(32);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = values[i % values.size()];
  std::vector<std::uint32_t> packed(packed_words(w.size(), bits));
  Quantized q{};
  quantize_row(w.data(), w.size(), {bits, 32}, packed.data(), &q.scale, &q.bias);
  std::vector<float> out(w.size());
  dequantize_row(packed.data(), &q.scale, &q.bias, w.size(), {bits, 32}, out.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    q.codes.push_back(packed_code(packed.data(), i, bits));
    q.dequantized.push_back(out[i]);
  }
  return q;
}

TEST(MlxRule, GroupSpanningZeroWithTheMinimumAsEdge) {
  // min -1, max 0.875: |min| > |max|, so the edge is -1 and the scale positive:
  //   scale = 1.875 / 15 = 0.125, q0 = rint(-1 / 0.125) = -8, scale = -1 / -8 = 0.125, bias = -1.
  // Codes (w + 1) / 0.125; zero is code 8 = -q0, and every value here is exact.
  const Quantized q = quantize_group({-1.0f, -0.5f, 0.0f, 0.875f}, 4);
  EXPECT_EQ(q.scale, 0.125f);
  EXPECT_EQ(q.bias, -1.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0, 4, 8, 15}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.875f}));
}

TEST(MlxRule, PositiveGroupHasTheMaximumAsEdgeAndANegativeScale) {
  // min 0.125, max 2: the edge is 2, the scale negative:
  //   scale = -(1.875 / 15) = -0.125, q0 = rint(2 / -0.125) = -16, scale = 2 / -16 = -0.125, bias
  //   = 2.
  // Codes (w - 2) / -0.125: 2 is code 0, 0.125 code 15.
  const Quantized q = quantize_group({0.125f, 1.0f, 2.0f}, 4);
  EXPECT_EQ(q.scale, -0.125f);
  EXPECT_EQ(q.bias, 2.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{15, 8, 0}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{0.125f, 1.0f, 2.0f}));
}

TEST(MlxRule, NegativeGroup) {
  // min -2, max -0.125: the edge is -2: scale = 1.875 / 15 = 0.125, q0 = rint(-2 / 0.125) = -16,
  // scale = 0.125, bias = -2; -0.125 is code 15. (MLX's Metal and CUDA kernels start the maximum at
  // 0 and would give scale 2 / 15 here; this is its CPU rule.)
  const Quantized q = quantize_group({-2.0f, -1.0f, -0.125f}, 4);
  EXPECT_EQ(q.scale, 0.125f);
  EXPECT_EQ(q.bias, -2.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0, 8, 15}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{-2.0f, -1.0f, -0.125f}));
}

TEST(MlxRule, ConstantGroupsKeepTheirValue) {
  // All 0.5: max - min = 0, so scale = eps = 1e-7f; |min| > |max| is false, so the edge is 0.5 and
  // the scale -1e-7f; q0 = rint(0.5 / -1e-7f) = rint(-4999999.94), which is -5000000 once the
  // division rounds to f32 (its spacing there is 0.5); scale = 0.5 / -5000000, bias = 0.5, and
  // every code is rint(0 / scale) = 0, which stands for 0.5 exactly.
  Quantized q = quantize_group({0.5f}, 4);
  EXPECT_EQ(q.scale, 0.5f / -5000000.0f);
  EXPECT_EQ(q.bias, 0.5f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{0.5f}));
  // All zero: the edge is 0, so q0 = 0: the scale stays -eps and the bias is 0.
  q = quantize_group({0.0f}, 4);
  EXPECT_EQ(q.scale, -1e-7f);
  EXPECT_EQ(q.bias, 0.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{0.0f}));
}

TEST(MlxRule, TinyGroupRoundsEverythingToZero) {
  // max 1e-8: (max - min) / 15 is below eps, so scale = -1e-7f; q0 = rint(1e-8 / -1e-7f) =
  // rint(-0.1) = 0, so the bias is 0 and 1e-8 gets code rint(-0.1) = 0: the group becomes zeros.
  const Quantized q = quantize_group({1e-8f, 0.0f}, 4);
  EXPECT_EQ(q.scale, -1e-7f);
  EXPECT_EQ(q.bias, 0.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0, 0}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{0.0f, 0.0f}));
}

TEST(MlxRule, TheFarExtremeCanBeClampedByAWholeScale) {
  // 2 bits (n_bins = 3), min -1, max 1: the edge is the maximum 1 (|-1| > |1| is false):
  //   scale = -(2 / 3), q0 = rint(1 / -(2/3)) = rint(-1.5) = -2 (halves go to even), scale = 1 / -2
  //   = -0.5, bias = 1. Zero is code 2 exactly, but -1 needs code (-1 - 1) / -0.5 = 4 > 3: it is
  //   clamped to 3, which stands for -0.5, an error of 0.5 = |scale|, twice the usual bound.
  const Quantized q = quantize_group({-1.0f, 0.0f, 1.0f}, 2);
  EXPECT_EQ(q.scale, -0.5f);
  EXPECT_EQ(q.bias, 1.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{3, 2, 0}));
  EXPECT_EQ(q.dequantized, (std::vector<float>{-0.5f, 0.0f, 1.0f}));
}

TEST(MlxRule, CodesRoundHalvesToEven) {
  // min -1, max 0.5, 4 bits: the edge is -1, scale = 1.5 / 15 = 0.1f, q0 = rint(-1 / 0.1f) =
  // rint(-9.9999998...) = -10, scale = -1 / -10 = 0.1f (0.100000001490116), bias = -1.
  // 0.25 -> (0.25 + 1) / 0.1f = 12.4999998..., which rounds to exactly 12.5 in f32; rint takes it
  // to 12 (MLX's GPU kernels round it away from zero, to 13). -0.5 -> 4.99999993 -> 5, 0 -> 10, 0.5
  // -> 15.
  const Quantized q = quantize_group({-1.0f, -0.5f, 0.0f, 0.25f, 0.5f}, 4);
  EXPECT_EQ(q.scale, 0.1f);
  EXPECT_EQ(q.bias, -1.0f);
  EXPECT_EQ(q.codes, (std::vector<std::uint32_t>{0, 5, 10, 12, 15}));
  EXPECT_EQ(q.dequantized[3], std::fma(0.1f, 12.0f, -1.0f));
  // Zero comes back as fma(0.1f, 10, -1) = 0.1f * 10 - 1 exactly: 1.49e-8, the rounding of 0.1f
  // times ten; MLX's separate multiply and add would round that product to 1 and give 0.
  EXPECT_EQ(q.dequantized[2], std::fma(0.1f, 10.0f, -1.0f));
  EXPECT_LT(std::fabs(q.dequantized[2]), 2e-8f);
}

// ---------------------------------------------------------------------------------------------
// Error bounds on random rows, every width and group size.

TEST(MlxRule, ErrorBoundsOnRandomRows) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const int bits : {2, 3, 4, 5, 6, 8}) {
    for (const int group : {32, 64, 128}) {
      const QuantSpec spec{bits, group};
      const std::size_t n = 8 * static_cast<std::size_t>(group);
      const auto n_bins = static_cast<std::uint32_t>((1 << bits) - 1);
      std::vector<float> w(n);
      for (float& v : w) v = normal(rng);
      // A zero in every other group, and a group of one sign only.
      for (std::size_t i = 0; i < n; i += 2 * static_cast<std::size_t>(group)) w[i + 5] = 0.0f;
      for (int i = 0; i < group; ++i) {
        w[static_cast<std::size_t>(group) + i] = std::fabs(w[static_cast<std::size_t>(group) + i]);
      }
      std::vector<std::uint32_t> packed(packed_words(n, bits));
      std::vector<float> scales(n / group), biases(n / group), out(n);
      quantize_row(w.data(), n, spec, packed.data(), scales.data(), biases.data());
      dequantize_row(packed.data(), scales.data(), biases.data(), n, spec, out.data());
      for (std::size_t g = 0; g < n / group; ++g) {
        const float s = std::fabs(scales[g]);
        const float b = biases[g];
        // The bias is the group's extreme of larger magnitude, which comes back exactly (code 0).
        bool bias_is_a_weight = false;
        for (std::size_t i = g * group; i < (g + 1) * group; ++i) {
          const std::uint32_t code = packed_code(packed.data(), i, bits);
          ASSERT_LE(code, n_bins);
          const float error = std::fabs(w[i] - out[i]);
          const float slack = 1e-6f * (std::fabs(b) + s * static_cast<float>(n_bins));
          // Rounding to the nearest code is off by at most half a step; only the far extreme,
          // clamped to n_bins, may be off by up to a whole one.
          const float bound = code == n_bins ? s : s / 2;
          ASSERT_LE(error, bound + slack)
              << bits << " bits, group " << group << ", weight " << i << " = " << w[i]
              << " -> code " << code << " -> " << out[i] << ", scale " << scales[g];
          if (w[i] == b) {
            bias_is_a_weight = true;
            EXPECT_EQ(code, 0u);
            EXPECT_EQ(out[i], w[i]);
          }
          // Zero lands on a whole code: it comes back as zero up to the rounding of the scale.
          if (w[i] == 0.0f) {
            EXPECT_LE(std::fabs(out[i]), std::fabs(b) * 0x1p-22f) << bits << " bits, weight " << i;
          }
        }
        EXPECT_TRUE(bias_is_a_weight) << bits << " bits, group " << group << " #" << g;
      }
    }
  }
}

TEST(QuantizeRow, RejectsBadInput) {
  std::vector<float> w(64, 0.5f);
  std::vector<std::uint32_t> packed(16);
  std::vector<float> scales(2), biases(2);
  expect_invalid(
      [&] { quantize_row(w.data(), 48, {4, 32}, packed.data(), scales.data(), biases.data()); },
      "in-features 48 is not a multiple of the quantization group size 32");
  expect_invalid(
      [&] { quantize_row(w.data(), 64, {7, 32}, packed.data(), scales.data(), biases.data()); },
      "unsupported quantization bits 7");
  w[37] = std::numeric_limits<float>::quiet_NaN();
  expect_invalid(
      [&] { quantize_row(w.data(), 64, {4, 32}, packed.data(), scales.data(), biases.data()); },
      "weight 37: it is not finite");
  w[37] = -std::numeric_limits<float>::infinity();
  expect_invalid(
      [&] { quantize_row(w.data(), 64, {4, 32}, packed.data(), scales.data(), biases.data()); },
      "not finite");
  expect_invalid(
      [&] { dequantize_row(packed.data(), scales.data(), biases.data(), 40, {4, 32}, w.data()); },
      "not a multiple");
}

}  // namespace
}  // namespace shardlm
