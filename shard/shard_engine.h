#pragma once

#include <map>
#include <memory>
#include <vector>

#include "comm/control_message.h"
#include "runtime/engine/language_model.h"
#include "runtime/io/model_folder.h"
#include "runtime/model/decoder.h"
#include "shard/cluster.h"
#include "shard/shard_plan.h"

namespace shardlm {
class ThreadPool;
}

namespace shardlm::shard {

// One rank's part of a sharded model: its decoder slice, the KV caches of its layers for every open
// sequence, and the execution of rank 0's control messages. Every rank runs the same messages in
// the same order; rank 0 also receives the results.
class ShardEngine {
 public:
  // The folder must outlive the engine: the weights are views into its mappings.
  ShardEngine(ClusterGroups& groups, const ModelFolder& folder, const ModelConfig& config, const RankPlan& plan,
              ThreadPool& pool);

  const ModelConfig& config() const { return decoder_->config(); }

  // Runs one message. On rank 0, a Forward fills `logits` and a ReportMemory fills `memory`.
  void execute(const comm::ControlMessage& message, std::vector<float>* logits, std::vector<RankMemory>* memory);

  // The loop of every rank but 0: receive rank 0's messages and run them until Shutdown.
  void serve();

 private:
  struct MicroBatch {
    std::size_t first_sequence = 0;
    std::size_t n_sequences = 0;
    std::size_t rows = 0;
    std::size_t first_output_row = 0;
    std::size_t output_rows = 0;
  };

  void forward(const comm::ControlMessage& message, std::vector<float>* logits);
  std::vector<MicroBatch> plan_micro_batches(const comm::ControlMessage& message) const;
  void compute_logits(const comm::ControlMessage& message, const MicroBatch& batch, int tag,
                      std::vector<float>& hidden, std::vector<comm::PendingTransfer>& sends, float* rank0_logits);
  std::vector<RankMemory> report_memory() const;

  ClusterGroups& groups_;
  std::size_t baseline_rss_bytes_;
  std::unique_ptr<TensorParallelReducer> reducer_;
  std::unique_ptr<Decoder> decoder_;
  std::size_t weight_bytes_ = 0;
  std::map<SequenceId, KVCache> caches_;
  // Buffers of a forward pass; they live until its non-blocking sends complete.
  std::vector<std::vector<float>> hidden_;
  std::vector<std::vector<float>> outgoing_logits_;
};

}  // namespace shardlm::shard
