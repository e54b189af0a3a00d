#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "launch/cli/rank_reports.h"
#include "launch/cli/replica_scoring.h"
#include "launch/commands/commands.h"
#include "runtime/data/token_stream.h"
#include "runtime/eval/perplexity.h"
#include "runtime/text/tokenizer.h"

namespace shardlm::cli {

namespace {

struct PerplexityOptions {
  ModelOptions model;
  LayoutOptions layout;
  DataOptions data;
  std::string base_model;
  std::size_t batch_size = 8;
  int replicas = 1;
  std::string output;
};

void report(const PerplexityOptions& options, const ReplicaContext& replica, const WindowScores& scores,
            const nlohmann::json& ranks, double seconds, const TokenStream& stream, const ModelConfig& config) {
  const double tokens_scored = scores.nll.count;
  const double tokens_processed = static_cast<double>(scores.windows * options.data.seq_len);
  nlohmann::json out = {
      {"model", options.model.model_dir},
      {"data", stream.source},
      {"documents", stream.documents},
      {"stream_tokens", stream.ids.size()},
      {"seq_len", options.data.seq_len},
      {"batch_size", options.batch_size},
      {"num_samples", options.data.num_samples},
      {"seed", options.data.seed},
      {"layout", {{"tp", replica.tp}, {"pp", replica.pp}, {"replicas", replica.count},
                  {"ranks", ranks["ranks"].size()}}},
      {"windows", scores.windows},
      {"tokens_scored", tokens_scored},
      {"mean_nll", scores.nll.mean},
      {"perplexity", scores.perplexity()},
      {"std_error", scores.perplexity_standard_error()},
      {"seconds", seconds},
      {"tokens_per_second", seconds > 0 ? tokens_processed / seconds : 0.0},
      {"peak_rss_bytes_max", ranks["peak_rss_bytes_max"]},
      {"peak_rss_bytes_sum", ranks["peak_rss_bytes_sum"]},
      {"ranks", ranks["ranks"]},
  };
  std::cout << fmt::format("perplexity {:.4f} ± {:.4f} ({} windows of {} tokens, {} tokens scored)\n",
                           scores.perplexity(), scores.perplexity_standard_error(), scores.windows,
                           options.data.seq_len, tokens_scored)
            << fmt::format("time {:.2f} s, {:.0f} tokens/s, peak memory {:.1f} MB on the largest rank, {:.1f} MB over "
                           "{} ranks\n",
                           seconds, out["tokens_per_second"].get<double>(),
                           ranks["peak_rss_bytes_max"].get<double>() / 1e6,
                           ranks["peak_rss_bytes_sum"].get<double>() / 1e6, ranks["ranks"].size());
  if (!options.base_model.empty()) {
    const double agreement = scores.kl.count > 0 ? scores.top1_agreements / scores.kl.count : 0.0;
    out["base_model"] = options.base_model;
    out["kl"] = {{"mean", scores.kl.mean}, {"std_error", scores.kl.standard_error()}, {"top1_agreement", agreement}};
    std::cout << fmt::format("KL(base ‖ model) {:.6g} ± {:.2g}, top-1 agreement {:.2f}%\n", scores.kl.mean,
                             scores.kl.standard_error(), 100.0 * agreement);
  }
  out["vocab_size"] = config.vocab_size;
  if (!options.output.empty()) {
    std::ofstream file(options.output);
    file << out.dump(2) << "\n";
    if (!file) throw std::runtime_error(fmt::format("cannot write '{}'", options.output));
  }
}

void run_perplexity(const PerplexityOptions& options) {
  if (options.batch_size == 0) throw std::invalid_argument("--batch-size must be at least 1");
  std::vector<std::string> dirs = {options.model.model_dir};
  if (!options.base_model.empty()) dirs.push_back(options.base_model);
  with_models(dirs, options.model, options.layout, options.replicas,
              [&](std::vector<LanguageModel*>& models, const ReplicaContext& replica) {
                LanguageModel& model = *models.front();
                const TokenStream stream = options.data.load(options.model.model_dir, model.config());
                const auto start = std::chrono::steady_clock::now();
                const WindowScores total =
                    score_on_replicas(model, models.size() > 1 ? models[1] : nullptr, stream, options.data,
                                      options.batch_size, replica, "perplexity");
                const nlohmann::json ranks = gather_rank_reports(model, replica);
                const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                if (replica.index == 0) report(options, replica, total, ranks, seconds, stream, model.config());
              });
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* command = app.add_subcommand(
      "perplexity",
      "Perplexity of a model on a data set: exp(mean NLL) over tokens 1..L-1 of non-overlapping windows of L "
      "tokens, with standard error perplexity * sd(NLL, ddof=1) / sqrt(tokens scored) (delta method, as mlx-lm)");
  options->model.add_to(*command);
  options->layout.add_to(*command);
  options->data.add_to(*command);
  command->add_option("--batch-size,-b", options->batch_size, "Windows per forward pass")->capture_default_str();
  command->add_option("--replicas", options->replicas,
                      "Data-parallel copies of the model: the job's ranks = replicas x tp x pp, windows are shared out")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--base-model", options->base_model,
                      "Also evaluate this model on the same windows and report KL(base || model) and top-1 agreement")
      ->check(CLI::ExistingDirectory);
  command->add_option("--output,-o", options->output, "Write every figure, the layout and per-rank memory as JSON");
  command->callback([options] { run_when_all_ranks_agree([&] { run_perplexity(*options); }); });
}

}  // namespace shardlm::cli
