#pragma once

#include <cstdint>

#include "runtime/model/model_config.h"

namespace shardlm {

// A half-open range [begin, end) of layers, heads, FFN columns or vocabulary rows.
struct IndexRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;

  std::int64_t size() const { return end - begin; }
  bool operator==(const IndexRange&) const = default;
};

// The part of a model that one engine instance holds. A single rank holds the whole model; a shard of
// a tensor- and pipeline-parallel layout holds a range of layers and, within each of them, a range of
// query heads (with the key/value heads they read) and of FFN columns.
struct ModelSlice {
  IndexRange layers;
  IndexRange q_heads;
  IndexRange kv_heads;
  IndexRange ffn;
  IndexRange vocab;  // rows of the embedding and LM head held
  bool has_embedding = true;
  bool has_head = true;

  static ModelSlice whole(const ModelConfig& config);
};

// The key/value heads that query heads [q.begin, q.end) read under grouped-query attention. When a
// tensor-parallel group is larger than the number of KV heads, neighbouring ranks share (replicate)
// a KV head, so each still owns whole query heads.
IndexRange kv_heads_for(const ModelConfig& config, IndexRange q_heads);

}  // namespace shardlm
