#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/model/model_config.h"

namespace shardlm {

using SequenceId = std::uint32_t;

// New tokens for one open sequence.
struct SequenceTokens {
  SequenceId sequence = 0;
  std::span<const std::int32_t> tokens;
};

// Memory figures of one rank, for reports: resident memory before the weights were loaded
// (program, libraries, MPI), its peak since, and the weight bytes the rank holds.
struct RankMemory {
  int rank = 0;
  std::string host;
  std::size_t baseline_rss_bytes = 0;
  std::size_t peak_rss_bytes = 0;
  std::size_t weight_bytes = 0;
};

// What generation, perplexity and benchmarks drive: a model that keeps a KV cache per open sequence
// and turns new tokens into next-token logits. One rank holding the whole model and a cluster of
// sharded ranks both present this interface, so the tools above it need not know which they run on.
class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  virtual const ModelConfig& config() const = 0;

  virtual SequenceId open_sequence() = 0;
  virtual void close_sequence(SequenceId sequence) = 0;

  // Appends each entry's tokens to its sequence and writes the logits [rows][vocab_size]: one row per
  // entry (its last token) or, with all_positions, one row per token in input order.
  virtual void forward(std::span<const SequenceTokens> batch, bool all_positions, std::vector<float>& logits) = 0;

  // Every rank's memory figures, in rank order.
  virtual std::vector<RankMemory> memory_report() = 0;
};

}  // namespace shardlm
