#include "shard/shard_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string>

namespace shardlm::shard {

namespace {

bool contains(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

std::size_t fraction(std::size_t bytes, std::int64_t part, std::int64_t whole) {
  return static_cast<std::size_t>(static_cast<double>(bytes) * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

ModelBytes measure_model_bytes(const ModelFolder& folder, const ModelConfig& config) {
  ModelBytes bytes;
  bytes.layers.resize(static_cast<std::size_t>(config.num_layers));
  bytes.tied = config.tie_word_embeddings;
  const std::string layer_prefix = "model.layers.";
  for (const auto& [name, entry] : folder.tensors()) {
    if (name.rfind(layer_prefix, 0) == 0) {
      const std::size_t layer = std::stoul(name.substr(layer_prefix.size()));
      if (layer >= bytes.layers.size()) continue;
      LayerBytes& layer_bytes = bytes.layers[layer];
      if (contains(name, ".q_proj.") || contains(name, ".o_proj.")) {
        layer_bytes.query_output += entry->nbytes;
      } else if (contains(name, ".k_proj.") || contains(name, ".v_proj.")) {
        layer_bytes.key_value += entry->nbytes;
      } else if (contains(name, ".mlp.")) {
        layer_bytes.mlp += entry->nbytes;
      } else {
        layer_bytes.replicated += entry->nbytes;
      }
    } else if (name == "model.embed_tokens.weight") {
      bytes.embedding = entry->nbytes;
    } else if (name == "lm_head.weight") {
      bytes.lm_head = entry->nbytes;
    } else if (name == "model.norm.weight") {
      bytes.final_norm = entry->nbytes;
    }
  }
  if (bytes.tied) bytes.lm_head = bytes.embedding;
  return bytes;
}

ModelBytes measure_model_bytes(const ModelSource& source) {
  const ModelConfig& config = source.config();
  if (source.model_folder() != nullptr) return measure_model_bytes(*source.model_folder(), config);
  const RandomWeightFormat& format = *source.random_format();
  const std::int64_t hidden = config.hidden_size;
  const auto bias = [](bool has, std::int64_t n) { return has ? static_cast<std::size_t>(n) * sizeof(float) : 0; };
  LayerBytes layer;
  layer.query_output = 2 * format.matrix_bytes(config.q_dim(), hidden) + bias(config.qkv_bias, config.q_dim()) +
                       bias(config.o_bias, hidden);
  layer.key_value = 2 * (format.matrix_bytes(config.kv_dim(), hidden) + bias(config.qkv_bias, config.kv_dim()));
  layer.mlp = 3 * format.matrix_bytes(config.intermediate_size, hidden) +
              bias(config.mlp_bias, 2 * config.intermediate_size + hidden);
  layer.replicated = static_cast<std::size_t>(2 * hidden + (config.qk_norm ? 2 * config.head_dim : 0)) * sizeof(float);
  ModelBytes bytes;
  bytes.layers.assign(static_cast<std::size_t>(config.num_layers), layer);
  bytes.embedding = format.matrix_bytes(config.vocab_size, hidden);
  bytes.tied = config.tie_word_embeddings;
  bytes.lm_head = bytes.embedding;
  bytes.final_norm = static_cast<std::size_t>(hidden) * sizeof(float);
  return bytes;
}

std::vector<IndexRange> balance_layers(const std::vector<std::size_t>& layer_bytes, std::size_t first_extra,
                                       std::size_t last_extra, int stages) {
  const std::size_t n = layer_bytes.size();
  const std::size_t p = static_cast<std::size_t>(stages);
  std::vector<std::size_t> prefix(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + layer_bytes[i];
  const auto stage_cost = [&](std::size_t stage, std::size_t begin, std::size_t end) {
    std::size_t cost = prefix[end] - prefix[begin];
    if (stage == 0) cost += first_extra;
    if (stage == p - 1) cost += last_extra;
    return cost;
  };
  // best[s][i]: the smallest possible maximum over stages 0..s-1 covering layers [0, i).
  constexpr std::size_t kInfinite = std::numeric_limits<std::size_t>::max();
  std::vector<std::vector<std::size_t>> best(p + 1, std::vector<std::size_t>(n + 1, kInfinite));
  std::vector<std::vector<std::size_t>> cut(p + 1, std::vector<std::size_t>(n + 1, 0));
  best[0][0] = 0;
  for (std::size_t s = 1; s <= p; ++s) {
    for (std::size_t i = s; i <= n - (p - s); ++i) {
      for (std::size_t j = s - 1; j < i; ++j) {
        if (best[s - 1][j] == kInfinite) continue;
        const std::size_t cost = std::max(best[s - 1][j], stage_cost(s - 1, j, i));
        if (cost < best[s][i]) {
          best[s][i] = cost;
          cut[s][i] = j;
        }
      }
    }
  }
  std::vector<IndexRange> ranges(p);
  std::size_t end = n;
  for (std::size_t s = p; s >= 1; --s) {
    const std::size_t begin = cut[s][end];
    ranges[s - 1] = {static_cast<std::int64_t>(begin), static_cast<std::int64_t>(end)};
    end = begin;
  }
  return ranges;
}

std::size_t slice_bytes(const ModelConfig& config, const ModelBytes& bytes, const ModelSlice& slice) {
  std::size_t total = 0;
  for (std::int64_t layer = slice.layers.begin; layer < slice.layers.end; ++layer) {
    const LayerBytes& layer_bytes = bytes.layers[static_cast<std::size_t>(layer)];
    total += fraction(layer_bytes.query_output, slice.q_heads.size(), config.num_heads) +
             fraction(layer_bytes.key_value, slice.kv_heads.size(), config.num_kv_heads) +
             fraction(layer_bytes.mlp, slice.ffn.size(), config.intermediate_size) + layer_bytes.replicated;
  }
  const bool shares_tied_matrix = bytes.tied && slice.has_embedding && slice.has_head;
  if (slice.has_embedding) total += fraction(bytes.embedding, slice.vocab.size(), config.vocab_size);
  if (slice.has_head) {
    total += bytes.final_norm;
    if (!shares_tied_matrix) total += fraction(bytes.lm_head, slice.vocab.size(), config.vocab_size);
  }
  return total;
}

ShardPlan make_shard_plan(const ModelConfig& config, const Layout& layout, const ModelBytes& bytes) {
  ShardPlan plan;
  plan.layout = layout;
  std::vector<std::size_t> layer_totals;
  for (const auto& layer : bytes.layers) layer_totals.push_back(layer.total());
  plan.stage_layers = balance_layers(layer_totals, bytes.embedding, bytes.lm_head + bytes.final_norm, layout.pp);

  for (int rank = 0; rank < layout.ranks(); ++rank) {
    RankPlan rank_plan;
    rank_plan.rank = rank;
    rank_plan.coordinates = coordinates_of(rank, layout);
    const auto [stage, tp_rank] = rank_plan.coordinates;
    ModelSlice& slice = rank_plan.slice;
    slice.layers = plan.stage_layers[static_cast<std::size_t>(stage)];
    slice.q_heads = split_evenly(config.num_heads, layout.tp, tp_rank);
    slice.kv_heads = kv_heads_for(config, slice.q_heads);
    slice.ffn = split_evenly(config.intermediate_size, layout.tp, tp_rank);
    slice.vocab = split_evenly(config.vocab_size, layout.tp, tp_rank);
    slice.has_embedding = stage == 0;
    slice.has_head = stage == layout.pp - 1;
    rank_plan.weight_bytes = slice_bytes(config, bytes, slice);
    plan.ranks.push_back(rank_plan);
  }
  return plan;
}

}  // namespace shardlm::shard
