#include "runtime/sampling/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

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

// The filters written out plainly: the whole vocabulary sorted by logit, every kept token's
// probability, the prefixes cut, the draw over what is left in that order, from the same generator.
// With no filter at all the draw runs over the vocabulary in its own order.
std::int32_t reference_sample(const SamplingParams& params, const std::vector<float>& logits, std::mt19937_64& rng) {
  if (params.top_k == 0 && params.top_p == 1.0f && params.min_p == 0.0f) {
    const double top = *std::max_element(logits.begin(), logits.end());
    std::vector<double> weights;
    for (const float logit : logits) weights.push_back(std::exp((logit - top) / params.temperature));
    std::discrete_distribution<std::size_t> draw(weights.begin(), weights.end());
    return static_cast<std::int32_t>(draw(rng));
  }
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  std::size_t kept = params.top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(params.top_k), order.size())
                                      : order.size();
  std::vector<double> p(kept);
  double total = 0.0;
  for (std::size_t i = 0; i < kept; ++i) {
    p[i] = std::exp((logits[static_cast<std::size_t>(order[i])] - logits[static_cast<std::size_t>(order[0])]) /
                    params.temperature);
    total += p[i];
  }
  for (auto& x : p) x /= total;
  if (params.top_p < 1.0f) {
    double mass = 0.0;
    std::size_t prefix = 0;
    while (prefix < kept) {
      mass += p[prefix++];
      if (mass >= params.top_p) break;
    }
    kept = prefix;
  }
  if (params.min_p > 0.0f) {
    std::size_t prefix = 1;
    while (prefix < kept && p[prefix] >= params.min_p * p[0]) ++prefix;
    kept = prefix;
  }
  std::discrete_distribution<std::size_t> draw(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(kept));
  return order[draw(rng)];
}

// On a large vocabulary, where the sampler sorts only as long a prefix as the filters keep (growing
// it as they ask), every combination of filters draws the same tokens as the plain definition from
// the same seed: the nucleus of a flat distribution reaches far past the first sorted prefix.
TEST(SamplerTest, LargeVocabularyDrawsWhatThePlainDefinitionDraws) {
  std::mt19937 make(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const float spread : {0.3f, 3.0f}) {
    std::vector<float> logits(20000);
    for (auto& x : logits) x = spread * normal(make);
    for (const auto& [top_k, top_p, min_p] :
         {std::tuple{0, 0.9f, 0.0f}, std::tuple{0, 1.0f, 0.05f}, std::tuple{0, 0.5f, 0.2f}, std::tuple{50, 0.95f, 0.0f},
          std::tuple{0, 1.0f, 0.0f}, std::tuple{3000, 0.99f, 0.0f}}) {
      SamplingParams params;
      params.temperature = 0.8f;
      params.top_k = top_k;
      params.top_p = top_p;
      params.min_p = min_p;
      params.seed = 9;
      Sampler sampler(params);
      std::mt19937_64 rng(params.seed);
      for (int i = 0; i < 20; ++i) {
        std::vector<float> copy = logits;
        ASSERT_EQ(sampler.sample(copy, {}), reference_sample(params, logits, rng))
            << "spread " << spread << ", top-k " << top_k << ", top-p " << top_p << ", min-p " << min_p << ", draw " << i;
      }
    }
  }
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
