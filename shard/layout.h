#pragma once

#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"

namespace shardlm::shard {

// How ranks are arranged: pp pipeline stages, each a group of tp tensor-parallel ranks.
// World rank = stage * tp + tp_rank, so under mpirun's by-slot mapping a TP group shares a host.
struct Layout {
  int tp = 1;
  int pp = 1;

  int ranks() const { return tp * pp; }
};

struct RankCoordinates {
  int stage = 0;
  int tp_rank = 0;
};

RankCoordinates coordinates_of(int world_rank, const Layout& layout);
int world_rank_of(RankCoordinates coordinates, const Layout& layout);

// Refuses, with a message naming the reason, a layout the job or the model does not admit:
// tp·pp different from the number of ranks, tp not dividing the attention heads or the FFN width,
// more stages than layers.
void validate_layout(const ModelConfig& config, const Layout& layout, int world_size);

// Part `index` of `parts` near-equal contiguous parts of [0, total).
IndexRange split_evenly(std::int64_t total, int parts, int index);

}  // namespace shardlm::shard
