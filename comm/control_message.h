#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shardlm::comm {

// What rank 0 tells every rank to do next. All ranks run the same loop over these messages, so the
// decision of what happens next is made in one place, on rank 0.
struct ControlMessage {
  enum class Kind : std::uint8_t {
    OpenSequence,   // sequences[0] gets an empty KV cache
    CloseSequence,  // sequences[0]'s KV cache is dropped
    Forward,        // tokens[i] are appended to sequences[i]; logits go to rank 0
    ReportRanks,    // every rank sends its RankReport figures to rank 0
    Shutdown,       // leave the loop
  };

  Kind kind = Kind::Shutdown;
  std::uint8_t model = 0;  // which of the loaded models (a KL evaluation loads two)
  std::vector<std::uint32_t> sequences;
  std::vector<std::vector<std::int32_t>> tokens;
  bool all_positions = false;  // Forward: logits of every token, not only each sequence's last

  bool operator==(const ControlMessage&) const = default;
};

// Boost.Serialization binary archives: both ends are the same build of shardlm.
std::string serialize(const ControlMessage& message);
ControlMessage deserialize(const std::string& bytes);

}  // namespace shardlm::comm
