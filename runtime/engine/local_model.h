#pragma once

#include <filesystem>
#include <map>
#include <memory>

#include "runtime/engine/language_model.h"
#include "runtime/model/decoder.h"
#include "runtime/model/model_source.h"

namespace shardlm {

class ThreadPool;

// A whole model on this rank: the folder's weights mapped (or random weights), one decoder, one KV
// cache per sequence.
class LocalModel final : public LanguageModel {
 public:
  LocalModel(const std::filesystem::path& model_dir, ThreadPool& pool);
  LocalModel(ModelSource source, ThreadPool& pool);

  const ModelConfig& config() const override { return decoder_->config(); }
  const Decoder& decoder() const { return *decoder_; }

  SequenceId open_sequence() override;
  void close_sequence(SequenceId sequence) override;
  PassId submit(std::span<const SequenceTokens> batch, bool all_positions) override;
  void wait(PassId pass, std::vector<float>& logits) override;
  std::vector<RankReport> rank_reports() override;

 private:
  std::size_t baseline_rss_bytes_;
  ModelSource source_;
  std::unique_ptr<Decoder> decoder_;
  std::map<SequenceId, KVCache> caches_;
  SequenceId next_sequence_ = 0;
  std::vector<float> hidden_;
  std::vector<float> selected_;
  // One rank computes a pass as it is submitted; its logits wait here to be collected.
  std::map<PassId, std::vector<float>> finished_;
  PassId next_pass_ = 0;
};

}  // namespace shardlm
