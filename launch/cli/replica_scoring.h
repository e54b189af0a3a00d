#pragma once

#include <cstddef>
#include <string>

#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "runtime/data/token_stream.h"
#include "runtime/eval/perplexity.h"

namespace shardlm::cli {

// Scores the windows the data options choose from `stream` on `model` (against `base` when given):
// replica r of a data-parallel job takes windows r, r + R, r + 2R, ..., and every replica leader
// returns the scores of all replicas together. The first replica shows progress as `what`.
WindowScores score_on_replicas(LanguageModel& model, LanguageModel* base, const TokenStream& stream,
                               const DataOptions& data, std::size_t batch_size, const ReplicaContext& replica,
                               const std::string& what);

}  // namespace shardlm::cli
