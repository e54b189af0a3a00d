#include "launch/cli/model_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "comm/world.h"
#include "runtime/engine/local_model.h"
#include "runtime/kernels/blas_threads.h"
#include "runtime/threading/thread_pool.h"
#include "shard/shard_engine.h"
#include "shard/sharded_model.h"

namespace shardlm::cli {

namespace {

comm::World* g_world = nullptr;

int threads_for_rank(const ModelOptions& options, int ranks_on_host) {
  if (options.threads > 0) return options.threads;
  return std::max(1, static_cast<int>(default_thread_count()) / std::max(1, ranks_on_host));
}

shard::Layout resolve_layout(const LayoutOptions& options, int world_size) {
  shard::Layout layout;
  layout.pp = options.pp;
  layout.tp = options.tp > 0 ? options.tp : std::max(1, world_size / std::max(1, options.pp));
  return layout;
}

}  // namespace

void set_world(comm::World* world) { g_world = world; }
comm::World* world() { return g_world; }
bool is_rank0() { return g_world == nullptr || g_world->rank() == 0; }

void with_model(const ModelOptions& model_options, const LayoutOptions& layout_options,
                const std::function<void(LanguageModel&)>& work) {
  const int world_size = g_world ? g_world->size() : 1;
  const ModelConfig config = load_model_config(model_options.model_dir);
  const shard::Layout layout = resolve_layout(layout_options, world_size);
  try {
    shard::validate_layout(config, layout, world_size);
  } catch (const std::invalid_argument& error) {
    if (is_rank0()) std::fprintf(stderr, "shardlm: error: %s\n", error.what());
    throw LayoutRefused(error.what());
  }

  const int threads = threads_for_rank(model_options, g_world ? g_world->ranks_on_this_host() : 1);
  ThreadPool pool(static_cast<std::size_t>(threads));
  set_blas_threads(threads);

  if (world_size == 1) {
    LocalModel model(model_options.model_dir, pool);
    work(model);
    return;
  }
  const ModelFolder folder(model_options.model_dir);
  const shard::ShardPlan plan = shard::make_shard_plan(config, layout, shard::measure_model_bytes(folder, config));
  shard::ClusterGroups groups(g_world->all(), layout);
  shard::ShardEngine engine(groups, folder, config, plan.ranks[static_cast<std::size_t>(g_world->rank())], pool);
  if (g_world->rank() != 0) {
    engine.serve();
    return;
  }
  shard::ShardedModel model(engine, g_world->all());
  work(model);
}

}  // namespace shardlm::cli
