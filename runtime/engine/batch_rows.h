#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/engine/language_model.h"

namespace shardlm {

// Refuses a batch entry without tokens, a token outside the vocabulary, or a sequence that would
// grow past the model's context; `current_length` is the sequence's length before the batch.
void check_sequence_tokens(const ModelConfig& config, const SequenceTokens& entry, std::int64_t current_length);

// Copies, for each consecutive group of row_counts[i] rows of `rows` (width floats each), the group's
// last row into out[i].
void gather_last_rows(const float* rows, std::span<const std::size_t> row_counts, std::size_t width, float* out);

}  // namespace shardlm
