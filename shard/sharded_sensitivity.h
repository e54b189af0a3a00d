#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "comm/communicator.h"
#include "runtime/grad/kl_gradient_pass.h"
#include "runtime/io/model_folder.h"
#include "runtime/quant/sensitivity.h"

namespace shardlm {
class ThreadPool;
}

namespace shardlm::shard {

// The neighbouring stages of a rank's pipeline (ranks of `pipeline` are stages): blocking
// transfers, forward to stage + 1 and backward to stage - 1.
class PipelineLinks final : public grad::StageLinks<float> {
 public:
  explicit PipelineLinks(const comm::Communicator& pipeline) : pipeline_(pipeline) {}
  void send_forward(const float* data, std::size_t n) override;
  void receive_forward(float* data, std::size_t n) override;
  void send_backward(const float* data, std::size_t n) override;
  void receive_backward(float* data, std::size_t n) override;

 private:
  const comm::Communicator& pipeline_;
};

// How the ranks of `everyone` share the estimate: `replicas` data-parallel copies of the model, each
// split into `stages` pipeline stages by the shard plan (layers balanced by bytes, the embedding on
// the first stage, the final norm and LM head on the last); rank = replica * stages + stage.
struct SensitivityLayout {
  int stages = 1;
  int replicas = 1;
};

// This rank's part of the sensitivities of the model in `folder` on the calibration windows (every
// rank passes all of them; replica r takes windows r, r + R, ...): the contributions of the modules
// its stage holds, to be summed over every rank (sum_over_ranks). A tied embedding split over the
// first and last stage gets one contribution from each, which the sum joins. `progress` (may be
// empty) is told the windows this rank's replica has finished.
Sensitivities estimate_stage_sensitivities(const comm::Communicator& everyone, const ModelFolder& folder,
                                           const ModelConfig& config, SensitivityLayout layout,
                                           const std::vector<std::vector<std::int32_t>>& windows,
                                           const SensitivitySettings& settings, ThreadPool& pool,
                                           const std::function<void(std::size_t)>& progress);

// Every rank's numbers summed by module on `root` (in double); an empty map elsewhere.
Sensitivities sum_over_ranks(const comm::Communicator& everyone, const Sensitivities& mine, int root);

}  // namespace shardlm::shard
