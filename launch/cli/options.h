#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/data/token_stream.h"
#include "runtime/model/model_config.h"
#include "runtime/sampling/sampler.h"

namespace shardlm::cli {

// Option groups shared by the subcommands, so that each flag is spelled and checked in one place.

struct ModelOptions {
  std::string model_dir;
  int threads = 0;  // 0: all cores of this rank's share
  bool exact_bf16 = false;  // prefill of bf16 weights with activations split in two bf16 parts

  // A command that can run without a folder (bench on random weights) passes model_required = false.
  void add_to(CLI::App& command, bool model_required = true);
};

// --tp and --pp: how the ranks of an mpirun job split the model.
struct LayoutOptions {
  int tp = 0;  // 0: the world size divided by pp
  int pp = 1;

  void add_to(CLI::App& command);
};

struct PromptOptions {
  std::optional<std::string> text;
  std::vector<std::int32_t> ids;

  void add_to(CLI::App& command, bool text_allowed);
  bool has_ids() const { return !ids.empty(); }
};

struct SamplingOptions {
  SamplingParams params;
  std::int32_t max_tokens = 100;

  void add_to(CLI::App& command);
};

// --data or --tokens with the windowing options: the one data loader every evaluating tool shares.
struct DataOptions {
  std::string text_file;    // --data: text (blank-line separated documents) or JSONL with "text"
  std::string tokens_file;  // --tokens: .i32 or .npy int32 ids
  std::size_t seq_len = 512;
  std::int64_t num_samples = 256;
  std::uint64_t seed = 123;

  void add_to(CLI::App& command);
  // The same data for a tool that calibrates on it: one --calibration FILE, text, JSONL or
  // pre-tokenized as its extension says, with the same windowing options.
  void add_calibration_to(CLI::App& command);
  // The file named by --data (or --calibration) or --tokens; empty when neither was given.
  const std::string& file() const { return text_file.empty() ? tokens_file : text_file; }
  bool has_file() const { return !file().empty(); }
  // Reads the file named by --data or --tokens into one token stream for the model in model_dir.
  TokenStream load(const std::string& model_dir, const ModelConfig& config) const;

 private:
  void add_window_options(CLI::App& command);
};

// Parses "5,17,42" (commas and/or spaces) into token ids.
std::vector<std::int32_t> parse_token_ids(const std::string& text);

}  // namespace shardlm::cli
