#include "shard/sharded_sensitivity.h"

#include <fmt/format.h>

#include <memory>
#include <sstream>
#include <stdexcept>

#include "runtime/model/model_weights.h"
#include "runtime/quant/sensitivity_estimate.h"
#include "shard/shard_plan.h"

namespace shardlm::shard {

namespace {

// Activations and their gradients travel in opposite directions; distinct tags keep them apart.
constexpr int kForwardTag = 31;
constexpr int kBackwardTag = 32;

}  // namespace

void PipelineLinks::send_forward(const float* data, std::size_t n) {
  pipeline_.send(data, n, pipeline_.rank() + 1, kForwardTag);
}

void PipelineLinks::receive_forward(float* data, std::size_t n) {
  pipeline_.receive(data, n, pipeline_.rank() - 1, kForwardTag);
}

void PipelineLinks::send_backward(const float* data, std::size_t n) {
  pipeline_.send(data, n, pipeline_.rank() - 1, kBackwardTag);
}

void PipelineLinks::receive_backward(float* data, std::size_t n) {
  pipeline_.receive(data, n, pipeline_.rank() + 1, kBackwardTag);
}

Sensitivities estimate_stage_sensitivities(const comm::Communicator& everyone, const ModelFolder& folder,
                                           const ModelConfig& config, SensitivityLayout layout,
                                           const std::vector<std::vector<std::int32_t>>& windows,
                                           const SensitivitySettings& settings, ThreadPool& pool,
                                           const std::function<void(std::size_t)>& progress) {
  if (everyone.size() != layout.stages * layout.replicas) {
    throw std::invalid_argument(fmt::format("{} stages x {} replicas need {} ranks, the job has {}", layout.stages,
                                            layout.replicas, layout.stages * layout.replicas, everyone.size()));
  }
  const int replica = everyone.rank() / layout.stages;
  const comm::Communicator pipeline = everyone.split(replica, everyone.rank());
  const Layout pipeline_layout{1, layout.stages};
  const ShardPlan plan = make_shard_plan(config, pipeline_layout, measure_model_bytes(folder, config));
  const ModelSlice& slice = plan.ranks[static_cast<std::size_t>(pipeline.rank())].slice;

  std::unique_ptr<PipelineLinks> links;
  if (layout.stages > 1) links = std::make_unique<PipelineLinks>(pipeline);
  SensitivityStage stage(config, slice, load_model_weights(folder, config, slice), settings, pool, links.get());

  // Enough windows in flight to keep every stage busy most of the time: the pipeline idles for a
  // share (stages - 1) / (batch + stages - 1) of each batch.
  const std::size_t batch = layout.stages == 1 ? 1 : 2 * static_cast<std::size_t>(layout.stages);
  stage.run_windows(windows, static_cast<std::size_t>(replica), static_cast<std::size_t>(layout.replicas), batch,
                    progress);
  return stage.sensitivities();
}

Sensitivities sum_over_ranks(const comm::Communicator& everyone, const Sensitivities& mine, int root) {
  std::ostringstream text;
  text.precision(17);
  for (const auto& [module, value] : mine) text << module << ' ' << value << '\n';
  const std::vector<std::string> parts = everyone.gather_text(text.str(), root);
  Sensitivities total;
  for (const auto& part : parts) {
    std::istringstream lines(part);
    std::string module;
    double value = 0.0;
    while (lines >> module >> value) total[module] += value;
  }
  return total;
}

}  // namespace shardlm::shard
