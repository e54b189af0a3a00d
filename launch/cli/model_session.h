#pragma once

#include <functional>

#include "launch/cli/options.h"
#include "runtime/engine/language_model.h"

namespace shardlm::comm {
class World;
}

namespace shardlm::cli {

// The MPI job this process runs in, or none when started without mpirun.
void set_world(comm::World* world);
comm::World* world();
bool is_rank0();

// Thrown on every rank alike when the layout is refused before loading: rank 0 has printed why, and
// the ranks can leave together without aborting the job.
struct LayoutRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Opens the model the way this process was launched and hands it to `work` on rank 0: the whole
// model on one rank without MPI (or with one rank), else this rank's shard of the --tp/--pp layout,
// with every other rank serving rank 0's control messages until `work` returns.
void with_model(const ModelOptions& model, const LayoutOptions& layout, const std::function<void(LanguageModel&)>& work);

}  // namespace shardlm::cli
