#include "shard/layout.h"

#include <fmt/format.h>

#include <stdexcept>

namespace shardlm::shard {

RankCoordinates coordinates_of(int world_rank, const Layout& layout) {
  return {world_rank / layout.tp, world_rank % layout.tp};
}

int world_rank_of(RankCoordinates coordinates, const Layout& layout) {
  return coordinates.stage * layout.tp + coordinates.tp_rank;
}

void validate_layout(const ModelConfig& config, const Layout& layout, int world_size) {
  const auto refuse = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("layout --tp {} --pp {} refused: {}", layout.tp, layout.pp, why));
  };
  if (layout.tp < 1 || layout.pp < 1) refuse("tp and pp must be at least 1");
  if (layout.ranks() != world_size) {
    refuse(fmt::format("it needs tp x pp = {} ranks, but the job has {} (mpirun -np {})", layout.ranks(), world_size,
                       layout.ranks()));
  }
  if (config.num_heads % layout.tp != 0) {
    refuse(fmt::format("tp {} does not divide the {} attention heads", layout.tp, config.num_heads));
  }
  if (config.intermediate_size % layout.tp != 0) {
    refuse(fmt::format("tp {} does not divide the FFN width (intermediate_size {})", layout.tp,
                       config.intermediate_size));
  }
  if (layout.tp > config.vocab_size) refuse("tp exceeds the vocabulary size");
  if (layout.pp > config.num_layers) {
    refuse(fmt::format("pp {} exceeds the {} layers (each stage needs at least one)", layout.pp, config.num_layers));
  }
}

IndexRange split_evenly(std::int64_t total, int parts, int index) {
  const std::int64_t base = total / parts;
  const std::int64_t extra = total % parts;
  const std::int64_t begin = index * base + std::min<std::int64_t>(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

}  // namespace shardlm::shard
