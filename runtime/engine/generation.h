#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/engine/language_model.h"
#include "runtime/sampling/sampler.h"

namespace shardlm {

struct GenerationRequest {
  std::vector<std::int32_t> prompt;
  SamplingParams sampling;
  std::int32_t max_tokens = 128;
  std::vector<std::int32_t> stop_tokens;  // generation ends after producing one of these
};

enum class StopReason { MaxTokens, StopToken, ContextFull };

struct GenerationResult {
  std::vector<std::int32_t> tokens;  // generated ids, including a final stop token
  std::int32_t prompt_tokens = 0;
  StopReason stop_reason = StopReason::MaxTokens;
  double prompt_seconds = 0.0;      // prefill up to the first token's logits
  double generation_seconds = 0.0;  // every decode step after that
  std::int32_t decode_steps = 0;    // forward passes of one token after the prompt

  double prompt_tokens_per_second() const;
  double generation_tokens_per_second() const;  // decode steps per second
};

// Called as each token is chosen, with the index of its request (for streaming).
using TokenCallback = std::function<void(std::size_t request, std::int32_t token)>;

// Generates for several requests at once: one prefill of every prompt, then decode steps that
// advance every unfinished sequence together, so each step reads the weights once for all of them
// and a pipeline of ranks has several sequences to keep its stages busy. Each request has its own
// sampler and stops on its own. Sequences are opened and closed on `model`.
std::vector<GenerationResult> generate_batch(LanguageModel& model, const std::vector<GenerationRequest>& requests,
                                             const TokenCallback& on_token = {});

// One request.
GenerationResult generate(LanguageModel& model, const GenerationRequest& request,
                          const std::function<void(std::int32_t)>& on_token = {});

}  // namespace shardlm
