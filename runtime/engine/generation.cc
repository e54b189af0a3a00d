#include "runtime/engine/generation.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <stdexcept>

namespace shardlm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Closes the sequences however generation ends.
class OpenSequences {
 public:
  OpenSequences(LanguageModel& model, std::size_t n) : model_(model) {
    for (std::size_t i = 0; i < n; ++i) ids_.push_back(model.open_sequence());
  }
  ~OpenSequences() {
    for (const auto id : ids_) model_.close_sequence(id);
  }
  OpenSequences(const OpenSequences&) = delete;
  OpenSequences& operator=(const OpenSequences&) = delete;
  SequenceId operator[](std::size_t i) const { return ids_[i]; }

 private:
  LanguageModel& model_;
  std::vector<SequenceId> ids_;
};

void check_request(const GenerationRequest& request, std::int64_t context_limit) {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  if (request.max_tokens < 0) throw std::invalid_argument("max-tokens must be >= 0");
  if (static_cast<std::int64_t>(request.prompt.size()) > context_limit) {
    throw std::invalid_argument("the prompt is longer than the model's context (max_position_embeddings)");
  }
  request.sampling.validate();
}

}  // namespace

double GenerationResult::prompt_tokens_per_second() const {
  return prompt_seconds > 0.0 ? prompt_tokens / prompt_seconds : 0.0;
}

double GenerationResult::generation_tokens_per_second() const {
  return generation_seconds > 0.0 ? decode_steps / generation_seconds : 0.0;
}

std::vector<GenerationResult> generate_batch(LanguageModel& model, const std::vector<GenerationRequest>& requests,
                                             const TokenCallback& on_token) {
  const std::int64_t context_limit = model.config().max_position_embeddings;
  for (const auto& request : requests) check_request(request, context_limit);
  const std::size_t n = requests.size();
  const std::size_t vocab = static_cast<std::size_t>(model.config().vocab_size);

  std::vector<GenerationResult> results(n);
  std::vector<Sampler> samplers;
  std::vector<std::vector<std::int32_t>> histories;
  for (const auto& request : requests) {
    samplers.emplace_back(request.sampling);
    histories.push_back(request.prompt);
  }
  OpenSequences sequences(model, n);

  // Row i of `logits` belongs to request active[i].
  std::vector<std::size_t> active;
  std::vector<SequenceTokens> batch;
  for (std::size_t i = 0; i < n; ++i) {
    results[i].prompt_tokens = static_cast<std::int32_t>(requests[i].prompt.size());
    active.push_back(i);
    batch.push_back({sequences[i], requests[i].prompt});
  }
  std::vector<float> logits;
  const auto prefill_start = Clock::now();
  if (!batch.empty()) model.forward(batch, false, logits);
  const double prompt_seconds = seconds_since(prefill_start);

  const auto decode_start = Clock::now();
  while (!active.empty()) {
    std::vector<std::size_t> still_active;
    batch.clear();
    for (std::size_t row = 0; row < active.size(); ++row) {
      const std::size_t i = active[row];
      const GenerationRequest& request = requests[i];
      GenerationResult& result = results[i];
      if (result.tokens.size() >= static_cast<std::size_t>(request.max_tokens)) continue;
      const std::span<float> row_logits(logits.data() + row * vocab, vocab);
      const std::int32_t token = samplers[i].sample(row_logits, histories[i]);
      result.tokens.push_back(token);
      histories[i].push_back(token);
      if (on_token) on_token(i, token);
      if (std::find(request.stop_tokens.begin(), request.stop_tokens.end(), token) != request.stop_tokens.end()) {
        result.stop_reason = StopReason::StopToken;
        continue;
      }
      if (result.tokens.size() == static_cast<std::size_t>(request.max_tokens)) continue;
      if (static_cast<std::int64_t>(histories[i].size()) >= context_limit) {
        result.stop_reason = StopReason::ContextFull;
        continue;
      }
      still_active.push_back(i);
      batch.push_back({sequences[i], std::span<const std::int32_t>(&histories[i].back(), 1)});
    }
    active = std::move(still_active);
    if (active.empty()) break;
    model.forward(batch, false, logits);
    for (const std::size_t i : active) ++results[i].decode_steps;
  }
  const double generation_seconds = seconds_since(decode_start);
  for (auto& result : results) {
    result.prompt_seconds = prompt_seconds;
    result.generation_seconds = generation_seconds;
  }
  return results;
}

GenerationResult generate(LanguageModel& model, const GenerationRequest& request,
                          const std::function<void(std::int32_t)>& on_token) {
  TokenCallback callback;
  if (on_token) callback = [&](std::size_t, std::int32_t token) { on_token(token); };
  return generate_batch(model, {request}, callback).front();
}

}  // namespace shardlm
