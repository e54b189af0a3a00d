#include "launch/cli/options.h"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

#include "runtime/text/tokenizer.h"


namespace shardlm::cli {

std::vector<std::int32_t> parse_token_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::string normalized = text;
  for (auto& c : normalized) {
    if (c == ',') c = ' ';
  }
  std::istringstream stream(normalized);
  std::string item;
  while (stream >> item) {
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 0 || value > INT32_MAX) {
      throw std::invalid_argument(fmt::format("'{}' is not a token id (a non-negative integer)", item));
    }
    ids.push_back(static_cast<std::int32_t>(value));
  }
  if (ids.empty()) throw std::invalid_argument("no token ids given");
  return ids;
}

void ModelOptions::add_to(CLI::App& command, bool model_required) {
  command.add_option("--model,-m", model_dir, "Hugging Face model folder (config.json, *.safetensors, tokenizer.model)")
      ->required(model_required)
      ->check(CLI::ExistingDirectory);
  command.add_option("--threads,-t", threads, "Threads for this rank (default: all cores of its share)")
      ->check(CLI::NonNegativeNumber);
  command.add_flag("--exact-bf16", exact_bf16,
                   "Prefill bf16 weights with each activation kept to 16 significant bits (two bf16 parts) "
                   "instead of rounded to bf16 as PyTorch and MLX run bf16 models: logits within 0.1% of "
                   "transformers' float32 ones instead of a few %, at about 2/3 the prompt speed");
}

void LayoutOptions::add_to(CLI::App& command) {
  command.add_option("--tp", tp, "Tensor-parallel ranks per pipeline stage (default: ranks / pp)")
      ->check(CLI::PositiveNumber);
  command.add_option("--pp", pp, "Pipeline stages")->check(CLI::PositiveNumber)->capture_default_str();
}

void DataOptions::add_to(CLI::App& command) {
  // Only rank 0 reads the data, so the file is checked when it is opened, not by every rank here.
  auto* text = command.add_option("--data", text_file,
                                  "Text file (documents separated by blank lines) or .jsonl with a \"text\" field per line");
  auto* tokens = command.add_option("--tokens", tokens_file, "Pre-tokenized ids: raw little-endian int32 .i32 or int32 .npy");
  text->excludes(tokens);
  tokens->excludes(text);
  add_window_options(command);
}

void DataOptions::add_calibration_to(CLI::App& command) {
  command.add_option_function<std::string>(
      "--calibration",
      [this](const std::string& file) { (is_pretokenized(file) ? tokens_file : text_file) = file; },
      "Calibration data: text (documents separated by blank lines), .jsonl with a \"text\" field per line, or "
      "pre-tokenized .i32 / .npy ids");
  add_window_options(command);
}

void DataOptions::add_window_options(CLI::App& command) {
  command.add_option("--seq-len", seq_len, "Tokens per window")->check(CLI::Range(2, 1 << 20))->capture_default_str();
  command.add_option("--num-samples", num_samples, "Windows to draw with --seed; -1 takes every window in file order")
      ->check(CLI::Range(static_cast<std::int64_t>(-1), INT64_MAX))
      ->capture_default_str();
  command.add_option("--seed", seed, "Seed for drawing windows")->capture_default_str();
}

TokenStream DataOptions::load(const std::string& model_dir, const ModelConfig& config) const {
  if (text_file.empty() && tokens_file.empty()) throw std::invalid_argument("give --data FILE or --tokens FILE");
  if (num_samples == 0) throw std::invalid_argument("--num-samples must be positive, or -1 for every window");
  if (!tokens_file.empty()) {
    if (!is_pretokenized(tokens_file)) {
      throw std::invalid_argument(fmt::format("--tokens '{}' must be a .i32 or .npy file", tokens_file));
    }
    return load_token_stream(tokens_file, nullptr, config.vocab_size);
  }
  if (is_pretokenized(text_file)) {
    throw std::invalid_argument(fmt::format("'{}' holds token ids: pass it with --tokens", text_file));
  }
  const Tokenizer tokenizer(model_dir);
  return load_token_stream(text_file, &tokenizer, config.vocab_size);
}

void PromptOptions::add_to(CLI::App& command, bool text_allowed) {
  auto* ids_option = command.add_option_function<std::string>(
      "--prompt-ids", [this](const std::string& value) { ids = parse_token_ids(value); },
      "Prompt as token ids, e.g. 5,17,42 (used as given: no BOS is added)");
  if (text_allowed) {
    auto* text_option = command.add_option("--prompt,-p", text, "Prompt text (tokenized with the model's tokenizer)");
    text_option->excludes(ids_option);
    ids_option->excludes(text_option);
  } else {
    ids_option->required();
  }
}

void SamplingOptions::add_to(CLI::App& command) {
  command.add_option("--max-tokens,-n", max_tokens, "Most tokens to generate")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--temp", params.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  command.add_option("--top-k", params.top_k, "Keep the k most likely tokens (0: off)")->capture_default_str();
  command.add_option("--top-p", params.top_p, "Keep the smallest set of tokens with this much probability (1: off)")
      ->capture_default_str();
  command.add_option("--min-p", params.min_p, "Drop tokens less likely than min-p times the top token (0: off)")
      ->capture_default_str();
  command.add_option("--repetition-penalty", params.repetition_penalty,
                     "Divide positive (multiply negative) logits of recent tokens by this (1: off)")
      ->capture_default_str();
  command.add_option("--repetition-context", params.repetition_context, "How many recent tokens the penalty covers")
      ->capture_default_str();
  command.add_option("--seed", params.seed, "Random seed for sampling")->capture_default_str();
}

}  // namespace shardlm::cli
