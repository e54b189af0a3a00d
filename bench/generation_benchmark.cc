#include "bench/generation_benchmark.h"

#include <random>

#include "runtime/engine/generation.h"

namespace shardlm::bench {

Trial run_trial(LanguageModel& model, const BenchCase& bench_case, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(model.config().vocab_size - 1));
  std::vector<GenerationRequest> requests(static_cast<std::size_t>(bench_case.batch));
  for (auto& request : requests) {
    request.prompt.resize(static_cast<std::size_t>(bench_case.prompt_tokens));
    for (auto& id : request.prompt) id = token(rng);
    request.max_tokens = bench_case.gen_tokens;
  }

  // The first token of every request marks the end of the prompts' passes: MPI time from there on
  // belongs to decoding.
  std::vector<RankReport> at_first_tokens;
  std::size_t first_tokens = 0;
  std::vector<bool> started(requests.size(), false);
  const auto on_token = [&](std::size_t request, std::int32_t) {
    if (started[request]) return;
    started[request] = true;
    if (++first_tokens == requests.size()) at_first_tokens = model.rank_reports();
  };
  const std::vector<GenerationResult> results = generate_batch(model, requests, on_token);
  const std::vector<RankReport> at_end = model.rank_reports();

  Trial trial;
  trial.prompt_seconds = results.front().prompt_seconds;
  trial.generation_seconds = results.front().generation_seconds;
  trial.decode_steps = results.front().decode_steps;
  for (std::size_t r = 0; r < at_end.size(); ++r) {
    trial.mpi_seconds.push_back(at_end[r].mpi_seconds - at_first_tokens.at(r).mpi_seconds);
  }
  return trial;
}

}  // namespace shardlm::bench
