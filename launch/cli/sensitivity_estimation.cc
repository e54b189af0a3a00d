#include "launch/cli/sensitivity_estimation.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "comm/world.h"
#include "launch/cli/model_session.h"
#include "launch/cli/progress.h"
#include "runtime/data/token_stream.h"
#include "runtime/grad/dense_weights.h"
#include "runtime/io/model_folder.h"
#include "runtime/kernels/blas_threads.h"
#include "runtime/quant/sensitivity_estimate.h"
#include "runtime/threading/thread_pool.h"
#include "shard/layout.h"
#include "shard/sharded_sensitivity.h"

namespace shardlm::cli {

namespace {

// The job's ranks as stages x replicas; every rank reaches the same verdict from the same command
// line, and a refusal is printed once and leaves every rank without aborting.
shard::SensitivityLayout checked_layout(const ModelOptions& model, const LayoutOptions& layout, int replicas,
                                        const ModelConfig& config, int world_size) {
  try {
    if (replicas < 1) throw std::invalid_argument("--replicas must be at least 1");
    if (!config.quantization.empty()) {
      throw std::invalid_argument(
          fmt::format("model '{}' is already quantized: sensitivities are estimated on a float model", model.model_dir));
    }
    const int split = layout.pp * replicas;
    const int tp = layout.tp > 0 ? layout.tp : (world_size % split == 0 ? world_size / split : 0);
    if (tp != 1) {
      throw std::invalid_argument(fmt::format(
          "sensitivity estimation splits the model by --pp and --replicas only: run the job's {} ranks as --pp P "
          "--replicas R with P x R = {} (got --pp {} --replicas {}{})",
          world_size, world_size, layout.pp, replicas, layout.tp > 0 ? fmt::format(" --tp {}", layout.tp) : ""));
    }
    shard::validate_layout(config, shard::Layout{1, layout.pp}, layout.pp);
    if (world() != nullptr && world_size > 1 && !world()->all_ok(true)) throw JobRefused("another rank refused");
    return {layout.pp, replicas};
  } catch (const std::invalid_argument& error) {
    if (is_rank0()) std::fprintf(stderr, "shardlm: error: %s\n", error.what());
    if (world() != nullptr && world_size > 1) world()->all_ok(false);
    throw JobRefused(error.what());
  }
}

// Rank 0 reads the data and draws the windows, as perplexity does; every rank gets their tokens.
std::vector<std::vector<std::int32_t>> calibration_windows(const ModelOptions& model, const DataOptions& calibration,
                                                           const ModelConfig& config) {
  std::string packed;
  if (is_rank0()) {
    const TokenStream stream = calibration.load(model.model_dir, config);
    const std::vector<std::size_t> starts = choose_windows(stream.ids.size(), calibration.seq_len,
                                                           calibration.num_samples, calibration.seed, stream.source);
    packed.resize(starts.size() * calibration.seq_len * sizeof(std::int32_t));
    for (std::size_t w = 0; w < starts.size(); ++w) {
      std::memcpy(packed.data() + w * calibration.seq_len * sizeof(std::int32_t), stream.ids.data() + starts[w],
                  calibration.seq_len * sizeof(std::int32_t));
    }
  }
  if (world() != nullptr && world()->size() > 1) world()->all().broadcast(packed, 0);
  const std::size_t window_bytes = calibration.seq_len * sizeof(std::int32_t);
  std::vector<std::vector<std::int32_t>> windows(packed.size() / window_bytes,
                                                 std::vector<std::int32_t>(calibration.seq_len));
  for (std::size_t w = 0; w < windows.size(); ++w) {
    std::memcpy(windows[w].data(), packed.data() + w * window_bytes, window_bytes);
  }
  return windows;
}

// The modules whose sensitivity the estimate yields, from the model's shapes.
std::vector<std::string> expected_modules(const ModelConfig& config, const SensitivitySettings& settings) {
  std::vector<std::string> modules;
  const auto add = [&](const std::string& module, std::int64_t cols) {
    if (takes_part(module, static_cast<std::size_t>(cols), settings)) modules.push_back(module);
  };
  add("model.embed_tokens", config.hidden_size);
  if (!config.tie_word_embeddings) add("lm_head", config.hidden_size);
  for (std::int64_t layer = 0; layer < config.num_layers; ++layer) {
    const std::string attn = fmt::format("model.layers.{}.self_attn.", layer);
    const std::string mlp = fmt::format("model.layers.{}.mlp.", layer);
    for (const char* name : {"q_proj", "k_proj", "v_proj"}) add(attn + name, config.hidden_size);
    add(attn + "o_proj", config.q_dim());
    add(mlp + "gate_proj", config.hidden_size);
    add(mlp + "up_proj", config.hidden_size);
    add(mlp + "down_proj", config.intermediate_size);
  }
  return modules;
}

void check_finite(const Sensitivities& values) {
  for (const auto& [module, value] : values) {
    if (!std::isfinite(value)) {
      throw std::runtime_error(fmt::format("the sensitivity of '{}' came out as {}: the loss or its gradient "
                                           "overflowed",
                                           module, value));
    }
  }
}

}  // namespace

Sensitivities estimate_sensitivities(const ModelOptions& model, const LayoutOptions& layout, int replicas,
                                     const DataOptions& calibration, const SensitivitySettings& settings) {
  const int world_size = world() != nullptr ? world()->size() : 1;
  const ModelConfig config = load_model_config(model.model_dir);
  const shard::SensitivityLayout split = checked_layout(model, layout, replicas, config, world_size);
  validate_quant_spec(settings.low);
  validate_quant_spec(settings.high);

  const int threads = threads_per_rank(model);
  ThreadPool pool(static_cast<std::size_t>(threads));
  set_blas_threads(threads);
  const std::vector<std::vector<std::int32_t>> windows = calibration_windows(model, calibration, config);
  const ModelFolder folder(model.model_dir);

  std::optional<Progress> progress;
  // Rank 0 is the first stage of replica 0, the last to finish each of its batches.
  const std::size_t replica0_windows = (windows.size() + static_cast<std::size_t>(split.replicas) - 1) /
                                       static_cast<std::size_t>(split.replicas);
  if (is_rank0()) progress.emplace("sensitivities", replica0_windows, calibration.seq_len);
  const auto report = [&](std::size_t done) {
    if (progress) progress->update(done);
  };

  Sensitivities total;
  if (world_size == 1) {
    SensitivityStage stage(config, ModelSlice::whole(config),
                           load_model_weights(folder, config, ModelSlice::whole(config)), settings, pool, nullptr);
    stage.run_windows(windows, 0, 1, 1, report);
    total = stage.sensitivities();
  } else {
    const Sensitivities mine = shard::estimate_stage_sensitivities(world()->all(), folder, config, split, windows,
                                                                   settings, pool, report);
    check_finite(mine);
    total = shard::sum_over_ranks(world()->all(), mine, 0);
  }
  if (progress) progress->finish();
  if (!is_rank0()) return {};
  check_finite(total);
  for (const auto& module : expected_modules(config, settings)) {
    if (!total.contains(module)) {
      throw std::logic_error(fmt::format("no rank estimated the sensitivity of '{}'", module));
    }
  }
  return total;
}

}  // namespace shardlm::cli
