#pragma once

#include "comm/communicator.h"
#include "runtime/model/decoder.h"
#include "shard/layout.h"

namespace shardlm::shard {

// The communicators one rank uses: its replica (all ranks that together hold one copy of the model;
// the whole job unless it runs data-parallel replicas), its tensor-parallel group (the ranks of its
// stage) and its pipeline (the ranks with its tp_rank in every stage, indexed by stage).
struct ClusterGroups {
  ClusterGroups(const comm::Communicator& replica, const Layout& layout, int replica_first_rank);

  const comm::Communicator& replica;
  int replica_first_rank;  // job-wide rank of the replica's rank 0
  Layout layout;
  RankCoordinates coordinates;
  comm::Communicator tensor_parallel;
  comm::Communicator pipeline;

  bool first_stage() const { return coordinates.stage == 0; }
  bool last_stage() const { return coordinates.stage == layout.pp - 1; }
  // The rank that assembles the logits: tp_rank 0 of the last stage.
  int logits_rank() const { return world_rank_of({layout.pp - 1, 0}, layout); }
};

// Sums partial products over the tensor-parallel group with an all-reduce.
class TensorParallelReducer final : public PartialSumReducer {
 public:
  explicit TensorParallelReducer(const comm::Communicator& group) : group_(group) {}
  void all_reduce_sum(float* data, std::size_t n) override { group_.all_reduce_sum(data, n); }

 private:
  const comm::Communicator& group_;
};

}  // namespace shardlm::shard
