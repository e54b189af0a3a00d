#include "runtime/grad/reference_stage.h"

#include <vector>

#include "runtime/model/decoder.h"

namespace shardlm::grad {

void DecoderReference::embed(std::span<const std::int32_t> tokens, float* hidden) { decoder_.embed(tokens, hidden); }

void DecoderReference::run_layers(float* hidden, SequenceBatch batch) {
  // Each window is a fresh sequence: its cache lives for this one pass.
  std::vector<KVCache> caches;
  caches.reserve(batch.sequences);
  std::vector<SequenceRows> sequences;
  for (std::size_t s = 0; s < batch.sequences; ++s) {
    caches.push_back(decoder_.new_cache());
    sequences.push_back({&caches.back(), batch.positions});
  }
  decoder_.run_layers(hidden, sequences);
}

void DecoderReference::logits(const float* hidden, std::size_t rows, float* out) { decoder_.logits(hidden, rows, out); }

}  // namespace shardlm::grad
