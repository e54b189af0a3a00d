#include "runtime/model/model_slice.h"

namespace shardlm {

ModelSlice ModelSlice::whole(const ModelConfig& config) {
  ModelSlice slice;
  slice.layers = {0, config.num_layers};
  slice.q_heads = {0, config.num_heads};
  slice.kv_heads = {0, config.num_kv_heads};
  slice.ffn = {0, config.intermediate_size};
  slice.vocab = {0, config.vocab_size};
  return slice;
}

IndexRange kv_heads_for(const ModelConfig& config, IndexRange q_heads) {
  const std::int64_t group = config.num_heads / config.num_kv_heads;
  if (q_heads.size() <= 0) return {0, 0};
  return {q_heads.begin / group, (q_heads.end - 1) / group + 1};
}

}  // namespace shardlm
