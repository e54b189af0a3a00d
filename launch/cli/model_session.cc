#include "launch/cli/model_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "comm/world.h"
#include "runtime/engine/local_model.h"
#include "runtime/kernels/bf16_activations.h"
#include "runtime/kernels/blas_threads.h"
#include "runtime/kernels/decode_threads.h"
#include "runtime/threading/thread_pool.h"
#include "shard/control_channel.h"
#include "shard/sharded_model.h"

namespace shardlm::cli {

namespace {

comm::World* g_world = nullptr;

// The ranks agree on the verdict, so all of them can leave cleanly even when only one of them saw a
// different config.json.
shard::Layout checked_layout(const LayoutOptions& options, const std::vector<ModelConfig>& configs, int world_size,
                             int replicas) {
  try {
    if (replicas < 1) throw std::invalid_argument("--replicas must be at least 1");
    if (world_size % replicas != 0) {
      throw std::invalid_argument(fmt::format("--replicas {} does not divide the job's {} ranks", replicas, world_size));
    }
    const int replica_size = world_size / replicas;
    shard::Layout layout;
    layout.pp = options.pp;
    layout.tp = options.tp > 0 ? options.tp : std::max(1, replica_size / std::max(1, options.pp));
    for (const auto& config : configs) shard::validate_layout(config, layout, replica_size);
    if (g_world != nullptr && !g_world->all_ok(true)) throw JobRefused("another rank refused the layout");
    return layout;
  } catch (const std::invalid_argument& error) {
    if (is_rank0()) {
      std::fprintf(stderr, "shardlm: error: %s\n", error.what());
    } else {
      std::fprintf(stderr, "shardlm: error on rank %d: %s\n", g_world->rank(), error.what());
    }
    if (g_world != nullptr) g_world->all_ok(false);
    throw JobRefused(error.what());
  }
}

int ranks_on_this_host() { return g_world != nullptr ? std::max(1, g_world->ranks_on_this_host()) : 1; }

}  // namespace

void run_when_all_ranks_agree(const std::function<void()>& command) {
  if (g_world != nullptr && g_world->size() > 1 && !g_world->all_ok(true)) {
    if (is_rank0()) std::fputs("shardlm: error: another rank refused the command line (see its message)\n", stderr);
    throw JobRefused("another rank refused the command line");
  }
  command();
}

void refuse_arguments() {
  if (g_world != nullptr && g_world->size() > 1) g_world->all_ok(false);
}

int threads_per_rank(const ModelOptions& options) {
  if (options.threads > 0) return options.threads;
  return std::max(1, static_cast<int>(default_thread_count()) / ranks_on_this_host());
}

void set_world(comm::World* world) { g_world = world; }
comm::World* world() { return g_world; }
bool is_rank0() { return g_world == nullptr || g_world->rank() == 0; }

void with_models(const std::vector<std::string>& model_dirs, const ModelOptions& options, const LayoutOptions& layout_options,
                 int replicas, const std::function<void(std::vector<LanguageModel*>&, const ReplicaContext&)>& work) {
  std::vector<ModelSource> sources;
  for (const auto& dir : model_dirs) sources.push_back(ModelSource::folder(dir));
  with_model_sources(std::move(sources), options, layout_options, replicas, work);
}

void with_model_sources(std::vector<ModelSource> sources, const ModelOptions& options,
                        const LayoutOptions& layout_options, int replicas,
                        const std::function<void(std::vector<LanguageModel*>&, const ReplicaContext&)>& work) {
  const int world_size = g_world ? g_world->size() : 1;
  std::vector<ModelConfig> configs;
  for (const auto& source : sources) configs.push_back(source.config());
  const shard::Layout layout = checked_layout(layout_options, configs, world_size, replicas);

  const int threads = threads_per_rank(options);
  ThreadPool pool(static_cast<std::size_t>(threads));
  set_blas_threads(threads);
  set_decode_threads_on_host(static_cast<std::size_t>(threads * ranks_on_this_host()));
  set_bf16_activations(options.exact_bf16 ? Bf16Activations::kSplit : Bf16Activations::kRounded);

  if (world_size == 1) {
    std::vector<std::unique_ptr<LocalModel>> owned;
    std::vector<LanguageModel*> models;
    for (auto& source : sources) {
      owned.push_back(std::make_unique<LocalModel>(std::move(source), pool));
      models.push_back(owned.back().get());
    }
    work(models, ReplicaContext{});
    return;
  }

  const comm::Communicator& everyone = g_world->all();
  const int replica_size = world_size / replicas;
  const int replica_index = everyone.rank() / replica_size;
  const comm::Communicator replica = everyone.split(replica_index, everyone.rank());
  const bool leader = replica.rank() == 0;
  // The leaders form one group; the other ranks form a second one that is never used.
  const comm::Communicator leaders = everyone.split(leader ? 0 : 1, everyone.rank());

  std::vector<std::unique_ptr<shard::ClusterGroups>> groups;
  std::vector<std::unique_ptr<shard::ShardEngine>> engines;
  std::vector<shard::ShardEngine*> engine_pointers;
  for (std::size_t m = 0; m < sources.size(); ++m) {
    const shard::ShardPlan plan = shard::make_shard_plan(configs[m], layout, shard::measure_model_bytes(sources[m]));
    groups.push_back(std::make_unique<shard::ClusterGroups>(replica, layout, replica_index * replica_size));
    engines.push_back(std::make_unique<shard::ShardEngine>(*groups.back(), sources[m],
                                                           plan.ranks[static_cast<std::size_t>(replica.rank())], pool));
    engine_pointers.push_back(engines.back().get());
  }
  if (!leader) {
    shard::serve(replica, engine_pointers);
    return;
  }
  shard::ControlChannel channel(replica, engine_pointers);
  std::vector<std::unique_ptr<shard::ShardedModel>> owned;
  std::vector<LanguageModel*> models;
  for (std::size_t m = 0; m < sources.size(); ++m) {
    owned.push_back(std::make_unique<shard::ShardedModel>(channel, static_cast<std::uint8_t>(m)));
    models.push_back(owned.back().get());
  }
  work(models, ReplicaContext{replica_index, replicas, replicas > 1 ? &leaders : nullptr, layout.tp, layout.pp});
}

void with_model(const ModelOptions& model, const LayoutOptions& layout, const std::function<void(LanguageModel&)>& work) {
  with_models({model.model_dir}, model, layout, 1,
              [&](std::vector<LanguageModel*>& models, const ReplicaContext&) { work(*models.front()); });
}

}  // namespace shardlm::cli
