#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <functional>

#include "comm/world.h"
#include "launch/cli/model_session.h"
#include "launch/cli/options.h"
#include "launch/cli/replica_scoring.h"
#include "launch/cli/sensitivity_estimation.h"
#include "launch/commands/commands.h"
#include "runtime/quant/mixed_precision.h"
#include "runtime/quant/quantize_model.h"
#include "runtime/quant/sensitivity_file.h"

namespace shardlm::cli {

namespace {

namespace fs = std::filesystem;

struct QuantizeOptions {
  ModelOptions model;
  LayoutOptions layout;
  int replicas = 1;
  std::string out_dir;
  QuantSpec spec;            // uniform quantization
  double target_bpw = 0.0;   // > 0: mixed precision
  SensitivitySettings settings;
  double tolerance = 0.0;
  std::string sensitivities_file;
  std::string save_sensitivities;
  DataOptions calibration;
  bool report_ppl = false;
  std::size_t batch_size = 8;

  bool mixed() const { return target_bpw > 0.0; }
  MixedPrecisionTarget target() const { return {target_bpw, tolerance, settings}; }
};

bool many_ranks() { return world() != nullptr && world()->size() > 1; }

// Runs checks that only rank 0 makes (it alone reads and writes the files) before any rank starts
// long work; when one fails, every rank leaves without aborting.
void check_on_rank0(const std::function<void()>& check) {
  bool ok = true;
  if (is_rank0()) {
    try {
      check();
    } catch (const std::exception& error) {
      if (!many_ranks()) throw;
      std::fprintf(stderr, "shardlm: error: %s\n", error.what());
      ok = false;
    }
  }
  if (many_ranks() && !world()->all_ok(ok)) throw JobRefused("rank 0 refused the quantization");
}

// Beside the output folder, so that it survives a failed write and does not become part of the model.
fs::path default_sensitivities_path(const std::string& out_dir) {
  fs::path out = fs::absolute(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  return out.parent_path() / (out.filename().string() + ".sensitivities.json");
}

// What rank 0 knows of the model and the mixed-precision request, the sensitivities once it has them.
struct MixedPlanning {
  std::unique_ptr<ModelFolder> folder;
  std::set<std::string> candidates;
  std::set<std::string> model_modules;
  Sensitivities sensitivities;

  double bits_per_weight(const SensitivitySettings& settings, const std::set<std::string>& high) const {
    return plan_quantization(*folder, mixed_plan(settings, high)).summary.bits_per_weight;
  }
};

MixedPlanning prepare_mixed(const QuantizeOptions& options) {
  MixedPlanning planning;
  planning.folder = std::make_unique<ModelFolder>(options.model.model_dir);
  validate_sensitivity_settings(options.settings);
  const QuantizationLayout low_only = plan_quantization(*planning.folder, uniform_plan(options.settings.low));
  check_mixed_precision_target(options.target(), low_only.summary.bits_per_weight);
  planning.candidates = high_bit_candidates(low_only, options.settings);
  for (const PlannedTensor& tensor : low_only.tensors) {
    if (!tensor.module.empty()) planning.model_modules.insert(tensor.module);
  }
  if (planning.candidates.empty()) {
    throw std::invalid_argument(fmt::format("no module of '{}' has inputs in whole groups of {} and of {}",
                                            options.model.model_dir, options.settings.low.group_size,
                                            options.settings.high.group_size));
  }
  if (!options.sensitivities_file.empty()) {
    planning.sensitivities =
        sensitivities_for_model(read_sensitivity_file(options.sensitivities_file), options.sensitivities_file,
                                options.settings, planning.candidates, planning.model_modules);
  }
  return planning;
}

void save_estimate(const QuantizeOptions& options, MixedPlanning& planning, const Sensitivities& estimate) {
  const fs::path path = options.save_sensitivities.empty() ? default_sensitivities_path(options.out_dir)
                                                           : fs::path(options.save_sensitivities);
  SensitivityFile file;
  file.model = options.model.model_dir;
  file.settings = options.settings;
  const DataOptions& data = options.calibration;
  file.calibration = {{"data", data.file()},
                      {"seq_len", data.seq_len},
                      {"num_samples", data.num_samples},
                      {"seed", data.seed}};
  file.sensitivities = estimate;
  write_sensitivity_file(path, file);
  std::cout << fmt::format("sensitivities of {} modules saved to {}\n", estimate.size(), path.string());
  planning.sensitivities =
      sensitivities_for_model(file, path, options.settings, planning.candidates, planning.model_modules);
}

QuantizationSummary write_mixed(const QuantizeOptions& options, const MixedPlanning& planning) {
  const SensitivitySettings& settings = options.settings;
  const MixedPrecisionChoice choice =
      choose_mixed_precision(planning.sensitivities, options.target(), [&](const std::set<std::string>& high) {
        return planning.bits_per_weight(settings, high);
      });
  const QuantizationSummary summary =
      quantize_model(options.model.model_dir, options.out_dir, settings.low, mixed_plan(settings, choice.high_modules));
  const std::string high = fmt::format("{}-bit in groups of {}", settings.high.bits, settings.high.group_size);
  if (choice.all_high) {
    std::cout << fmt::format("mixed precision for {} bits per weight: the target is above the {:.4f} that every "
                             "candidate module at {} gives, so all {} of them take it\n",
                             options.target_bpw, choice.bits_per_weight, high, planning.candidates.size());
  } else {
    std::cout << fmt::format("mixed precision for {} bits per weight: {} of {} candidate modules at {} (sensitivity "
                             "above {:.6g}), the others at {}-bit in groups of {}\n",
                             options.target_bpw, choice.high_modules.size(), planning.candidates.size(), high,
                             *choice.threshold, settings.low.bits, settings.low.group_size);
  }
  return summary;
}

void report_perplexity(const QuantizeOptions& options) {
  with_models({options.model.model_dir, options.out_dir}, options.model, options.layout, options.replicas,
              [&](std::vector<LanguageModel*>& models, const ReplicaContext& replica) {
                LanguageModel& original = *models[0];
                LanguageModel& quantized = *models[1];
                const TokenStream stream = options.calibration.load(options.model.model_dir, original.config());
                const WindowScores before = score_on_replicas(original, nullptr, stream, options.calibration,
                                                              options.batch_size, replica, "original");
                const WindowScores after = score_on_replicas(quantized, &original, stream, options.calibration,
                                                             options.batch_size, replica, "quantized");
                if (replica.index != 0) return;
                std::cout << fmt::format(
                    "calibration data {}: {} windows of {} tokens\n"
                    "original perplexity {:.4f} ± {:.4f}\n"
                    "quantized perplexity {:.4f} ± {:.4f} ({:+.2f}%), KL(original ‖ quantized) {:.6g} ± {:.2g}, "
                    "top-1 agreement {:.2f}%\n",
                    stream.source, after.windows, options.calibration.seq_len, before.perplexity(),
                    before.perplexity_standard_error(), after.perplexity(), after.perplexity_standard_error(),
                    100.0 * (after.perplexity() / before.perplexity() - 1.0), after.kl.mean,
                    after.kl.standard_error(), 100.0 * after.top1_agreements / after.kl.count);
              });
}

void run_quantize(const QuantizeOptions& options) {
  MixedPlanning planning;
  check_on_rank0([&] {
    if (fs::exists(options.out_dir) && !fs::is_empty(options.out_dir)) {
      throw std::invalid_argument(fmt::format("output folder '{}' exists and is not empty", options.out_dir));
    }
    const bool estimate = options.mixed() && options.sensitivities_file.empty();
    if ((estimate || options.report_ppl) && !options.calibration.has_file()) {
      throw std::invalid_argument(estimate ? "give --calibration FILE to estimate the sensitivities from, or "
                                             "--sensitivities FILE.json estimated before"
                                           : "--report-ppl needs --calibration FILE");
    }
    const std::string& calibration_file = options.calibration.file();
    if (!calibration_file.empty() && !fs::is_regular_file(calibration_file)) {
      throw std::invalid_argument(fmt::format("calibration file '{}' does not exist", calibration_file));
    }
    if (options.mixed()) planning = prepare_mixed(options);
  });
  if (options.mixed() && options.sensitivities_file.empty()) {
    // Every rank takes part in the estimate; rank 0 receives it.
    const Sensitivities estimate = estimate_sensitivities(options.model, options.layout, options.replicas,
                                                          options.calibration, options.settings);
    if (is_rank0()) save_estimate(options, planning, estimate);
  }
  if (is_rank0()) {
    const QuantizationSummary summary =
        options.mixed()
            ? write_mixed(options, planning)
            : quantize_model(options.model.model_dir, options.out_dir, options.spec, uniform_plan(options.spec));
    const std::string how = options.mixed() ? "in mixed precision"
                                            : fmt::format("to {} bits in groups of {}", options.spec.bits,
                                                          options.spec.group_size);
    std::cout << fmt::format("quantized {} modules {} ({} left in float): {:.4f} bits per weight, {:.2f} MB, "
                             "written to {}\n",
                             summary.quantized_modules, how, summary.float_modules, summary.bits_per_weight,
                             static_cast<double>(summary.weight_bytes) / 1e6, options.out_dir);
    std::cout.flush();
  }
  if (!options.report_ppl) return;
  // The other ranks load the folder rank 0 has just written.
  if (many_ranks()) world()->all_ok(true);
  report_perplexity(options);
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* command = app.add_subcommand(
      "quantize",
      "Write a copy of a model with its linear layers and embeddings quantized in MLX's affine format: uniformly "
      "(--bits, --group-size), or in mixed precision to a bits-per-weight target (--target-bpw) by per-module "
      "sensitivity, as mlx-lm's dynamic quantization");
  options->model.add_to(*command);
  options->layout.add_to(*command);
  command->add_option("--out,-o", options->out_dir, "Folder to write (must not exist or be empty)")->required();
  auto* bits = command->add_option("--bits", options->spec.bits, "Bits per weight: 2, 3, 4, 5, 6 or 8")
                   ->capture_default_str();
  auto* group = command->add_option("--group-size", options->spec.group_size,
                                    "Weights sharing a scale and bias: 32, 64 or 128")
                    ->capture_default_str();
  auto* target = command->add_option(
      "--target-bpw", options->target_bpw,
      "Mixed precision: the most bits per weight (every byte written x 8 / the original parameters, as mlx-lm "
      "counts them); the most sensitive modules get the high quantization, the others the low one");
  target->check(CLI::PositiveNumber)->excludes(bits)->excludes(group);
  const auto mixed_option = [&](const std::string& name, auto& value, const std::string& description) {
    command->add_option(name, value, description)->capture_default_str()->needs(target);
  };
  mixed_option("--low-bits", options->settings.low.bits, "Bits of the low quantization");
  mixed_option("--low-group-size", options->settings.low.group_size, "Group size of the low quantization");
  mixed_option("--high-bits", options->settings.high.bits, "Bits of the high quantization");
  mixed_option("--high-group-size", options->settings.high.group_size, "Group size of the high quantization");
  mixed_option("--tolerance", options->tolerance, "How far above --target-bpw the result may lie");
  auto* load = command->add_option("--sensitivities", options->sensitivities_file,
                                   "Per-module sensitivities saved by an earlier run (JSON), not estimated again")
                   ->needs(target);
  command->add_option("--save-sensitivities", options->save_sensitivities,
                      "Where to save the estimated sensitivities (default: OUT.sensitivities.json beside --out)")
      ->needs(target)
      ->excludes(load);
  options->calibration.add_calibration_to(*command);
  command->add_flag("--report-ppl", options->report_ppl,
                    "After writing, report perplexity of the original and the quantized model and KL(original || "
                    "quantized) on the calibration windows");
  command->add_option("--batch-size,-b", options->batch_size, "Windows per forward pass for --report-ppl")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--replicas", options->replicas,
                      "Data-parallel copies of the model: the job's ranks = replicas x tp x pp, calibration windows "
                      "are shared out")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->callback([options] { run_when_all_ranks_agree([&] { run_quantize(*options); }); });
}

}  // namespace shardlm::cli
