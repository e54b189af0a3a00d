#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "launch/cli/model_session.h"
#include "runtime/engine/language_model.h"

namespace shardlm::cli {

// Every rank's report as JSON: {"ranks": [...], "peak_rss_bytes_max", "peak_rss_bytes_sum"}.
nlohmann::json rank_reports_json(const std::vector<RankReport>& reports);

// The same for the whole job: each replica leader asks its replica, and rank 0 receives every
// replica's ranks (other leaders get their own replica's only).
nlohmann::json gather_rank_reports(LanguageModel& model, const ReplicaContext& replica);

}  // namespace shardlm::cli
