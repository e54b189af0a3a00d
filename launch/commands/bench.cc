#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "bench/bench_results.h"
#include "bench/generation_benchmark.h"
#include "comm/communicator.h"
#include "comm/world.h"
#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "launch/cli/rank_reports.h"
#include "launch/commands/commands.h"
#include "runtime/io/json_file.h"
#include "runtime/io/safetensors.h"
#include "runtime/system/memory_bandwidth.h"
#include "runtime/system/memory_usage.h"

namespace shardlm::cli {

namespace {

struct BenchOptions {
  ModelOptions model;
  LayoutOptions layout;
  int replicas = 1;
  std::string config_file;
  bool dummy = false;
  std::string dtype;
  std::vector<std::int32_t> prompt_tokens{2048};
  std::int32_t gen_tokens = 128;
  std::int32_t batch = 1;
  int warmup = 1;
  int trials = 5;
  std::uint64_t seed = 0;
  std::string json_file;
  std::string csv_file;
};

// The model to measure, its name for the table and the format its weights are stored in.
struct BenchModel {
  ModelSource source;
  std::string name;
  std::string dtype;
};

std::string folder_dtype(const ModelSource& source) {
  const auto& quantization = source.config().quantization;
  if (quantization.defaults) return fmt::format("q{}", quantization.defaults->bits);
  const TensorEntry* embedding = source.model_folder()->find_tensor("model.embed_tokens.weight");
  if (embedding == nullptr) return "?";
  std::string name = storage_type_name(embedding->type);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

BenchModel open_bench_model(const BenchOptions& options) {
  const bool folder = !options.model.model_dir.empty();
  if (!folder && options.config_file.empty()) {
    throw std::invalid_argument(options.dummy ? "--dummy needs --config FILE: the shape of the model to generate"
                                              : "give --model DIR, or --config FILE --dummy");
  }
  if (folder) {
    if (options.dummy) throw std::invalid_argument("--dummy needs --config FILE (random weights of its shape), not --model");
    if (!options.dtype.empty()) {
      throw std::invalid_argument("--dtype applies to --dummy weights; a --model folder runs in the format it is stored in");
    }
    ModelSource source = ModelSource::folder(options.model.model_dir);
    std::string dtype = folder_dtype(source);
    return {std::move(source), std::filesystem::path(options.model.model_dir).filename().string(), dtype};
  }
  if (!options.dummy) {
    throw std::invalid_argument("--config gives only a shape: add --dummy to benchmark it with random weights");
  }
  ModelConfig config;
  try {
    config = parse_model_config(read_json_file(options.config_file));
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: {}", options.config_file, error.what()));
  }
  const RandomWeightFormat format = parse_weight_format(options.dtype.empty() ? "bf16" : options.dtype);
  return {ModelSource::random(std::move(config), format, options.seed),
          std::filesystem::path(options.config_file).stem().string(), weight_format_name(format)};
}

void check_lengths(const BenchOptions& options, const ModelConfig& config) {
  for (const std::int32_t prompt : options.prompt_tokens) {
    if (prompt + options.gen_tokens > config.max_position_embeddings) {
      throw std::invalid_argument(fmt::format(
          "--prompt-tokens {} and --gen-tokens {} make {} positions, more than the model's max_position_embeddings {}",
          prompt, options.gen_tokens, prompt + options.gen_tokens, config.max_position_embeddings));
    }
  }
}

// Every rank measures its memory bandwidth at once, as it will read its weights when decoding, and
// rank 0 receives all of them (in rank order). The probe's buffer is then no longer part of the peak.
std::vector<double> probe_all_ranks(int threads) {
  const comm::World* job = world();
  if (job != nullptr) job->all().barrier();
  const double mine = probe_memory_bandwidth(static_cast<std::size_t>(threads));
  reset_peak_rss();
  if (job == nullptr) return {mine};
  return job->all().all_gather(mine);
}

nlohmann::json trials_json(const std::vector<bench::Trial>& trials) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : trials) {
    out.push_back({t.prompt_seconds, t.generation_seconds, t.decode_steps, t.mpi_seconds});
  }
  return out;
}

// With replicas, every replica ran the same trials at once: a trial lasts as long as its slowest
// replica, and its ranks are all replicas' ranks. Replica leaders other than 0 get their own trials back.
std::vector<bench::Trial> combine_replicas(const std::vector<bench::Trial>& mine, const ReplicaContext& replica) {
  if (replica.leaders == nullptr) return mine;
  const auto texts = replica.leaders->gather_text(trials_json(mine).dump(), 0);
  if (replica.index != 0) return mine;
  std::vector<bench::Trial> all(mine.size());
  for (const auto& text : texts) {
    const auto trials = nlohmann::json::parse(text);
    for (std::size_t i = 0; i < all.size(); ++i) {
      all[i].prompt_seconds = std::max(all[i].prompt_seconds, trials[i][0].get<double>());
      all[i].generation_seconds = std::max(all[i].generation_seconds, trials[i][1].get<double>());
      all[i].decode_steps = trials[i][2].get<std::int32_t>();
      for (const double seconds : trials[i][3]) all[i].mpi_seconds.push_back(seconds);
    }
  }
  return all;
}

std::vector<bench::RankFacts> rank_facts(const nlohmann::json& reports, const std::vector<double>& probes) {
  std::vector<bench::RankFacts> ranks;
  for (const auto& report : reports["ranks"]) {
    const int rank = report["rank"].get<int>();
    ranks.push_back({rank, report["host"].get<std::string>(), report["peak_rss_bytes"].get<std::size_t>(),
                     report["weight_bytes"].get<std::size_t>(), probes.at(static_cast<std::size_t>(rank))});
  }
  return ranks;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  if (!file) throw std::runtime_error(fmt::format("cannot write '{}'", path));
}

// Output files are written after the whole run; a path that cannot be written is refused first.
void check_output_path(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  const std::filesystem::path parent = std::filesystem::absolute(path).parent_path();
  if (!std::filesystem::is_directory(parent)) {
    throw std::invalid_argument(fmt::format("{} {}: directory '{}' does not exist", option, path, parent.string()));
  }
}

void run_bench(const BenchOptions& options) {
  check_output_path("--json", options.json_file);
  check_output_path("--csv", options.csv_file);
  BenchModel bench_model = open_bench_model(options);
  check_lengths(options, bench_model.source.config());
  const int threads = threads_per_rank(options.model);
  const std::vector<double> probes = probe_all_ranks(threads);

  std::vector<ModelSource> sources;
  sources.push_back(std::move(bench_model.source));
  with_model_sources(std::move(sources), options.model, options.layout, options.replicas,
                     [&](std::vector<LanguageModel*>& models, const ReplicaContext& replica) {
    LanguageModel& model = *models.front();
    const bool reports = replica.index == 0;
    std::vector<nlohmann::json> results;
    for (const std::int32_t prompt_tokens : options.prompt_tokens) {
      const bench::BenchCase bench_case{prompt_tokens, options.gen_tokens, options.batch};
      std::uint64_t seed = options.seed;
      for (int i = 0; i < options.warmup; ++i) bench::run_trial(model, bench_case, seed++);
      std::vector<bench::Trial> trials;
      for (int i = 0; i < options.trials; ++i) {
        trials.push_back(bench::run_trial(model, bench_case, seed++));
        const auto& t = trials.back();
        if (reports) {
          std::cerr << fmt::format("bench: prompt {} trial {}/{}: prompt {:.1f} tok/s, generation {:.2f} tok/s\n",
                                   prompt_tokens, i + 1, options.trials,
                                   options.batch * prompt_tokens / t.prompt_seconds,
                                   options.batch * t.decode_steps / t.generation_seconds);
        }
      }
      const std::vector<bench::Trial> all_trials = combine_replicas(trials, replica);
      const nlohmann::json ranks = gather_rank_reports(model, replica);
      if (!reports) continue;
      bench::Configuration configuration;
      configuration.model = bench_model.name;
      configuration.dtype = bench_model.dtype;
      configuration.tp = replica.tp;
      configuration.pp = replica.pp;
      configuration.replicas = replica.count;
      configuration.threads = threads;
      configuration.bench_case = bench_case;
      configuration.warmup = options.warmup;
      configuration.trials = all_trials;
      configuration.ranks = rank_facts(ranks, probes);
      configuration.machine = bench::this_machine();
      results.push_back(bench::result_json(configuration));
    }
    if (!reports) return;
    std::cout << bench::markdown_table(results) << std::flush;
    if (!options.json_file.empty()) write_file(options.json_file, nlohmann::json(results).dump(2) + "\n");
    if (!options.csv_file.empty()) write_file(options.csv_file, bench::csv_table(results));
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Measure prompt and generation speed, memory and bandwidth per rank; print a Markdown table");
  options->model.add_to(*command, false);
  options->layout.add_to(*command);
  command->add_option("--replicas", options->replicas,
                      "Data-parallel copies of the model running the benchmark at once: ranks = replicas x tp x pp")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  auto* config = command->add_option("--config", options->config_file,
                                     "config.json giving the shape of a model to run with --dummy weights")
                     ->check(CLI::ExistingFile);
  config->excludes("--model");
  command->add_flag("--dummy", options->dummy,
                    "Random weights of --config's shape, generated on every rank for its own slice only");
  command->add_option("--dtype", options->dtype,
                      "Format of --dummy weights: f32, bf16 (default), q8 or q4 (MLX affine, groups of 64)");
  command->add_option("--prompt-tokens", options->prompt_tokens, "Prompt length(s), e.g. --prompt-tokens 128 512")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  command->add_option("--gen-tokens", options->gen_tokens,
                      "Tokens to generate per prompt (at least 2: the first one comes from the prompt pass)")
      ->check(CLI::Range(2, 1 << 24))
      ->capture_default_str();
  command->add_option("--batch", options->batch, "Prompts generated together")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  command->add_option("--warmup", options->warmup, "Untimed runs before the trials")
      ->check(CLI::Range(0, 1 << 16))
      ->capture_default_str();
  command->add_option("--trials", options->trials, "Timed runs; medians and min/max are reported")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the random prompts and --dummy weights")->capture_default_str();
  command->add_option("--json", options->json_file, "Write the results as a JSON list, one object per configuration");
  command->add_option("--csv", options->csv_file, "Write the results as CSV, one row per configuration");
  command->callback([options] { run_when_all_ranks_agree([&] { run_bench(*options); }); });
}

}  // namespace shardlm::cli
