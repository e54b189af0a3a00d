#include "runtime/engine/batch_rows.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace shardlm {

void check_sequence_tokens(const ModelConfig& config, const SequenceTokens& entry, std::int64_t current_length) {
  if (entry.tokens.empty()) throw std::invalid_argument("forward needs at least one token per sequence");
  for (const auto token : entry.tokens) {
    if (token < 0 || token >= config.vocab_size) {
      throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary [0, {})", token, config.vocab_size));
    }
  }
  const std::int64_t end = current_length + static_cast<std::int64_t>(entry.tokens.size());
  if (end > config.max_position_embeddings) {
    throw std::invalid_argument(fmt::format("sequence of {} tokens exceeds the model's max_position_embeddings {}",
                                            end, config.max_position_embeddings));
  }
}

void gather_last_rows(const float* rows, std::span<const std::size_t> row_counts, std::size_t width, float* out) {
  std::size_t row = 0;
  for (std::size_t i = 0; i < row_counts.size(); ++i) {
    row += row_counts[i];
    std::memcpy(out + i * width, rows + (row - 1) * width, width * sizeof(float));
  }
}

}  // namespace shardlm
