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

  // The requests are dealt into as many groups as the model overlaps passes (its pipeline stages):
  // while one group's logits are sampled, the other groups' passes move through the stages.
  const std::size_t group_count = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, model.useful_passes_in_flight())));
  struct Group {
    std::vector<std::size_t> members;  // requests whose rows the pending pass returns, in row order
    PassId pass = 0;
    bool in_flight = false;
  };
  std::vector<Group> groups(group_count);
  for (std::size_t i = 0; i < n; ++i) groups[i % group_count].members.push_back(i);

  const auto start = Clock::now();
  for (auto& group : groups) {
    std::vector<SequenceTokens> batch;
    for (const std::size_t i : group.members) {
      results[i].prompt_tokens = static_cast<std::int32_t>(requests[i].prompt.size());
      batch.push_back({sequences[i], requests[i].prompt});
    }
    group.pass = model.submit(batch, false);
    group.in_flight = true;
  }

  std::vector<float> logits;
  std::size_t prefills_done = 0;
  double prompt_seconds = 0.0;
  Clock::time_point decode_start = start;
  for (bool any_in_flight = group_count > 0; any_in_flight;) {
    any_in_flight = false;
    for (auto& group : groups) {
      if (!group.in_flight) continue;
      model.wait(group.pass, logits);
      if (++prefills_done == group_count) {
        prompt_seconds = seconds_since(start);
        decode_start = Clock::now();
      }
      std::vector<std::size_t> still_active;
      std::vector<SequenceTokens> batch;
      for (std::size_t row = 0; row < group.members.size(); ++row) {
        const std::size_t i = group.members[row];
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
        ++result.decode_steps;
      }
      group.members = std::move(still_active);
      group.in_flight = !batch.empty();
      if (group.in_flight) {
        group.pass = model.submit(batch, false);
        any_in_flight = true;
      }
    }
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
