#pragma once

#include <cstdint>
#include <vector>

#include "runtime/engine/language_model.h"

namespace shardlm::bench {

// What one configuration generates: `batch` prompts of `prompt_tokens` random ids, `gen_tokens` new
// tokens each.
struct BenchCase {
  std::int32_t prompt_tokens = 2048;
  std::int32_t gen_tokens = 128;
  std::int32_t batch = 1;
};

// One timed generation.
struct Trial {
  double prompt_seconds = 0.0;      // from submitting the prompts to the first tokens' logits
  double generation_seconds = 0.0;  // every decode step after that
  std::int32_t decode_steps = 0;    // per sequence: gen_tokens - 1 (the first token comes from the prompt)
  std::vector<double> mpi_seconds;  // each rank's time inside MPI during the decode steps, in rank order
};

// Generates for the case on `model`, greedily and without stop tokens, so that every sequence runs its
// full length, through the same generate_batch() that `shardlm generate` uses. Prompt ids are drawn
// from the vocabulary with `seed`. Each rank's MPI time is read when the last prompt's first token is
// out and again at the end.
Trial run_trial(LanguageModel& model, const BenchCase& bench_case, std::uint64_t seed);

}  // namespace shardlm::bench
