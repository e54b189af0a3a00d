#include "shard/shard_engine.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "comm/traffic.h"
#include "runtime/engine/batch_rows.h"
#include "runtime/system/memory_usage.h"

namespace shardlm::shard {

namespace {

// Tags keep a forward pass's transfers apart: micro-batch m travels between stages as kHiddenTag + m
// and its logits go to rank 0 as kLogitsTag + m.
constexpr int kHiddenTag = 0;
constexpr int kLogitsTag = 1 << 16;

}  // namespace

ShardEngine::ShardEngine(ClusterGroups& groups, const ModelSource& source, const RankPlan& plan, ThreadPool& pool)
    : groups_(groups), baseline_rss_bytes_(current_rss_bytes()) {
  if (groups.layout.tp > 1) reducer_ = std::make_unique<TensorParallelReducer>(groups.tensor_parallel);
  decoder_ = std::make_unique<Decoder>(source.config(), plan.slice, source.weights(plan.slice, pool), pool,
                                       reducer_.get());
  weight_bytes_ = slice_weight_bytes(decoder_->weights());
  // Tensor-parallel all-reduces already enter MPI every layer; a pipeline-only rank must do so itself.
  if (groups.layout.pp > 1 && groups.layout.tp == 1) decoder_->set_after_layer(comm::make_progress);
}

ShardEngine::~ShardEngine() {
  // A pass still in flight names buffers that must not disappear under MPI.
  for (auto& pass : passes_) {
    comm::wait_all(pass.sends);
    comm::wait_all(pass.receives);
  }
}

void ShardEngine::execute(const comm::ControlMessage& message, std::vector<RankReport>* reports) {
  using Kind = comm::ControlMessage::Kind;
  switch (message.kind) {
    case Kind::OpenSequence: caches_.insert_or_assign(message.sequences.at(0), decoder_->new_cache()); break;
    case Kind::CloseSequence: caches_.erase(message.sequences.at(0)); break;
    case Kind::Forward:
      start_pass(message);
      if (groups_.replica.rank() != 0) complete_sends_of_older_passes();
      break;
    case Kind::ReportRanks: {
      auto made = make_rank_reports();
      if (reports != nullptr) *reports = std::move(made);
      break;
    }
    case Kind::Shutdown:
      while (!passes_.empty()) {
        comm::wait_all(passes_.front().sends);
        comm::wait_all(passes_.front().receives);
        passes_.pop_front();
      }
      break;
  }
}

void ShardEngine::complete_sends_of_older_passes() {
  // The next stage receives passes in order, so waiting for an older pass's sends cannot block on
  // anything this rank still has to do.
  while (passes_.size() > 1) {
    comm::wait_all(passes_.front().sends);
    passes_.pop_front();
  }
}

void ShardEngine::finish_pass(std::vector<float>& logits) {
  if (passes_.empty()) throw std::logic_error("no forward pass to finish");
  Pass& pass = passes_.front();
  comm::wait_all(pass.receives);
  comm::wait_all(pass.sends);
  logits = std::move(pass.logits);
  passes_.pop_front();
}

std::vector<ShardEngine::MicroBatch> ShardEngine::plan_micro_batches(const comm::ControlMessage& message) const {
  // With several stages, the sequences are cut into up to pp groups that follow each other through
  // the pipeline, so that stage s works on group m while stage s+1 works on group m-1.
  const std::size_t n = message.sequences.size();
  const std::size_t groups = std::min<std::size_t>(n, static_cast<std::size_t>(groups_.layout.pp));
  std::vector<MicroBatch> batches;
  std::size_t output_row = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const IndexRange range = split_evenly(static_cast<std::int64_t>(n), static_cast<int>(groups), static_cast<int>(g));
    MicroBatch batch;
    batch.first_sequence = static_cast<std::size_t>(range.begin);
    batch.n_sequences = static_cast<std::size_t>(range.size());
    for (std::size_t i = batch.first_sequence; i < batch.first_sequence + batch.n_sequences; ++i) {
      batch.rows += message.tokens[i].size();
    }
    batch.first_output_row = output_row;
    batch.output_rows = message.all_positions ? batch.rows : batch.n_sequences;
    output_row += batch.output_rows;
    batches.push_back(batch);
  }
  return batches;
}

void ShardEngine::start_pass(const comm::ControlMessage& message) {
  const std::size_t width = static_cast<std::size_t>(config().hidden_size);
  const std::size_t vocab = static_cast<std::size_t>(config().vocab_size);
  const std::vector<MicroBatch> batches = plan_micro_batches(message);
  Pass& pass = passes_.emplace_back();

  if (groups_.replica.rank() == 0) {
    pass.logits.resize((batches.back().first_output_row + batches.back().output_rows) * vocab);
    if (groups_.logits_rank() != 0) {
      for (std::size_t m = 0; m < batches.size(); ++m) {
        pass.receives.push_back(groups_.replica.receive_async(pass.logits.data() + batches[m].first_output_row * vocab,
                                                            batches[m].output_rows * vocab, groups_.logits_rank(),
                                                            kLogitsTag + static_cast<int>(m)));
      }
    }
  }

  pass.hidden.resize(batches.size());
  for (std::size_t m = 0; m < batches.size(); ++m) {
    const MicroBatch& batch = batches[m];
    std::vector<float>& hidden = pass.hidden[m];
    hidden.resize(batch.rows * width);
    std::vector<SequenceRows> rows;
    std::vector<std::int32_t> tokens;
    for (std::size_t i = batch.first_sequence; i < batch.first_sequence + batch.n_sequences; ++i) {
      const auto cache = caches_.find(message.sequences[i]);
      if (cache == caches_.end()) throw std::logic_error(fmt::format("sequence {} is not open", message.sequences[i]));
      rows.push_back({&cache->second, message.tokens[i].size()});
      tokens.insert(tokens.end(), message.tokens[i].begin(), message.tokens[i].end());
    }
    const int tag = static_cast<int>(m);
    if (groups_.first_stage()) {
      decoder_->embed(tokens, hidden.data());
    } else {
      groups_.pipeline.receive(hidden.data(), hidden.size(), groups_.coordinates.stage - 1, kHiddenTag + tag);
    }
    decoder_->run_layers(hidden.data(), rows);
    if (!groups_.last_stage()) {
      pass.sends.push_back(
          groups_.pipeline.send_async(hidden.data(), hidden.size(), groups_.coordinates.stage + 1, kHiddenTag + tag));
    } else {
      compute_logits(message, batch, tag, pass);
    }
  }
}

void ShardEngine::compute_logits(const comm::ControlMessage& message, const MicroBatch& batch, int tag,
                                 Pass& pass) {
  const std::vector<float>& hidden = pass.hidden[static_cast<std::size_t>(tag)];
  const std::size_t width = static_cast<std::size_t>(config().hidden_size);
  const std::size_t vocab = static_cast<std::size_t>(config().vocab_size);
  const int tp = groups_.layout.tp;
  const std::size_t rows = batch.output_rows;

  std::vector<float> head_input;
  const float* input = hidden.data();
  if (!message.all_positions) {
    std::vector<std::size_t> row_counts;
    for (std::size_t i = batch.first_sequence; i < batch.first_sequence + batch.n_sequences; ++i) {
      row_counts.push_back(message.tokens[i].size());
    }
    head_input.resize(rows * width);
    gather_last_rows(hidden.data(), row_counts, width, head_input.data());
    input = head_input.data();
  }

  const bool rank0 = groups_.replica.rank() == 0;
  // Rank 0 receives the logits straight into the pass's buffer; anyone else builds them in a buffer
  // of the pass that outlives the non-blocking send to rank 0.
  const auto destination = [&]() -> float* {
    if (rank0) return pass.logits.data() + batch.first_output_row * vocab;
    return pass.outgoing_logits.emplace_back(rows * vocab).data();
  };
  const auto send_to_rank0 = [&] {
    if (rank0) return;
    const std::vector<float>& outgoing = pass.outgoing_logits.back();
    pass.sends.push_back(groups_.replica.send_async(outgoing.data(), outgoing.size(), 0, kLogitsTag + tag));
  };
  if (tp == 1) {
    decoder_->logits(input, rows, destination());
    send_to_rank0();
    return;
  }

  // Vocabulary-parallel LM head: each TP rank scores its rows of the vocabulary; slices are padded
  // to the widest one so that a plain gather collects them on tp_rank 0, which interleaves them.
  const std::size_t slice_width = static_cast<std::size_t>(decoder_->slice().vocab.size());
  const std::size_t padded_width = static_cast<std::size_t>(split_evenly(config().vocab_size, tp, 0).size());
  std::vector<float> partial(rows * padded_width, 0.0f);
  {
    std::vector<float> scores(rows * slice_width);
    decoder_->logits(input, rows, scores.data());
    for (std::size_t r = 0; r < rows; ++r) {
      std::memcpy(partial.data() + r * padded_width, scores.data() + r * slice_width, slice_width * sizeof(float));
    }
  }
  const bool assembles = groups_.coordinates.tp_rank == 0;
  std::vector<float> gathered(assembles ? partial.size() * static_cast<std::size_t>(tp) : 0);
  groups_.tensor_parallel.gather(partial.data(), partial.size(), gathered.data(), 0);
  if (!assembles) return;

  float* full = destination();
  for (int part = 0; part < tp; ++part) {
    const IndexRange range = split_evenly(config().vocab_size, tp, part);
    const float* source = gathered.data() + static_cast<std::size_t>(part) * rows * padded_width;
    for (std::size_t r = 0; r < rows; ++r) {
      std::memcpy(full + r * vocab + static_cast<std::size_t>(range.begin), source + r * padded_width,
                  static_cast<std::size_t>(range.size()) * sizeof(float));
    }
  }
  send_to_rank0();
}

std::vector<RankReport> ShardEngine::make_rank_reports() const {
  const comm::Communicator& replica = groups_.replica;
  const comm::Traffic traffic = comm::traffic();  // before the report's own collectives
  const auto mpi_seconds = replica.all_gather(traffic.seconds);
  const auto mpi_bytes = replica.all_gather(static_cast<double>(traffic.bytes_sent));
  const auto mpi_messages = replica.all_gather(static_cast<double>(traffic.messages));
  const auto baselines = replica.all_gather(static_cast<double>(baseline_rss_bytes_));
  const auto peaks = replica.all_gather(static_cast<double>(peak_rss_bytes()));
  const auto weights = replica.all_gather(static_cast<double>(weight_bytes_));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const auto hosts = replica.gather_text(host, 0);
  std::vector<RankReport> report;
  if (replica.rank() != 0) return report;
  for (int rank = 0; rank < replica.size(); ++rank) {
    const auto i = static_cast<std::size_t>(rank);
    report.push_back({groups_.replica_first_rank + rank, hosts[i], static_cast<std::size_t>(baselines[i]), static_cast<std::size_t>(peaks[i]),
                      static_cast<std::size_t>(weights[i]), mpi_seconds[i], static_cast<std::size_t>(mpi_bytes[i]),
                      static_cast<std::size_t>(mpi_messages[i])});
  }
  return report;
}

}  // namespace shardlm::shard
