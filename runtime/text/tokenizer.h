#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace shardlm {

// The special tokens and conventions of a model folder: BOS/EOS ids from config.json, overridden by
// generation_config.json, and whether prompts start with BOS (tokenizer_config.json's add_bos_token).
struct SpecialTokens {
  std::int32_t bos = -1;  // -1 when the model has none
  std::vector<std::int32_t> eos;
  bool add_bos = true;

  bool is_eos(std::int32_t id) const;
};

SpecialTokens load_special_tokens(const std::filesystem::path& model_dir, std::int32_t tokenizer_bos,
                                  std::int32_t tokenizer_eos);

// A sentencepiece tokenizer (tokenizer.model) with the model's special tokens.
class Tokenizer {
 public:
  explicit Tokenizer(const std::filesystem::path& model_dir);
  ~Tokenizer();

  // Token ids of `text`, with BOS first when the model asks for it.
  std::vector<std::int32_t> encode(std::string_view text) const;
  std::vector<std::int32_t> encode_without_bos(std::string_view text) const;
  std::string decode(const std::vector<std::int32_t>& ids) const;
  std::int32_t vocab_size() const;
  const SpecialTokens& special() const { return special_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  SpecialTokens special_;
};

// Turns generated ids into text as they arrive. Decoding the whole continuation each time keeps
// sentencepiece's word-boundary spaces right, and text ending in an incomplete UTF-8 sequence
// (byte-fallback pieces) is held back until the sequence completes.
class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Tokenizer& tokenizer, std::int32_t context_token);

  // Returns the text that `id` adds.
  std::string push(std::int32_t id);
  // Whatever was held back, at the end of generation.
  std::string flush();

 private:
  std::string decode_all() const;

  const Tokenizer& tokenizer_;
  std::vector<std::int32_t> ids_;
  std::size_t prefix_length_ = 0;
  std::size_t emitted_ = 0;
};

}  // namespace shardlm
