// shardlm-attention-bench: decode attention alone, one query position through every layer of a
// decoder shaped by a config.json, over a cache of random keys and values, for several cache lengths.
// Times the cache as KVCache keeps it (head by head) against the same keys and values position by
// position, the two taking turns, and reports milliseconds per token and the key and value bytes
// read per second.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/median.h"
#include "bench/tool_main.h"
#include "runtime/io/json_file.h"
#include "runtime/kernels/matmul.h"
#include "runtime/model/model_config.h"
#include "runtime/ops/attention.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::bench {
namespace {

struct Options {
  std::string config = "bench/configs/llama-1b.json";
  std::size_t threads = 2;
  std::vector<std::size_t> positions{128, 512, 2048, 8192};
  int runs = 9;
};

// One layer's cached keys and values in both layouts.
struct LayerCache {
  std::vector<float> head_keys, head_values, row_keys, row_values;
};

int run(const Options& options) {
  const ModelConfig config = parse_model_config(read_json_file(options.config));
  const auto head_dim = static_cast<std::size_t>(config.head_dim);
  const auto q_heads = static_cast<std::size_t>(config.num_heads);
  const auto kv_heads = static_cast<std::size_t>(config.num_kv_heads);
  const auto layers = static_cast<std::size_t>(config.num_layers);
  std::vector<std::size_t> kv_head_of_q_head;
  for (std::size_t h = 0; h < q_heads; ++h) kv_head_of_q_head.push_back(h / (q_heads / kv_heads));
  ThreadPool pool(options.threads);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::printf("%s, kernels: %s, threads: %zu, %zu layers of %zu query and %zu KV heads of %zu\n\n",
              options.config.c_str(), matmul_kernel_name(), options.threads, layers, q_heads, kv_heads, head_dim);
  std::printf("| cached tokens | head by head ms/token | position by position ms/token | ratio | head by head GB/s |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  for (const std::size_t positions : options.positions) {
    const std::size_t kv_width = kv_heads * head_dim;
    std::vector<LayerCache> caches(layers);
    for (LayerCache& cache : caches) {
      cache.row_keys.resize(positions * kv_width);
      cache.row_values.resize(positions * kv_width);
      for (auto* v : {&cache.row_keys, &cache.row_values}) {
        for (float& x : *v) x = normal(rng);
      }
      cache.head_keys.resize(positions * kv_width);
      cache.head_values.resize(positions * kv_width);
      for (std::size_t p = 0; p < positions; ++p) {
        for (std::size_t h = 0; h < kv_heads; ++h) {
          std::copy_n(cache.row_keys.begin() + static_cast<std::ptrdiff_t>(p * kv_width + h * head_dim), head_dim,
                      cache.head_keys.begin() + static_cast<std::ptrdiff_t>((h * positions + p) * head_dim));
          std::copy_n(cache.row_values.begin() + static_cast<std::ptrdiff_t>(p * kv_width + h * head_dim), head_dim,
                      cache.head_values.begin() + static_cast<std::ptrdiff_t>((h * positions + p) * head_dim));
        }
      }
    }
    std::vector<float> queries(q_heads * head_dim), out(q_heads * head_dim);
    for (float& x : queries) x = normal(rng);
    const auto token = [&](bool head_major) {
      const auto start = std::chrono::steady_clock::now();
      for (const LayerCache& cache : caches) {
        AttentionInputs inputs;
        inputs.queries = queries.data();
        inputs.n_queries = 1;
        inputs.first_position = static_cast<std::int64_t>(positions) - 1;
        inputs.keys = head_major ? cache.head_keys.data() : cache.row_keys.data();
        inputs.values = head_major ? cache.head_values.data() : cache.row_values.data();
        inputs.kv_row_stride = head_major ? head_dim : kv_width;
        inputs.kv_head_stride = head_major ? positions * head_dim : head_dim;
        inputs.head_dim = head_dim;
        inputs.kv_head_of_q_head = kv_head_of_q_head;
        causal_attention(pool, inputs, out.data());
      }
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::vector<double> head_major, position_major;
    for (int run = 0; run < options.runs; ++run) {
      head_major.push_back(token(true));
      position_major.push_back(token(false));
    }
    const double bytes = 2.0 * static_cast<double>(layers * positions * kv_width) * sizeof(float);
    std::printf("| %zu | %.3f | %.3f | %.2f | %.1f |\n", positions, 1e3 * median(head_major),
                1e3 * median(position_major), median(position_major) / median(head_major),
                bytes / median(head_major) / 1e9);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace shardlm::bench

int main(int argc, char** argv) {
  CLI::App app("Time decode attention over a cache of random keys and values", "shardlm-attention-bench");
  shardlm::bench::Options options;
  app.add_option("--config", options.config, "config.json giving the decoder's shape")->capture_default_str();
  app.add_option("--threads", options.threads)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--positions", options.positions, "Cached tokens, e.g. --positions 512,2048")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--runs", options.runs, "Timed tokens of each layout; the median counts")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return shardlm::bench::run_tool("shardlm-attention-bench", [&] { return shardlm::bench::run(options); });
}
