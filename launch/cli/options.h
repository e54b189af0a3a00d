#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"

namespace shardlm::cli {

// Option groups shared by the subcommands, so that each flag is spelled and checked in one place.

struct ModelOptions {
  std::string model_dir;
  int threads = 0;  // 0: all cores of this rank's share

  void add_to(CLI::App& command);
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

// Parses "5,17,42" (commas and/or spaces) into token ids.
std::vector<std::int32_t> parse_token_ids(const std::string& text);

}  // namespace shardlm::cli
