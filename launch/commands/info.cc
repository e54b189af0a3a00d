#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "launch/commands/commands.h"
#include "runtime/io/model_folder.h"
#include "runtime/model/model_config.h"
#include "shard/shard_plan.h"

namespace shardlm::cli {

namespace {

struct InfoOptions {
  std::string model_dir;
  LayoutOptions layout;
  bool json = false;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Parameters as the unquantized model has them: a quantized weight stands for in x out weights, and
// its scales and biases are not parameters of their own (mlx-lm counts them the same way).
std::int64_t original_parameters(const ModelFolder& folder, const ModelConfig& config, const std::string& name,
                                 const TensorEntry& entry) {
  if (ends_with(name, ".scales") || ends_with(name, ".biases")) {
    const std::string module = name.substr(0, name.size() - 7);
    if (folder.find_tensor(module + ".weight") != nullptr) return 0;
  }
  if (entry.type == StorageType::U32 && ends_with(name, ".weight") && entry.shape.size() == 2) {
    const auto spec = config.quantization.for_module(name.substr(0, name.size() - 7));
    if (spec) return entry.shape[0] * entry.shape[1] * 32 / spec->bits;
  }
  return entry.numel();
}

std::string range_text(IndexRange range) { return fmt::format("{}-{}", range.begin, range.end - 1); }

nlohmann::json plan_json(const shard::ShardPlan& plan) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& rank : plan.ranks) {
    const ModelSlice& slice = rank.slice;
    ranks.push_back({{"rank", rank.rank},
                     {"stage", rank.coordinates.stage},
                     {"tp_rank", rank.coordinates.tp_rank},
                     {"layers", {slice.layers.begin, slice.layers.end}},
                     {"q_heads", {slice.q_heads.begin, slice.q_heads.end}},
                     {"kv_heads", {slice.kv_heads.begin, slice.kv_heads.end}},
                     {"ffn", {slice.ffn.begin, slice.ffn.end}},
                     {"vocab", {slice.vocab.begin, slice.vocab.end}},
                     {"embedding", slice.has_embedding},
                     {"lm_head", slice.has_head},
                     {"weight_bytes", rank.weight_bytes}});
  }
  return {{"tp", plan.layout.tp}, {"pp", plan.layout.pp}, {"ranks", ranks}};
}

void print_plan(const shard::ShardPlan& plan) {
  std::cout << fmt::format("\nplan for --tp {} --pp {} ({} ranks)\n", plan.layout.tp, plan.layout.pp,
                           plan.layout.ranks());
  std::cout << fmt::format("{:>4} {:>5} {:>3} {:>7} {:>8} {:>8} {:>11} {:>11} {:>6} {:>10}\n", "rank", "stage", "tp",
                           "layers", "q heads", "kv heads", "ffn", "vocab", "parts", "weights MB");
  for (const auto& rank : plan.ranks) {
    const ModelSlice& slice = rank.slice;
    std::string parts = std::string(slice.has_embedding ? "E" : "") + (slice.has_head ? "H" : "");
    std::cout << fmt::format("{:>4} {:>5} {:>3} {:>7} {:>8} {:>8} {:>11} {:>11} {:>6} {:>10.2f}\n", rank.rank,
                             rank.coordinates.stage, rank.coordinates.tp_rank, range_text(slice.layers),
                             range_text(slice.q_heads), range_text(slice.kv_heads), range_text(slice.ffn),
                             range_text(slice.vocab), parts.empty() ? "-" : parts,
                             static_cast<double>(rank.weight_bytes) / 1e6);
  }
  std::cout << "parts: E = embedding, H = final norm and LM head\n";
}

std::string rope_description(const RopeConfig& rope) {
  switch (rope.type) {
    case RopeConfig::Type::Default: return fmt::format("default, theta {}", rope.theta);
    case RopeConfig::Type::Linear: return fmt::format("linear x{}, theta {}", rope.factor, rope.theta);
    case RopeConfig::Type::Llama3:
      return fmt::format("llama3 x{} (low {}, high {}, original {}), theta {}", rope.factor, rope.low_freq_factor,
                         rope.high_freq_factor, rope.original_max_positions, rope.theta);
  }
  return "?";
}

void run_info(const InfoOptions& options) {
  const ModelFolder folder(options.model_dir);
  const ModelConfig config = load_model_config(options.model_dir);

  std::int64_t parameters = 0;
  std::size_t weight_bytes = 0;
  std::map<std::string, std::int64_t> parameters_by_dtype;
  for (const auto& [name, entry] : folder.tensors()) {
    weight_bytes += entry->nbytes;
    parameters_by_dtype[storage_type_name(entry->type)] += entry->numel();
    parameters += original_parameters(folder, config, name, *entry);
  }
  std::set<std::string> dtypes;
  for (const auto& [dtype, count] : parameters_by_dtype) dtypes.insert(dtype);
  const double bits_per_weight = static_cast<double>(weight_bytes) * 8.0 / static_cast<double>(parameters);

  shard::Layout layout{options.layout.tp > 0 ? options.layout.tp : 1, options.layout.pp};
  shard::validate_layout(config, layout, layout.ranks());
  const shard::ShardPlan plan = shard::make_shard_plan(config, layout, shard::measure_model_bytes(folder, config));
  const bool show_plan = layout.ranks() > 1;

  if (options.json) {
    nlohmann::json out;
    out["architecture"] = config.architecture;
    out["parameters"] = parameters;
    out["dtypes"] = dtypes;
    out["weight_bytes"] = weight_bytes;
    out["bits_per_weight"] = bits_per_weight;
    out["weight_files"] = folder.weight_file_count();
    out["layers"] = config.num_layers;
    out["hidden_size"] = config.hidden_size;
    out["intermediate_size"] = config.intermediate_size;
    out["attention_heads"] = config.num_heads;
    out["kv_heads"] = config.num_kv_heads;
    out["head_dim"] = config.head_dim;
    out["vocab_size"] = config.vocab_size;
    out["tie_word_embeddings"] = config.tie_word_embeddings;
    out["rope"] = rope_description(config.rope);
    if (show_plan) out["plan"] = plan_json(plan);
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << fmt::format("architecture       {}\n", config.architecture)
            << fmt::format("parameters         {} ({:.2f} M)\n", parameters, static_cast<double>(parameters) / 1e6)
            << fmt::format("dtype              {}\n", fmt::join(dtypes, ", "))
            << fmt::format("weight bytes       {} ({:.2f} MB in {} file(s), {:.3f} bits per weight)\n", weight_bytes,
                           static_cast<double>(weight_bytes) / 1e6, folder.weight_file_count(), bits_per_weight)
            << fmt::format("layers             {}\n", config.num_layers)
            << fmt::format("hidden / ffn       {} / {}\n", config.hidden_size, config.intermediate_size)
            << fmt::format("heads / kv heads   {} / {} (head_dim {})\n", config.num_heads, config.num_kv_heads,
                           config.head_dim)
            << fmt::format("vocabulary         {}{}\n", config.vocab_size,
                           config.tie_word_embeddings ? " (embeddings tied to the LM head)" : "")
            << fmt::format("rope               {}\n", rope_description(config.rope));
  if (show_plan) print_plan(plan);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* command = app.add_subcommand(
      "info", "Describe a model: architecture, parameters, dtype, weight bytes; with --tp/--pp, the per-rank plan");
  command->add_option("--model,-m", options->model_dir, "Hugging Face model folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  options->layout.add_to(*command);
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->callback([options] {
    run_when_all_ranks_agree([&] {
      if (is_rank0()) run_info(*options);
    });
  });
}

}  // namespace shardlm::cli
