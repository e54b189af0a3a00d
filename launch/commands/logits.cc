#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <stdexcept>

#include "launch/cli/options.h"
#include "launch/commands/commands.h"
#include "launch/cli/model_session.h"

namespace shardlm::cli {

namespace {

struct LogitsOptions {
  ModelOptions model;
  LayoutOptions layout;
  PromptOptions prompt;
  std::string out_path;
};

void run_logits(const LogitsOptions& options) {
  std::vector<float> logits;
  with_model(options.model, options.layout, [&](LanguageModel& model) {
    const SequenceId sequence = model.open_sequence();
    const SequenceTokens batch{sequence, options.prompt.ids};
    model.forward({&batch, 1}, true, logits);
    model.close_sequence(sequence);
  });
  if (!is_rank0()) return;

  // Little-endian float32, row-major [positions][vocab]: the in-memory layout on every supported CPU.
  std::ofstream out(options.out_path, std::ios::binary);
  if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", options.out_path));
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!out) throw std::runtime_error(fmt::format("error writing '{}'", options.out_path));
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto options = std::make_shared<LogitsOptions>();
  CLI::App* command = app.add_subcommand(
      "logits", "Write the logits of every prompt position as little-endian float32 [positions][vocab]");
  options->model.add_to(*command);
  options->layout.add_to(*command);
  options->prompt.add_to(*command, false);
  command->add_option("--out,-o", options->out_path, "Output file")->required();
  command->callback([options] { run_when_all_ranks_agree([&] { run_logits(*options); }); });
}

}  // namespace shardlm::cli
