// shardlm-kernel-bench: the matmul kernels alone, on every matrix of a decoder shaped by a config.json
// with random weights (runtime/model/random_weights.h). Decode passes one token (or a small batch)
// through all matrices, LM head included, and reports the weight bytes read per second against the
// machine's read bandwidth probed right before each run (the median of the runs' fractions, taken with
// each run's median pass and with its fastest), and against a single pass of the probe's read taken
// right before each decode pass (paired_reads.h); prefill passes a prompt through the layers' matrices
// and reports tokens per second. --cache-rows also times decode of a block small enough to stay in cache.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/median.h"
#include "bench/paired_reads.h"
#include "bench/tool_main.h"
#include "runtime/io/json_file.h"
#include "runtime/kernels/bf16_activations.h"
#include "runtime/kernels/blas_threads.h"
#include "runtime/kernels/matmul.h"
#include "runtime/kernels/weight_matrix.h"
#include "runtime/model/random_weights.h"
#include "runtime/system/memory_bandwidth.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::bench {
namespace {

// bf16 runs prefill as the shardlm command does by default, with Bf16Activations::kRounded; with
// "-exact" appended (bf16-exact), as under --exact-bf16, with Bf16Activations::kSplit.
constexpr std::string_view kExactSuffix = "-exact";

struct Options {
  std::string config = "bench/configs/llama-1b.json";
  std::size_t threads = 2;
  std::vector<std::string> formats{"f32", "bf16", "bf16-exact", "q8", "q4"};
  int runs = 5;
  std::size_t batch = 1;
  std::size_t prompt_tokens = 512;
  std::size_t prefill_layers = 2;
  std::size_t cache_rows = 0;
};

struct Result {
  std::string format;
  double weight_gb = 0;
  double probe_gbs = 0;        // median of the probes taken right before each decode run
  double decode_seconds = 0;   // median over the runs
  double probe_fraction = 0;   // median over the runs of decode GB/s / that run's probe
  // The same with each run's fastest decode pass: the probe is the fastest of its passes, so this
  // compares like with like, where probe_fraction sets a median against a best.
  double best_pass_fraction = 0;
  // Each decode pass against a pass of the probe's read taken right before it (paired_reads.h).
  PairedFractions paired;
  double cached_gbs = 0;  // decode of a block of cache_rows rows that stays in cache; 0 when not asked
  double prefill_tokens_per_s = 0;
};

// Each decode run times this many passes; the first run comes after one untimed pass.
constexpr int kDecodesPerRun = 3;

// Decode from cache (--cache-rows) times this many passes at a time: one takes microseconds.
constexpr int kCachedPassesPerTiming = 200;

// Seconds of each of `runs` passes of body, after one untimed pass.
template <typename Body>
std::vector<double> timed_passes(int runs, const Body& body) {
  body();  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    body();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return seconds;
}

template <typename Body>
double median_seconds(int runs, const Body& body) {
  return median(timed_passes(runs, body));
}

std::vector<float> activations(std::size_t n) {
  std::vector<float> x(n);
  std::uint32_t state = 12345;
  for (float& value : x) {
    state = state * 1664525u + 1013904223u;
    value = static_cast<float>(static_cast<int>(state >> 8) - (1 << 23)) / static_cast<float>(1 << 23);
  }
  return x;
}

// The machine's load average over the last minute, which tells whether other work shared the cores.
std::string load_average() {
  std::string one_minute = "?";
  std::ifstream("/proc/loadavg") >> one_minute;
  return one_minute;
}

// The layers' matrices in order (q, k, v, o, gate, up, down per layer), then the LM head.
std::vector<WeightMatrix> decoder_matrices(const ModelWeights& weights) {
  std::vector<WeightMatrix> matrices;
  for (const LayerWeights& layer : weights.layers) {
    for (const Linear* linear : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      matrices.push_back(linear->weight);
    }
  }
  matrices.push_back(weights.lm_head);
  return matrices;
}

Result run_format(ThreadPool& pool, const Options& options, const ModelConfig& config, const std::string& name,
                  std::span<const std::uint64_t> probe_words) {
  const bool exact = name.ends_with(kExactSuffix);
  const RandomWeightFormat format = parse_weight_format(exact ? name.substr(0, name.size() - kExactSuffix.size()) : name);
  if (exact && (format.quantized() || format.dtype != DType::BF16)) {
    throw std::invalid_argument("'" + name + "': only bf16 has an exact form (bf16-exact)");
  }
  ModelSlice slice = ModelSlice::whole(config);
  slice.has_embedding = false;  // decode reads the LM head, not the embedding
  const ModelWeights weights = random_model_weights(config, slice, format, 1, pool);
  const std::vector<WeightMatrix> matrices = decoder_matrices(weights);
  set_bf16_activations(exact ? Bf16Activations::kSplit : Bf16Activations::kRounded);

  Result result;
  result.format = name;
  std::size_t widest = 0, tallest = 0, bytes = 0;
  for (const WeightMatrix& m : matrices) {
    widest = std::max(widest, m.cols);
    tallest = std::max(tallest, m.rows);
    bytes += weight_bytes(m);
  }
  result.weight_gb = static_cast<double>(bytes) / 1e9;

  const std::size_t most_tokens = std::max(options.batch, options.prompt_tokens);
  const std::vector<float> x = activations(most_tokens * widest);
  std::vector<float> y(most_tokens * tallest);
  // The bandwidth that other work on the machine leaves changes from one second to the next, so
  // every decode run is paired with a probe taken right before it, and the fraction of the probe is
  // the median of the runs' own fractions; and every decode pass with a pass of the probe's read.
  const auto decode = [&] {
    for (const WeightMatrix& m : matrices) matmul(pool, m, x.data(), options.batch, y.data());
  };
  std::vector<double> probes, decode_seconds, fractions, best_pass_fractions, pass_gbs, plain_gbs;
  decode();  // warm-up
  for (int run = 0; run < options.runs; ++run) {
    probes.push_back(probe_read_bandwidth(probe_words, options.threads) / 1e9);
    std::vector<double> passes;
    for (int pass = 0; pass < kDecodesPerRun; ++pass) {
      plain_gbs.push_back(plain_read_gbs(probe_words, options.threads));
      const auto start = std::chrono::steady_clock::now();
      decode();
      passes.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      pass_gbs.push_back(result.weight_gb / passes.back());
    }
    decode_seconds.push_back(median(passes));
    fractions.push_back(result.weight_gb / decode_seconds.back() / probes.back());
    best_pass_fractions.push_back(result.weight_gb / *std::min_element(passes.begin(), passes.end()) / probes.back());
  }
  result.probe_gbs = median(probes);
  result.decode_seconds = median(decode_seconds);
  result.probe_fraction = median(fractions);
  result.best_pass_fraction = median(best_pass_fractions);
  result.paired = paired_fractions(pass_gbs, plain_gbs);

  // What the kernels do when memory is not the limit: the first cache_rows rows of the first layer's
  // gate projection, small enough to stay in the threads' caches, decoded over and over.
  if (options.cache_rows > 0) {
    const WeightMatrix& gate = weights.layers.front().gate.weight;
    const WeightMatrix block = weight_block(gate, 0, std::min(options.cache_rows, gate.rows), 0, gate.cols);
    const double seconds = median_seconds(options.runs, [&] {
      for (int i = 0; i < kCachedPassesPerTiming; ++i) matmul(pool, block, x.data(), options.batch, y.data());
    });
    result.cached_gbs = kCachedPassesPerTiming * static_cast<double>(weight_bytes(block)) / seconds / 1e9;
  }

  const auto layers = std::min(options.prefill_layers, static_cast<std::size_t>(config.num_layers));
  if (options.prompt_tokens > 0 && layers > 0) {
    const std::size_t n = layers * (matrices.size() - 1) / static_cast<std::size_t>(config.num_layers);
    const double seconds = median_seconds(options.runs, [&] {
      for (std::size_t i = 0; i < n; ++i) matmul(pool, matrices[i], x.data(), options.prompt_tokens, y.data());
    });
    const double model_seconds = seconds * static_cast<double>(config.num_layers) / static_cast<double>(layers);
    result.prefill_tokens_per_s = static_cast<double>(options.prompt_tokens) / model_seconds;
  }
  set_bf16_activations(Bf16Activations::kSplit);
  return result;
}

int run(const Options& options) {
  const ModelConfig config = parse_model_config(read_json_file(options.config));
  ThreadPool pool(options.threads);
  set_blas_threads(static_cast<int>(options.threads));
  const std::string load_before = load_average();
  // The probes' buffer, written once: every run's probe and the plain read before each decode pass.
  std::vector<std::uint64_t> probe_words(bandwidth_probe_bytes() / sizeof(std::uint64_t));
  std::iota(probe_words.begin(), probe_words.end(), std::uint64_t{0});
  const double probe_before = probe_read_bandwidth(probe_words, options.threads) / 1e9;
  std::printf("%s, kernels: %s, threads: %zu, read bandwidth probe: %.2f GB/s, load average %s\n",
              options.config.c_str(), matmul_kernel_name(), options.threads, probe_before, load_before.c_str());
  std::vector<Result> results;
  for (const std::string& name : options.formats) {
    results.push_back(run_format(pool, options, config, name, probe_words));
    const Result& r = results.back();
    std::fprintf(stderr, "%s: probe %.2f GB/s, decode %.2f ms, prefill %.1f tokens/s, load average %s\n",
                 r.format.c_str(), r.probe_gbs, r.decode_seconds * 1e3, r.prefill_tokens_per_s, load_average().c_str());
  }
  const double probe_after = probe_read_bandwidth(probe_words, options.threads) / 1e9;
  std::printf("read bandwidth probe after the runs: %.2f GB/s, load average %s\n\n", probe_after,
              load_average().c_str());

  const auto f32 = std::find_if(results.begin(), results.end(), [](const Result& r) { return r.format == "f32"; });
  std::printf("| weights | GB | decode ms/token | decode GB/s | probe GB/s | %% of probe | %% of probe, best pass "
              "| %% of the read before | slower half | faster half | prefill %zu tok/s | vs f32 |\n",
              options.prompt_tokens);
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const Result& r : results) {
    const double gbs = r.weight_gb / r.decode_seconds;
    std::printf("| %s | %.3f | %.2f | %.2f | %.2f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f | ",
                r.format.c_str(), r.weight_gb, r.decode_seconds * 1e3, gbs, r.probe_gbs, 100.0 * r.probe_fraction,
                100.0 * r.best_pass_fraction, 100.0 * r.paired.all, 100.0 * r.paired.slower, 100.0 * r.paired.faster,
                r.prefill_tokens_per_s);
    if (f32 != results.end() && f32->prefill_tokens_per_s > 0) {
      std::printf("%.2fx |\n", r.prefill_tokens_per_s / f32->prefill_tokens_per_s);
    } else {
      std::printf("- |\n");
    }
  }
  if (options.cache_rows > 0) {
    std::printf("\nDecode from cache (%zu rows of the first gate projection, %d passes a timing):\n\n",
                options.cache_rows, kCachedPassesPerTiming);
    std::printf("| weights | GB/s | GB/s per thread |\n| --- | --- | --- |\n");
    for (const Result& r : results) {
      std::printf("| %s | %.1f | %.1f |\n", r.format.c_str(), r.cached_gbs,
                  r.cached_gbs / static_cast<double>(options.threads));
    }
  }
  return 0;
}

}  // namespace
}  // namespace shardlm::bench

int main(int argc, char** argv) {
  CLI::App app("Time the matmul kernels on a random-weight decoder", "shardlm-kernel-bench");
  shardlm::bench::Options options;
  app.add_option("--config", options.config, "config.json giving the decoder's shape")->capture_default_str();
  app.add_option("--threads", options.threads)->capture_default_str();
  app.add_option("--formats", options.formats, "f32, bf16, q8, q4; bf16-exact splits bf16 prefill's activations in two bf16 parts")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--runs", options.runs, "Timed runs; the median counts")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", options.batch, "Tokens per decode step")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--prompt-tokens", options.prompt_tokens, "0 skips prefill")->capture_default_str();
  app.add_option("--prefill-layers", options.prefill_layers, "Layers timed for prefill, scaled up to the whole decoder")
      ->capture_default_str();
  app.add_option("--cache-rows", options.cache_rows,
                 "Also time decode of this many rows of one matrix, small enough to stay in cache: the "
                 "kernels' speed where memory is not the limit (0: skip)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return shardlm::bench::run_tool("shardlm-kernel-bench", [&] { return shardlm::bench::run(options); });
}
