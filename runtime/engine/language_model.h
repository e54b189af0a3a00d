#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/model/model_config.h"

namespace shardlm {

using SequenceId = std::uint32_t;
using PassId = std::uint64_t;

// New tokens for one open sequence.
struct SequenceTokens {
  SequenceId sequence = 0;
  std::span<const std::int32_t> tokens;
};

// What one rank reports about itself: resident memory before the weights were loaded (program,
// libraries, MPI), its peak since, the weight bytes it holds, and its time and traffic in MPI calls.
struct RankReport {
  int rank = 0;
  std::string host;
  std::size_t baseline_rss_bytes = 0;
  std::size_t peak_rss_bytes = 0;
  std::size_t weight_bytes = 0;
  double mpi_seconds = 0.0;
  std::size_t mpi_bytes_sent = 0;
  std::size_t mpi_messages = 0;
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

  // A forward pass appends each entry's tokens to its sequence and yields the logits
  // [rows][vocab_size]: one row per entry (its last token) or, with all_positions, one row per token
  // in input order. submit() starts a pass and may return before its logits exist, so that a pipeline
  // of ranks can work on several passes at once; wait() returns them. Passes are waited for in the
  // order they were submitted.
  virtual PassId submit(std::span<const SequenceTokens> batch, bool all_positions) = 0;
  virtual void wait(PassId pass, std::vector<float>& logits) = 0;

  // How many passes in flight keep the model busy: the number of pipeline stages.
  virtual int useful_passes_in_flight() const { return 1; }

  void forward(std::span<const SequenceTokens> batch, bool all_positions, std::vector<float>& logits) {
    wait(submit(batch, all_positions), logits);
  }

  // Every rank's report, in rank order.
  virtual std::vector<RankReport> rank_reports() = 0;
};

}  // namespace shardlm
