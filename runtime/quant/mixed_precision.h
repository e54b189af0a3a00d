#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "runtime/quant/quantization_layout.h"
#include "runtime/quant/sensitivity.h"

namespace shardlm {

// Mixed precision to a bits-per-weight budget: every module starts with the low quantization, and
// the most sensitive ones move to the high quantization while the model stays within the budget.

// What a bf16 model quantized entirely with `low` costs: its bits plus a 16-bit scale and bias per
// group. A target at or below it leaves nothing to spend on high bits (mlx-lm's lower limit).
double low_spec_bits_per_weight(QuantSpec low);

// The plan with `high_modules` at settings.high and every other module at settings.low. A module
// keeps the low quantization when its inputs are not whole groups of the high one, and stays in
// float, as uniform_plan(settings.low) leaves it, when they are not whole groups of the low one; so
// the plan with no high module is exactly uniform_plan(settings.low).
QuantizationPlan mixed_plan(const SensitivitySettings& settings, std::set<std::string> high_modules);

// Throws std::invalid_argument unless both specs are valid and `high` is the finer one: more bits,
// or as many in smaller groups.
void validate_sensitivity_settings(const SensitivitySettings& settings);

struct MixedPrecisionTarget {
  double bits_per_weight = 0;
  double tolerance = 0;  // how far above bits_per_weight the result may lie
  SensitivitySettings settings;
};

// The modules of a layout that mixed_plan can give the high quantization: quantizable weights whose
// inputs are whole groups of both quantizations.
std::set<std::string> high_bit_candidates(const QuantizationLayout& layout, const SensitivitySettings& settings);

// Throws std::invalid_argument unless the target lies above low_spec_bits_per_weight and, within
// its tolerance, at or above `low_only_bits`, the model's bits per weight with no module at high bits.
void check_mixed_precision_target(const MixedPrecisionTarget& target, double low_only_bits);

struct MixedPrecisionChoice {
  std::set<std::string> high_modules;
  // Modules more sensitive than this get the high quantization; empty when all of them do.
  std::optional<double> threshold;
  double bits_per_weight = 0;
  bool all_high = false;  // the budget holds every module at high bits
};

// Bisection on the sensitivity threshold (as mlx-lm's estimate_threshold), over the distinct
// sensitivity values so that it ends exactly: the result is the threshold whose plan has the largest
// bits per weight within target + tolerance, which the next more generous threshold would exceed.
// Only the modules in `sensitivities` are candidates for high bits. `bits_per_weight` prices a set
// of high modules (plan_quantization of mixed_plan, in practice) and must grow as the set grows.
// Throws std::invalid_argument naming the problem: a target check_mixed_precision_target refuses, a
// sensitivity that is not finite, no sensitivities at all.
MixedPrecisionChoice choose_mixed_precision(
    const Sensitivities& sensitivities, const MixedPrecisionTarget& target,
    const std::function<double(const std::set<std::string>& high_modules)>& bits_per_weight);

}  // namespace shardlm
