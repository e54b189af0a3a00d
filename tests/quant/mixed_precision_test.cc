// The mixed-precision planner on synthetic sensitivities, priced by a plain sum: checked against
// trying every threshold, for the properties a budget planner must have, and for its refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "runtime/quant/mixed_precision.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;

const SensitivitySettings kSettings{{4, 64}, {5, 64}};

// A model of twelve modules of different sizes and 2000 float parameters (norms), in bf16: a module
// of n weights costs 4.5 n bits at 4-bit groups of 64 and 5.5 n bits at 5-bit.
struct SyntheticModel {
  std::map<std::string, double> weights;
  Sensitivities sensitivities;

  SyntheticModel() {
    for (int i = 0; i < 12; ++i) {
      const std::string module = "model.layers." + std::to_string(i) + ".mlp.up_proj";
      weights[module] = 4096.0 * (1 + (i * 7) % 5);
      sensitivities[module] = std::sin(1.0 + i) + 2.0;  // distinct, in no particular order
    }
  }

  double bits_per_weight(const std::set<std::string>& high) const {
    double bits = 2000 * 16.0, parameters = 2000;
    for (const auto& [module, n] : weights) {
      bits += n * (high.count(module) != 0 ? 5.5 : 4.5);
      parameters += n;
    }
    return bits / parameters;
  }

  MixedPrecisionChoice choose(double target, double tolerance = 0) const {
    return choose_mixed_precision(sensitivities, {target, tolerance, kSettings},
                                  [this](const std::set<std::string>& high) { return bits_per_weight(high); });
  }

  // The modules above each possible threshold, most sensitive first: the plans a threshold can give.
  std::vector<std::set<std::string>> every_threshold() const {
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& [module, value] : sensitivities) ranked.emplace_back(-value, module);
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::set<std::string>> plans{{}};
    for (const auto& [negated, module] : ranked) {
      plans.push_back(plans.back());
      plans.back().insert(module);
    }
    return plans;
  }
};

TEST(MixedPrecision, TakesTheLargestPlanWithinTheTarget) {
  const SyntheticModel model;
  const auto plans = model.every_threshold();
  const double low = model.bits_per_weight({});
  const double high = model.bits_per_weight(plans.back());
  for (double target = low; target < high; target += (high - low) / 37) {
    const MixedPrecisionChoice choice = model.choose(target);
    std::size_t best = 0;
    for (std::size_t k = 0; k < plans.size(); ++k) {
      if (model.bits_per_weight(plans[k]) <= target) best = k;
    }
    EXPECT_EQ(choice.high_modules, plans[best]) << "target " << target;
    EXPECT_LE(choice.bits_per_weight, target);
    EXPECT_DOUBLE_EQ(choice.bits_per_weight, model.bits_per_weight(plans[best]));
    ASSERT_LT(best + 1, plans.size());
    EXPECT_GT(model.bits_per_weight(plans[best + 1]), target) << "the next module would still fit";
    EXPECT_FALSE(choice.all_high);
    ASSERT_TRUE(choice.threshold.has_value());
    for (const auto& [module, value] : model.sensitivities) {
      EXPECT_EQ(value > *choice.threshold, choice.high_modules.count(module) == 1) << module;
    }
  }
}

TEST(MixedPrecision, AHigherTargetKeepsEveryHighModule) {
  const SyntheticModel model;
  std::set<std::string> previous;
  for (double target = 4.67; target < 5.7; target += 0.005) {
    const auto high = model.choose(target).high_modules;
    EXPECT_TRUE(std::includes(high.begin(), high.end(), previous.begin(), previous.end())) << "target " << target;
    previous = high;
  }
}

TEST(MixedPrecision, EqualSensitivitiesMoveTogether) {
  SyntheticModel model;
  for (auto& [module, value] : model.sensitivities) value = 1.0;
  // Either every module fits the target at high bits or none does.
  const double all_high = model.bits_per_weight(model.every_threshold().back());
  EXPECT_TRUE(model.choose(all_high - 1e-9).high_modules.empty());
  EXPECT_EQ(model.choose(all_high).high_modules.size(), model.sensitivities.size());
}

TEST(MixedPrecision, TargetAboveEveryModuleAtHighBitsTakesThemAll) {
  const SyntheticModel model;
  const MixedPrecisionChoice choice = model.choose(9.0);
  EXPECT_TRUE(choice.all_high);
  EXPECT_EQ(choice.high_modules.size(), model.sensitivities.size());
  EXPECT_FALSE(choice.threshold.has_value());
}

TEST(MixedPrecision, ToleranceLetsTheResultPassTheTarget) {
  const SyntheticModel model;
  const auto plans = model.every_threshold();
  const double between = (model.bits_per_weight(plans[3]) + model.bits_per_weight(plans[4])) / 2;
  EXPECT_EQ(model.choose(between).high_modules, plans[3]);
  const double over = model.bits_per_weight(plans[4]) - between;
  EXPECT_EQ(model.choose(between, over).high_modules, plans[4]);
}

TEST(MixedPrecision, RefusesATargetTheLowQuantizationAloneReaches) {
  const SyntheticModel model;
  const auto message = [&](double target) {
    try {
      model.choose(target);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  // 4 bits + 32 bits of scale and bias per 64 weights.
  EXPECT_DOUBLE_EQ(low_spec_bits_per_weight({4, 64}), 4.5);
  EXPECT_DOUBLE_EQ(low_spec_bits_per_weight({3, 32}), 4.0);
  EXPECT_THAT(message(4.5), HasSubstr("at or below 4.5"));
  EXPECT_THAT(message(4.2), HasSubstr("at or below 4.5"));
  // Above 4.5 but below the synthetic model's all-low cost, 4.663 with its float norms.
  EXPECT_THAT(message(4.6), HasSubstr("below the"));
  EXPECT_THAT(message(4.6), HasSubstr("every module at the low quantization"));
}

TEST(MixedPrecision, RefusesBadSensitivitiesAndSettings) {
  SyntheticModel model;
  model.sensitivities.begin()->second = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(model.choose(5.5), std::invalid_argument);
  model.sensitivities.clear();
  EXPECT_THROW(model.choose(5.5), std::invalid_argument);
  EXPECT_THROW(validate_sensitivity_settings({{5, 64}, {4, 64}}), std::invalid_argument);
  EXPECT_THROW(validate_sensitivity_settings({{4, 64}, {4, 64}}), std::invalid_argument);
  EXPECT_THROW(validate_sensitivity_settings({{4, 64}, {7, 64}}), std::invalid_argument);
  EXPECT_NO_THROW(validate_sensitivity_settings({{4, 64}, {4, 32}}));
}

TEST(MixedPlan, FollowsTheUniformPlanForModulesThatDoNotFit) {
  const QuantizationPlan plan = mixed_plan({{4, 64}, {8, 32}}, {"a", "b", "c"});
  const auto spec = [&](const std::string& module, std::int64_t cols) {
    const auto chosen = plan(module, 16, cols);
    return chosen ? std::to_string(chosen->bits) + "/" + std::to_string(chosen->group_size) : std::string("float");
  };
  EXPECT_EQ(spec("a", 128), "8/32");
  EXPECT_EQ(spec("z", 128), "4/64");
  EXPECT_EQ(spec("b", 96), "float") << "96 inputs are not whole groups of 64: float, as uniform_plan leaves them";
  EXPECT_EQ(spec("z", 96), "float");
  const QuantizationPlan coarse_high = mixed_plan({{4, 32}, {8, 64}}, {"a"});
  EXPECT_EQ(coarse_high("a", 16, 96)->bits, 4) << "not whole groups of the high spec: keeps the low one";
}

}  // namespace
}  // namespace shardlm
