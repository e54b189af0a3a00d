#include "shard/control_channel.h"

#include <exception>

namespace shardlm::shard {

using Kind = comm::ControlMessage::Kind;

namespace {

void run_on(const std::vector<ShardEngine*>& engines, const comm::ControlMessage& message,
            std::vector<RankReport>* reports) {
  if (message.kind == Kind::Shutdown) {
    for (auto* engine : engines) engine->execute(message);
    return;
  }
  engines.at(message.model)->execute(message, reports);
}

}  // namespace

ControlChannel::ControlChannel(const comm::Communicator& replica, std::vector<ShardEngine*> engines)
    : replica_(replica), engines_(std::move(engines)) {}

ControlChannel::~ControlChannel() {
  // While an error unwinds, the other ranks may be anywhere in a step; the job is aborted instead.
  if (std::uncaught_exceptions() > 0) return;
  comm::ControlMessage shutdown;
  shutdown.kind = Kind::Shutdown;
  send(shutdown);
}

void ControlChannel::send(const comm::ControlMessage& message, std::vector<RankReport>* reports) {
  std::string bytes = comm::serialize(message);
  replica_.broadcast(bytes, 0);
  run_on(engines_, message, reports);
}

void serve(const comm::Communicator& replica, const std::vector<ShardEngine*>& engines) {
  while (true) {
    std::string bytes;
    replica.broadcast(bytes, 0);
    const comm::ControlMessage message = comm::deserialize(bytes);
    run_on(engines, message, nullptr);
    if (message.kind == Kind::Shutdown) return;
  }
}

}  // namespace shardlm::shard
