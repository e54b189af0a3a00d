#include "runtime/engine/local_model.h"

#include <fmt/format.h>
#include <unistd.h>

#include <stdexcept>

#include "runtime/engine/batch_rows.h"
#include "runtime/system/memory_usage.h"

namespace shardlm {

LocalModel::LocalModel(const std::filesystem::path& model_dir, ThreadPool& pool)
    : LocalModel(ModelSource::folder(model_dir), pool) {}

LocalModel::LocalModel(ModelSource source, ThreadPool& pool)
    : baseline_rss_bytes_(current_rss_bytes()), source_(std::move(source)) {
  const ModelConfig& config = source_.config();
  const ModelSlice slice = ModelSlice::whole(config);
  decoder_ = std::make_unique<Decoder>(config, slice, source_.weights(slice, pool), pool);
}

SequenceId LocalModel::open_sequence() {
  const SequenceId id = next_sequence_++;
  caches_.emplace(id, decoder_->new_cache());
  return id;
}

std::vector<RankReport> LocalModel::rank_reports() {
  RankReport memory;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  memory.host = host;
  memory.baseline_rss_bytes = baseline_rss_bytes_;
  memory.peak_rss_bytes = peak_rss_bytes();
  memory.weight_bytes = slice_weight_bytes(decoder_->weights());
  return {memory};
}

void LocalModel::close_sequence(SequenceId sequence) { caches_.erase(sequence); }

void LocalModel::wait(PassId pass, std::vector<float>& logits) {
  const auto it = finished_.find(pass);
  if (it == finished_.end()) throw std::logic_error(fmt::format("forward pass {} was not submitted", pass));
  logits = std::move(it->second);
  finished_.erase(it);
}

PassId LocalModel::submit(std::span<const SequenceTokens> batch, bool all_positions) {
  const ModelConfig& config = decoder_->config();
  const auto width = static_cast<std::size_t>(config.hidden_size);
  const auto vocab = static_cast<std::size_t>(config.vocab_size);

  std::vector<std::int32_t> tokens;
  std::vector<SequenceRows> rows;
  std::vector<std::size_t> row_counts;
  for (const auto& entry : batch) {
    const auto cache = caches_.find(entry.sequence);
    if (cache == caches_.end()) throw std::logic_error(fmt::format("sequence {} is not open", entry.sequence));
    check_sequence_tokens(config, entry, cache->second.length());
    tokens.insert(tokens.end(), entry.tokens.begin(), entry.tokens.end());
    rows.push_back({&cache->second, entry.tokens.size()});
    row_counts.push_back(entry.tokens.size());
  }

  hidden_.resize(tokens.size() * width);
  decoder_->embed(tokens, hidden_.data());
  decoder_->run_layers(hidden_.data(), rows);

  const float* head_input = hidden_.data();
  std::size_t head_rows = tokens.size();
  if (!all_positions) {
    selected_.resize(batch.size() * width);
    gather_last_rows(hidden_.data(), row_counts, width, selected_.data());
    head_input = selected_.data();
    head_rows = batch.size();
  }
  const PassId pass = next_pass_++;
  std::vector<float>& logits = finished_[pass];
  logits.resize(head_rows * vocab);
  decoder_->logits(head_input, head_rows, logits.data());
  return pass;
}

}  // namespace shardlm
