#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "launch/cli/options.h"
#include "runtime/engine/language_model.h"
#include "runtime/model/model_source.h"

namespace shardlm::comm {
class Communicator;
class World;
}  // namespace shardlm::comm

namespace shardlm::cli {

// The MPI job this process runs in, or none when started without mpirun.
void set_world(comm::World* world);
comm::World* world();
bool is_rank0();

// Thrown on every rank alike when the job is refused before loading (bad layout, or arguments some
// rank could not accept): the reason has been printed, and the ranks leave together without aborting.
struct JobRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs a parsed command once every rank has accepted the command line; ranks whose parse failed
// call refuse_arguments() instead, so that no rank waits for another that has already left.
void run_when_all_ranks_agree(const std::function<void()>& command);
void refuse_arguments();

// Which data-parallel replica of the model(s) a call of `work` drives. The leaders group joins the
// replicas' rank 0s (leader i is replica i) so that their results can be combined; it is null with
// one replica.
struct ReplicaContext {
  int index = 0;
  int count = 1;
  const comm::Communicator* leaders = nullptr;
  int tp = 1;  // the layout every replica runs
  int pp = 1;
};

// The threads of this rank: --threads, or this host's cores shared evenly by the job's ranks on it.
int threads_per_rank(const ModelOptions& options);

// Opens the models the way this process was launched and calls `work` on each replica's rank 0:
// without MPI (or with one rank) every model whole on this rank; otherwise the job's ranks form
// `replicas` equal groups, each holding every model sharded by the --tp/--pp layout, and every rank
// but the replica leaders serves its leader's control messages until `work` returns.
void with_models(const std::vector<std::string>& model_dirs, const ModelOptions& options, const LayoutOptions& layout,
                 int replicas, const std::function<void(std::vector<LanguageModel*>&, const ReplicaContext&)>& work);

// The same for models from any source (a folder, or random weights: every rank generates its own
// slice). options.model_dir is not read.
void with_model_sources(std::vector<ModelSource> sources, const ModelOptions& options, const LayoutOptions& layout,
                        int replicas,
                        const std::function<void(std::vector<LanguageModel*>&, const ReplicaContext&)>& work);

// One model, one replica.
void with_model(const ModelOptions& model, const LayoutOptions& layout, const std::function<void(LanguageModel&)>& work);

}  // namespace shardlm::cli
