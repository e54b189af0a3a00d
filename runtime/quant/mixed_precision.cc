#include "runtime/quant/mixed_precision.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace shardlm {

double low_spec_bits_per_weight(QuantSpec low) { return low.bits + 32.0 / low.group_size; }

void validate_sensitivity_settings(const SensitivitySettings& settings) {
  validate_quant_spec(settings.low);
  validate_quant_spec(settings.high);
  const bool finer = settings.high.bits > settings.low.bits ||
                     (settings.high.bits == settings.low.bits && settings.high.group_size < settings.low.group_size);
  if (!finer) {
    throw std::invalid_argument(fmt::format(
        "the high quantization ({}-bit, groups of {}) must be finer than the low one ({}-bit, groups of {}): more "
        "bits, or as many bits in smaller groups",
        settings.high.bits, settings.high.group_size, settings.low.bits, settings.low.group_size));
  }
}

QuantizationPlan mixed_plan(const SensitivitySettings& settings, std::set<std::string> high_modules) {
  validate_sensitivity_settings(settings);
  return [settings, high = std::move(high_modules)](const std::string& module, std::int64_t,
                                                    std::int64_t cols) -> std::optional<QuantSpec> {
    if (cols % settings.low.group_size != 0) return std::nullopt;
    if (high.count(module) != 0 && cols % settings.high.group_size == 0) return settings.high;
    return settings.low;
  };
}

std::set<std::string> high_bit_candidates(const QuantizationLayout& layout, const SensitivitySettings& settings) {
  std::set<std::string> candidates;
  for (const PlannedTensor& tensor : layout.tensors) {
    const std::int64_t cols = tensor.source->shape.back();
    if (!tensor.module.empty() && cols % settings.low.group_size == 0 && cols % settings.high.group_size == 0) {
      candidates.insert(tensor.module);
    }
  }
  return candidates;
}

void check_mixed_precision_target(const MixedPrecisionTarget& target, double low_only_bits) {
  const SensitivitySettings& settings = target.settings;
  validate_sensitivity_settings(settings);
  if (!(target.tolerance >= 0.0) || !std::isfinite(target.tolerance)) {
    throw std::invalid_argument(fmt::format("the tolerance must be a finite number ≥ 0, not {}", target.tolerance));
  }
  const double floor = low_spec_bits_per_weight(settings.low);
  if (!(target.bits_per_weight > floor)) {
    throw std::invalid_argument(fmt::format(
        "--target-bpw {} is at or below {:.4g}, what {}-bit quantization in groups of {} costs by itself (its bits "
        "and a 16-bit scale and bias per group): nothing would be left for high bits; raise the target or lower "
        "--low-bits",
        target.bits_per_weight, floor, settings.low.bits, settings.low.group_size));
  }
  if (low_only_bits > target.bits_per_weight + target.tolerance) {
    throw std::invalid_argument(fmt::format(
        "--target-bpw {} is below the {:.4f} bits per weight this model takes with every module at the low "
        "quantization ({}-bit, groups of {}; modules whose inputs are not whole groups stay in float)",
        target.bits_per_weight, low_only_bits, settings.low.bits, settings.low.group_size));
  }
}

MixedPrecisionChoice choose_mixed_precision(
    const Sensitivities& sensitivities, const MixedPrecisionTarget& target,
    const std::function<double(const std::set<std::string>& high_modules)>& bits_per_weight) {
  if (sensitivities.empty()) throw std::invalid_argument("no module sensitivities to choose high bits by");
  std::vector<double> levels;  // distinct sensitivities, most sensitive first
  for (const auto& [module, value] : sensitivities) {
    if (!std::isfinite(value)) {
      throw std::invalid_argument(fmt::format("the sensitivity of '{}' is not a finite number ({})", module, value));
    }
    levels.push_back(value);
  }
  std::sort(levels.begin(), levels.end(), std::greater<>());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());

  // The modules of the `promoted` most sensitive levels.
  const auto high_modules = [&](std::size_t promoted) {
    std::set<std::string> high;
    for (const auto& [module, value] : sensitivities) {
      if (promoted > 0 && value >= levels[promoted - 1]) high.insert(module);
    }
    return high;
  };
  const double low_only = bits_per_weight({});
  check_mixed_precision_target(target, low_only);
  const double limit = target.bits_per_weight + target.tolerance;
  MixedPrecisionChoice choice;
  const double all_high = bits_per_weight(high_modules(levels.size()));
  if (all_high <= limit) {
    choice.high_modules = high_modules(levels.size());
    choice.bits_per_weight = all_high;
    choice.all_high = true;
    return choice;
  }
  // Invariant: promoting `fits` levels stays within the limit, promoting `exceeds` does not.
  std::size_t fits = 0;
  std::size_t exceeds = levels.size();
  double fits_bits = low_only;
  while (exceeds - fits > 1) {
    const std::size_t middle = fits + (exceeds - fits) / 2;
    const double bits = bits_per_weight(high_modules(middle));
    if (bits <= limit) {
      fits = middle;
      fits_bits = bits;
    } else {
      exceeds = middle;
    }
  }
  choice.high_modules = high_modules(fits);
  choice.threshold = levels[fits];
  choice.bits_per_weight = fits_bits;
  return choice;
}

}  // namespace shardlm
