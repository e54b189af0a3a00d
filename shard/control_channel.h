#pragma once

#include <vector>

#include "comm/communicator.h"
#include "comm/control_message.h"
#include "shard/shard_engine.h"

namespace shardlm::shard {

// Rank 0's end of the control plane: each message is broadcast to every rank of the replica and then
// run on rank 0's own engine for the message's model, exactly as the other ranks run it. Destroying
// the channel sends Shutdown, which ends the other ranks' serve loops.
class ControlChannel {
 public:
  ControlChannel(const comm::Communicator& replica, std::vector<ShardEngine*> engines);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  void send(const comm::ControlMessage& message, std::vector<RankReport>* reports = nullptr);
  ShardEngine& engine(std::size_t model) { return *engines_.at(model); }

 private:
  const comm::Communicator& replica_;
  std::vector<ShardEngine*> engines_;
};

// The loop of every rank but 0: receives rank 0's messages and runs them on the engine of their model
// until Shutdown.
void serve(const comm::Communicator& replica, const std::vector<ShardEngine*>& engines);

}  // namespace shardlm::shard
