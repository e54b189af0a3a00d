#include "launch/cli/replica_scoring.h"

#include <optional>
#include <vector>

#include "comm/communicator.h"
#include "launch/cli/progress.h"

namespace shardlm::cli {

namespace {

// The replica's scores as numbers, in a fixed order, to combine them across replicas.
std::vector<double> flatten(const WindowScores& s) {
  return {s.nll.count, s.nll.mean, s.nll.m2, s.kl.count, s.kl.mean, s.kl.m2, s.top1_agreements,
          static_cast<double>(s.windows)};
}

WindowScores unflatten(const std::vector<double>& v) {
  WindowScores s;
  s.nll = {v[0], v[1], v[2]};
  s.kl = {v[3], v[4], v[5]};
  s.top1_agreements = v[6];
  s.windows = static_cast<std::size_t>(v[7]);
  return s;
}

WindowScores combine_replicas(const WindowScores& mine, const ReplicaContext& replica) {
  if (replica.leaders == nullptr) return mine;
  const std::vector<double> values = flatten(mine);
  std::vector<std::vector<double>> all(static_cast<std::size_t>(replica.count));
  for (const double value : values) {
    const auto gathered = replica.leaders->all_gather(value);
    for (std::size_t r = 0; r < gathered.size(); ++r) all[r].push_back(gathered[r]);
  }
  WindowScores total;
  for (const auto& scores : all) total.merge(unflatten(scores));
  return total;
}

}  // namespace

WindowScores score_on_replicas(LanguageModel& model, LanguageModel* base, const TokenStream& stream,
                               const DataOptions& data, std::size_t batch_size, const ReplicaContext& replica,
                               const std::string& what) {
  const auto windows = choose_windows(stream.ids.size(), data.seq_len, data.num_samples, data.seed, stream.source);
  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(replica.index); i < windows.size();
       i += static_cast<std::size_t>(replica.count)) {
    mine.push_back(windows[i]);
  }
  std::optional<Progress> progress;
  if (replica.index == 0) progress.emplace(what, mine.size(), data.seq_len);
  ScoringOptions scoring;
  scoring.seq_len = data.seq_len;
  scoring.batch_size = batch_size;
  const WindowScores scores = score_windows(model, base, stream.ids, mine, scoring, [&](std::size_t done) {
    if (progress) progress->update(done);
  });
  if (progress) progress->finish();
  return combine_replicas(scores, replica);
}

}  // namespace shardlm::cli
