#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "launch/cli/rank_reports.h"
#include "launch/commands/commands.h"
#include "runtime/engine/generation.h"
#include "runtime/text/tokenizer.h"

namespace shardlm::cli {

namespace {

struct GenerateOptions {
  ModelOptions model;
  LayoutOptions layout;
  PromptOptions prompt;
  SamplingOptions sampling;
  std::string prompts_file;
  bool json = false;
};

struct BatchPrompt {
  std::string text;
  std::int32_t max_tokens = 0;
};

std::vector<BatchPrompt> read_prompts_file(const std::string& path, std::int32_t default_max_tokens) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(fmt::format("cannot open prompts file '{}'", path));
  std::vector<BatchPrompt> prompts;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json entry;
    try {
      entry = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& error) {
      throw std::runtime_error(fmt::format("{}:{}: not valid JSON: {}", path, number, error.what()));
    }
    if (!entry.is_object() || !entry.contains("prompt") || !entry["prompt"].is_string()) {
      throw std::runtime_error(fmt::format("{}:{}: expected an object with a string \"prompt\"", path, number));
    }
    BatchPrompt prompt{entry["prompt"].get<std::string>(), default_max_tokens};
    if (entry.contains("max_tokens")) {
      if (!entry["max_tokens"].is_number_integer() || entry["max_tokens"].get<int>() < 0) {
        throw std::runtime_error(fmt::format("{}:{}: \"max_tokens\" must be a non-negative integer", path, number));
      }
      prompt.max_tokens = entry["max_tokens"].get<std::int32_t>();
    }
    prompts.push_back(prompt);
  }
  if (prompts.empty()) throw std::runtime_error(fmt::format("prompts file '{}' has no prompts", path));
  return prompts;
}

std::vector<std::int32_t> without_stop_token(std::vector<std::int32_t> tokens, const SpecialTokens& special) {
  if (!tokens.empty() && special.is_eos(tokens.back())) tokens.pop_back();
  return tokens;
}

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::MaxTokens: return "length";
    case StopReason::StopToken: return "stop";
    case StopReason::ContextFull: return "context";
  }
  return "?";
}

void print_speed(const GenerationResult& result, std::size_t generated, const std::vector<RankReport>& memory) {
  const auto totals = rank_reports_json(memory);
  std::cerr << fmt::format(
      "prompt: {} tokens, {:.1f} tokens/s | generation: {} tokens, {:.1f} tokens/s | peak memory: {:.1f} MB "
      "(largest rank of {})\n",
      result.prompt_tokens, result.prompt_tokens_per_second(), generated, result.generation_tokens_per_second(),
      totals["peak_rss_bytes_max"].get<double>() / 1e6, memory.size());
}

void generate_one(LanguageModel& model, const GenerateOptions& options) {
  const std::filesystem::path dir = options.model.model_dir;
  std::optional<Tokenizer> tokenizer;
  if (options.prompt.text || std::filesystem::exists(dir / "tokenizer.model")) tokenizer.emplace(dir);
  const SpecialTokens special = tokenizer ? tokenizer->special() : load_special_tokens(dir, -1, -1);

  GenerationRequest request;
  request.prompt = options.prompt.text ? tokenizer->encode(*options.prompt.text) : options.prompt.ids;
  request.sampling = options.sampling.params;
  request.max_tokens = options.sampling.max_tokens;
  request.stop_tokens = special.eos;

  std::optional<StreamingDetokenizer> stream;
  if (!options.json && tokenizer) stream.emplace(*tokenizer, request.prompt.back());
  // The continuation reads on from the prompt, as it would in a text editor.
  if (!options.json && options.prompt.text) std::fputs(options.prompt.text->c_str(), stdout);
  const auto on_token = [&](std::int32_t token) {
    if (options.json || special.is_eos(token)) return;
    const std::string text = stream ? stream->push(token) : fmt::format("{} ", token);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  };
  const GenerationResult result = generate(model, request, on_token);
  const auto memory = model.rank_reports();

  if (options.json) {
    nlohmann::json out = rank_reports_json(memory);
    out["peak_rss_bytes"] = out["peak_rss_bytes_max"];
    out["ids"] = result.tokens;
    out["text"] = tokenizer ? tokenizer->decode(without_stop_token(result.tokens, special)) : std::string();
    out["prompt_tokens"] = result.prompt_tokens;
    out["generated_tokens"] = result.tokens.size();
    out["prompt_tps"] = result.prompt_tokens_per_second();
    out["generation_tps"] = result.generation_tokens_per_second();
    out["stop_reason"] = stop_reason_name(result.stop_reason);
    std::cout << out.dump() << std::endl;
    return;
  }
  if (stream) std::fputs(stream->flush().c_str(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  print_speed(result, result.tokens.size(), memory);
}

void generate_many(LanguageModel& model, const GenerateOptions& options) {
  const Tokenizer tokenizer(options.model.model_dir);
  const auto prompts = read_prompts_file(options.prompts_file, options.sampling.max_tokens);
  std::vector<GenerationRequest> requests;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest request;
    request.prompt = tokenizer.encode(prompts[i].text);
    request.sampling = options.sampling.params;
    request.sampling.seed += i;
    request.max_tokens = prompts[i].max_tokens;
    request.stop_tokens = tokenizer.special().eos;
    requests.push_back(std::move(request));
  }
  const auto results = generate_batch(model, requests);
  std::size_t generated = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& result = results[i];
    generated += result.tokens.size();
    nlohmann::json line = {{"index", i},
                           {"prompt", prompts[i].text},
                           {"text", tokenizer.decode(without_stop_token(result.tokens, tokenizer.special()))},
                           {"ids", result.tokens},
                           {"prompt_tokens", result.prompt_tokens},
                           {"generated_tokens", result.tokens.size()},
                           {"stop_reason", stop_reason_name(result.stop_reason)}};
    std::cout << line.dump() << "\n";
  }
  std::cout.flush();
  GenerationResult total = results.front();
  total.prompt_tokens = 0;
  for (const auto& result : results) total.prompt_tokens += result.prompt_tokens;
  total.decode_steps = static_cast<std::int32_t>(generated - results.size());
  print_speed(total, generated, model.rank_reports());
}

void run_generate(const GenerateOptions& options) {
  const bool batch = !options.prompts_file.empty();
  if (!batch && !options.prompt.text && !options.prompt.has_ids()) {
    throw std::invalid_argument("give --prompt, --prompt-ids or --prompts");
  }
  options.sampling.params.validate();
  with_model(options.model, options.layout, [&](LanguageModel& model) {
    if (batch) {
      generate_many(model, options);
    } else {
      generate_one(model, options);
    }
  });
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand("generate", "Generate text from a prompt, streaming it to stdout");
  options->model.add_to(*command);
  options->layout.add_to(*command);
  options->prompt.add_to(*command, true);
  options->sampling.add_to(*command);
  command->add_option("--prompts", options->prompts_file,
                      "JSONL file, one {\"prompt\": ..., \"max_tokens\"?: N} per line: generate for all of them "
                      "together and print one JSON line per prompt")
      ->excludes("--prompt")
      ->excludes("--prompt-ids");
  command->add_flag("--json", options->json,
                    "Print one JSON object (ids, text, prompt_tokens, generated_tokens, prompt_tps, generation_tps, "
                    "peak_rss_bytes, per-rank memory) instead of streaming text");
  command->callback([options] { run_when_all_ranks_agree([&] { run_generate(*options); }); });
}

}  // namespace shardlm::cli
