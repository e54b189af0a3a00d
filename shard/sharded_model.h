#pragma once

#include <cstdint>
#include <map>

#include "runtime/engine/language_model.h"
#include "shard/control_channel.h"

namespace shardlm::shard {

// One model of the cluster as rank 0 sees it: a LanguageModel whose every call becomes a control
// message for that model, sent through the channel to every rank.
class ShardedModel final : public LanguageModel {
 public:
  ShardedModel(ControlChannel& channel, std::uint8_t model);

  const ModelConfig& config() const override { return engine_.config(); }
  SequenceId open_sequence() override;
  void close_sequence(SequenceId sequence) override;
  PassId submit(std::span<const SequenceTokens> batch, bool all_positions) override;
  void wait(PassId pass, std::vector<float>& logits) override;
  int useful_passes_in_flight() const override { return engine_.stages(); }
  std::vector<RankReport> rank_reports() override;

 private:
  void run(comm::ControlMessage message, std::vector<RankReport>* reports = nullptr);

  ControlChannel& channel_;
  std::uint8_t model_;
  ShardEngine& engine_;
  std::map<SequenceId, std::int64_t> lengths_;
  SequenceId next_sequence_ = 0;
  PassId next_pass_ = 0;
  PassId next_to_finish_ = 0;
};

}  // namespace shardlm::shard
