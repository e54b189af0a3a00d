#pragma once

#include <cstddef>
#include <vector>

#include "runtime/io/model_folder.h"
#include "runtime/model/model_source.h"
#include "shard/layout.h"

namespace shardlm::shard {

// Bytes of one decoder layer's weights, by how tensor parallelism splits them.
struct LayerBytes {
  std::size_t query_output = 0;  // q_proj, o_proj: split by query heads
  std::size_t key_value = 0;     // k_proj, v_proj: split by KV heads
  std::size_t mlp = 0;           // gate, up, down: split by FFN columns
  std::size_t replicated = 0;    // norms: every TP rank holds them whole

  std::size_t total() const { return query_output + key_value + mlp + replicated; }
};

// Bytes of the weights a plan places, measured from the model's files.
struct ModelBytes {
  std::vector<LayerBytes> layers;
  std::size_t embedding = 0;   // model.embed_tokens.weight
  std::size_t lm_head = 0;     // lm_head.weight, or the embedding when tied
  std::size_t final_norm = 0;
  bool tied = false;
};

ModelBytes measure_model_bytes(const ModelFolder& folder, const ModelConfig& config);
// The same for any source: measured from a folder's files, computed for random weights.
ModelBytes measure_model_bytes(const ModelSource& source);

struct RankPlan {
  int rank = 0;
  RankCoordinates coordinates;
  ModelSlice slice;
  std::size_t weight_bytes = 0;  // resident weight bytes this rank holds
};

// Who holds what: contiguous layer ranges per stage, balanced by bytes (stage 0 also holds the
// embedding, the last stage the LM head), and within each stage an even split of heads, FFN columns
// and vocabulary rows over the TP ranks.
struct ShardPlan {
  Layout layout;
  std::vector<IndexRange> stage_layers;
  std::vector<RankPlan> ranks;
};

ShardPlan make_shard_plan(const ModelConfig& config, const Layout& layout, const ModelBytes& bytes);

// Contiguous ranges of layers for `stages` stages that minimise the largest stage's bytes, where
// the first stage also carries first_extra bytes and the last last_extra.
std::vector<IndexRange> balance_layers(const std::vector<std::size_t>& layer_bytes, std::size_t first_extra,
                                       std::size_t last_extra, int stages);

// Weight bytes a rank holding `slice` keeps resident.
std::size_t slice_bytes(const ModelConfig& config, const ModelBytes& bytes, const ModelSlice& slice);

}  // namespace shardlm::shard
