#pragma once

#include "launch/cli/options.h"
#include "runtime/quant/sensitivity.h"

namespace shardlm::cli {

// Called on every rank of the job (or alone without mpirun): estimates the sensitivity of every
// quantizable module of the model on the calibration windows, the model split into --pp stages and
// the windows dealt over `replicas` data-parallel copies. Returns the result on rank 0 and an empty
// map on the other ranks.
Sensitivities estimate_sensitivities(const ModelOptions& model, const LayoutOptions& layout, int replicas,
                                     const DataOptions& calibration, const SensitivitySettings& settings);

}  // namespace shardlm::cli
