// shardlm-sampling-bench: the sampler alone, on random logits of a vocabulary's size, with the given
// temperature and filters; reports milliseconds per sampled token (the median of --runs batches).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/tool_main.h"
#include "runtime/sampling/sampler.h"

namespace shardlm::bench {
namespace {

struct Options {
  std::size_t vocab = 128256;
  float spread = 3.0f;
  SamplingParams sampling{0.7f, 0, 0.9f, 0.0f, 1.0f, 64, 1};
  int runs = 9;
  int tokens_per_run = 20;
};

int run(const Options& options) {
  options.sampling.validate();
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, options.spread);
  std::vector<float> logits(options.vocab);
  for (float& x : logits) x = normal(rng);
  Sampler sampler(options.sampling);
  std::vector<double> times;
  for (int r = 0; r < options.runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < options.tokens_per_run; ++t) {
      std::vector<float> copy = logits;
      sampler.sample(copy, {});
    }
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                    options.tokens_per_run);
  }
  std::sort(times.begin(), times.end());
  std::printf("vocabulary %zu, logits N(0, %.1f), temperature %.2f, top-k %d, top-p %.2f, min-p %.2f: %.3f ms a token\n",
              options.vocab, options.spread, options.sampling.temperature, options.sampling.top_k,
              options.sampling.top_p, options.sampling.min_p, 1e3 * times[times.size() / 2]);
  return 0;
}

}  // namespace
}  // namespace shardlm::bench

int main(int argc, char** argv) {
  CLI::App app("Time the sampler on random logits", "shardlm-sampling-bench");
  shardlm::bench::Options options;
  app.add_option("--vocab", options.vocab, "Vocabulary size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--spread", options.spread, "Standard deviation of the random logits")->capture_default_str();
  app.add_option("--temp", options.sampling.temperature)->capture_default_str();
  app.add_option("--top-k", options.sampling.top_k)->capture_default_str();
  app.add_option("--top-p", options.sampling.top_p)->capture_default_str();
  app.add_option("--min-p", options.sampling.min_p)->capture_default_str();
  app.add_option("--runs", options.runs, "Timed batches; the median counts")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return shardlm::bench::run_tool("shardlm-sampling-bench", [&] { return shardlm::bench::run(options); });
}
