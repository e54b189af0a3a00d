#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "launch/cli/model_session.h"
#include "launch/commands/commands.h"
#include "runtime/quant/quantize_model.h"

namespace shardlm::cli {

namespace {

struct QuantizeOptions {
  std::string model_dir;
  std::string out_dir;
  QuantSpec spec;
};

void run_quantize(const QuantizeOptions& options) {
  if (!is_rank0()) return;
  const QuantizationSummary summary =
      quantize_model(options.model_dir, options.out_dir, options.spec, uniform_plan(options.spec));
  std::cout << fmt::format("quantized {} modules to {} bits in groups of {} ({} left in float): {:.3f} bits per "
                           "weight, {:.2f} MB, written to {}\n",
                           summary.quantized_modules, options.spec.bits, options.spec.group_size,
                           summary.float_modules, summary.bits_per_weight,
                           static_cast<double>(summary.weight_bytes) / 1e6, options.out_dir);
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* command = app.add_subcommand(
      "quantize", "Write a copy of a model with its linear layers and embeddings quantized in MLX's affine format");
  command->add_option("--model,-m", options->model_dir, "Hugging Face model folder to quantize")
      ->required()
      ->check(CLI::ExistingDirectory);
  command->add_option("--out,-o", options->out_dir, "Folder to write (must not exist or be empty)")->required();
  command->add_option("--bits", options->spec.bits, "Bits per weight: 2, 3, 4, 5, 6 or 8")->capture_default_str();
  command->add_option("--group-size", options->spec.group_size, "Weights sharing a scale and bias: 32, 64 or 128")
      ->capture_default_str();
  command->callback([options] { run_when_all_ranks_agree([&] { run_quantize(*options); }); });
}

}  // namespace shardlm::cli
