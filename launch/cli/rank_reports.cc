#include "launch/cli/rank_reports.h"

#include <algorithm>

#include "comm/communicator.h"

namespace shardlm::cli {

namespace {

nlohmann::json with_totals(nlohmann::json ranks) {
  std::size_t peak_max = 0;
  std::size_t peak_sum = 0;
  for (const auto& rank : ranks) {
    const auto peak = rank["peak_rss_bytes"].get<std::size_t>();
    peak_max = std::max(peak_max, peak);
    peak_sum += peak;
  }
  return {{"ranks", std::move(ranks)}, {"peak_rss_bytes_max", peak_max}, {"peak_rss_bytes_sum", peak_sum}};
}

}  // namespace

nlohmann::json rank_reports_json(const std::vector<RankReport>& reports) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& rank : reports) {
    ranks.push_back({{"rank", rank.rank},
                     {"host", rank.host},
                     {"peak_rss_bytes", rank.peak_rss_bytes},
                     {"baseline_rss_bytes", rank.baseline_rss_bytes},
                     {"weight_bytes", rank.weight_bytes},
                     {"mpi_seconds", rank.mpi_seconds},
                     {"mpi_bytes_sent", rank.mpi_bytes_sent},
                     {"mpi_messages", rank.mpi_messages}});
  }
  return with_totals(std::move(ranks));
}

nlohmann::json gather_rank_reports(LanguageModel& model, const ReplicaContext& replica) {
  nlohmann::json mine = rank_reports_json(model.rank_reports());
  if (replica.leaders == nullptr) return mine;
  const auto texts = replica.leaders->gather_text(mine["ranks"].dump(), 0);
  if (replica.index != 0) return mine;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& text : texts) {
    for (auto& rank : nlohmann::json::parse(text)) all.push_back(std::move(rank));
  }
  return with_totals(std::move(all));
}

}  // namespace shardlm::cli
