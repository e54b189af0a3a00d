#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/engine/language_model.h"
#include "runtime/eval/running_stats.h"

namespace shardlm {

// What scoring windows of a token stream yields: the negative log-likelihood of every scored token
// and, against a base model, KL(base ‖ model) at every scored position and how often the two models'
// most likely tokens agree.
struct WindowScores {
  RunningStats nll;
  RunningStats kl;
  double top1_agreements = 0.0;
  std::size_t windows = 0;

  void merge(const WindowScores& other);
  // exp(mean NLL).
  double perplexity() const;
  // As mlx-lm reports it (delta method): perplexity · sd(NLL, ddof = 1) / sqrt(tokens scored).
  double perplexity_standard_error() const;
};

struct ScoringOptions {
  std::size_t seq_len = 512;
  std::size_t batch_size = 8;  // windows per forward pass
  // Rank 0 holds the logits of every pass in flight; larger vocabularies get smaller passes so that
  // they stay under this many bytes.
  std::size_t max_logits_bytes = std::size_t{512} << 20;
};

// Scores the windows ids[start, start + seq_len) for each start: every window is a fresh sequence
// and tokens 1..seq_len-1 are scored, each given the tokens before it in its window. Passes are kept
// in flight up to the model's pipeline depth. `progress` is told the windows done so far.
WindowScores score_windows(LanguageModel& model, LanguageModel* base, std::span<const std::int32_t> ids,
                           std::span<const std::size_t> starts, const ScoringOptions& options,
                           const std::function<void(std::size_t)>& progress = {});

}  // namespace shardlm
