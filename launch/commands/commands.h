#pragma once

#include <CLI/CLI.hpp>

namespace shardlm::cli {

// Each subcommand adds itself to the application; its callback runs the command and throws on error.
void add_generate_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_bench_command(CLI::App& app);

}  // namespace shardlm::cli
