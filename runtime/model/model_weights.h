#pragma once

#include <vector>

#include "runtime/io/model_folder.h"
#include "runtime/kernels/matmul.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"

namespace shardlm {

// A linear layer y = x W^T + b. The weight stays in the mapped file in its stored dtype; the bias,
// being tiny, is converted to f32.
struct Linear {
  WeightMatrix weight;
  std::vector<float> bias;  // empty when the layer has none
};

struct LayerWeights {
  std::vector<float> input_norm;
  Linear q, k, v, o;
  std::vector<float> q_norm, k_norm;  // per-head RMSNorm weights, when the family has them
  std::vector<float> post_attention_norm;
  Linear gate, up, down;
};

// The weights of one model slice. Whole matrices are views into the model folder's mappings, so the
// folder must outlive them; a slice of rows gets a mapping of its own and a slice of columns is read
// into owned memory, so that a shard's resident memory is its share of the weights.
struct ModelWeights {
  WeightMatrix embedding;  // rows slice.vocab of [vocab][hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  WeightMatrix lm_head;  // rows slice.vocab of [vocab][hidden]; the embedding when tied
  std::vector<std::vector<std::byte>> owned;  // storage of column slices
  std::vector<MappedRegion> regions;          // mappings of row slices
};

// Checks every tensor the slice needs against the config (presence, dtype, shape) and returns views
// of exactly the rows and columns the slice owns.
ModelWeights load_model_weights(const ModelFolder& folder, const ModelConfig& config, const ModelSlice& slice);

// Bytes of weight data the slice reads (its share of every matrix plus the small f32 vectors).
std::size_t slice_weight_bytes(const ModelWeights& weights);

}  // namespace shardlm
