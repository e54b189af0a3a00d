#include "shard/cluster.h"

namespace shardlm::shard {

ClusterGroups::ClusterGroups(const comm::Communicator& replica_group, const Layout& cluster_layout,
                             int first_rank)
    : replica(replica_group),
      replica_first_rank(first_rank),
      layout(cluster_layout),
      coordinates(coordinates_of(replica_group.rank(), cluster_layout)),
      tensor_parallel(replica_group.split(coordinates.stage, coordinates.tp_rank)),
      pipeline(replica_group.split(coordinates.tp_rank, coordinates.stage)) {}

}  // namespace shardlm::shard
