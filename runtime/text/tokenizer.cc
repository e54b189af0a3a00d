#include "runtime/text/tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <stdexcept>

#include "runtime/io/json_file.h"

namespace shardlm {

namespace {

std::vector<std::int32_t> ids_field(const nlohmann::json& json, const char* key) {
  std::vector<std::int32_t> ids;
  if (!json.contains(key) || json[key].is_null()) return ids;
  const auto& value = json[key];
  if (value.is_number_integer()) ids.push_back(value.get<std::int32_t>());
  if (value.is_array()) {
    for (const auto& id : value) {
      if (id.is_number_integer()) ids.push_back(id.get<std::int32_t>());
    }
  }
  return ids;
}

void apply_ids(const nlohmann::json& json, SpecialTokens& special) {
  if (const auto bos = ids_field(json, "bos_token_id"); !bos.empty()) special.bos = bos.front();
  if (const auto eos = ids_field(json, "eos_token_id"); !eos.empty()) special.eos = eos;
}

// Incomplete UTF-8 at the end decodes to U+FFFD, which must not reach the output early.
bool ends_with_replacement_character(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

bool SpecialTokens::is_eos(std::int32_t id) const { return std::find(eos.begin(), eos.end(), id) != eos.end(); }

SpecialTokens load_special_tokens(const std::filesystem::path& model_dir, std::int32_t tokenizer_bos,
                                  std::int32_t tokenizer_eos) {
  SpecialTokens special;
  special.bos = tokenizer_bos;
  if (tokenizer_eos >= 0) special.eos = {tokenizer_eos};
  if (const auto config = read_optional_json_file(model_dir / "config.json")) apply_ids(*config, special);
  if (const auto generation = read_optional_json_file(model_dir / "generation_config.json")) {
    apply_ids(*generation, special);
  }
  if (const auto tokenizer_config = read_optional_json_file(model_dir / "tokenizer_config.json")) {
    if (tokenizer_config->contains("add_bos_token") && (*tokenizer_config)["add_bos_token"].is_boolean()) {
      special.add_bos = (*tokenizer_config)["add_bos_token"].get<bool>();
    }
  }
  if (special.bos < 0) special.add_bos = false;
  return special;
}

Tokenizer::Tokenizer(const std::filesystem::path& model_dir)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto path = model_dir / "tokenizer.model";
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error(fmt::format("model '{}' has no tokenizer.model (a sentencepiece model is needed to "
                                         "turn text into ids; --prompt-ids avoids it)",
                                         model_dir.string()));
  }
  const auto status = processor_->Load(path.string());
  if (!status.ok()) throw std::runtime_error(fmt::format("{}: cannot load: {}", path.string(), status.ToString()));
  special_ = load_special_tokens(model_dir, processor_->bos_id(), processor_->eos_id());
}

Tokenizer::~Tokenizer() = default;

std::vector<std::int32_t> Tokenizer::encode_without_bos(std::string_view text) const {
  std::vector<int> pieces;
  const auto status = processor_->Encode(text, &pieces);
  if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  return {pieces.begin(), pieces.end()};
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  if (special_.add_bos) ids.push_back(special_.bos);
  const auto body = encode_without_bos(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::vector<int> pieces;
  const int size = processor_->GetPieceSize();
  for (const auto id : ids) {
    if (id >= 0 && id < size) pieces.push_back(id);
  }
  std::string text;
  const auto status = processor_->Decode(pieces, &text);
  if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  return text;
}

std::int32_t Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, std::int32_t context_token)
    : tokenizer_(tokenizer) {
  // Decoding after a context token keeps the leading space of the first generated word, which
  // sentencepiece drops at the start of a text.
  if (context_token >= 0) {
    ids_.push_back(context_token);
    prefix_length_ = tokenizer_.decode(ids_).size();
  }
}

std::string StreamingDetokenizer::decode_all() const {
  const std::string text = tokenizer_.decode(ids_);
  return text.size() >= prefix_length_ ? text.substr(prefix_length_) : std::string();
}

std::string StreamingDetokenizer::push(std::int32_t id) {
  ids_.push_back(id);
  const std::string text = decode_all();
  if (ends_with_replacement_character(text) || text.size() <= emitted_) return {};
  std::string added = text.substr(emitted_);
  emitted_ = text.size();
  return added;
}

std::string StreamingDetokenizer::flush() {
  const std::string text = decode_all();
  if (text.size() <= emitted_) return {};
  std::string rest = text.substr(emitted_);
  emitted_ = text.size();
  return rest;
}

}  // namespace shardlm
