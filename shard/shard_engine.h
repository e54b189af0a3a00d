#pragma once

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "comm/control_message.h"
#include "runtime/engine/language_model.h"
#include "runtime/model/decoder.h"
#include "runtime/model/model_source.h"
#include "shard/cluster.h"
#include "shard/shard_plan.h"

namespace shardlm {
class ThreadPool;
}

namespace shardlm::shard {

// One rank's part of a sharded model: its decoder slice, the KV caches of its layers for every open
// sequence, and the execution of rank 0's control messages (see control_channel.h). Every rank runs
// the same messages in the same order.
//
// A Forward message is started, not finished: this rank computes its stage and hands the activations
// on without waiting, so the next message can start while later stages still work. Rank 0 collects
// the logits of its passes, oldest first, with finish_pass().
class ShardEngine {
 public:
  // The source must outlive the engine: a folder's weights are views into its mappings.
  ShardEngine(ClusterGroups& groups, const ModelSource& source, const RankPlan& plan, ThreadPool& pool);
  ~ShardEngine();

  const ModelConfig& config() const { return decoder_->config(); }
  int stages() const { return groups_.layout.pp; }

  // Runs one message. On rank 0 a ReportRanks fills `reports`.
  void execute(const comm::ControlMessage& message, std::vector<RankReport>* reports = nullptr);

  // Rank 0: waits for the oldest unfinished pass and moves its logits out.
  void finish_pass(std::vector<float>& logits);

 private:
  struct MicroBatch {
    std::size_t first_sequence = 0;
    std::size_t n_sequences = 0;
    std::size_t rows = 0;
    std::size_t first_output_row = 0;
    std::size_t output_rows = 0;
  };
  // A started pass: its buffers must outlive its non-blocking transfers.
  struct Pass {
    std::vector<std::vector<float>> hidden;
    std::vector<std::vector<float>> outgoing_logits;
    std::vector<comm::PendingTransfer> sends;
    std::vector<comm::PendingTransfer> receives;
    std::vector<float> logits;  // rank 0
  };

  void start_pass(const comm::ControlMessage& message);
  void complete_sends_of_older_passes();
  std::vector<MicroBatch> plan_micro_batches(const comm::ControlMessage& message) const;
  void compute_logits(const comm::ControlMessage& message, const MicroBatch& batch, int tag, Pass& pass);
  std::vector<RankReport> make_rank_reports() const;

  ClusterGroups& groups_;
  std::size_t baseline_rss_bytes_;
  std::unique_ptr<TensorParallelReducer> reducer_;
  std::unique_ptr<Decoder> decoder_;
  std::size_t weight_bytes_ = 0;
  std::map<SequenceId, KVCache> caches_;
  std::deque<Pass> passes_;
};

}  // namespace shardlm::shard
