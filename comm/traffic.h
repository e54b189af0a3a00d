#pragma once

#include <cstddef>

namespace shardlm::comm {

// This process's time inside MPI calls (waiting included) and the payload bytes it handed to MPI
// to send, since start-up: the communication cost of a sharded run.
struct Traffic {
  double seconds = 0.0;
  std::size_t bytes_sent = 0;
  std::size_t messages = 0;
};

Traffic traffic();

}  // namespace shardlm::comm
