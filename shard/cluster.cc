#include "shard/cluster.h"

namespace shardlm::shard {

ClusterGroups::ClusterGroups(const comm::Communicator& world_group, const Layout& cluster_layout)
    : world(world_group),
      layout(cluster_layout),
      coordinates(coordinates_of(world_group.rank(), cluster_layout)),
      tensor_parallel(world_group.split(coordinates.stage, coordinates.tp_rank)),
      pipeline(world_group.split(coordinates.tp_rank, coordinates.stage)) {}

}  // namespace shardlm::shard
