#include "shard/sharded_model.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runtime/engine/batch_rows.h"

namespace shardlm::shard {

using Kind = comm::ControlMessage::Kind;

ShardedModel::ShardedModel(ControlChannel& channel, std::uint8_t model)
    : channel_(channel), model_(model), engine_(channel.engine(model)) {}

void ShardedModel::run(comm::ControlMessage message, std::vector<RankReport>* reports) {
  message.model = model_;
  channel_.send(message, reports);
}

SequenceId ShardedModel::open_sequence() {
  const SequenceId id = next_sequence_++;
  comm::ControlMessage message;
  message.kind = Kind::OpenSequence;
  message.sequences = {id};
  run(message);
  lengths_[id] = 0;
  return id;
}

void ShardedModel::close_sequence(SequenceId sequence) {
  comm::ControlMessage message;
  message.kind = Kind::CloseSequence;
  message.sequences = {sequence};
  run(message);
  lengths_.erase(sequence);
}

PassId ShardedModel::submit(std::span<const SequenceTokens> batch, bool all_positions) {
  // Bad input is refused here, before any rank sees it.
  comm::ControlMessage message;
  message.kind = Kind::Forward;
  message.all_positions = all_positions;
  for (const auto& entry : batch) {
    const auto length = lengths_.find(entry.sequence);
    if (length == lengths_.end()) throw std::logic_error(fmt::format("sequence {} is not open", entry.sequence));
    check_sequence_tokens(config(), entry, length->second);
    message.sequences.push_back(entry.sequence);
    message.tokens.emplace_back(entry.tokens.begin(), entry.tokens.end());
  }
  run(message);
  for (const auto& entry : batch) lengths_[entry.sequence] += static_cast<std::int64_t>(entry.tokens.size());
  return next_pass_++;
}

void ShardedModel::wait(PassId pass, std::vector<float>& logits) {
  if (pass != next_to_finish_) {
    throw std::logic_error(fmt::format("forward pass {} awaited before pass {}", pass, next_to_finish_));
  }
  engine_.finish_pass(logits);
  ++next_to_finish_;
}

std::vector<RankReport> ShardedModel::rank_reports() {
  comm::ControlMessage message;
  message.kind = Kind::ReportRanks;
  std::vector<RankReport> reports;
  run(message, &reports);
  return reports;
}

}  // namespace shardlm::shard
