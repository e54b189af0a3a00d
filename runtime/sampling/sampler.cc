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

  // Candidates sorted by logit, most likely first; the filters below only ever cut the tail.
  const std::size_t vocab = logits.size();
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  std::size_t kept = vocab;
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < vocab) kept = static_cast<std::size_t>(params_.top_k);
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(kept), order_.end(), by_logit);

  std::vector<double> probabilities(kept);
  const double top = logits[static_cast<std::size_t>(order_[0])];
  double total = 0.0;
  for (std::size_t i = 0; i < kept; ++i) {
    probabilities[i] = std::exp((logits[static_cast<std::size_t>(order_[i])] - top) / params_.temperature);
    total += probabilities[i];
  }
  for (auto& p : probabilities) p /= total;

  if (params_.top_p < 1.0f) {
    // Keep the smallest prefix whose mass reaches top_p (always at least one token).
    double mass = 0.0;
    std::size_t prefix = 0;
    while (prefix < kept) {
      mass += probabilities[prefix++];
      if (mass >= params_.top_p) break;
    }
    kept = prefix;
  }
  if (params_.min_p > 0.0f) {
    const double floor = params_.min_p * probabilities[0];
    std::size_t prefix = 1;
    while (prefix < kept && probabilities[prefix] >= floor) ++prefix;
    kept = prefix;
  }

  std::discrete_distribution<std::size_t> draw(probabilities.begin(), probabilities.begin() + static_cast<std::ptrdiff_t>(kept));
  return order_[draw(rng_)];
}

}  // namespace shardlm
