#include "runtime/sampling/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace shardlm {
namespace {

using ::testing::HasSubstr;

std::vector<float> log_probabilities(std::initializer_list<double> probabilities) {
  std::vector<float> logits;
  for (const double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// How often each token comes out of `draws` samples of the same logits.
std::map<std::int32_t, double> frequencies(const SamplingParams& params, const std::vector<float>& logits, int draws) {
  Sampler sampler(params);
  std::map<std::int32_t, double> counts;
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    counts[sampler.sample(copy, {})] += 1.0 / draws;
  }
  return counts;
}

TEST(SamplerTest, GreedyTakesTheLargestLogit) {
  Sampler sampler(SamplingParams{});
  std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f};
  EXPECT_EQ(sampler.sample(logits, {}), 1);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  std::vector<float> logits = {2.0f, -2.0f, 3.0f, 1.0f};
  const std::vector<std::int32_t> recent = {0, 1, 0};
  apply_repetition_penalty(logits, recent, 2.0f);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  EXPECT_FLOAT_EQ(logits[1], -4.0f);
  EXPECT_FLOAT_EQ(logits[2], 3.0f);
  EXPECT_FLOAT_EQ(logits[3], 1.0f);
}

TEST(SamplerTest, RepetitionPenaltyOnlyLooksAtRecentContext) {
  SamplingParams params;
  params.repetition_penalty = 10.0f;
  params.repetition_context = 1;
  Sampler sampler(params);
  // Token 0 is the best, but was generated last: the penalty makes token 1 win. Token 1 also
  // appeared, but outside the one-token context, so it is not penalised.
  std::vector<float> logits = {3.0f, 2.0f, 0.0f};
  const std::vector<std::int32_t> history = {1, 0};
  EXPECT_EQ(sampler.sample(logits, history), 1);
}

TEST(SamplerTest, TemperatureOneSamplesTheModelDistribution) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = 11;
  const auto freq = frequencies(params, log_probabilities({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(freq.at(0), 0.5, 0.015);
  EXPECT_NEAR(freq.at(1), 0.3, 0.015);
  EXPECT_NEAR(freq.at(2), 0.2, 0.015);
}

TEST(SamplerTest, LowTemperatureSharpens) {
  SamplingParams params;
  params.temperature = 0.5f;  // p^2 renormalised: 0.25/0.38, 0.09/0.38, 0.04/0.38
  params.seed = 12;
  const auto freq = frequencies(params, log_probabilities({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(freq.at(0), 0.25 / 0.38, 0.015);
  EXPECT_NEAR(freq.at(2), 0.04 / 0.38, 0.015);
}

TEST(SamplerTest, TopKKeepsOnlyTheKMostLikely) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = 2;
  params.seed = 13;
  const auto freq = frequencies(params, log_probabilities({0.4, 0.1, 0.3, 0.2}), 10000);
  EXPECT_EQ(freq.count(1), 0u);
  EXPECT_EQ(freq.count(3), 0u);
  EXPECT_NEAR(freq.at(0), 4.0 / 7.0, 0.02);
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_p = 0.75f;  // 0.5 falls short, 0.5 + 0.3 reaches it
  params.seed = 14;
  const auto freq = frequencies(params, log_probabilities({0.5, 0.3, 0.15, 0.05}), 10000);
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq.at(0), 0.5 / 0.8, 0.02);
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheTop) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.min_p = 0.35f;  // floor 0.175: keeps 0.5 and 0.3
  params.seed = 15;
  const auto freq = frequencies(params, log_probabilities({0.5, 0.3, 0.15, 0.05}), 10000);
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq.at(1), 0.3 / 0.8, 0.02);
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const auto logits = log_probabilities({0.2, 0.2, 0.2, 0.2, 0.2});
  const auto draw = [&](std::uint64_t seed) {
    SamplingParams params;
    params.temperature = 1.0f;
    params.seed = seed;
    Sampler sampler(params);
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 32; ++i) {
      std::vector<float> copy = logits;
      tokens.push_back(sampler.sample(copy, {}));
    }
    return tokens;
  };
  EXPECT_EQ(draw(5), draw(5));
  EXPECT_NE(draw(5), draw(6));
}

TEST(SamplerTest, RejectsOutOfRangeParameters) {
  const auto error = [](SamplingParams params) {
    try {
      params.validate();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SamplingParams p;
  p.temperature = -1.0f;
  EXPECT_THAT(error(p), HasSubstr("temperature"));
  p = {};
  p.top_p = 0.0f;
  EXPECT_THAT(error(p), HasSubstr("top-p"));
  p = {};
  p.min_p = 1.0f;
  EXPECT_THAT(error(p), HasSubstr("min-p"));
  p = {};
  p.top_k = -3;
  EXPECT_THAT(error(p), HasSubstr("top-k"));
  p = {};
  p.repetition_penalty = 0.0f;
  EXPECT_THAT(error(p), HasSubstr("repetition penalty"));
}

}  // namespace
}  // namespace shardlm
