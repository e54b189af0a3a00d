#include "quantized_matrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace shardlm::quant_test {

namespace {

std::uint16_t nan_bits(DType dtype) { return dtype == DType::F16 ? 0x7e00 : 0x7fc0; }

std::uint16_t to_16_bits(DType dtype, float value) {
  return dtype == DType::F16 ? f32_to_f16(value) : f32_to_bf16(value);
}

float from_16_bits(DType dtype, std::uint16_t bits) {
  return dtype == DType::F16 ? f16_to_f32(bits) : bf16_to_f32(bits);
}

}  // namespace

QuantizedMatrix::QuantizedMatrix(QuantSpec spec, DType dtype, std::size_t rows, std::size_t cols,
                                 QuantizedLayout layout, std::mt19937& rng)
    : spec_(spec), dtype_(dtype), rows_(rows), cols_(cols), layout_(layout) {
  const auto group = static_cast<std::size_t>(spec.group_size);
  const std::size_t view_groups = cols / group;
  total_groups_ = layout.groups_before + view_groups + layout.groups_after;
  row_words_ = packed_words(total_groups_ * group, spec.bits);
  code_bytes_.assign(layout.byte_offset + rows * row_words_ * sizeof(std::uint32_t), 0xff);
  if (dtype == DType::F32) {
    params_f32_.assign(2 * rows * total_groups_, std::numeric_limits<float>::quiet_NaN());
  } else {
    params_16_.assign(2 * rows * total_groups_, nan_bits(dtype));
  }
  dequantized_.resize(rows * cols);
  codes_.resize(rows * cols);
  widened_scales_.resize(rows * view_groups);
  widened_biases_.resize(rows * view_groups);

  // Mostly spread-out weights, with now and then a row whose groups are constant or all zero, the
  // corners of MLX's rule.
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::uniform_int_distribution<int> kind(0, 9);
  std::vector<float> weights(cols);
  std::vector<std::uint32_t> packed(packed_words(cols, spec.bits));
  std::vector<float> scales(view_groups), biases(view_groups);
  for (std::size_t r = 0; r < rows; ++r) {
    const int row_kind = kind(rng);
    for (std::size_t c = 0; c < cols; ++c) {
      weights[c] = row_kind == 0 ? 0.0f : row_kind == 1 ? 0.25f : normal(rng);
    }
    quantize_row(weights.data(), cols, spec, packed.data(), scales.data(), biases.data());

    const std::size_t first_word =
        r * row_words_ + packed_words(layout.groups_before * group, spec.bits);
    std::memcpy(code_bytes_.data() + layout.byte_offset + first_word * sizeof(std::uint32_t),
                packed.data(), packed.size() * sizeof(std::uint32_t));
    for (std::size_t g = 0; g < view_groups; ++g) {
      const std::size_t scale_index = r * total_groups_ + layout.groups_before + g;
      const std::size_t bias_index = rows * total_groups_ + scale_index;
      float scale = scales[g], bias = biases[g];
      if (dtype == DType::F32) {
        params_f32_[scale_index] = scale;
        params_f32_[bias_index] = bias;
      } else {
        params_16_[scale_index] = to_16_bits(dtype, scale);
        params_16_[bias_index] = to_16_bits(dtype, bias);
        scale = from_16_bits(dtype, params_16_[scale_index]);
        bias = from_16_bits(dtype, params_16_[bias_index]);
      }
      widened_scales_[r * view_groups + g] = scale;
      widened_biases_[r * view_groups + g] = bias;
    }
    dequantize_row(packed.data(), &widened_scales_[r * view_groups],
                   &widened_biases_[r * view_groups], cols, spec, &dequantized_[r * cols]);
    unpack_codes(packed.data(), cols, spec.bits, &codes_[r * cols]);
  }
}

WeightMatrix QuantizedMatrix::whole() const {
  WeightMatrix m;
  m.dtype = dtype_;
  m.data = code_bytes_.data() + layout_.byte_offset;
  m.rows = rows_;
  m.cols = total_groups_ * static_cast<std::size_t>(spec_.group_size);
  m.row_stride = row_words_;
  const void* params = dtype_ == DType::F32 ? static_cast<const void*>(params_f32_.data())
                                            : static_cast<const void*>(params_16_.data());
  m.quant.bits = spec_.bits;
  m.quant.group_size = spec_.group_size;
  m.quant.scales = params;
  m.quant.biases = static_cast<const char*>(params) + rows_ * total_groups_ * dtype_size(dtype_);
  m.quant.group_stride = total_groups_;
  return m;
}

WeightMatrix QuantizedMatrix::view() const {
  return weight_block(whole(), 0, rows_,
                      layout_.groups_before * static_cast<std::size_t>(spec_.group_size), cols_);
}

WeightMatrix QuantizedMatrix::dequantized_matrix() const {
  return WeightMatrix{DType::F32, dequantized_.data(), rows_, cols_, cols_};
}

double QuantizedMatrix::magnitude(std::size_t r, const float* x) const {
  const auto group = static_cast<std::size_t>(spec_.group_size);
  const std::size_t view_groups = cols_ / group;
  double sum = 0.0;
  for (std::size_t c = 0; c < cols_; ++c) {
    const std::size_t g = r * view_groups + c / group;
    const double term =
        std::fabs(widened_scales_[g]) * codes_[r * cols_ + c] + std::fabs(widened_biases_[g]);
    sum += term * std::fabs(x[c]);
  }
  return sum;
}

double QuantizedMatrix::rounding_bound(std::size_t r, const float* x, ActivationRounding rounding) const {
  const auto group = static_cast<std::size_t>(spec_.group_size);
  const std::size_t view_groups = cols_ / group;
  const double middle = static_cast<double>(1 << (spec_.bits - 1));
  // Of the integer kinds: their largest value, and the most that x~ may differ from x in steps d.
  double levels = 0.0;
  if (rounding == ActivationRounding::kInt16Groups) levels = 32767.0;
  if (rounding == ActivationRounding::kInt8Groups) levels = 127.0;
  const double steps_off = 0.5 + 3.0 * levels * std::ldexp(1.0, -24);
  double bound = 0.0;
  for (std::size_t g = 0; g < view_groups; ++g) {
    double max_abs = 0.0;
    for (std::size_t c = g * group; c < (g + 1) * group; ++c) max_abs = std::max(max_abs, std::fabs(double{x[c]}));
    const double step = levels > 0.0 ? max_abs / levels : 0.0;
    const double scale = std::fabs(double{widened_scales_[r * view_groups + g]});
    for (std::size_t c = g * group; c < (g + 1) * group; ++c) {
      const double w = std::fabs(double{dequantized_[r * cols_ + c]});
      const double x_size = std::fabs(double{x[c]});
      switch (rounding) {
        case ActivationRounding::kExact: break;
        case ActivationRounding::kBf16Split: bound += std::ldexp(w * x_size, -16); break;
        case ActivationRounding::kBf16: bound += std::ldexp(w * x_size, -8); break;
        case ActivationRounding::kInt16Groups: bound += w * step * steps_off; break;
        case ActivationRounding::kInt8Groups:
          bound += scale * std::fabs(codes_[r * cols_ + c] - middle) * step * steps_off;
          break;
      }
    }
  }
  return bound;
}

std::string QuantizedMatrix::describe() const {
  return std::to_string(spec_.bits) + "-bit g" + std::to_string(spec_.group_size) + " " +
         std::string(dtype_name(dtype_)) + " " + std::to_string(rows_) + "x" +
         std::to_string(cols_) + " groups before/after " + std::to_string(layout_.groups_before) +
         "/" + std::to_string(layout_.groups_after) + " byte offset " +
         std::to_string(layout_.byte_offset);
}

std::vector<float> random_activations(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = uniform(rng);
  return x;
}

}  // namespace shardlm::quant_test
