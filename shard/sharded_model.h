#pragma once

#include <map>

#include "comm/communicator.h"
#include "runtime/engine/language_model.h"
#include "shard/shard_engine.h"

namespace shardlm::shard {

// The cluster as rank 0 sees it: a LanguageModel whose every call becomes a control message that
// rank 0 broadcasts and then runs its own part of, like every other rank. Destroying it sends
// Shutdown, which ends the other ranks' serve loops.
class ShardedModel final : public LanguageModel {
 public:
  ShardedModel(ShardEngine& engine, const comm::Communicator& world);
  ~ShardedModel() override;

  const ModelConfig& config() const override { return engine_.config(); }
  SequenceId open_sequence() override;
  void close_sequence(SequenceId sequence) override;
  PassId submit(std::span<const SequenceTokens> batch, bool all_positions) override;
  void wait(PassId pass, std::vector<float>& logits) override;
  int useful_passes_in_flight() const override { return engine_.stages(); }
  std::vector<RankReport> rank_reports() override;

 private:
  void run(const comm::ControlMessage& message, std::vector<RankReport>* reports = nullptr);

  ShardEngine& engine_;
  const comm::Communicator& world_;
  std::map<SequenceId, std::int64_t> lengths_;
  SequenceId next_sequence_ = 0;
  PassId next_pass_ = 0;
  PassId next_to_finish_ = 0;
};

}  // namespace shardlm::shard
