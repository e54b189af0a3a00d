#include "runtime/eval/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <stdexcept>

#include "runtime/ops/softmax.h"

namespace shardlm {

namespace {

// One pass of a few windows, open on the model (and the base model) until it is scored.
struct WindowPass {
  std::vector<std::size_t> starts;
  std::vector<SequenceId> sequences;
  std::vector<SequenceId> base_sequences;
  PassId pass = 0;
  PassId base_pass = 0;
};

std::vector<SequenceTokens> window_batch(LanguageModel& model, std::span<const std::int32_t> ids,
                                         const std::vector<std::size_t>& starts, std::size_t seq_len,
                                         std::vector<SequenceId>& sequences) {
  std::vector<SequenceTokens> batch;
  for (const std::size_t start : starts) {
    sequences.push_back(model.open_sequence());
    batch.push_back({sequences.back(), ids.subspan(start, seq_len)});
  }
  return batch;
}

void score_position(const float* row, const float* base_row, std::size_t vocab, std::int32_t target,
                    WindowScores& scores) {
  const double lse = log_sum_exp(row, vocab);
  scores.nll.add(lse - row[target]);
  if (base_row == nullptr) return;
  const double base_lse = log_sum_exp(base_row, vocab);
  double kl = 0.0;
  for (std::size_t v = 0; v < vocab; ++v) {
    const double base_log_p = base_row[v] - base_lse;
    kl += std::exp(base_log_p) * (base_log_p - (row[v] - lse));
  }
  scores.kl.add(std::max(kl, 0.0));
  const auto top = std::max_element(row, row + vocab) - row;
  const auto base_top = std::max_element(base_row, base_row + vocab) - base_row;
  if (top == base_top) scores.top1_agreements += 1.0;
}

}  // namespace

void WindowScores::merge(const WindowScores& other) {
  nll.merge(other.nll);
  kl.merge(other.kl);
  top1_agreements += other.top1_agreements;
  windows += other.windows;
}

double WindowScores::perplexity() const { return std::exp(nll.mean); }

double WindowScores::perplexity_standard_error() const { return perplexity() * nll.standard_error(); }

WindowScores score_windows(LanguageModel& model, LanguageModel* base, std::span<const std::int32_t> ids,
                           std::span<const std::size_t> starts, const ScoringOptions& options,
                           const std::function<void(std::size_t)>& progress) {
  const std::size_t seq_len = options.seq_len;
  const std::size_t vocab = static_cast<std::size_t>(model.config().vocab_size);
  if (base != nullptr && base->config().vocab_size != model.config().vocab_size) {
    throw std::invalid_argument(fmt::format("the base model's vocabulary ({}) differs from the model's ({})",
                                            base->config().vocab_size, vocab));
  }
  if (static_cast<std::int64_t>(seq_len) > model.config().max_position_embeddings) {
    throw std::invalid_argument(fmt::format("seq-len {} exceeds the model's max_position_embeddings {}", seq_len,
                                            model.config().max_position_embeddings));
  }
  const std::size_t in_flight = static_cast<std::size_t>(std::max(1, model.useful_passes_in_flight()));
  const std::size_t window_bytes = seq_len * vocab * sizeof(float) * (base != nullptr ? 2 : 1);
  const std::size_t batch =
      std::max<std::size_t>(1, std::min(options.batch_size, options.max_logits_bytes / (window_bytes * in_flight)));

  WindowScores scores;
  std::deque<WindowPass> pending;
  std::size_t next = 0;
  std::vector<float> logits;
  std::vector<float> base_logits;
  while (next < starts.size() || !pending.empty()) {
    while (next < starts.size() && pending.size() < in_flight) {
      WindowPass& window_pass = pending.emplace_back();
      const std::size_t count = std::min(batch, starts.size() - next);
      window_pass.starts.assign(starts.begin() + static_cast<std::ptrdiff_t>(next),
                                starts.begin() + static_cast<std::ptrdiff_t>(next + count));
      next += count;
      window_pass.pass = model.submit(window_batch(model, ids, window_pass.starts, seq_len, window_pass.sequences), true);
      if (base != nullptr) {
        window_pass.base_pass =
            base->submit(window_batch(*base, ids, window_pass.starts, seq_len, window_pass.base_sequences), true);
      }
    }
    WindowPass& done = pending.front();
    model.wait(done.pass, logits);
    if (base != nullptr) base->wait(done.base_pass, base_logits);
    for (std::size_t w = 0; w < done.starts.size(); ++w) {
      for (std::size_t t = 1; t < seq_len; ++t) {
        const std::size_t row = (w * seq_len + t - 1) * vocab;
        score_position(logits.data() + row, base != nullptr ? base_logits.data() + row : nullptr, vocab,
                       ids[done.starts[w] + t], scores);
      }
    }
    for (const auto sequence : done.sequences) model.close_sequence(sequence);
    for (const auto sequence : done.base_sequences) base->close_sequence(sequence);
    scores.windows += done.starts.size();
    pending.pop_front();
    if (progress) progress(scores.windows);
  }
  return scores;
}

}  // namespace shardlm
