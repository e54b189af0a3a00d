#include "runtime/sampling/sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

namespace shardlm {

void SamplingParams::validate() const {
  const auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) fail(fmt::format("temperature must be >= 0, got {}", temperature));
  if (top_k < 0) fail(fmt::format("top-k must be >= 0, got {}", top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail(fmt::format("top-p must be in (0, 1], got {}", top_p));
  if (!(min_p >= 0.0f && min_p < 1.0f)) fail(fmt::format("min-p must be in [0, 1), got {}", min_p));
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
    fail(fmt::format("repetition penalty must be > 0, got {}", repetition_penalty));
  }
  if (repetition_context < 0) fail(fmt::format("repetition context must be >= 0, got {}", repetition_context));
}

std::int32_t argmax(std::span<const float> values) {
  return static_cast<std::int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

void apply_repetition_penalty(std::span<float> logits, std::span<const std::int32_t> recent, float penalty) {
  if (penalty == 1.0f) return;
  std::unordered_set<std::int32_t> seen(recent.begin(), recent.end());
  for (const auto token : seen) {
    if (token < 0 || static_cast<std::size_t>(token) >= logits.size()) continue;
    float& logit = logits[static_cast<std::size_t>(token)];
    logit = logit > 0.0f ? logit / penalty : logit * penalty;
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

std::int32_t Sampler::sample(std::span<float> logits, std::span<const std::int32_t> history) {
  const std::size_t context = std::min(history.size(), static_cast<std::size_t>(params_.repetition_context));
  apply_repetition_penalty(logits, history.subspan(history.size() - context), params_.repetition_penalty);
  if (params_.temperature == 0.0f) return argmax(logits);

  const std::size_t vocab = logits.size();
  std::size_t kept = vocab;
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < vocab) kept = static_cast<std::size_t>(params_.top_k);
  const double top = *std::max_element(logits.begin(), logits.end());
  const auto weight = [&](std::size_t token) { return std::exp((logits[token] - top) / params_.temperature); };
  if (kept == vocab && params_.top_p == 1.0f && params_.min_p == 0.0f) {
    // The whole distribution, drawn over the vocabulary in its own order: no sort needed.
    std::vector<double> weights(vocab);
    for (std::size_t token = 0; token < vocab; ++token) weights[token] = weight(token);
    std::discrete_distribution<std::size_t> draw(weights.begin(), weights.end());
    return static_cast<std::int32_t>(draw(rng_));
  }

  // Candidates sorted by logit, most likely first; the filters below only ever cut the tail, so only
  // as long a prefix as they keep is sorted, grown as they ask for more: sorting a vocabulary of 128K
  // for top-p took 19 ms a token on the 2-core development machine (shardlm-sampling-bench).
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  const auto candidate_weight = [&](std::size_t i) { return weight(static_cast<std::size_t>(order_[i])); };
  std::size_t sorted = 0;
  const auto sort_prefix = [&](std::size_t n) {
    if (n == vocab) {
      std::sort(order_.begin(), order_.end(), by_logit);
    } else {
      std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n), order_.end(), by_logit);
    }
    sorted = n;
  };
  double total = 0.0;
  if (kept < vocab) {
    sort_prefix(kept);
    for (std::size_t i = 0; i < kept; ++i) total += candidate_weight(i);
  } else {
    for (std::size_t token = 0; token < vocab; ++token) total += weight(token);
  }
  // probabilities[i] for the i-th most likely, computed as far as asked.
  std::vector<double> probabilities;
  const auto probability = [&](std::size_t i) {
    if (i >= probabilities.size()) {
      if (i >= sorted) sort_prefix(std::min(kept, std::max({i + 1, 4 * sorted, std::size_t{256}})));
      while (probabilities.size() < sorted) probabilities.push_back(candidate_weight(probabilities.size()) / total);
    }
    return probabilities[i];
  };

  if (params_.top_p < 1.0f) {
    // Keep the smallest prefix whose mass reaches top_p (always at least one token).
    double mass = 0.0;
    std::size_t prefix = 0;
    while (prefix < kept) {
      mass += probability(prefix++);
      if (mass >= params_.top_p) break;
    }
    kept = prefix;
  }
  if (params_.min_p > 0.0f) {
    const double floor = params_.min_p * probability(0);
    std::size_t prefix = 1;
    while (prefix < kept && probability(prefix) >= floor) ++prefix;
    kept = prefix;
  }
  if (kept > 0) probability(kept - 1);

  std::discrete_distribution<std::size_t> draw(probabilities.begin(), probabilities.begin() + static_cast<std::ptrdiff_t>(kept));
  return order_[draw(rng_)];
}

}  // namespace shardlm
